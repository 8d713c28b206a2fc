//! Moving a plan forward after any change: steps whose dependencies are done become ready
//! or ask for approval; steps behind a failure are skipped; a plan with nothing left to do
//! finishes with a report. Pure functions over a plan record and a [`Tx`].

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Inner, Tx, render, status};
use crate::audit::AuditEvent;
use crate::domain::refs::resolve;
use crate::domain::{
    Approval, ApprovalId, ApprovalPrompt, ApprovalState, ContactId, ConversationRef, PlanDraft,
    PlanRecord, PlanState, StepKey, StepRecord, StepState, StepVerdict, Verdict,
};
use crate::policy::stricter;

/// Advances every step that can move, then finishes the plan if nothing is left.
pub(super) fn advance(inner: &Inner, plan: &mut PlanRecord, tx: &mut Tx) {
    if plan.state.is_terminal() {
        return;
    }
    loop {
        let states: BTreeMap<StepKey, StepState> = plan
            .steps
            .iter()
            .map(|s| (s.key().clone(), s.state))
            .collect();
        let outputs = plan.outputs();
        let mut changed = false;
        for i in 0..plan.steps.len() {
            if plan.steps[i].state != StepState::Waiting {
                continue;
            }
            let deps: Vec<StepState> = plan.steps[i]
                .draft
                .depends_on
                .iter()
                .map(|d| states.get(d).copied().unwrap_or(StepState::Skipped))
                .collect();
            let blocked = plan.steps[i].draft.depends_on.iter().find(|d| {
                matches!(
                    states.get(*d),
                    None | Some(
                        StepState::Failed
                            | StepState::Denied
                            | StepState::Skipped
                            | StepState::Cancelled
                    )
                )
            });
            if let Some(blocked) = blocked.cloned() {
                let step = &mut plan.steps[i];
                step.state = StepState::Skipped;
                step.error = Some(format!("`{blocked}` did not succeed"));
                step.finished_at = Some(tx.now);
                changed = true;
                continue;
            }
            if deps.iter().all(|s| *s == StepState::Succeeded) {
                become_due(inner, plan, i, &outputs, tx);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if plan.steps.iter().all(|s| s.state.is_terminal()) {
        let state = if plan.steps.iter().all(|s| s.state == StepState::Succeeded) {
            PlanState::Succeeded
        } else if plan.steps.iter().any(|s| s.state == StepState::Failed) {
            PlanState::Failed
        } else if plan.steps.iter().any(|s| s.state == StepState::Denied) {
            PlanState::Denied
        } else {
            PlanState::Cancelled
        };
        finish(plan, state, tx);
    } else if plan.state == PlanState::Parked
        && !plan
            .approvals
            .iter()
            .any(|a| a.state == ApprovalState::Parked)
    {
        plan.state = PlanState::Active;
    }
}

/// A step whose dependencies all succeeded: judge it again with its arguments resolved
/// (never more leniently than when planned) and make it ready or ask for approval.
fn become_due(
    inner: &Inner,
    plan: &mut PlanRecord,
    i: usize,
    outputs: &BTreeMap<StepKey, Value>,
    tx: &mut Tx,
) {
    let resolved = resolve(&plan.steps[i].draft.args, &|k| outputs.get(k).cloned());
    let step_key = plan.steps[i].key().clone();
    let args = match resolved {
        Ok(args) => args,
        Err(why) => {
            let step = &mut plan.steps[i];
            step.state = StepState::Failed;
            step.error = Some(format!("cannot resolve arguments: {why}"));
            step.finished_at = Some(tx.now);
            status::step_finished(plan, i, inner.policy.directory(), tx);
            return;
        }
    };
    let verdict = stricter(
        plan.steps[i].verdict.clone(),
        inner.policy.judge(&plan.steps[i].draft.skill, &args),
    );
    plan.steps[i].verdict = verdict.clone();
    match verdict {
        StepVerdict::Auto => plan.steps[i].state = StepState::Ready,
        StepVerdict::Forbid { reason } => {
            tx.audit(AuditEvent::new(
                "policy.verdict",
                "openmog",
                format!("{}/{}", plan.id, step_key),
                json!({"verdict": "forbid", "reason": reason, "when": "arguments resolved"}),
            ));
            let step = &mut plan.steps[i];
            step.state = StepState::Denied;
            step.error = Some(format!("forbidden: {reason}"));
            step.finished_at = Some(tx.now);
            status::step_finished(plan, i, inner.policy.directory(), tx);
        }
        StepVerdict::Approve {
            approvers,
            quorum,
            timeout_ms,
            on_timeout,
            whole_plan,
            ..
        } => {
            let granted: Vec<&ContactId> = plan
                .plan_grants
                .iter()
                .filter(|c| inner.policy.directory().matches(c, &approvers))
                .collect();
            if whole_plan && granted.len() >= quorum as usize {
                tx.audit(AuditEvent::new(
                    "approval.covered",
                    "openmog",
                    format!("{}/{}", plan.id, step_key),
                    json!({"by": granted.iter().map(|c| c.0.clone()).collect::<Vec<_>>(), "scope": "plan"}),
                ));
                plan.steps[i].state = StepState::Ready;
                return;
            }
            let mut approval = Approval {
                id: ApprovalId::new(),
                plan: plan.id.clone(),
                plan_version: plan.version,
                step: step_key.clone(),
                approvers,
                quorum,
                state: ApprovalState::Pending,
                votes: Vec::new(),
                created_at: tx.now,
                expires_at: tx.now.after(std::time::Duration::from_millis(timeout_ms)),
                on_timeout,
                whole_plan,
                settled_at: None,
                summary: String::new(),
                prompted_in: Vec::new(),
                nonce: Approval::new_nonce(),
            };
            plan.steps[i].state = StepState::AwaitingApproval;
            plan.steps[i].approval = Some(approval.id.clone());
            ask(inner, plan, &mut approval, &args, tx);
            plan.approvals.push(approval);
        }
    }
}

/// Sends the approval request to the plan's conversation and, where configured, to each
/// approver on their preferred channel.
fn ask(inner: &Inner, plan: &PlanRecord, approval: &mut Approval, args: &Value, tx: &mut Tx) {
    let directory = inner.policy.directory();
    let step = plan
        .step(&approval.step)
        .expect("approval for an existing step");
    let prompt = ApprovalPrompt {
        approval: approval.id.clone(),
        plan: plan.id.clone(),
        summary: format!(
            "{} · {} {}",
            step.draft.key,
            step.draft.skill,
            compact(args)
        ),
        approvers: vec![render::approver_names(&approval.approvers, directory)],
        quorum: approval.quorum,
        whole_plan: approval.whole_plan,
        nonce: approval.nonce.clone(),
    };
    tx.audit(AuditEvent::new(
        "approval.requested",
        "openmog",
        approval.id.to_string(),
        json!({"plan": plan.id, "step": approval.step, "approvers": approval.approvers, "quorum": approval.quorum, "args": args, "expires_at": approval.expires_at}),
    ));
    approval.summary = prompt.summary.clone();
    approval.prompted_in.push(plan.conversation.clone());
    if inner.config.authorizations.notify_approvers_directly {
        for contact in directory.members(&approval.approvers) {
            if contact.id == plan.requester.0 {
                continue;
            }
            let Some(channel) = contact.preferred.as_ref() else {
                continue;
            };
            let Some(address) = contact.addresses.get(channel) else {
                continue;
            };
            let direct = ConversationRef::new(channel.clone(), address.clone());
            if !approval.prompted_in.contains(&direct) && inner.has_channel(channel) {
                approval.prompted_in.push(direct);
            }
        }
    }
    for (n, conversation) in approval.prompted_in.iter().enumerate() {
        tx.prompt(conversation, approval.prompt_key(n), prompt.clone());
    }
}

fn compact(args: &Value) -> String {
    let text = args.to_string();
    if text.chars().count() > 400 {
        format!("{}…", text.chars().take(400).collect::<String>())
    } else {
        text
    }
}

/// Ends a plan: final state, report, audit; open approvals are superseded.
pub(super) fn finish(plan: &mut PlanRecord, state: PlanState, tx: &mut Tx) {
    plan.state = state;
    for approval in plan.approvals.iter_mut().filter(|a| a.state.is_open()) {
        approval.state = ApprovalState::Superseded;
        approval.settled_at = Some(tx.now);
    }
    tx.audit(AuditEvent::new(
        "plan.finished",
        "openmog",
        plan.id.to_string(),
        json!({"state": state.as_str(), "version": plan.version}),
    ));
    tx.say(&plan.conversation, render::final_report(plan));
}

/// Cancels every step that has not finished and ends the plan.
pub(super) fn cancel(plan: &mut PlanRecord, reason: &str, tx: &mut Tx) {
    for step in plan.steps.iter_mut().filter(|s| !s.state.is_terminal()) {
        step.state = StepState::Cancelled;
        step.error = Some(reason.to_owned());
        step.lease_owner = None;
        step.lease_until = None;
        step.finished_at = Some(tx.now);
    }
    finish(plan, PlanState::Cancelled, tx);
}

/// Records a vote on an open approval and settles it when the vote decides it. Returns
/// the approval's state after the vote.
pub(super) fn vote(
    plan: &mut PlanRecord,
    approval: &ApprovalId,
    vote: crate::domain::Vote,
    tx: &mut Tx,
) -> ApprovalState {
    let now = tx.now;
    let Some(a) = plan.approval_mut(approval) else {
        return ApprovalState::Superseded;
    };
    let verdict = vote.verdict;
    a.votes.push(vote);
    let approvals = a
        .votes
        .iter()
        .filter(|v| v.verdict == Verdict::Approve)
        .count();
    let settled = match verdict {
        Verdict::Deny => Some(ApprovalState::Denied),
        Verdict::Approve if approvals >= a.quorum as usize => Some(ApprovalState::Approved),
        Verdict::Approve => None,
    };
    let Some(state) = settled else { return a.state };
    a.state = state;
    a.settled_at = Some(now);
    let step_key = a.step.clone();
    if let Some(step) = plan.step_mut(&step_key)
        && step.state == StepState::AwaitingApproval
    {
        if state == ApprovalState::Approved {
            step.state = StepState::Ready;
        } else {
            step.state = StepState::Denied;
            step.error = Some("approval denied".to_owned());
            step.finished_at = Some(now);
        }
    }
    state
}

/// Installs a new version of the plan's steps.
pub(super) fn apply_replan(inner: &Inner, plan: &mut PlanRecord, draft: &PlanDraft, tx: &mut Tx) {
    add_spending(plan, draft);
    let version = plan.version + 1;
    let mut old: BTreeMap<StepKey, StepRecord> =
        plan.steps.drain(..).map(|s| (s.key().clone(), s)).collect();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let mut steps = Vec::new();
    for new in &draft.steps {
        let verdict = inner.policy.judge(&new.skill, &new.args);
        match old.remove(&new.key) {
            Some(prev) if prev.draft == *new && prev.state != StepState::Failed => steps.push(prev),
            Some(prev) => {
                changed.push(new.key.to_string());
                supersede(plan, prev.approval.as_ref(), tx);
                steps.push(StepRecord::new(new.clone(), verdict, version));
            }
            None => {
                added.push(new.key.to_string());
                steps.push(StepRecord::new(new.clone(), verdict, version));
            }
        }
    }
    let removed: Vec<String> = old.keys().map(ToString::to_string).collect();
    for prev in old.values() {
        supersede(plan, prev.approval.as_ref(), tx);
    }
    plan.steps = steps;
    plan.version = version;
    plan.title = draft.title.clone();
    plan.plan_grants.clear();
    tx.audit(AuditEvent::new(
        "plan.replanned",
        "openmog",
        plan.id.to_string(),
        json!({"version": version, "added": added, "changed": changed, "removed": removed}),
    ));
    let mut text = format!("Plan {} revised (v{version}).", plan.id);
    for (label, keys) in [
        ("added", &added),
        ("changed", &changed),
        ("removed", &removed),
    ] {
        if !keys.is_empty() {
            text.push_str(&format!("\n  {label}: {}", keys.join(", ")));
        }
    }
    text.push('\n');
    text.push_str(&render::plan_summary(plan, inner.policy.directory()));
    status::announce(plan, text, tx);
    if let Some(StepVerdict::Forbid { reason }) = plan
        .steps
        .iter()
        .map(|s| &s.verdict)
        .find(|v| matches!(v, StepVerdict::Forbid { .. }))
        .cloned()
    {
        for step in plan.steps.iter_mut().filter(|s| !s.state.is_terminal()) {
            step.state = StepState::Cancelled;
            step.error = Some(format!("the revised plan has a forbidden step: {reason}"));
        }
    }
}

/// Adds what producing `draft` cost to what the plan's planning has cost (the `tokens` and
/// `cost_micros` notes, which [`crate::planner::Planner::replan`] reads to keep within the
/// plan's budget).
pub(super) fn add_spending(plan: &mut PlanRecord, draft: &PlanDraft) {
    for (note, spent, more) in [
        (PlanRecord::TOKENS_NOTE, plan.tokens_spent(), draft.tokens),
        (
            PlanRecord::COST_NOTE,
            plan.cost_spent_micros(),
            draft.cost_micros,
        ),
    ] {
        if more > 0 {
            let total = spent.saturating_add(more);
            plan.notes.insert(note.to_owned(), total.to_string());
        }
    }
}

fn supersede(plan: &mut PlanRecord, approval: Option<&ApprovalId>, tx: &mut Tx) {
    let Some(id) = approval else { return };
    if let Some(a) = plan.approval_mut(id)
        && a.state.is_open()
    {
        a.state = ApprovalState::Superseded;
        a.settled_at = Some(tx.now);
        tx.audit(AuditEvent::new(
            "approval.superseded",
            "openmog",
            id.to_string(),
            json!({"plan": a.plan, "step": a.step}),
        ));
    }
}
