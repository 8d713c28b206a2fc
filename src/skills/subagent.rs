//! `subagent`: the declaration of the engine-native step that hands a sub-goal to a child
//! plan. Skills cannot create plans, so the engine runs these steps itself
//! (`engine::subagent`); this skill gives them a name, a schema and a description, so that
//! planners can use them and policy can judge them like any other step.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Risk, Skill, SkillContext, SkillError};
use crate::config::ConfigDuration;

/// The skill's name, as steps and policy rules spell it.
pub const SUBAGENT: &str = "subagent";

/// Hands a sub-goal to a child plan; the engine runs it (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct Subagent;

/// A `subagent` step's arguments: the sub-goal and the child plan's own budget, each
/// within the engine's limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubagentArgs {
    /// What the child plan should achieve, in words; planned like a request.
    pub goal: String,
    /// The most steps the child plan may have.
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// The most language-model tokens planning the child plan may spend.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// How long the child plan may take before it is cancelled, e.g. `10m`.
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<ConfigDuration>,
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ConfigDuration>, D::Error> {
    let text = String::deserialize(d)?;
    ConfigDuration::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

impl SubagentArgs {
    /// Reads resolved arguments.
    pub fn parse(args: &Value) -> Result<Self, SkillError> {
        let parsed: SubagentArgs = serde_json::from_value(args.clone())
            .map_err(|err| SkillError::InvalidArgs(err.to_string()))?;
        if parsed.goal.trim().is_empty() {
            return Err(SkillError::InvalidArgs("`goal` is empty".into()));
        }
        Ok(parsed)
    }
}

#[async_trait]
impl Skill for Subagent {
    fn risk(&self) -> Risk {
        Risk::Low
    }

    fn name(&self) -> &str {
        SUBAGENT
    }

    fn description(&self) -> &str {
        "Hands a sub-goal to a child plan that is planned and run on its own, in parallel \
         with other steps, within its own budget; the output is the child's outcome \
         (`state`, `outputs` by step, `report`). Child plans cannot delegate further. \
         Arguments: goal, and optionally max_steps, max_tokens, timeout (e.g. \"10m\")."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "goal": {"type": "string", "description": "what the child plan should achieve"},
                "max_steps": {"type": "integer", "description": "the most steps the child plan may have"},
                "max_tokens": {"type": "integer", "description": "the most tokens planning it may spend"},
                "timeout": {"type": "string", "description": "how long it may take, e.g. 10m"}
            },
            "required": ["goal"],
            "additionalProperties": false
        })
    }

    async fn run(&self, _args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        Err(SkillError::Refused(
            "a sub-goal runs only inside the engine, as a child plan".into(),
        ))
    }

    fn validate(&self, args: &Value) -> Result<(), SkillError> {
        super::registry::check_against_schema(&self.args_schema(), args)?;
        if let Some(timeout) = args.get("timeout").and_then(Value::as_str) {
            ConfigDuration::parse(timeout).map_err(SkillError::InvalidArgs)?;
        }
        // A goal given by reference is read when the step runs.
        if args
            .get("goal")
            .and_then(Value::as_str)
            .is_some_and(|g| g.trim().is_empty())
        {
            return Err(SkillError::InvalidArgs("`goal` is empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_with_their_budget() {
        let args =
            SubagentArgs::parse(&json!({"goal": "find it", "max_steps": 3, "timeout": "10m"}))
                .unwrap();
        assert_eq!(args.goal, "find it");
        assert_eq!(args.max_steps, Some(3));
        assert_eq!(args.timeout, Some(ConfigDuration::secs(600)));
        assert!(SubagentArgs::parse(&json!({"goal": "  "})).is_err());
        assert!(SubagentArgs::parse(&json!({"goal": "x", "timeout": "soon"})).is_err());
        assert!(SubagentArgs::parse(&json!({"goal": "x", "extra": 1})).is_err());
        assert!(
            Subagent
                .validate(&json!({"goal": "x", "timeout": "soon"}))
                .is_err()
        );
        assert!(
            Subagent
                .validate(&json!({"goal": {"$from": "a.output"}}))
                .is_ok()
        );
    }
}
