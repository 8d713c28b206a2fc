//! Settling decisions exactly once: the decision must carry the approval's nonce where the
//! channel needs proof, the approval must be open, the decider must be one of its approvers
//! and must not have decided already. Anything else changes nothing, gets a clear answer,
//! and is audited.

use serde_json::json;

use super::{Asker, Change, Inner, Tx, progress};
use crate::Result;
use crate::audit::AuditEvent;
use crate::domain::{
    Approval, ApprovalId, ApprovalState, ContactId, ConversationRef, Decision, DecisionScope,
    PlanState, Verdict, Vote,
};

pub(super) async fn decide(
    inner: &Inner,
    contact: &ContactId,
    asker: &Asker,
    evidence: &str,
    decision: Decision,
    mut tx: Tx,
) -> Result<()> {
    let conversation = &asker.conversation;
    let refuse = |tx: &mut Tx, reason: &str, reply: String| {
        tx.audit(AuditEvent::new(
            "decision.refused",
            contact.0.clone(),
            decision.approval.to_string(),
            json!({"reason": reason, "verdict": decision.verdict, "evidence": evidence}),
        ));
        tx.reply(asker, reply);
    };
    let Some(plan) = inner.store.plan_of_approval(&decision.approval).await? else {
        refuse(
            &mut tx,
            "unknown approval",
            format!("There is no approval {}.", decision.approval),
        );
        return inner.apply(&tx.effects).await;
    };
    let inbox_done = tx.effects.inbox_done.clone();
    let proof_needed = inner
        .channels
        .get(&conversation.channel)
        .is_some_and(|c| c.capabilities().decisions_need_proof);
    let directory = inner.policy.directory();
    let who = directory.display_name(contact);
    inner
        .update_plan(&plan.id, |plan, ptx| {
            ptx.effects.inbox_done = inbox_done.clone();
            let Some(approval) = plan.approval(&decision.approval).cloned() else {
                refuse(ptx, "unknown approval", format!("There is no approval {}.", decision.approval));
                return Change::Skip(());
            };
            if let Some(problem) = nonce_problem(&approval, decision.nonce.as_deref(), proof_needed) {
                refuse(ptx, problem, format!("This message does not answer the request for approval {} ({problem}). Nothing was done; reply to the request itself.", approval.id));
                return Change::Skip(());
            }
            if !approval.state.is_open() {
                let (reason, reply) = match approval.state {
                    ApprovalState::Superseded => (
                        "superseded",
                        format!("Approval {} no longer applies: plan {} changed or ended. Nothing was done.", approval.id, plan.id),
                    ),
                    ApprovalState::Expired => ("expired", format!("Approval {} has expired. Nothing was done.", approval.id)),
                    state => {
                        let by: Vec<String> = approval.votes.iter().map(|v| directory.display_name(&v.contact)).collect();
                        ("already settled", format!("Approval {} was already {} by {}.", approval.id, state.as_str(), by.join(", ")))
                    }
                };
                refuse(ptx, reason, reply);
                return Change::Skip(());
            }
            if !directory.matches(contact, &approval.approvers) {
                refuse(ptx, "not an approver", format!("Sorry {who}, you are not one of the approvers of {}. Nothing was done.", approval.id));
                return Change::Skip(());
            }
            if approval.votes.iter().any(|v| &v.contact == contact) {
                refuse(ptx, "duplicate", format!("You already decided on {}. Nothing changed.", approval.id));
                return Change::Skip(());
            }
            let whole_plan = decision.scope == DecisionScope::Plan && decision.verdict == Verdict::Approve;
            if whole_plan && !approval.whole_plan {
                refuse(ptx, "whole-plan approval not allowed", format!("Policy does not allow approving plan {} as a whole; approve {} on its own.", plan.id, approval.id));
                return Change::Skip(());
            }

            // Every open approval this decision covers: this one, and with a whole-plan
            // approval, every other open one of the plan the decider may approve.
            let mut covered = vec![approval.id.clone()];
            if whole_plan {
                plan.plan_grants.push(contact.clone());
                covered.extend(
                    plan.approvals
                        .iter()
                        .filter(|a| a.id != approval.id && a.state.is_open() && a.whole_plan && directory.matches(contact, &a.approvers) && !a.votes.iter().any(|v| &v.contact == contact))
                        .map(|a| a.id.clone()),
                );
            }
            let mut outcomes = Vec::new();
            for id in &covered {
                let vote_record = Vote { contact: contact.clone(), verdict: decision.verdict, at: ptx.now, evidence: evidence.to_owned() };
                let state = progress::vote(plan, id, vote_record, ptx);
                ptx.audit(AuditEvent::new(
                    "decision",
                    contact.0.clone(),
                    id.to_string(),
                    json!({"verdict": decision.verdict, "scope": decision.scope, "evidence": evidence, "channel": conversation.channel, "state": state.as_str(), "comment": decision.comment}),
                ));
                outcomes.push((id.clone(), state));
            }
            let remark = decision.comment.as_deref().map(|c| format!(" They wrote: {c}")).unwrap_or_default();
            let lines: Vec<String> = outcomes
                .iter()
                .map(|(id, state)| {
                    let a = plan.approval(id).expect("voted on it");
                    match state {
                        ApprovalState::Approved => format!("✓ {id} ({}) approved by {who}.{remark}", a.step),
                        ApprovalState::Denied => format!("⊘ {id} ({}) denied by {who}.{remark}", a.step),
                        _ => {
                            let yes = a.votes.iter().filter(|v| v.verdict == Verdict::Approve).count();
                            format!("{id} ({}): approval from {who} recorded, {yes} of {} needed.", a.step, a.quorum)
                        }
                    }
                })
                .collect();
            let mut reply = lines.join("\n");
            if whole_plan {
                reply.push_str(&format!("\nWhole-plan approval by {who} recorded for plan {}.", plan.id));
            }
            ptx.reply(asker, reply.clone());
            if conversation != &plan.conversation {
                let notice = reply.clone();
                let target = plan.conversation.clone();
                ptx.say(&target, notice);
            }
            if plan.state == PlanState::Parked {
                plan.state = PlanState::Active;
            }
            progress::advance(inner, plan, ptx);
            Change::Save(())
        })
        .await
}

/// Why a decision's nonce does not prove it answers `approval`'s request, if it does not.
fn nonce_problem(approval: &Approval, nonce: Option<&str>, needed: bool) -> Option<&'static str> {
    match nonce {
        Some(nonce) if !approval.nonce_matches(nonce) => Some("wrong nonce"),
        None if needed => Some("no nonce"),
        _ => None,
    }
}

/// The one open approval in `conversation` that `contact` may decide, or a reply saying
/// why there is not exactly one.
pub(super) async fn only_open_approval(
    inner: &Inner,
    contact: &ContactId,
    conversation: &ConversationRef,
) -> Result<std::result::Result<ApprovalId, String>> {
    let mut open = Vec::new();
    for id in inner.store.plans_with_open_approvals().await? {
        let Some(plan) = inner.store.plan(&id).await? else {
            continue;
        };
        for a in plan.approvals.iter().filter(|a| a.state.is_open()) {
            let here = plan.conversation == *conversation
                || inner
                    .policy
                    .directory()
                    .get(contact)
                    .and_then(|c| c.addresses.get(&conversation.channel))
                    == Some(&conversation.id);
            if here && inner.policy.directory().matches(contact, &a.approvers) {
                open.push(a.id.clone());
            }
        }
    }
    Ok(match open.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("There is nothing waiting for your decision here.".to_owned()),
        many => {
            let ids: Vec<String> = many.iter().map(ToString::to_string).collect();
            Err(format!(
                "Several approvals wait for you; name one: {}",
                ids.join(", ")
            ))
        }
    })
}
