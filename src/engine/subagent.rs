//! Sub-goals: a `subagent` step hands its goal to a child plan — planned like a request, in
//! the same conversation, for the same requester, judged by the same policy, within the
//! step's own budget (steps, time, tokens) — and waits for it; the child's outcome becomes
//! the step's output. Children run in parallel with the rest of the plan, at most
//! `limits.max_subagents` at once, and cannot delegate further.
//!
//! The child's id is derived from the step, so an executor that reclaims the step after a
//! crash finds the child it left instead of starting another. While it waits, the executor
//! renews the step's lease; the child's time budget is a note on the child, so whoever
//! waits enforces it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::executor::{Claimed, LEASE_MARGIN, Outcome};
use super::open::{self, Origin};
use super::{Change, Inner, progress};
use crate::audit::AuditEvent;
use crate::clock::Timestamp;
use crate::domain::{PlanId, PlanRecord, PlanState, StepKey, StepState};
use crate::planner::{PlanOutcome, PlanRequest, validate_draft};
use crate::skills::{SUBAGENT, SubagentArgs};
use crate::store::SaveOutcome;

/// Runs a claimed `subagent` step to its outcome.
pub(super) async fn run(inner: &Inner, claimed: &Claimed, cancel: &CancellationToken) -> Outcome {
    let args = match claimed.args.as_ref().map(SubagentArgs::parse) {
        Ok(Ok(args)) => args,
        Ok(Err(err)) => return Outcome::failed(err.to_string()),
        Err(why) => return Outcome::failed(format!("cannot resolve arguments: {why}")),
    };
    let id = child_id(&claimed.plan, &claimed.step, claimed.version);
    let child = match inner.store.plan(&id).await {
        // Reclaimed after a crash: the child is already on its way.
        Ok(Some(child)) => child,
        Ok(None) => match start(inner, claimed, &args, id).await {
            Ok(child) => child,
            Err(why) => return Outcome::failed(why),
        },
        Err(err) => return Outcome::failed(format!("cannot read the child plan: {err}")),
    };
    wait(inner, claimed, child.id, cancel).await
}

/// The child plan of `step` (in the step's `version`): `p-parent.step`, with `.vN` after a
/// replan changed the step.
fn child_id(parent: &PlanId, step: &StepKey, version: u32) -> PlanId {
    if version <= 1 {
        PlanId(format!("{parent}.{step}"))
    } else {
        PlanId(format!("{parent}.{step}.v{version}"))
    }
}

/// Plans the sub-goal and saves the child plan (or finds the one a racing executor saved).
async fn start(
    inner: &Inner,
    claimed: &Claimed,
    args: &SubagentArgs,
    id: PlanId,
) -> Result<PlanRecord, String> {
    let parent = match inner.store.plan(&claimed.plan).await {
        Ok(Some(parent)) => parent,
        Ok(None) => return Err(format!("plan {} is gone", claimed.plan)),
        Err(err) => return Err(format!("cannot read plan {}: {err}", claimed.plan)),
    };
    let limit = inner.config.limits.max_steps_per_plan;
    let max_steps = args.max_steps.map_or(limit, |n| n.min(limit));
    let skills = inner.skills().without(SUBAGENT);
    let policy = inner.policy.summary();
    let mut tx = inner.tx(format!("{id}:start"), inner.now());
    let outcome = inner
        .planner
        .plan(PlanRequest {
            text: &args.goal,
            requester: &parent.requester,
            conversation: &parent.conversation,
            skills: &skills,
            history: &[],
            policy: &policy,
            max_steps,
            max_tokens: args.max_tokens,
            sub_goal_of: Some(&parent),
        })
        .await;
    let draft = match outcome {
        Ok(PlanOutcome::Plan(draft)) => draft,
        Ok(PlanOutcome::Fallback { notice, outcome }) => match *outcome {
            PlanOutcome::Plan(draft) => {
                tx.say(&parent.conversation, notice);
                draft
            }
            _ => return Err(format!("the sub-goal could not be planned: {notice}")),
        },
        Ok(PlanOutcome::Reply(reply)) => {
            return Err(format!("the sub-goal was not planned: {reply}"));
        }
        Err(err) => return Err(format!("the sub-goal could not be planned: {err}")),
    };
    validate_draft(&draft, &skills, max_steps)
        .map_err(|problems| format!("the sub-goal's plan is invalid: {}", problems.join("; ")))?;

    let mut notes = BTreeMap::new();
    notes.insert(
        PlanRecord::PARENT_NOTE.to_owned(),
        format!("{}/{}", claimed.plan, claimed.step),
    );
    if let Some(timeout) = args.timeout {
        let deadline = tx.now.after(timeout.0);
        notes.insert(PlanRecord::DEADLINE_NOTE.to_owned(), deadline.0.to_string());
    }
    if let Some(tokens) = args.max_tokens {
        notes.insert(PlanRecord::TOKEN_LIMIT_NOTE.to_owned(), tokens.to_string());
    }
    let origin = Origin {
        id: id.clone(),
        request_id: format!("{SUBAGENT}:{id}"),
        text: &args.goal,
        conversation: &parent.conversation,
        requester: &parent.requester,
        notes,
        headline: Some(format!(
            "Plan {}, step `{}`, hands a sub-goal to plan {id}:",
            claimed.plan, claimed.step
        )),
        gate: None,
    };
    let opened = open::open(inner, &draft, origin, &mut tx);
    if !opened.forbidden.is_empty() {
        tx.say(
            &parent.conversation,
            format!(
                "{}\nRejected: nothing was run. {}",
                opened.summary,
                opened.forbidden.join("; ")
            ),
        );
    }
    let now = tx.now;
    match inner
        .store
        .save_plan(&opened.plan, None, &tx.effects, now)
        .await
    {
        Ok(SaveOutcome::Saved) => {
            inner.after_write(&tx.effects);
            Ok(opened.plan)
        }
        Ok(SaveOutcome::Conflict) => match inner.store.plan(&id).await {
            Ok(Some(child)) => Ok(child),
            _ => Err(format!("plan {id} could not be saved")),
        },
        Err(err) => Err(format!("plan {id} could not be saved: {err}")),
    }
}

/// Waits for the child to end, renewing the step's lease, enforcing the child's deadline,
/// and cancelling the child if the step is cancelled.
async fn wait(
    inner: &Inner,
    claimed: &Claimed,
    child: PlanId,
    cancel: &CancellationToken,
) -> Outcome {
    let lease = inner.config.limits.step_timeout.0 + LEASE_MARGIN;
    // Engine time, as the lease itself is: renewed when a third of it has passed.
    let mut renewed = inner.now();
    loop {
        let woken = inner.work_wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match inner.store.plan(&child).await {
            Ok(Some(plan)) if plan.state.is_terminal() => return report(&plan),
            Ok(Some(plan)) => {
                if deadline(&plan).is_some_and(|d| d <= inner.now()) {
                    // The next pass sees it ended (or, if the store failed, tries again
                    // after the usual pause).
                    stop(inner, &child, "the sub-goal ran out of time").await;
                }
            }
            Ok(None) => return Outcome::failed(format!("plan {child} is gone")),
            Err(err) => tracing::warn!(%child, error = %err, "cannot read the child plan"),
        }
        if inner.now().since(renewed) >= lease / 3 {
            match renew_lease(inner, claimed, lease).await {
                Lease::Renewed => renewed = inner.now(),
                // A store hiccup: try again at the next pass; the lease has margin left.
                Lease::Unknown => {}
                // Another executor owns the step now; it waits for the child instead.
                Lease::Lost => return Outcome::failed("the step's lease was lost".to_owned()),
                // Cancelled elsewhere (e.g. by another instance).
                Lease::Ended => {
                    stop(inner, &child, "its parent plan ended").await;
                    return Outcome::failed("cancelled".to_owned());
                }
            }
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(inner.poll) => {}
            () = cancel.cancelled() => {
                stop(inner, &child, "its parent plan was cancelled").await;
                return Outcome::failed("cancelled".to_owned());
            }
        }
    }
}

/// When the child must be done by, if its step gave it a time budget.
fn deadline(child: &PlanRecord) -> Option<Timestamp> {
    child
        .notes
        .get(PlanRecord::DEADLINE_NOTE)
        .and_then(|ms| ms.parse().ok())
        .map(Timestamp)
}

/// Cancels the child plan and any of its steps running here.
async fn stop(inner: &Inner, child: &PlanId, reason: &str) {
    let result = inner
        .update_plan(child, |plan, tx| {
            if plan.state.is_terminal() {
                return Change::Skip(());
            }
            tx.audit(AuditEvent::new(
                "plan.cancelled",
                "openmog",
                plan.id.to_string(),
                json!({"reason": reason}),
            ));
            progress::cancel(plan, reason, tx);
            Change::Save(())
        })
        .await;
    match result {
        Ok(()) => inner.stop_running(child),
        Err(err) => tracing::warn!(%child, error = %err, "cannot cancel the child plan"),
    }
}

/// What became of the step's lease.
enum Lease {
    /// Extended: this executor still holds the step.
    Renewed,
    /// Another executor claimed the step.
    Lost,
    /// The step or its plan ended without this executor (cancelled).
    Ended,
    /// The store could not be asked.
    Unknown,
}

/// Extends the step's lease while this executor still holds it.
async fn renew_lease(inner: &Inner, claimed: &Claimed, lease: Duration) -> Lease {
    inner
        .update_plan(&claimed.plan, |plan, tx| {
            let terminal = plan.state.is_terminal();
            match plan.step_mut(&claimed.step) {
                Some(step)
                    if !terminal
                        && step.state == StepState::Running
                        && step.attempt == claimed.attempt
                        && step.lease_owner.as_deref() == Some(inner.instance.as_str()) =>
                {
                    step.lease_until = Some(tx.now.after(lease));
                    Change::Save(Lease::Renewed)
                }
                Some(step) if !terminal && step.state == StepState::Running => {
                    Change::Skip(Lease::Lost)
                }
                _ => Change::Skip(Lease::Ended),
            }
        })
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot renew the sub-goal step's lease");
            Lease::Unknown
        })
}

/// The child's outcome as the step's output: its state, its steps' outputs, its report.
fn report(child: &PlanRecord) -> Outcome {
    let outputs: BTreeMap<String, Value> =
        child.outputs().into_iter().map(|(k, v)| (k.0, v)).collect();
    let output = json!({
        "plan": child.id,
        "state": child.state.as_str(),
        "title": child.title,
        "outputs": outputs,
        "report": super::render::final_report(child),
        "tokens": child.tokens_spent(),
    });
    if child.state == PlanState::Succeeded {
        Outcome::Succeeded(output)
    } else {
        Outcome::Failed {
            output: Some(output),
            error: format!("sub-plan {} {}", child.id, child.state.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_id_names_its_parent_step_and_changes_with_the_steps_version() {
        let parent = PlanId::from("p-abc234");
        let step = StepKey::from("research");
        assert_eq!(child_id(&parent, &step, 1).as_str(), "p-abc234.research");
        assert_eq!(child_id(&parent, &step, 3).as_str(), "p-abc234.research.v3");
    }
}
