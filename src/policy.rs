//! Policy: who a sender is, who may chat, who may approve, and how each step is judged
//! against the authorization rules.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use crate::config::{AuthorizationRule, Config, Contact, RuleDecision, Unmatched};
use crate::domain::refs::is_reference;
use crate::domain::{ContactId, OnTimeout, StepVerdict};
use crate::skills::Risk;
use crate::{Error, Result};

/// Contacts, looked up by id or by a channel address.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    by_id: BTreeMap<String, Contact>,
    by_address: BTreeMap<(String, String), String>,
}

impl Directory {
    /// Indexes the configured contacts.
    pub fn new(contacts: &[Contact]) -> Self {
        let mut dir = Directory::default();
        for c in contacts {
            for (channel, address) in &c.addresses {
                dir.by_address
                    .insert((channel.clone(), address.clone()), c.id.clone());
            }
            dir.by_id.insert(c.id.clone(), c.clone());
        }
        dir
    }

    /// The contact whose address on `channel` is `user_id`.
    pub fn identify(&self, channel: &str, user_id: &str) -> Option<&Contact> {
        let id = self
            .by_address
            .get(&(channel.to_owned(), user_id.to_owned()))?;
        self.by_id.get(id)
    }

    /// The contact with this id.
    pub fn get(&self, id: &ContactId) -> Option<&Contact> {
        self.by_id.get(&id.0)
    }

    /// Whether `contact` is one of `principals` (`*`, `role:NAME` or a contact id).
    pub fn matches(&self, contact: &ContactId, principals: &[String]) -> bool {
        let Some(c) = self.get(contact) else {
            return false;
        };
        principals.iter().any(|p| {
            p == "*"
                || match p.strip_prefix("role:") {
                    Some(role) => c.roles.iter().any(|r| r == role),
                    None => p == &c.id,
                }
        })
    }

    /// The display names (or ids, where a contact has no name) of the contacts
    /// `principal` matches.
    pub fn member_names(&self, principal: &str) -> Vec<String> {
        self.members(&[principal.to_owned()])
            .map(|c| {
                if c.name.is_empty() {
                    c.id.clone()
                } else {
                    c.name.clone()
                }
            })
            .collect()
    }

    /// Contacts that are among `principals`.
    pub fn members<'a>(
        &'a self,
        principals: &'a [String],
    ) -> impl Iterator<Item = &'a Contact> + 'a {
        self.by_id
            .values()
            .filter(move |c| self.matches(&ContactId(c.id.clone()), principals))
    }

    /// A contact's display name (its id if it has none).
    pub fn display_name(&self, id: &ContactId) -> String {
        match self.get(id) {
            Some(c) if !c.name.is_empty() => c.name.clone(),
            _ => id.0.clone(),
        }
    }
}

struct CompiledRule {
    skill: Regex,
    conditions: Vec<(String, Option<Value>, Option<Regex>)>,
    rule: AuthorizationRule,
}

/// The authorization rules, compiled.
pub struct Policy {
    rules: Vec<CompiledRule>,
    chat: Vec<String>,
    directory: Directory,
    unmatched: Unmatched,
    /// Each known skill's risk, for steps no rule matches; an unknown skill counts as high.
    risks: BTreeMap<String, Risk>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("rules", &self.rules.len())
            .field("chat", &self.chat)
            .finish()
    }
}

/// How a condition fared against arguments that may still hold references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Yes,
    No,
    /// The argument is a reference to an output not known yet.
    Unknown,
}

impl Policy {
    /// Compiles the configuration's authorizations.
    pub fn new(config: &Config) -> Result<Self> {
        let rules =
            config
                .authorizations
                .rules
                .iter()
                .enumerate()
                .map(|(i, rule)| {
                    let skill = glob_to_regex(&rule.skill).map_err(|e| {
                        Error::Config(format!("authorizations.rules[{i}].skill: {e}"))
                    })?;
                    let conditions =
                        rule.when
                            .iter()
                            .enumerate()
                            .map(|(j, c)| {
                                let re = c.matches.as_deref().map(Regex::new).transpose().map_err(
                                    |e| {
                                        Error::Config(format!(
                                            "authorizations.rules[{i}].when[{j}].matches: {e}"
                                        ))
                                    },
                                )?;
                                Ok((c.arg.clone(), c.equals.clone(), re))
                            })
                            .collect::<Result<Vec<_>>>()?;
                    Ok(CompiledRule {
                        skill,
                        conditions,
                        rule: rule.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        Ok(Policy {
            rules,
            chat: config.authorizations.chat.clone(),
            directory: Directory::new(&config.contacts),
            unmatched: config.authorizations.unmatched,
            risks: BTreeMap::new(),
        })
    }

    /// The same policy, knowing each skill's risk (for steps no rule matches).
    pub fn with_risks(mut self, risks: impl IntoIterator<Item = (String, Risk)>) -> Self {
        self.risks = risks.into_iter().collect();
        self
    }

    /// What a step no rule matches gets.
    fn unmatched(&self, skill: &str) -> StepVerdict {
        let risk = self.risks.get(skill).copied().unwrap_or(Risk::High);
        match (self.unmatched, risk) {
            (Unmatched::Forbid, _) => StepVerdict::Forbid {
                reason: format!("no authorization rule allows the skill `{skill}`"),
            },
            (Unmatched::ByRisk, Risk::Low) => StepVerdict::Auto,
            (Unmatched::ByRisk, Risk::Medium | Risk::High) => owner_approval(risk == Risk::Medium),
        }
    }

    /// The contact directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The rules in words, one line each, first match first (`shell.run when command
    /// matches ^systemctl: needs approval by role:oncall`): what a planner may be told.
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .rules
            .iter()
            .map(|compiled| {
                let rule = &compiled.rule;
                let when: Vec<String> = rule
                    .when
                    .iter()
                    .map(|c| match (&c.equals, &c.matches) {
                        (Some(value), _) => format!("{} = {value}", c.arg),
                        (None, Some(pattern)) => format!("{} matches {pattern}", c.arg),
                        (None, None) => c.arg.clone(),
                    })
                    .collect();
                let scope = if when.is_empty() {
                    rule.skill.clone()
                } else {
                    format!("{} when {}", rule.skill, when.join(" and "))
                };
                let decision = match rule.decision {
                    crate::config::RuleDecision::Auto => "runs without asking".to_owned(),
                    crate::config::RuleDecision::Approve => {
                        format!("needs approval by {}", rule.approvers.join(", "))
                    }
                    crate::config::RuleDecision::Forbid => "is forbidden".to_owned(),
                };
                format!("{scope}: {decision}")
            })
            .collect();
        lines.push(format!(
            "{}: always needs approval by role:owner",
            crate::skills::ADD_MCP
        ));
        lines.push(match self.unmatched {
            Unmatched::Forbid => "anything else: is forbidden".to_owned(),
            Unmatched::ByRisk => "anything else: by its risk — low runs without asking, medium \
                                  and high need approval by role:owner"
                .to_owned(),
        });
        lines
    }

    /// Whether `contact` may make requests.
    pub fn may_chat(&self, contact: &ContactId) -> bool {
        self.directory.matches(contact, &self.chat)
    }

    /// Judges a step. Where a condition reads an argument that is a reference to an
    /// earlier step's output (unknown until it runs), the stricter reading is taken:
    /// `forbid` and `approve` rules match, `auto` rules do not.
    pub fn judge(&self, skill: &str, args: &Value) -> StepVerdict {
        let verdict = self.judge_by_rules(skill, args);
        // Learning a skill changes what every later plan can do: an owner decides, whatever
        // approvers the rules name; only a rule that forbids it outright stands.
        if skill == crate::skills::ADD_MCP && !matches!(verdict, StepVerdict::Forbid { .. }) {
            return owner_approval(false);
        }
        verdict
    }

    fn judge_by_rules(&self, skill: &str, args: &Value) -> StepVerdict {
        for (index, compiled) in self.rules.iter().enumerate() {
            if !compiled.skill.is_match(skill) {
                continue;
            }
            let truth =
                compiled
                    .conditions
                    .iter()
                    .fold(Truth::Yes, |acc, (path, equals, re)| {
                        match (acc, evaluate(args, path, equals.as_ref(), re.as_ref())) {
                            (Truth::No, _) | (_, Truth::No) => Truth::No,
                            (Truth::Unknown, _) | (_, Truth::Unknown) => Truth::Unknown,
                            _ => Truth::Yes,
                        }
                    });
            let matched = match truth {
                Truth::Yes => true,
                Truth::No => false,
                Truth::Unknown => compiled.rule.decision != RuleDecision::Auto,
            };
            if matched {
                return verdict_of(&compiled.rule, index);
            }
        }
        self.unmatched(skill)
    }
}

/// Approval by an owner, with the default approval timeout.
fn owner_approval(whole_plan: bool) -> StepVerdict {
    StepVerdict::Approve {
        approvers: vec!["role:owner".to_owned()],
        quorum: 1,
        timeout_ms: u64::try_from(crate::config::default_approval_timeout().0.as_millis())
            .unwrap_or(u64::MAX),
        on_timeout: OnTimeout::Deny,
        whole_plan,
        rule: None,
    }
}

/// The stricter of two verdicts (auto < approve < forbid): judging again with resolved
/// arguments never relaxes what was decided with unresolved ones.
pub fn stricter(planned: StepVerdict, now: StepVerdict) -> StepVerdict {
    fn rank(v: &StepVerdict) -> u8 {
        match v {
            StepVerdict::Auto => 0,
            StepVerdict::Approve { .. } => 1,
            StepVerdict::Forbid { .. } => 2,
        }
    }
    if rank(&now) > rank(&planned) {
        now
    } else {
        planned
    }
}

fn verdict_of(rule: &AuthorizationRule, index: usize) -> StepVerdict {
    match rule.decision {
        RuleDecision::Auto => StepVerdict::Auto,
        RuleDecision::Forbid => StepVerdict::Forbid {
            reason: rule
                .reason
                .clone()
                .unwrap_or_else(|| format!("forbidden by authorization rule {}", index + 1)),
        },
        RuleDecision::Approve => StepVerdict::Approve {
            approvers: rule.approvers.clone(),
            quorum: rule.quorum.max(1),
            timeout_ms: u64::try_from(rule.timeout.0.as_millis()).unwrap_or(u64::MAX),
            on_timeout: rule.on_timeout,
            whole_plan: rule.whole_plan,
            rule: Some(index),
        },
    }
}

fn evaluate(args: &Value, path: &str, equals: Option<&Value>, re: Option<&Regex>) -> Truth {
    let mut value = args;
    for part in path.split('.') {
        if is_reference(value) {
            return Truth::Unknown;
        }
        match value.get(part) {
            Some(v) => value = v,
            None => return Truth::No,
        }
    }
    if is_reference(value) {
        return Truth::Unknown;
    }
    if let Some(expected) = equals
        && value != expected
    {
        return Truth::No;
    }
    if let Some(re) = re {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !re.is_match(&text) {
            return Truth::No;
        }
    }
    Truth::Yes
}

/// `http.*` → `^http\..*$`.
pub(crate) fn glob_to_regex(glob: &str) -> std::result::Result<Regex, regex::Error> {
    let pattern: Vec<String> = glob.split('*').map(regex::escape).collect();
    Regex::new(&format!("^{}$", pattern.join(".*")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(toml: &str) -> Policy {
        let config: Config =
            figment::Figment::from(figment::providers::Serialized::defaults(Config::default()))
                .merge(<figment::providers::Toml as figment::providers::Format>::string(toml))
                .extract()
                .expect("valid config");
        Policy::new(&config).expect("compiles")
    }

    #[test]
    fn first_matching_rule_wins_and_unmatched_is_forbidden_when_so_configured() {
        let p = policy(
            r#"
            [authorizations]
            unmatched = "forbid"
            [[contacts]]
            id = "ann"
            roles = ["oncall"]
            [[authorizations.rules]]
            skill = "shell.run"
            when = [{ arg = "command", matches = "^rm " }]
            decision = "forbid"
            reason = "no deleting"
            [[authorizations.rules]]
            skill = "shell.run"
            decision = "approve"
            approvers = ["role:oncall"]
            [[authorizations.rules]]
            skill = "http.*"
            decision = "auto"
            "#,
        );
        assert_eq!(p.judge("http.get", &json!({})), StepVerdict::Auto);
        assert!(
            matches!(p.judge("shell.run", &json!({"command": "rm -rf /"})), StepVerdict::Forbid { reason } if reason == "no deleting")
        );
        assert!(matches!(
            p.judge("shell.run", &json!({"command": "ls"})),
            StepVerdict::Approve { .. }
        ));
        assert!(matches!(
            p.judge("echo", &json!({})),
            StepVerdict::Forbid { .. }
        ));
        // A command that comes from an earlier step's output could be anything: the
        // forbidding rule is taken to match.
        let unresolved = json!({"command": {"$from": {"step": "a", "path": ""}}});
        assert!(matches!(
            p.judge("shell.run", &unresolved),
            StepVerdict::Forbid { .. }
        ));
    }

    #[test]
    fn unmatched_steps_are_judged_by_their_skills_risk() {
        let p = policy("").with_risks([
            ("echo".to_owned(), Risk::Low),
            ("memory.remember".to_owned(), Risk::Medium),
            ("shell.run".to_owned(), Risk::High),
        ]);
        assert_eq!(p.judge("echo", &json!({})), StepVerdict::Auto);
        let owner = vec!["role:owner".to_owned()];
        assert!(matches!(
            p.judge("memory.remember", &json!({})),
            StepVerdict::Approve { approvers, whole_plan: true, rule: None, .. } if approvers == owner
        ));
        assert!(matches!(
            p.judge("shell.run", &json!({})),
            StepVerdict::Approve { approvers, whole_plan: false, .. } if approvers == owner
        ));
        // A skill the policy was not told about counts as high.
        assert!(matches!(
            p.judge("mystery", &json!({})),
            StepVerdict::Approve {
                whole_plan: false,
                ..
            }
        ));
        assert!(p.summary().last().unwrap().contains("by its risk"));
    }

    #[test]
    fn stricter_never_relaxes() {
        let forbid = StepVerdict::Forbid { reason: "x".into() };
        assert_eq!(stricter(forbid.clone(), StepVerdict::Auto), forbid);
        assert_eq!(stricter(StepVerdict::Auto, forbid.clone()), forbid);
    }
}
