//! Embedding openmog: a custom skill, the in-memory channel, and one request that needs an
//! approval, end to end.
//!
//! Run with: `cargo run --example embed`

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openmog::channel::MemoryChannel;
use openmog::config::{self, ConfigSource};
use openmog::domain::{DecisionScope, OutboundBody, Verdict};
use openmog::engine::Engine;
use openmog::skills::{Echo, Skill, SkillContext, SkillError, SkillRegistry};
use openmog::store::MemoryStore;
use serde_json::{Value, json};

/// A custom skill: pretends to restart a service.
struct Restart;

#[async_trait]
impl Skill for Restart {
    fn name(&self) -> &str {
        "service.restart"
    }

    fn description(&self) -> &str {
        "Restarts a service. Arguments: service."
    }

    fn args_schema(&self) -> Value {
        json!({"type": "object", "properties": {"service": {"type": "string"}}, "required": ["service"]})
    }

    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        // A real skill would use ctx.idempotency_key to make the side effect idempotent.
        Ok(
            json!({"text": format!("{} restarted ({})", args["service"].as_str().unwrap_or("?"), ctx.idempotency_key)}),
        )
    }
}

const CONFIG: &str = r#"
[[contacts]]
id = "dev"
name = "Dev"
roles = ["member", "oncall"]
addresses = { inhouse = "user-42" }

[[authorizations.rules]]
skill = "service.*"
decision = "approve"
approvers = ["role:oncall"]

[[authorizations.rules]]
skill = "echo"
decision = "auto"

[[planner.rules]]
name = "restart"
pattern = 'restart (?P<svc>[a-z-]+)'
title = "Restart ${svc}"
steps = [
  { key = "restart", skill = "service.restart", args = { service = "${svc}" } },
  { key = "tell", skill = "echo", args = { text = "${steps.restart.output.text}" }, depends_on = ["restart"] },
]
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("openmog.toml");
    std::fs::write(&path, CONFIG)?;
    let config = config::load(&[ConfigSource::File(path)])?;

    let mut skills = SkillRegistry::new();
    skills.register(Restart).register(Echo);
    let (channel, chat) = MemoryChannel::new("inhouse");
    let engine = Engine::builder(config)
        .store(Arc::new(MemoryStore::new()))
        .skills(skills)
        .channel(channel)
        .build()
        .await?;
    let running = engine.start();

    chat.say("ops-room", "user-42", "restart billing-api");
    let prompt = chat
        .wait_for(Duration::from_secs(5), |d| {
            matches!(d.message.body, OutboundBody::ApprovalRequest(_))
        })
        .await;
    let OutboundBody::ApprovalRequest(prompt) = prompt.message.body else {
        unreachable!()
    };
    chat.press(
        "ops-room",
        "user-42",
        &prompt.approval,
        Verdict::Approve,
        DecisionScope::Step,
    );
    chat.wait_for_text("ops-room", "succeeded").await;

    for text in chat.texts("ops-room") {
        println!("{text}\n");
    }
    running.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
