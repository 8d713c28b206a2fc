//! Keeping what a chat shows current on channels that can edit: each plan version has one
//! status message, edited as steps finish, and each approval request is edited to show its
//! outcome once it is settled. Channels that cannot edit get a line per finished step.

use super::{Tx, render};
use crate::domain::{ApprovalId, ApprovalState, PlanRecord, Verdict};
use crate::policy::Directory;

/// The idempotency key of the status message of the plan's current version.
fn status_key(plan: &PlanRecord) -> String {
    format!("{}:v{}:status", plan.id, plan.version)
}

/// Sends the message that becomes the plan version's status message.
pub(super) fn announce(plan: &PlanRecord, text: String, tx: &mut Tx) {
    tx.status(&plan.conversation, status_key(plan), None, text);
}

/// Reports that step `index` finished: an edit of the status message where possible, a
/// line of its own otherwise.
pub(super) fn step_finished(plan: &PlanRecord, index: usize, directory: &Directory, tx: &mut Tx) {
    if tx.can_edit(&plan.conversation) {
        let key = tx.next_key();
        tx.status(
            &plan.conversation,
            key,
            Some(status_key(plan)),
            render::plan_status(plan, directory),
        );
    } else {
        tx.say(&plan.conversation, render::step_outcome(&plan.steps[index]));
    }
}

/// Edits the request of every approval that was open before this transition and is settled
/// now, in every conversation it was sent to, to show the outcome (and lose its buttons).
pub(super) fn show_settled(
    open_before: &[ApprovalId],
    plan: &PlanRecord,
    directory: &Directory,
    tx: &mut Tx,
) {
    let settled = plan
        .approvals
        .iter()
        .filter(|a| !a.state.is_open() && open_before.contains(&a.id));
    for approval in settled {
        let outcome = match approval.state {
            ApprovalState::Approved | ApprovalState::Denied => {
                let verdict = if approval.state == ApprovalState::Approved {
                    Verdict::Approve
                } else {
                    Verdict::Deny
                };
                let by: Vec<String> = approval
                    .votes
                    .iter()
                    .filter(|v| v.verdict == verdict)
                    .map(|v| directory.display_name(&v.contact))
                    .collect();
                let (mark, word) = if verdict == Verdict::Approve {
                    ("✓", "Approved")
                } else {
                    ("⊘", "Denied")
                };
                format!("{mark} {word} by {}", by.join(", "))
            }
            ApprovalState::Expired => "⌛ Expired: nobody decided in time".to_owned(),
            _ => "– No longer needed: the plan changed or ended".to_owned(),
        };
        let text = format!(
            "{outcome}\n{} (approval {}, plan {})",
            approval.summary, approval.id, approval.plan
        );
        for (n, conversation) in approval.prompted_in.iter().enumerate() {
            tx.edit(
                conversation,
                format!("{}:settled:{n}", approval.id),
                approval.prompt_key(n),
                text.clone(),
            );
        }
    }
}
