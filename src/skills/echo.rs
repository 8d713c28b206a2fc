//! `echo`: returns its text. Useful for demos and tests.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Risk, Skill, SkillContext, SkillError};

/// Returns `{"text": ...}` unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

#[async_trait]
impl Skill for Echo {
    fn risk(&self) -> Risk {
        Risk::Low
    }

    fn name(&self) -> &str {
        "echo"
    }

    fn description(&self) -> &str {
        "Repeats a text. Arguments: text."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": { "text": { "type": "string" } },
            "required": ["text"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let text = args.get("text").and_then(Value::as_str).unwrap_or_default();
        Ok(json!({ "text": text }))
    }
}
