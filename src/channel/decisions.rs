//! What adapters share about decisions made in a chat: the data a decision button carries,
//! and how a reply to an approval request reads. Only ids and verdicts travel this way;
//! who may decide is always the engine's question.

use crate::domain::{ApprovalId, DecisionScope, Verdict};

/// A decision button's data: `om:<a|p|d>:<approval>` (fits Telegram's 64 bytes and
/// Discord's 100-character custom ids).
pub fn decision_data(verdict: Verdict, scope: DecisionScope, approval: &ApprovalId) -> String {
    let verb = match (verdict, scope) {
        (Verdict::Deny, _) => "d",
        (Verdict::Approve, DecisionScope::Plan) => "p",
        (Verdict::Approve, DecisionScope::Step) => "a",
    };
    format!("om:{verb}:{approval}")
}

/// Reads a decision button's data; `None` if it is not one of ours.
pub fn parse_decision_data(data: &str) -> Option<(Verdict, DecisionScope, ApprovalId)> {
    let (verb, approval) = data.strip_prefix("om:")?.split_once(':')?;
    let (verdict, scope) = match verb {
        "a" => (Verdict::Approve, DecisionScope::Step),
        "p" => (Verdict::Approve, DecisionScope::Plan),
        "d" => (Verdict::Deny, DecisionScope::Step),
        _ => return None,
    };
    let valid = approval.starts_with("a-")
        && approval.len() <= 32
        && approval[2..].chars().all(|c| c.is_ascii_alphanumeric());
    valid.then(|| (verdict, scope, ApprovalId::from(approval)))
}

/// The first approval id (`a-` and six id characters) in `text`, e.g. in the request a
/// reply answers.
pub fn find_approval_id(text: &str) -> Option<ApprovalId> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|word| {
            word.len() == 8
                && word.starts_with("a-")
                && word[2..]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        .map(ApprovalId::from)
}

/// The command a reply to an approval request stands for: `approve`, `deny` or
/// `approve plan` (and obvious synonyms); `None` for anything else.
pub fn reply_decision(text: &str) -> Option<&'static str> {
    match text
        .trim()
        .trim_end_matches(['.', '!'])
        .to_lowercase()
        .as_str()
    {
        "approve" | "approved" | "yes" | "ok" | "👍" => Some("approve"),
        "approve plan" | "approve the plan" | "approve whole plan" | "approve the whole plan" => {
            Some("approve plan")
        }
        "deny" | "denied" | "no" | "👎" => Some("deny"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_data_round_trips_and_rejects_strangers() {
        let id = ApprovalId::new();
        for (verdict, scope) in [
            (Verdict::Approve, DecisionScope::Step),
            (Verdict::Approve, DecisionScope::Plan),
            (Verdict::Deny, DecisionScope::Step),
        ] {
            let data = decision_data(verdict, scope, &id);
            assert!(data.len() <= 64);
            assert_eq!(
                parse_decision_data(&data),
                Some((verdict, scope, id.clone()))
            );
        }
        for stranger in [
            "om:x:a-abcdef",
            "om:a:p-abcdef",
            "om:a:a-ab cd",
            "something else",
        ] {
            assert_eq!(parse_decision_data(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn replies_and_ids() {
        assert_eq!(
            find_approval_id("Approval needed · a-7hq4rt\nrestart"),
            Some(ApprovalId::from("a-7hq4rt"))
        );
        assert_eq!(find_approval_id("plan p-7hq4rt"), None);
        assert_eq!(reply_decision("Approve!"), Some("approve"));
        assert_eq!(
            reply_decision("approve the whole plan"),
            Some("approve plan")
        );
        assert_eq!(reply_decision("why?"), None);
    }
}
