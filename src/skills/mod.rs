//! Skills: what a step can do. A small trait, a registry, and the built-ins `echo`, `wait`,
//! `http.get`, `http.request`, `graphql.query`, `websocket.exchange`, `shell.run`, the file skills, notes and timers; `subagent` and the message
//! steps are declared here and run by the engine.

mod echo;
mod files;
mod http;
mod learn;
mod limited;
#[cfg(feature = "mcp")]
pub mod mcp;
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
pub use files::{FileList, FileRead, FileWrite, Files};
pub use http::{GraphqlQuery, HttpGet, HttpRequest, WebSocketExchange};
pub use learn::{ADD_MCP, AddMcpServer};
pub use limited::Limited;
pub use memory::{Recall, Remember};
pub use message::{EMAIL_SEND, EmailSend, MESSAGE_SEND, MessageSend};
pub use registry::SkillRegistry;
pub use schedule::{ScheduleAt, ScheduleCancel, ScheduleEvery, ScheduleList};
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

/// How much harm a skill can do. Policy uses it for steps no authorization rule names
/// (see `authorizations.unmatched`); planners are shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Risk {
    /// Reads or computes within openmog; nothing outside changes.
    Low,
    /// Reads outside data, keeps state, or talks to people.
    Medium,
    /// Changes the world: writes, deletes, runs commands, spends.
    High,
}

impl Risk {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
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

    /// How much harm it can do (default: high, so an unknown skill is treated with care).
    fn risk(&self) -> Risk {
        Risk::High
    }

    /// Runs the skill. The output is JSON: `shell.run` gives `exit_code`, `stdout`, `stderr`;
    /// HTTP gives `status`, `body`.
    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError>;

    /// Checks arguments before a plan is accepted. The default checks the schema's
    /// `required` keys and the JSON types of declared properties.
    fn validate(&self, args: &Value) -> Result<(), SkillError> {
        registry::check_against_schema(&self.args_schema(), args)
    }
}

/// The default argument check, for skills that add their own to it: required keys
/// present, declared properties of the declared JSON type (references to earlier outputs
/// are checked when resolved), and no undeclared keys when `additionalProperties` is false.
pub fn check_args(schema: &Value, args: &Value) -> Result<(), SkillError> {
    registry::check_against_schema(schema, args)
}

// The trait must stay object-safe: engines hold `Arc<dyn Skill>`.
const _: Option<&dyn Skill> = None;

/// The built-in skills, configured: `echo`, `wait`, `http.get`, `shell.run` unless disabled,
/// and the file skills if enabled. (The skills that keep state in the store, and the
/// engine-native steps, are added by the engine.)
pub fn builtin(config: &crate::config::SkillsConfig) -> crate::Result<SkillRegistry> {
    let mut skills = SkillRegistry::new();
    skills.register(Echo).register(Wait);
    let http_error = |e: SkillError| crate::Error::Config(format!("skills.http: {e}"));
    skills.register(HttpGet::new(&config.http).map_err(http_error)?);
    skills.register(HttpRequest::new(&config.http).map_err(http_error)?);
    skills.register(GraphqlQuery::new(&config.http).map_err(http_error)?);
    skills.register(
        WebSocketExchange::new(&config.websocket)
            .map_err(|e| crate::Error::Config(format!("skills.websocket: {e}")))?,
    );
    if config.shell.enabled {
        skills.register(Shell::new(&config.shell));
    }
    if config.files.enabled {
        let files = Files::new(&config.files)
            .map_err(|e| crate::Error::Config(format!("skills.files: {e}")))?;
        skills
            .register(files.read)
            .register(files.write)
            .register(files.list);
    }
    Ok(skills)
}
