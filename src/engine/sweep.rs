//! The sweeper: approvals that timed out (deny, or park the plan), and plans past their
//! time budget.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Change, Inner, progress};
use crate::audit::AuditEvent;
use crate::domain::{ApprovalState, OnTimeout, PlanState, StepState};

/// How often plans are checked against `limits.plan_timeout`: the budget is hours, and the
/// check lists open plans, so it stays off the per-poll path.
const PLAN_BUDGET_CHECK_EVERY: Duration = Duration::from_secs(60);

pub(super) async fn run(inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut next_budget_check = tokio::time::Instant::now();
    loop {
        if let Err(err) = expire_approvals(&inner).await {
            tracing::warn!(error = %err, "approval expiry sweep failed");
        }
        if tokio::time::Instant::now() >= next_budget_check {
            next_budget_check += PLAN_BUDGET_CHECK_EVERY;
            if let Err(err) = enforce_plan_budget(&inner).await {
                tracing::warn!(error = %err, "plan budget sweep failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(inner.poll) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn expire_approvals(inner: &Inner) -> crate::Result<()> {
    let now = inner.now();
    for plan_id in inner.store.plans_with_expired_approvals(now).await? {
        inner
            .update_plan(&plan_id, |plan, tx| {
                let mut changed = false;
                let conversation = plan.conversation.clone();
                for i in 0..plan.approvals.len() {
                    let a = &mut plan.approvals[i];
                    if a.state != ApprovalState::Pending || a.expires_at > tx.now {
                        continue;
                    }
                    changed = true;
                    let (id, step_key) = (a.id.clone(), a.step.clone());
                    match a.on_timeout {
                        OnTimeout::Deny => {
                            a.state = ApprovalState::Expired;
                            a.settled_at = Some(tx.now);
                            tx.audit(AuditEvent::new("approval.expired", "openmog", id.to_string(), json!({"plan": plan.id, "step": step_key, "on_timeout": "deny"})));
                            if let Some(step) = plan.step_mut(&step_key) {
                                step.state = StepState::Denied;
                                step.error = Some("approval expired".to_owned());
                                step.finished_at = Some(tx.now);
                            }
                            tx.say(&conversation, format!("Approval {id} for `{step_key}` expired; the step will not run."));
                        }
                        OnTimeout::Park => {
                            a.state = ApprovalState::Parked;
                            tx.audit(AuditEvent::new("approval.parked", "openmog", id.to_string(), json!({"plan": plan.id, "step": step_key, "on_timeout": "park"})));
                            plan.state = PlanState::Parked;
                            tx.say(
                                &conversation,
                                format!("Approval {id} for `{step_key}` timed out; plan {} is parked until someone answers (`approve {id}` or `deny {id}`).", plan.id),
                            );
                        }
                    }
                }
                if !changed {
                    return Change::Skip(());
                }
                progress::advance(inner, plan, tx);
                Change::Save(())
            })
            .await?;
    }

    Ok(())
}

async fn enforce_plan_budget(inner: &Inner) -> crate::Result<()> {
    let now = inner.now();
    let budget = inner.config.limits.plan_timeout.0;
    for summary in inner.store.plans(true, 500).await? {
        if summary.state != PlanState::Active || summary.updated_at.after(budget) > now {
            continue;
        }
        inner
            .update_plan(&summary.id, |plan, tx| {
                if plan.state != PlanState::Active || plan.created_at.after(budget) > tx.now {
                    return Change::Skip(());
                }
                tx.audit(AuditEvent::new(
                    "plan.timeout",
                    "openmog",
                    plan.id.to_string(),
                    json!({"budget_ms": budget.as_millis() as u64}),
                ));
                progress::cancel(plan, "the plan ran out of time", tx);
                Change::Save(())
            })
            .await?;
    }
    Ok(())
}
