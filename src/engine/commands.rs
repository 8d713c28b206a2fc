//! Built-in chat commands, understood whatever the planner: help, status, plans,
//! approve/deny, cancel.

use crate::domain::{ApprovalId, DecisionScope, PlanId, Verdict};

/// A built-in command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// What the agent can do.
    Help,
    /// Open plans and what they wait for.
    Status,
    /// Recent plans.
    Plans,
    /// A decision typed by its sender; without an id, the one open approval in this
    /// conversation that the sender may decide.
    Decide {
        /// The approval, if named.
        approval: Option<ApprovalId>,
        /// Approve or deny.
        verdict: Verdict,
        /// One step or the whole plan.
        scope: DecisionScope,
    },
    /// Cancel a plan (the only open one in this conversation if not named).
    Cancel(Option<PlanId>),
}

/// Parses a command; `None` if the text is a request for the planner. A leading `/` and a
/// `@botname` suffix on the command word are accepted (`/approve@openmog_bot a-7hq4rt`).
pub fn parse(text: &str) -> Option<Command> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    let first = first.strip_prefix('/').unwrap_or(first);
    let first = first
        .split('@')
        .next()
        .unwrap_or(first)
        .to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    let verdict = match first.as_str() {
        "help" | "start" if rest.is_empty() => return Some(Command::Help),
        "status" if rest.is_empty() => return Some(Command::Status),
        "plans" if rest.is_empty() => return Some(Command::Plans),
        "cancel" if rest.len() <= 1 => {
            return Some(Command::Cancel(
                rest.first().map(|id| PlanId((*id).to_owned())),
            ));
        }
        "approve" | "yes" => Verdict::Approve,
        "deny" | "no" => Verdict::Deny,
        _ => return None,
    };
    let (scope, rest) = match rest.as_slice() {
        ["plan" | "all", tail @ ..] => (DecisionScope::Plan, tail),
        tail => (DecisionScope::Step, tail),
    };
    match rest {
        [] => Some(Command::Decide {
            approval: None,
            verdict,
            scope,
        }),
        [id] if id.starts_with("a-") => Some(Command::Decide {
            approval: Some(ApprovalId((*id).to_owned())),
            verdict,
            scope,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_leaves_requests_alone() {
        assert_eq!(parse("help"), Some(Command::Help));
        assert_eq!(parse("/start"), Some(Command::Help));
        assert_eq!(
            parse("/approve@openmog_bot a-7hq4rt"),
            Some(Command::Decide {
                approval: Some("a-7hq4rt".into()),
                verdict: Verdict::Approve,
                scope: DecisionScope::Step
            })
        );
        assert_eq!(
            parse("approve plan a-1"),
            Some(Command::Decide {
                approval: Some("a-1".into()),
                verdict: Verdict::Approve,
                scope: DecisionScope::Plan
            })
        );
        assert_eq!(
            parse("DENY"),
            Some(Command::Decide {
                approval: None,
                verdict: Verdict::Deny,
                scope: DecisionScope::Step
            })
        );
        assert_eq!(
            parse("cancel p-abc"),
            Some(Command::Cancel(Some("p-abc".into())))
        );
        assert_eq!(parse("approve the budget for the offsite"), None);
        assert_eq!(parse("restart staging"), None);
    }
}
