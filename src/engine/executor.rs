//! The executor: claims ready steps with a lease (fenced by attempt number), runs their
//! skills within the concurrency limit and the step timeout, checks post-conditions, and
//! records the outcome — only if it still holds the lease. `subagent` steps hold a subagent
//! slot instead of a step slot while they wait for their child plan (whose steps need the
//! step slots), and are run by [`super::subagent`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Change, Inner, Tx, message, progress, status, subagent};
use crate::audit::AuditEvent;
use crate::domain::refs::resolve;
use crate::domain::{ContactId, ConversationRef, PlanId, StepKey, StepState};
use crate::planner::{Replan, ReplanRequest};
use crate::skills::{SUBAGENT, SkillContext};
use crate::store::RunnableStep;

/// Extra lease time beyond the step timeout, so a step that times out is recorded by its
/// owner before anyone else may reclaim it.
pub(super) const LEASE_MARGIN: Duration = Duration::from_secs(30);

pub(super) async fn run(inner: Arc<Inner>, shutdown: CancellationToken) {
    // Step tasks live here: aborting the executor (a crash, or dropping the engine) aborts
    // them too, and their leases expire for someone else to reclaim.
    let mut running = JoinSet::new();
    loop {
        let woken = inner.work_wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        while running.try_join_next().is_some() {}
        if shutdown.is_cancelled() {
            break;
        }
        match inner.store.runnable_steps(inner.now(), 64).await {
            Ok(steps) => {
                for runnable in steps {
                    let Ok(step_slot) = Arc::clone(&inner.step_slots).try_acquire_owned() else {
                        break;
                    };
                    match claim(&inner, &runnable).await {
                        Ok(Some(mut claimed)) => {
                            let permit = claimed.subagent_slot.take().unwrap_or(step_slot);
                            let inner = Arc::clone(&inner);
                            running.spawn(async move {
                                let span = tracing::info_span!("step", plan = %claimed.plan, step = %claimed.step, attempt = claimed.attempt);
                                tracing::Instrument::instrument(execute(&inner, claimed), span).await;
                                drop(permit);
                                inner.work_wake.notify_waiters();
                            });
                        }
                        Ok(None) => {}
                        Err(err) => {
                            tracing::warn!(plan = %runnable.plan, step = %runnable.step, error = %err, "could not claim step")
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "step queue unavailable"),
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(inner.poll) => {}
            () = shutdown.cancelled() => break,
        }
    }
    // Graceful stop: let running steps finish and record their outcome.
    while running.join_next().await.is_some() {}
}

/// A step this executor holds the lease of.
pub(super) struct Claimed {
    pub(super) plan: PlanId,
    /// Where the plan was asked for: it sees a typing indicator while the step runs.
    conversation: ConversationRef,
    /// Who asked for the plan.
    pub(super) requester: ContactId,
    pub(super) step: StepKey,
    /// The plan version that last changed the step's definition.
    pub(super) version: u32,
    pub(super) attempt: u32,
    pub(super) skill: String,
    /// The arguments with references resolved, or why they could not be.
    pub(super) args: Result<Value, String>,
    post: Vec<crate::domain::PostCondition>,
    /// A `subagent` step's slot, taken when it was claimed.
    subagent_slot: Option<OwnedSemaphorePermit>,
}

async fn claim(inner: &Inner, runnable: &RunnableStep) -> crate::Result<Option<Claimed>> {
    let timeout = inner.config.limits.step_timeout.0;
    inner
        .update_plan(&runnable.plan, |plan, tx| {
            if plan.state.is_terminal() {
                return Change::Skip(None);
            }
            let outputs = plan.outputs();
            let plan_id = plan.id.clone();
            let conversation = plan.conversation.clone();
            let requester = plan.requester.clone();
            let Some(step) = plan.step_mut(&runnable.step) else { return Change::Skip(None) };
            let reclaimed = match step.state {
                StepState::Ready => false,
                StepState::Running if step.lease_until.is_some_and(|until| until < tx.now) => true,
                _ => return Change::Skip(None),
            };
            let subagent_slot = if step.draft.skill == SUBAGENT {
                // No slot free: the step stays ready until a child plan ends.
                let Ok(slot) = Arc::clone(&inner.subagent_slots).try_acquire_owned() else {
                    return Change::Skip(None);
                };
                Some(slot)
            } else {
                None
            };
            let args = resolve(&step.draft.args, &|k| outputs.get(k).cloned());
            step.state = StepState::Running;
            step.attempt += 1;
            step.lease_owner = Some(inner.instance.clone());
            step.lease_until = Some(tx.now.after(timeout + LEASE_MARGIN));
            step.started_at = Some(tx.now);
            tx.audit(AuditEvent::new(
                if reclaimed { "step.reclaimed" } else { "step.started" },
                "openmog",
                format!("{plan_id}/{}", step.key()),
                json!({"attempt": step.attempt, "skill": step.draft.skill, "args": args.as_ref().ok(), "executor": inner.instance}),
            ));
            Change::Save(Some(Claimed {
                plan: plan_id,
                conversation,
                requester,
                step: step.key().clone(),
                version: step.since_version,
                attempt: step.attempt,
                skill: step.draft.skill.clone(),
                args,
                post: step.draft.post.clone(),
                subagent_slot,
            }))
        })
        .await
}

/// How a run ended.
pub(super) enum Outcome {
    Succeeded(Value),
    Failed {
        output: Option<Value>,
        error: String,
    },
}

impl Outcome {
    /// Failed without output.
    pub(super) fn failed(error: String) -> Self {
        Outcome::Failed {
            output: None,
            error,
        }
    }

    /// A success only if the output meets every post-condition.
    fn checked(self, post: &[crate::domain::PostCondition]) -> Self {
        let Outcome::Succeeded(output) = self else {
            return self;
        };
        match post.iter().find_map(|p| p.check(&output).err()) {
            None => Outcome::Succeeded(output),
            Some(why) => Outcome::Failed {
                output: Some(output),
                error: format!("post-condition not met: {why}"),
            },
        }
    }
}

async fn execute(inner: &Inner, claimed: Claimed) {
    let cancel = CancellationToken::new();
    if let Ok(mut running) = inner.running.lock() {
        running.insert(
            (claimed.plan.clone(), claimed.step.0.clone()),
            cancel.clone(),
        );
    }
    let outcome = if claimed.skill == SUBAGENT {
        // The child plan's own steps show that work is going on.
        subagent::run(inner, &claimed, &cancel).await
    } else if message::is_message(&claimed.skill) {
        message::prepare(inner, &claimed)
    } else if claimed.skill == crate::skills::ADD_MCP {
        learned(inner, &claimed).await
    } else {
        let working = show_working(inner, &claimed.conversation);
        tokio::pin!(working);
        let run = run_skill(inner, &claimed, &cancel);
        tokio::pin!(run);
        // Biased: the indicator's request goes out first, before the step starts.
        tokio::select! {
            biased;
            never = &mut working => match never {},
            outcome = &mut run => outcome,
        }
    }
    .checked(&claimed.post);
    if let Ok(mut running) = inner.running.lock() {
        running.remove(&(claimed.plan.clone(), claimed.step.0.clone()));
    }
    let replan = match &outcome {
        Outcome::Failed { error, .. } => Some(ask_replan(inner, &claimed, error).await),
        Outcome::Succeeded(_) => None,
    };
    if let Err(err) = complete(inner, &claimed, outcome, replan).await {
        // The lease will expire and the step will be claimed again.
        tracing::error!(error = %err, "could not record the step's outcome");
    }
}

/// Runs a `skills.add_mcp` step (a build without MCP cannot).
async fn learned(inner: &Inner, claimed: &Claimed) -> Outcome {
    #[cfg(feature = "mcp")]
    return super::learn::add_mcp(inner, claimed).await;
    #[cfg(not(feature = "mcp"))]
    {
        let _ = (inner, claimed);
        Outcome::failed("this build cannot connect to MCP servers".to_owned())
    }
}

/// How often the typing indicator is renewed (platforms show it for about five seconds).
const WORKING_EVERY: Duration = Duration::from_secs(4);

/// Keeps a typing indicator up in `conversation`; never returns (it is dropped when the
/// step ends). Failures are only logged: the indicator is a courtesy.
async fn show_working(inner: &Inner, conversation: &ConversationRef) -> std::convert::Infallible {
    loop {
        if let Some(channel) = inner.channels.get(&conversation.channel)
            && let Err(err) = channel.working(conversation).await
        {
            tracing::debug!(%conversation, error = %err, "typing indicator failed");
        }
        tokio::time::sleep(WORKING_EVERY).await;
    }
}

async fn run_skill(inner: &Inner, claimed: &Claimed, cancel: &CancellationToken) -> Outcome {
    let skills = inner.skills();
    let Some(skill) = skills.get(&claimed.skill) else {
        return Outcome::failed(format!("unknown skill `{}`", claimed.skill));
    };
    let args = match &claimed.args {
        Ok(args) => args,
        Err(why) => return Outcome::failed(format!("cannot resolve arguments: {why}")),
    };
    if let Err(err) = skill.validate(args) {
        return Outcome::failed(err.to_string());
    }
    let ctx = SkillContext {
        idempotency_key: format!("{}/{}/{}", claimed.plan, claimed.step, claimed.attempt),
        plan: claimed.plan.clone(),
        step: claimed.step.clone(),
        conversation: claimed.conversation.clone(),
        requester: claimed.requester.clone(),
    };
    let timeout = inner.config.limits.step_timeout.0;
    let run = skill.run(args.clone(), ctx);
    let started = tokio::time::Instant::now();
    let result = tokio::select! {
        r = tokio::time::timeout(timeout, run) => r,
        () = cancel.cancelled() => return Outcome::failed("cancelled".to_owned()),
    };
    let outcome = match result {
        Err(_) => Outcome::failed(format!(
            "timed out after {}",
            crate::config::ConfigDuration(timeout)
        )),
        Ok(Err(err)) => Outcome::failed(err.to_string()),
        Ok(Ok(output)) => Outcome::Succeeded(output),
    };
    let label = match outcome {
        Outcome::Succeeded(_) => "succeeded",
        Outcome::Failed { .. } => "failed",
    };
    crate::metrics::step(&claimed.skill, label, started.elapsed());
    outcome
}

/// The planner's answer to a failed step, its draft validated like any other.
async fn ask_replan(inner: &Inner, claimed: &Claimed, error: &str) -> Replan {
    let Some(plan) = inner.store.plan(&claimed.plan).await.ok().flatten() else {
        return Replan::Declined(None);
    };
    let policy = inner.policy.summary();
    let skills = inner.skills();
    let request = ReplanRequest {
        plan: &plan,
        failed_step: &claimed.step,
        error,
        skills: &skills,
        policy: &policy,
        max_steps: inner.config.limits.max_steps_per_plan,
    };
    match inner.planner.replan(request).await {
        Ok(Replan::Revised(draft)) => match crate::planner::validate_draft(
            &draft,
            &skills,
            inner.config.limits.max_steps_per_plan,
        ) {
            Ok(()) => Replan::Revised(draft),
            Err(problems) => {
                tracing::warn!(
                    ?problems,
                    "the planner's revised plan is invalid; not replanning"
                );
                Replan::Declined(None)
            }
        },
        Ok(declined) => declined,
        Err(err) => {
            tracing::warn!(error = %err, "replanning failed");
            Replan::Declined(None)
        }
    }
}

async fn complete(
    inner: &Inner,
    claimed: &Claimed,
    outcome: Outcome,
    replan: Option<Replan>,
) -> crate::Result<()> {
    let subject = format!("{}/{}", claimed.plan, claimed.step);
    inner
        .update_plan(&claimed.plan, |plan, tx| {
            let Some(index) = plan.steps.iter().position(|s| s.key() == &claimed.step) else { return Change::Skip(()) };
            let step = &mut plan.steps[index];
            // Fencing: only the executor holding this attempt's lease may record it.
            if step.state != StepState::Running
                || step.attempt != claimed.attempt
                || step.lease_owner.as_deref() != Some(inner.instance.as_str())
            {
                tx.audit(AuditEvent::new("step.fenced", "openmog", subject.clone(), json!({"attempt": claimed.attempt, "executor": inner.instance})));
                return Change::Skip(());
            }
            step.lease_owner = None;
            step.lease_until = None;
            step.finished_at = Some(tx.now);
            let failed = match &outcome {
                Outcome::Succeeded(output) => {
                    step.state = StepState::Succeeded;
                    step.output = Some(output.clone());
                    if message::is_message(&claimed.skill) {
                        message::queue(output, tx);
                    }
                    if claimed.skill == crate::skills::ADD_MCP {
                        tx.audit(AuditEvent::new(
                            "skills.learned",
                            claimed.requester.0.clone(),
                            subject.clone(),
                            output.clone(),
                        ));
                    }
                    false
                }
                Outcome::Failed { output, error } => {
                    step.state = StepState::Failed;
                    step.output = output.clone();
                    step.error = Some(error.clone());
                    true
                }
            };
            tx.audit(AuditEvent::new(
                "step.finished",
                "openmog",
                subject.clone(),
                json!({"attempt": claimed.attempt, "state": step.state.as_str(), "output": step.output, "error": step.error}),
            ));
            audit_suspicious(&plan.steps[index], claimed, &subject, tx);
            status::step_finished(plan, index, inner.policy.directory(), tx);
            match (failed, &replan) {
                (true, Some(Replan::Revised(draft))) => progress::apply_replan(inner, plan, draft, tx),
                (true, Some(Replan::Declined(Some(reason)))) => {
                    plan.notes.insert("replan".to_owned(), reason.clone());
                    let conversation = plan.conversation.clone();
                    tx.say(&conversation, format!("Plan {} will not be revised: {reason}.", plan.id));
                }
                _ => {}
            }
            progress::advance(inner, plan, tx);
            Change::Save(())
        })
        .await
}

/// Audits what in a finished step's output or error tries to act as an instruction (an
/// approval command, words to the agent): it is data and changes nothing, but an attempt
/// is worth a record naming where it came from.
fn audit_suspicious(
    step: &crate::domain::StepRecord,
    claimed: &Claimed,
    subject: &str,
    tx: &mut Tx,
) {
    let mut findings = step
        .output
        .as_ref()
        .map(crate::domain::provenance::scan_value)
        .unwrap_or_default();
    if let Some(error) = &step.error {
        findings.extend(crate::domain::provenance::scan(error));
    }
    if findings.is_empty() {
        return;
    }
    let args = claimed.args.as_ref().unwrap_or(&step.draft.args);
    let provenance = crate::domain::Provenance::of_step(&claimed.skill, args);
    tracing::warn!(step = %subject, ?provenance, found = findings.len(), "untrusted output tries to instruct the agent; it is treated as data");
    tx.audit(AuditEvent::new(
        "content.suspicious",
        "openmog",
        subject,
        json!({"provenance": provenance, "findings": findings}),
    ));
}
