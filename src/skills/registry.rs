//! The set of skills the engine may call, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Skill, SkillError};
use crate::domain::refs::is_reference;

/// Skills by name.
#[derive(Clone, Default)]
pub struct SkillRegistry {
    skills: BTreeMap<String, Arc<dyn Skill>>,
}

impl std::fmt::Debug for SkillRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.skills.keys()).finish()
    }
}

impl SkillRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a skill, replacing one with the same name.
    pub fn register(&mut self, skill: impl Skill) -> &mut Self {
        self.skills.insert(skill.name().to_owned(), Arc::new(skill));
        self
    }

    /// Adds a shared skill.
    pub fn register_arc(&mut self, skill: Arc<dyn Skill>) -> &mut Self {
        self.skills.insert(skill.name().to_owned(), skill);
        self
    }

    /// The skill with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Skill>> {
        self.skills.get(name)
    }

    /// The same skills without the one named `name`.
    pub fn without(&self, name: &str) -> SkillRegistry {
        let mut skills = self.clone();
        skills.skills.remove(name);
        skills
    }

    /// Wraps each skill that an entry of `limits` names in its rate and concurrency limits:
    /// an entry with the skill's exact name, else the longest pattern (`mcp.*`) that
    /// matches it.
    pub fn limit(&mut self, limits: &BTreeMap<String, crate::config::SkillLimits>) {
        let mut patterns: Vec<(&str, regex::Regex, crate::config::SkillLimits)> = limits
            .iter()
            .filter_map(|(name, l)| {
                crate::policy::glob_to_regex(name)
                    .ok()
                    .map(|re| (name.as_str(), re, *l))
            })
            .collect();
        // Exact names have no `*` and are longest for what they match: most specific first.
        patterns.sort_by_key(|(name, _, _)| (name.contains('*'), std::cmp::Reverse(name.len())));
        for skill in self.skills.values_mut() {
            if let Some((_, _, l)) = patterns.iter().find(|(_, re, _)| re.is_match(skill.name())) {
                *skill = Arc::new(super::Limited::new(Arc::clone(skill), *l));
            }
        }
    }

    /// All skills, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Skill>> {
        self.skills.values()
    }
}

/// The default validation: required keys present, declared properties of the declared JSON
/// type, and no undeclared keys when `additionalProperties` is false.
pub(super) fn check_against_schema(schema: &Value, args: &Value) -> Result<(), SkillError> {
    let Some(obj) = args.as_object() else {
        return Err(SkillError::InvalidArgs(
            "arguments must be an object".into(),
        ));
    };
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(key) {
                return Err(SkillError::InvalidArgs(format!("missing `{key}`")));
            }
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    for (key, value) in obj {
        let Some(prop) = props.and_then(|p| p.get(key)) else {
            if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                return Err(SkillError::InvalidArgs(format!("unknown argument `{key}`")));
            }
            continue;
        };
        // A reference to an earlier step's output is resolved at run time; its type is
        // checked then.
        if is_reference(value) {
            continue;
        }
        let Some(ty) = prop.get("type").and_then(Value::as_str) else {
            continue;
        };
        let fits = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !fits {
            return Err(SkillError::InvalidArgs(format!(
                "`{key}` must be of type {ty}"
            )));
        }
    }
    Ok(())
}
