//! The rule planner: message patterns from configuration, each mapped to a plan template.
//! Deterministic, needs no model and no network: the embedded default.

use std::collections::BTreeMap;

use async_trait::async_trait;
use regex::{Regex, RegexBuilder};

use super::{PlanOutcome, PlanRequest, Planner, template};
use crate::config::PlanRule;
use crate::domain::{PlanDraft, StepDraft, StepKey};
use crate::{Error, Result};

struct CompiledRule {
    pattern: Regex,
    rule: PlanRule,
}

/// Plans requests by matching configured patterns, first match wins.
pub struct RulePlanner {
    rules: Vec<CompiledRule>,
}

impl std::fmt::Debug for RulePlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| &r.rule.name))
            .finish()
    }
}

impl RulePlanner {
    /// Compiles the rules; a pattern must match the whole message, ignoring case and
    /// surrounding blanks.
    pub fn new(rules: &[PlanRule]) -> Result<Self> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let pattern = RegexBuilder::new(&format!(r"^\s*(?:{})\s*$", rule.pattern))
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| Error::Config(format!("planner.rules[{i}].pattern: {e}")))?;
                Ok(CompiledRule {
                    pattern,
                    rule: rule.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RulePlanner { rules })
    }
}

#[async_trait]
impl Planner for RulePlanner {
    async fn plan(&self, request: PlanRequest<'_>) -> Result<PlanOutcome> {
        for compiled in &self.rules {
            let Some(found) = compiled.pattern.captures(request.text) else {
                continue;
            };
            let captures: BTreeMap<String, String> = compiled
                .pattern
                .capture_names()
                .flatten()
                .filter_map(|name| {
                    found
                        .name(name)
                        .map(|m| (name.to_owned(), m.as_str().trim().to_owned()))
                })
                .collect();
            let rule = &compiled.rule;
            let fail = |e: String| Error::Planner(format!("rule `{}`: {e}", rule.name));
            let steps = rule
                .steps
                .iter()
                .map(|step| {
                    Ok(StepDraft {
                        key: StepKey(step.key.clone()),
                        skill: step.skill.clone(),
                        args: template::fill(&step.args, &captures).map_err(fail)?,
                        depends_on: step.depends_on.iter().map(|d| StepKey(d.clone())).collect(),
                        post: step.post.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let title = template::fill_text(&rule.title, &captures).map_err(fail)?;
            return Ok(PlanOutcome::Plan(PlanDraft {
                title,
                steps,
                tokens: 0,
                cost_micros: 0,
            }));
        }
        let mut reply = String::from("I don't know how to plan that.");
        let known = self.capabilities();
        if !known.is_empty() {
            reply.push_str(" I can:\n");
            reply.push_str(&known.join("\n"));
        }
        reply.push_str("\nType `help` for commands.");
        Ok(PlanOutcome::Reply(reply))
    }

    fn capabilities(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| match &r.rule.example {
                Some(example) => format!("  • {} — e.g. `{example}`", r.rule.name),
                None => format!("  • {}", r.rule.name),
            })
            .collect()
    }
}
