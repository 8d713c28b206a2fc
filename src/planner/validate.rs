//! Validation of a plan draft before it may become a plan: whatever produced it (a rule, a
//! model), a draft is untrusted until it passes.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::refs::references;
use crate::domain::{PlanDraft, StepKey};
use crate::skills::SkillRegistry;

/// Every problem with `draft`: empty, too long, duplicate or empty keys, unknown skills,
/// invalid arguments, unknown or cyclic dependencies, references to steps that do not run
/// before this one.
pub fn validate_draft(
    draft: &PlanDraft,
    skills: &SkillRegistry,
    max_steps: usize,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if draft.steps.is_empty() {
        problems.push("the plan has no steps".to_owned());
    }
    if draft.steps.len() > max_steps {
        problems.push(format!(
            "the plan has {} steps; the limit is {max_steps}",
            draft.steps.len()
        ));
    }
    let mut deps: BTreeMap<&StepKey, &[StepKey]> = BTreeMap::new();
    for step in &draft.steps {
        if step.key.0.trim().is_empty() {
            problems.push("a step has an empty key".to_owned());
        }
        if deps.insert(&step.key, &step.depends_on).is_some() {
            problems.push(format!("duplicate step key `{}`", step.key));
        }
    }
    for step in &draft.steps {
        match skills.get(&step.skill) {
            None => problems.push(format!(
                "step `{}`: unknown skill `{}`",
                step.key, step.skill
            )),
            Some(skill) => {
                if let Err(e) = skill.validate(&step.args) {
                    problems.push(format!("step `{}`: {e}", step.key));
                }
            }
        }
        for dep in &step.depends_on {
            if dep == &step.key {
                problems.push(format!("step `{}` depends on itself", step.key));
            } else if !deps.contains_key(dep) {
                problems.push(format!(
                    "step `{}` depends on unknown step `{dep}`",
                    step.key
                ));
            }
        }
    }
    if let Some(cycle_at) = find_cycle(&deps) {
        problems.push(format!(
            "the dependencies form a cycle through `{cycle_at}`"
        ));
    } else {
        for step in &draft.steps {
            let before = ancestors(&step.key, &deps);
            for r in references(&step.args) {
                let r = match r {
                    Ok(r) => r,
                    Err(why) => {
                        problems.push(format!("step `{}`: {why}", step.key));
                        continue;
                    }
                };
                if !before.contains(&r.step) {
                    problems.push(format!(
                        "step `{}` uses the output of `{}`, which is not among its dependencies",
                        step.key, r.step
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn find_cycle<'a>(deps: &BTreeMap<&'a StepKey, &'a [StepKey]>) -> Option<&'a StepKey> {
    // Kahn's algorithm: whatever cannot be ordered sits on (or behind) a cycle.
    let mut remaining: BTreeMap<&StepKey, usize> = deps
        .iter()
        .map(|(k, d)| (*k, d.iter().filter(|x| deps.contains_key(x)).count()))
        .collect();
    let mut done = BTreeSet::new();
    loop {
        let ready: Vec<&StepKey> = remaining
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| *k)
            .collect();
        if ready.is_empty() {
            break;
        }
        for k in ready {
            remaining.remove(k);
            done.insert(k);
        }
        for (k, n) in remaining.iter_mut() {
            *n = deps[k]
                .iter()
                .filter(|d| deps.contains_key(d) && !done.contains(d))
                .count();
        }
    }
    remaining.keys().next().copied()
}

fn ancestors(key: &StepKey, deps: &BTreeMap<&StepKey, &[StepKey]>) -> BTreeSet<StepKey> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&StepKey> = deps
        .get(key)
        .map(|d| d.iter().collect())
        .unwrap_or_default();
    while let Some(k) = stack.pop() {
        if seen.insert(k.clone())
            && let Some(d) = deps.get(k)
        {
            stack.extend(d.iter());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::StepDraft;
    use crate::domain::refs::reference;
    use crate::skills::Echo;

    fn step(key: &str, deps: &[&str], args: serde_json::Value) -> StepDraft {
        StepDraft {
            key: StepKey(key.into()),
            skill: "echo".into(),
            args,
            depends_on: deps.iter().map(|d| StepKey((*d).into())).collect(),
            post: vec![],
        }
    }

    #[test]
    fn rejects_cycles_unknown_skills_and_dangling_references() {
        let mut skills = SkillRegistry::new();
        skills.register(Echo);
        let ok = PlanDraft {
            title: "t".into(),
            tokens: 0,
            cost_micros: 0,
            steps: vec![
                step("a", &[], json!({"text": "x"})),
                step("b", &["a"], json!({"text": reference("a", "text")})),
            ],
        };
        assert!(validate_draft(&ok, &skills, 10).is_ok());

        let cycle = PlanDraft {
            title: "t".into(),
            tokens: 0,
            cost_micros: 0,
            steps: vec![
                step("a", &["b"], json!({"text": "x"})),
                step("b", &["a"], json!({"text": "y"})),
            ],
        };
        assert!(
            validate_draft(&cycle, &skills, 10)
                .unwrap_err()
                .iter()
                .any(|p| p.contains("cycle"))
        );

        let dangling = PlanDraft {
            title: "t".into(),
            tokens: 0,
            cost_micros: 0,
            steps: vec![step("a", &[], json!({"text": reference("z", "")}))],
        };
        assert!(
            validate_draft(&dangling, &skills, 10)
                .unwrap_err()
                .iter()
                .any(|p| p.contains("not among"))
        );

        let mut unknown = ok.clone();
        unknown.steps[0].skill = "rm".into();
        assert!(
            validate_draft(&unknown, &skills, 10)
                .unwrap_err()
                .iter()
                .any(|p| p.contains("unknown skill"))
        );
        assert!(validate_draft(&ok, &skills, 1).is_err());

        let mut malformed = ok.clone();
        malformed.steps[1].args = json!({"text": {"$from": "a.text"}});
        assert!(
            validate_draft(&malformed, &skills, 10)
                .unwrap_err()
                .iter()
                .any(|p| p.contains("step `b`: malformed reference"))
        );
    }
}
