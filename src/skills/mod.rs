//! Skills: what a step can do. A small trait, a registry, and the built-ins `echo`, `wait`,
//! `http.get` and `shell`; `subagent` is declared here and run by the engine.

mod echo;
mod http_get;
mod limited;
mod memory;
mod message;
mod registry;
mod schedule;
mod shell;
mod subagent;
mod wait;

use async_trait::async_trait;
use serde_json::Value;

pub use echo::Echo;
pub use http_get::HttpGet;
pub use limited::Limited;
pub use memory::{Recall, Remember};
pub use message::{EMAIL_SEND, EmailSend, MESSAGE_SEND, MessageSend};
pub use registry::SkillRegistry;
pub use schedule::{ScheduleAt, ScheduleEvery};
pub use shell::Shell;
pub use subagent::{SUBAGENT, Subagent, SubagentArgs};
pub use wait::Wait;

/// What a running step knows about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillContext {
    /// `plan/step/attempt`: stable for one attempt, so side effects can be made idempotent.
    pub idempotency_key: String,
    /// The step's plan.
    pub plan: crate::domain::PlanId,
    /// The step.
    pub step: crate::domain::StepKey,
    /// Where the plan was asked for.
    pub conversation: crate::domain::ConversationRef,
    /// Who asked for the plan (whom the step acts for).
    pub requester: crate::domain::ContactId,
}

impl SkillContext {
    /// A context for running a skill outside any plan (tests, tools): plan `p-test`, step
    /// `test`, conversation `test:test`, requester `test`.
    pub fn detached(idempotency_key: impl Into<String>) -> Self {
        SkillContext {
            idempotency_key: idempotency_key.into(),
            plan: crate::domain::PlanId::from("p-test"),
            step: crate::domain::StepKey::from("test"),
            conversation: crate::domain::ConversationRef::new("test", "test"),
            requester: crate::domain::ContactId("test".to_owned()),
        }
    }
}

/// Why a skill failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SkillError {
    /// The arguments do not fit the skill's schema.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// The skill refused (e.g. a host outside the allowlist).
    #[error("refused: {0}")]
    Refused(String),
    /// The skill ran and failed.
    #[error("{0}")]
    Failed(String),
}

/// A tool a step can call.
#[async_trait]
pub trait Skill: Send + Sync + 'static {
    /// Unique name, e.g. `http.get`; what policy rules match.
    fn name(&self) -> &str;

    /// One line for humans and planners.
    fn description(&self) -> &str;

    /// JSON Schema of the arguments.
    fn args_schema(&self) -> Value;

    /// Runs the skill. The output is JSON: shell gives `exit_code`, `stdout`, `stderr`;
    /// HTTP gives `status`, `body`.
    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError>;

    /// Checks arguments before a plan is accepted. The default checks the schema's
    /// `required` keys and the JSON types of declared properties.
    fn validate(&self, args: &Value) -> Result<(), SkillError> {
        registry::check_against_schema(&self.args_schema(), args)
    }
}

// The trait must stay object-safe: engines hold `Arc<dyn Skill>`.
const _: Option<&dyn Skill> = None;

/// The built-in skills, configured: `echo`, `wait`, `http.get`, and `shell` unless disabled.
pub fn builtin(config: &crate::config::SkillsConfig) -> crate::Result<SkillRegistry> {
    let mut skills = SkillRegistry::new();
    skills.register(Echo).register(Wait);
    skills.register(
        HttpGet::new(&config.http)
            .map_err(|e| crate::Error::Config(format!("skills.http: {e}")))?,
    );
    if config.shell.enabled {
        skills.register(Shell::new(&config.shell));
    }
    Ok(skills)
}
