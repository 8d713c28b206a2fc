//! Purpose review (off unless `[planner.review]` is set): on its schedule the planner looks
//! at the purpose and at recent and open work, and may propose one plan to the owner. A
//! proposal is an ordinary plan in the owner's conversation, judged by the same policy,
//! and every step needs at least the owner's approval, so nothing runs on the model's word.
//!
//! An idle agent makes no model calls: a review is skipped while nothing has happened
//! since the last one, and while an earlier proposal is still open. The time of the last
//! review is kept in the store, so a restart neither repeats nor forgets one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::open::{self, Origin};
use crate::audit::AuditEvent;
use crate::channel::ChannelState;
use crate::clock::Timestamp;
use crate::config::ReviewConfig;
use crate::domain::{ContactId, OnTimeout, PlanId, StepVerdict};
use crate::planner::{ReviewRequest, validate_draft};
use crate::store::SaveOutcome;
use crate::{Error, Result};

/// Where the time of the last review is kept.
const STATE: &str = "planner";
const LAST_KEY: &str = "review.last";
/// The request ids of proposals start with this.
const PROPOSAL: &str = "review:";
/// How many plans of each kind (recent, open) the planner is shown.
const SHOWN: usize = 10;

pub(super) async fn run(inner: Arc<Inner>, review: ReviewConfig, shutdown: CancellationToken) {
    let state = ChannelState::new(STATE, Arc::clone(&inner.store));
    // The first review comes one period after the first start, not at every start.
    let mut last = loop {
        match last_review(&inner, &state).await {
            Ok(last) => break last,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read when the purpose was last reviewed")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(inner.poll) => {}
            () = shutdown.cancelled() => return,
        }
    };
    loop {
        let due = last.after(review.every.0);
        if inner.now() >= due {
            let span = tracing::info_span!("review", due = due.0);
            let outcome =
                tracing::Instrument::instrument(review_once(&inner, &review, last, due), span)
                    .await;
            if let Err(err) = outcome {
                tracing::warn!(error = %err, "purpose review failed");
                let mut tx = inner.tx(format!("review:{}:failed", due.0), inner.now());
                tx.audit(AuditEvent::new(
                    "review.failed",
                    "openmog",
                    "purpose",
                    json!({"error": err.to_string()}),
                ));
                if let Err(err) = inner.apply(&tx.effects).await {
                    tracing::warn!(error = %err, "cannot audit the failed review");
                }
            }
            // A failed review is not retried before the next period: the model may be
            // down for a while, and the day's budget is better spent on requests.
            last = inner.now();
            if let Err(err) = state.put(LAST_KEY, &last.0).await {
                tracing::warn!(error = %err, "cannot record the purpose review");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(inner.poll.max(Duration::from_millis(10))) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn last_review(inner: &Inner, state: &ChannelState) -> Result<Timestamp> {
    if let Some(last) = state.get::<i64>(LAST_KEY).await? {
        return Ok(Timestamp(last));
    }
    let now = inner.now();
    state.put(LAST_KEY, &now.0).await?;
    Ok(now)
}

/// One review: skipped if idle, else the planner's proposal (if any) is opened for the
/// owner.
async fn review_once(
    inner: &Inner,
    review: &ReviewConfig,
    last: Timestamp,
    due: Timestamp,
) -> Result<()> {
    // Newest first: what changed since the last review, and what is still open.
    let mut recent = Vec::new();
    let mut open_plans = Vec::new();
    for summary in inner.store.plans(false, 200).await? {
        // Within the same millisecond counts as after: a review too many beats one missed.
        let changed = summary.updated_at >= last;
        if !changed && summary.state.is_terminal() {
            continue;
        }
        let Some(plan) = inner.store.plan(&summary.id).await? else {
            continue;
        };
        let proposal = plan.request_id.starts_with(PROPOSAL);
        if proposal && !plan.state.is_terminal() {
            tracing::info!(plan = %plan.id, "an earlier proposal is still open; no review");
            return Ok(());
        }
        if !plan.state.is_terminal() && open_plans.len() < SHOWN {
            open_plans.push(plan.clone());
        }
        // A proposal's own progress is not news that calls for another review.
        if changed && !proposal && recent.len() < SHOWN {
            recent.push(plan);
        }
    }
    if recent.is_empty() {
        tracing::debug!("nothing happened since the last review");
        return Ok(());
    }

    let owner = ContactId(review.owner.clone());
    let conversation = super::message::direct_conversation(inner, &owner).ok_or_else(|| {
        Error::Config(format!(
            "planner.review.owner: `{owner}` cannot be reached on any channel"
        ))
    })?;
    let policy = inner.policy.summary();
    let skills = inner.skills();
    let max_steps = inner.config.limits.max_steps_per_plan;
    let draft = inner
        .planner
        .review(ReviewRequest {
            owner: &owner,
            recent: &recent,
            open: &open_plans,
            skills: &skills,
            policy: &policy,
            max_steps,
        })
        .await?;
    let mut tx = inner.tx(format!("review:{}", due.0), inner.now());
    let Some(draft) = draft else {
        tx.audit(AuditEvent::new(
            "review.done",
            "openmog",
            "purpose",
            json!({"proposed": null, "plans_seen": recent.len()}),
        ));
        return inner.apply(&tx.effects).await;
    };
    validate_draft(&draft, &skills, max_steps)
        .map_err(|problems| Error::InvalidPlan(problems.join("; ")))?;

    let text = format!("Proposal: {}", draft.title);
    let origin = Origin {
        id: PlanId::new(),
        request_id: format!("{PROPOSAL}{}", due.0),
        text: &text,
        conversation: &conversation,
        requester: &owner,
        notes: Default::default(),
        headline: Some(
            "From a review of the purpose, I propose this plan. Nothing runs until you approve."
                .to_owned(),
        ),
        gate: Some(StepVerdict::Approve {
            approvers: vec![owner.0.clone()],
            quorum: 1,
            timeout_ms: u64::try_from(review.proposal_timeout.0.as_millis()).unwrap_or(u64::MAX),
            on_timeout: OnTimeout::Deny,
            whole_plan: true,
            rule: None,
        }),
    };
    let opened = open::open(inner, &draft, origin, &mut tx);
    if !opened.forbidden.is_empty() {
        tx.say(
            &conversation,
            format!(
                "{}\nRejected: nothing was run. {}",
                opened.summary,
                opened.forbidden.join("; ")
            ),
        );
    }
    tx.audit(AuditEvent::new(
        "review.done",
        "openmog",
        "purpose",
        json!({"proposed": opened.plan.id, "plans_seen": recent.len()}),
    ));
    let now = tx.now;
    match inner
        .store
        .save_plan(&opened.plan, None, &tx.effects, now)
        .await?
    {
        SaveOutcome::Saved => inner.after_write(&tx.effects),
        // Proposed before a crash that came before the review was recorded.
        SaveOutcome::Conflict => {}
    }
    Ok(())
}
