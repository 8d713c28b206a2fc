//! Writing a skill: `dice.roll` validates its arguments, says how risky it is (low: policy
//! lets it run without a rule naming it), derives its result from the plan and step (so an
//! attempt run again after a crash rolls the same), and runs inside an engine next to the
//! built-ins.
//!
//! Run with: `cargo run --example custom_skill`

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openmog::channel::MemoryChannel;
use openmog::config::{self, ConfigSource};
use openmog::engine::Engine;
use openmog::skills::{Risk, Skill, SkillContext, SkillError};
use openmog::store::MemoryStore;
use serde_json::{Value, json};

/// Rolls a die with `sides` sides (2 to 1000).
struct DiceRoll;

#[async_trait]
impl Skill for DiceRoll {
    fn name(&self) -> &str {
        "dice.roll"
    }

    fn description(&self) -> &str {
        "Rolls a die. Arguments: sides (2 to 1000, default 6)."
    }

    fn risk(&self) -> Risk {
        // Computes within openmog; nothing outside changes.
        Risk::Low
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"sides": {"type": "integer", "description": "2 to 1000"}},
            "additionalProperties": false
        })
    }

    fn validate(&self, args: &Value) -> Result<(), SkillError> {
        // The schema check first (types, unknown keys), then what a schema cannot say.
        openmog::skills::check_args(&self.args_schema(), args)?;
        let sides = args.get("sides");
        // A reference to an earlier output is checked by `run`, once resolved.
        if sides.is_none() || sides.is_some_and(openmog::domain::refs::is_reference) {
            return Ok(());
        }
        match sides.and_then(Value::as_u64) {
            Some(2..=1000) => Ok(()),
            _ => Err(SkillError::InvalidArgs("`sides` is 2 to 1000".into())),
        }
    }

    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        let sides = args.get("sides").and_then(Value::as_u64).unwrap_or(6);
        if !(2..=1000).contains(&sides) {
            return Err(SkillError::InvalidArgs("`sides` is 2 to 1000".into()));
        }
        // Seeded by the step (not the attempt): a step run again after a crash rolls the
        // same number, as a real side effect keyed by the step would happen once.
        let mut hasher = DefaultHasher::new();
        (ctx.plan.as_str(), ctx.step.0.as_str()).hash(&mut hasher);
        let rolled = hasher.finish() % sides + 1;
        Ok(json!({"text": format!("rolled {rolled} on a d{sides}"), "rolled": rolled}))
    }
}

const CONFIG: &str = r#"
[[contacts]]
id = "dev"
name = "Dev"
roles = ["member"]
addresses = { inhouse = "user-42" }

[[planner.rules]]
name = "roll"
pattern = 'roll a d20'
title = "Roll a d20"
steps = [
  { key = "roll", skill = "dice.roll", args = { sides = 20 } },
  { key = "tell", skill = "echo", args = { text = "${steps.roll.output.text}" }, depends_on = ["roll"] },
]
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("openmog.toml");
    std::fs::write(&path, CONFIG)?;
    let config = config::load(&[ConfigSource::File(path)])?;

    // The built-ins as configured, plus ours. The engine adds its own (notes, timers,
    // sub-goals, messages) to whatever registry it is given.
    let mut skills = openmog::skills::builtin(&config.skills)?;
    skills.register(DiceRoll);
    let (channel, chat) = MemoryChannel::new("inhouse");
    let engine = Engine::builder(config)
        .store(Arc::new(MemoryStore::new()))
        .skills(skills)
        .channel(channel)
        .build()
        .await?;
    let running = engine.start();

    // No rule names `dice.roll` or `echo`: both are low risk, so they run on their own.
    chat.say("games", "user-42", "roll a d20");
    chat.wait_for_text("games", "succeeded").await;
    for text in chat.texts("games") {
        println!("{text}\n");
    }
    running.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
