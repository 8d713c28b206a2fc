//! `wait`: sleeps for a number of milliseconds, then succeeds.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Risk, Skill, SkillContext, SkillError};

/// The longest wait accepted, so a typo cannot park a step for days.
const MAX_WAIT_MS: u64 = 3_600_000;

/// Sleeps `ms` milliseconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wait;

#[async_trait]
impl Skill for Wait {
    fn risk(&self) -> Risk {
        Risk::Low
    }

    fn name(&self) -> &str {
        "wait"
    }

    fn description(&self) -> &str {
        "Waits a number of milliseconds (at most an hour). Arguments: ms."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": { "ms": { "type": ["integer", "string"], "description": "milliseconds, at most an hour" } },
            "required": ["ms"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let ms = args
            .get("ms")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            })
            .ok_or_else(|| SkillError::InvalidArgs("`ms` must be a whole number".into()))?;
        if ms > MAX_WAIT_MS {
            return Err(SkillError::InvalidArgs(format!(
                "`ms` is at most {MAX_WAIT_MS}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!({ "waited_ms": ms }))
    }
}
