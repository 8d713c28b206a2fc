//! Opening a plan from a validated draft: every step judged by policy and audited, then
//! either announced and set going, or rejected whole when policy forbids any step. Shared
//! by requests from people and by sub-goals handed to child plans.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Inner, Tx, progress, render, status};
use crate::audit::AuditEvent;
use crate::domain::{
    ContactId, ConversationRef, PlanDraft, PlanId, PlanRecord, PlanState, StepRecord, StepVerdict,
};
use crate::policy::stricter;

/// Where a plan comes from.
pub(super) struct Origin<'a> {
    /// The plan's id.
    pub(super) id: PlanId,
    /// What asked for it; a second plan for the same request is refused by the store.
    pub(super) request_id: String,
    /// The request's text.
    pub(super) text: &'a str,
    /// Where progress goes.
    pub(super) conversation: &'a ConversationRef,
    /// Who asked (and who the plan acts for).
    pub(super) requester: &'a ContactId,
    /// Notes the plan starts with (e.g. a child plan's parent and budget).
    pub(super) notes: BTreeMap<String, String>,
    /// A line shown before the plan's summary.
    pub(super) headline: Option<String>,
    /// What every step needs at least, whatever policy says (a proposal: its owner's
    /// approval).
    pub(super) gate: Option<StepVerdict>,
}

/// A new plan, ready to save.
pub(super) struct Opened {
    /// The plan: active and set going, or rejected.
    pub(super) plan: PlanRecord,
    /// Its summary, as announced.
    pub(super) summary: String,
    /// The forbidden steps, `key: reason`, if policy rejected the plan.
    pub(super) forbidden: Vec<String>,
}

/// Builds the plan for `draft` (already validated): judges and audits every step; a plan
/// with a forbidden step is rejected whole and nothing runs (the caller says so), any
/// other is announced and advanced.
pub(super) fn open(inner: &Inner, draft: &PlanDraft, origin: Origin<'_>, tx: &mut Tx) -> Opened {
    let now = tx.now;
    let steps: Vec<StepRecord> = draft
        .steps
        .iter()
        .map(|s| {
            let judged = inner.policy.judge(&s.skill, &s.args);
            let verdict = match &origin.gate {
                Some(gate) => stricter(judged, gate.clone()),
                None => judged,
            };
            StepRecord::new(s.clone(), verdict, 1)
        })
        .collect();
    let mut plan = PlanRecord {
        id: origin.id,
        revision: 0,
        version: 1,
        request_id: origin.request_id,
        request_text: origin.text.to_owned(),
        conversation: origin.conversation.clone(),
        requester: origin.requester.clone(),
        title: draft.title.clone(),
        state: PlanState::Active,
        steps,
        approvals: Vec::new(),
        plan_grants: Vec::new(),
        created_at: now,
        updated_at: now,
        notes: origin.notes,
    };
    progress::add_spending(&mut plan, draft);
    tx.key_prefix = format!("{}:r1", plan.id);
    tx.audit(AuditEvent::new(
        "plan.created",
        plan.requester.0.clone(),
        plan.id.to_string(),
        json!({"request": plan.request_id, "title": plan.title, "steps": draft.steps, "notes": plan.notes}),
    ));
    for step in &plan.steps {
        tx.audit(AuditEvent::new(
            "policy.verdict",
            "openmog",
            format!("{}/{}", plan.id, step.key()),
            serde_json::to_value(&step.verdict).unwrap_or_default(),
        ));
    }
    let forbidden: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.verdict {
            StepVerdict::Forbid { reason } => Some(format!("{}: {reason}", s.key())),
            _ => None,
        })
        .collect();
    let mut summary = render::plan_summary(&plan, inner.policy.directory());
    if let Some(headline) = origin.headline {
        summary = format!("{headline}\n{summary}");
    }
    if forbidden.is_empty() {
        status::announce(&plan, summary.clone(), tx);
        progress::advance(inner, &mut plan, tx);
    } else {
        plan.state = PlanState::Rejected;
        plan.notes
            .insert("rejected".to_owned(), forbidden.join("; "));
    }
    Opened {
        plan,
        summary,
        forbidden,
    }
}
