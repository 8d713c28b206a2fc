//! The inbox processor: identifies each sender, answers commands, settles decisions, and
//! turns requests into plans.

use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::commands::{self, Command};
use super::gate::Turned;
use super::{Asker, Change, Inner, Tx, decide, open, progress, render};
use crate::Result;
use crate::audit::AuditEvent;
use crate::config::UnknownPolicy;
use crate::domain::{ContactId, Decision, InboundKind, PlanId, PlanRecord};
use crate::planner::{PlanOutcome, PlanRequest, validate_draft};
use crate::store::{InboxItem, SaveOutcome};

pub(super) async fn run(inner: Arc<Inner>, shutdown: CancellationToken) {
    loop {
        let woken = inner.inbox_wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match inner.store.inbox_pending(32).await {
            Ok(items) if !items.is_empty() => {
                for item in items {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    let span = tracing::info_span!("request", inbox = %item.id, conversation = %item.event.conversation);
                    let id = item.id.clone();
                    if let Err(err) =
                        tracing::Instrument::instrument(process(&inner, item), span).await
                    {
                        // The event stays in the inbox and is tried again after the poll.
                        tracing::warn!(inbox = %id, error = %err, "could not process inbound event");
                        break;
                    }
                }
                continue;
            }
            Ok(_) => inner.gate.forget_idle(),
            Err(err) => tracing::warn!(error = %err, "inbox unavailable"),
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(inner.poll) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn process(inner: &Inner, item: InboxItem) -> Result<()> {
    let event = &item.event;
    let conversation = &event.conversation;
    let mut tx = inner.tx(format!("{}:reply", item.id), inner.now());
    let asker = Asker {
        conversation: conversation.clone(),
        event_id: event.event_id.clone(),
    };
    tx.effects.inbox_done = Some(item.id.clone());

    let known = match &event.kind {
        // Made by the engine's timer loop on behalf of a contact, named by id.
        InboundKind::Scheduled { .. } => inner
            .policy
            .directory()
            .get(&ContactId(event.sender.user_id.clone())),
        _ => identify(inner, conversation, &event.sender.user_id).await?,
    };
    if let Err(turned) = inner.gate.check(event) {
        turned_away(&asker, event, known.is_some(), turned, &mut tx);
        return inner.apply(&tx.effects).await;
    }
    let (contact, text) = match (&event.kind, known) {
        (InboundKind::Refused { reason, answer }, known) => {
            let actor = known.map_or_else(
                || format!("unknown:{}:{}", conversation.channel, event.sender.user_id),
                |contact| contact.id.clone(),
            );
            tx.audit(AuditEvent::new(
                "inbound.refused",
                actor,
                conversation.to_string(),
                json!({"reason": reason, "event_id": event.event_id, "sender": event.sender.user_id}),
            ));
            // Only contacts are told: a forged sender must not make us write to a stranger.
            if *answer && known.is_some() {
                tx.reply(&asker, format!("Refused: {reason}. Nothing was done."));
            }
            return inner.apply(&tx.effects).await;
        }
        (_, None) => return unknown_sender(inner, event, &asker, tx).await,
        (
            InboundKind::Decision {
                approval,
                verdict,
                scope,
                nonce,
                comment,
            },
            Some(contact),
        ) => {
            let contact = ContactId(contact.id.clone());
            let decision = Decision {
                approval: approval.clone(),
                verdict: *verdict,
                scope: *scope,
                nonce: nonce.clone(),
                comment: comment.clone(),
            };
            let evidence = evidence(event);
            return decide::decide(inner, &contact, &asker, &evidence, decision, tx).await;
        }
        (InboundKind::Scheduled { text, timer }, Some(contact)) => {
            let contact = ContactId(contact.id.clone());
            if !inner.policy.may_chat(&contact) {
                tx.audit(AuditEvent::new(
                    "inbound.refused",
                    contact.0.clone(),
                    conversation.to_string(),
                    json!({"reason": "may not chat", "timer": timer}),
                ));
                return inner.apply(&tx.effects).await;
            }
            // Never a command or a decision: whatever the text says, it is planned.
            return plan_request(inner, &item, &asker, &contact, text, tx).await;
        }
        (InboundKind::Message { text }, Some(contact)) => {
            (ContactId(contact.id.clone()), text.as_str())
        }
    };
    let evidence = evidence(event);

    match commands::parse(text) {
        Some(Command::Decide {
            approval,
            verdict,
            scope,
        }) => {
            let refused = |tx: &mut Tx, reason: &str, reply: String| {
                tx.audit(AuditEvent::new(
                    "decision.refused",
                    contact.0.clone(),
                    conversation.to_string(),
                    json!({"reason": reason, "text": text, "evidence": evidence}),
                ));
                tx.reply(&asker, reply);
            };
            let approval = match approval {
                Some(id) => id,
                None => match decide::only_open_approval(inner, &contact, conversation).await? {
                    Ok(id) => id,
                    Err(reply) => {
                        refused(&mut tx, "no single open approval for the sender", reply);
                        return inner.apply(&tx.effects).await;
                    }
                },
            };
            let decision = Decision {
                approval,
                verdict,
                scope,
                nonce: None,
                comment: None,
            };
            decide::decide(inner, &contact, &asker, &evidence, decision, tx).await
        }
        Some(Command::Help) => {
            tx.reply(&asker, help_text(inner));
            inner.apply(&tx.effects).await
        }
        Some(_) | None if !inner.policy.may_chat(&contact) => {
            tx.audit(AuditEvent::new(
                "inbound.refused",
                contact.0.clone(),
                conversation.to_string(),
                json!({"reason": "may not chat", "event_id": event.event_id}),
            ));
            tx.reply(&asker, "You are not allowed to make requests here.");
            inner.apply(&tx.effects).await
        }
        Some(Command::Status) => {
            let mut lines = Vec::new();
            for summary in inner.store.plans(true, 20).await? {
                if let Some(plan) = inner.store.plan(&summary.id).await? {
                    lines.push(render::status_line(&plan));
                }
            }
            let reply = if lines.is_empty() {
                "Nothing is running or waiting.".to_owned()
            } else {
                lines.join("\n")
            };
            tx.reply(&asker, reply);
            inner.apply(&tx.effects).await
        }
        Some(Command::Plans) => {
            let lines: Vec<String> = inner
                .store
                .plans(false, 10)
                .await?
                .into_iter()
                .map(|p| format!("{} [{}] {}", p.id, p.state.as_str(), p.title))
                .collect();
            tx.reply(
                &asker,
                if lines.is_empty() {
                    "No plans yet.".to_owned()
                } else {
                    lines.join("\n")
                },
            );
            inner.apply(&tx.effects).await
        }
        Some(Command::Cancel(plan)) => cancel(inner, &contact, &asker, plan, tx).await,
        None => plan_request(inner, &item, &asker, &contact, text, tx).await,
    }
}

/// The contact a platform account belongs to: by the configured addresses, or by a binding
/// an owner confirmed through pairing.
async fn identify<'a>(
    inner: &'a Inner,
    conversation: &crate::domain::ConversationRef,
    user_id: &str,
) -> Result<Option<&'a crate::config::Contact>> {
    let directory = inner.policy.directory();
    if let Some(contact) = directory.identify(&conversation.channel, user_id) {
        return Ok(Some(contact));
    }
    let paired =
        crate::pairing::paired_contact(inner.store.as_ref(), &conversation.channel, user_id)
            .await?;
    Ok(paired.and_then(|id| directory.get(&id)))
}

/// Answers (or not) an event the gate turned away, and audits it: every time for a
/// message too long, once per window for a flood.
fn turned_away(
    asker: &Asker,
    event: &crate::domain::Inbound,
    known: bool,
    turned: Turned,
    tx: &mut Tx,
) {
    let actor = format!("{}:{}", event.conversation.channel, event.sender.user_id);
    match turned {
        Turned::TooLong { bytes, max } => {
            tx.audit(AuditEvent::new(
                "inbound.refused",
                actor,
                event.conversation.to_string(),
                json!({"reason": "too long", "bytes": bytes, "max": max, "event_id": event.event_id}),
            ));
            if known {
                tx.reply(
                    asker,
                    format!(
                        "Your message is too long ({bytes} bytes; at most {max}). Nothing was done."
                    ),
                );
            }
        }
        Turned::Limited { scope, tell: true } => {
            tx.audit(AuditEvent::new(
                "inbound.limited",
                actor,
                event.conversation.to_string(),
                json!({"scope": scope, "event_id": event.event_id}),
            ));
            if known {
                tx.reply(
                    asker,
                    format!("Too many messages from this {scope} at once: I dropped this one. Please wait a little and send it again."),
                );
            }
        }
        Turned::Limited { scope, tell: false } => {
            tracing::debug!(scope, event = %event.event_id, "inbound event dropped by the rate limit");
        }
    }
}

/// Someone no contact is: audited, then ignored, answered or offered a pairing code as
/// `authorizations.unknown_senders` says (answers within their own rate).
async fn unknown_sender(
    inner: &Inner,
    event: &crate::domain::Inbound,
    asker: &Asker,
    mut tx: Tx,
) -> Result<()> {
    let conversation = &event.conversation;
    let actor = format!("unknown:{}:{}", conversation.channel, event.sender.user_id);
    tx.audit(AuditEvent::new(
        "inbound.refused",
        actor.clone(),
        conversation.to_string(),
        json!({"reason": "unknown sender", "event_id": event.event_id}),
    ));
    let unknown = &inner.config.authorizations.unknown_senders;
    if unknown.policy == UnknownPolicy::Ignore || !inner.gate.may_answer_unknown(event) {
        return inner.apply(&tx.effects).await;
    }
    let reply = match unknown.policy {
        UnknownPolicy::Pair => {
            let (code, fresh) = crate::pairing::request(
                inner.store.as_ref(),
                conversation,
                &event.sender.user_id,
                &event.sender.display_name,
                unknown.pairing_ttl.0,
                tx.now,
            )
            .await?;
            if fresh {
                tx.audit(AuditEvent::new(
                    "pairing.requested",
                    actor,
                    conversation.to_string(),
                    json!({"display_name": event.sender.display_name}),
                ));
            }
            format!(
                "I don't know you yet. Your pairing code is {code}. Give it to the owner, who can let you in with `openmog contacts pair {code} --as <your contact id>`. It expires in {}.",
                unknown.pairing_ttl
            )
        }
        _ => format!(
            "Sorry, I don't know you yet. Ask the owner to add your {} id `{}` to the contacts.",
            conversation.channel, event.sender.user_id
        ),
    };
    tx.reply(asker, reply);
    inner.apply(&tx.effects).await
}

/// The last `n` plans asked in `conversation`, oldest first: what a planner with memory
/// sees of the conversation so far.
async fn recent_plans(
    inner: &Inner,
    conversation: &crate::domain::ConversationRef,
    n: usize,
) -> Result<Vec<PlanRecord>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut plans = Vec::new();
    for summary in inner.store.plans(false, 200).await? {
        if &summary.conversation != conversation {
            continue;
        }
        if let Some(plan) = inner.store.plan(&summary.id).await? {
            plans.push(plan);
        }
        if plans.len() == n {
            break;
        }
    }
    plans.reverse();
    Ok(plans)
}

/// What the audit records about who decided: the channel, platform user and event.
fn evidence(event: &crate::domain::Inbound) -> String {
    format!(
        "{} user {} (event {})",
        event.conversation.channel, event.sender.user_id, event.event_id
    )
}

fn help_text(inner: &Inner) -> String {
    let mut text = String::new();
    if !inner.config.purpose.is_empty() {
        text.push_str(inner.config.purpose.trim());
        text.push_str("\n\n");
    }
    let capabilities = inner.planner.capabilities();
    if !capabilities.is_empty() {
        text.push_str("Requests I understand:\n");
        text.push_str(&capabilities.join("\n"));
        text.push_str("\n\n");
    }
    text.push_str(
        "Commands: help · status · plans · approve [plan] <id> · deny <id> · cancel <plan>\n\
         `approve` or `deny` alone decides the one open approval here.",
    );
    text
}

async fn cancel(
    inner: &Inner,
    contact: &ContactId,
    asker: &Asker,
    plan: Option<PlanId>,
    mut tx: Tx,
) -> Result<()> {
    let conversation = &asker.conversation;
    let plan_id = match plan {
        Some(id) => id,
        None => {
            let open: Vec<PlanId> = inner
                .store
                .plans(true, 50)
                .await?
                .into_iter()
                .filter(|p| &p.conversation == conversation)
                .map(|p| p.id)
                .collect();
            match open.as_slice() {
                [one] => one.clone(),
                [] => {
                    tx.reply(asker, "There is no open plan here to cancel.");
                    return inner.apply(&tx.effects).await;
                }
                _ => {
                    let ids: Vec<String> = open.iter().map(ToString::to_string).collect();
                    tx.reply(
                        asker,
                        format!(
                            "Several plans are open here; say which: cancel {}",
                            ids.join(" | cancel ")
                        ),
                    );
                    return inner.apply(&tx.effects).await;
                }
            }
        }
    };
    let may_cancel = |plan: &PlanRecord| {
        &plan.requester == contact
            || inner
                .policy
                .directory()
                .matches(contact, &["role:owner".to_owned()])
    };
    let inbox_done = tx.effects.inbox_done.clone();
    let reply = inner
        .update_plan(&plan_id, |plan, ptx| {
            ptx.effects.inbox_done = inbox_done.clone();
            if plan.state.is_terminal() {
                ptx.reply(
                    asker,
                    format!("Plan {} is already {}.", plan.id, plan.state.as_str()),
                );
                return Change::Skip(());
            }
            if !may_cancel(plan) {
                ptx.reply(
                    asker,
                    format!(
                        "Only the requester or an owner can cancel plan {}.",
                        plan.id
                    ),
                );
                return Change::Skip(());
            }
            ptx.audit(AuditEvent::new(
                "plan.cancelled",
                contact.0.clone(),
                plan.id.to_string(),
                json!({}),
            ));
            progress::cancel(plan, &format!("cancelled by {contact}"), ptx);
            Change::Save(())
        })
        .await;
    match reply {
        Ok(()) => {
            inner.stop_running(&plan_id);
            Ok(())
        }
        Err(crate::Error::NotFound(_)) => {
            tx.reply(asker, format!("There is no plan {plan_id}."));
            inner.apply(&tx.effects).await
        }
        Err(err) => Err(err),
    }
}

async fn plan_request(
    inner: &Inner,
    item: &InboxItem,
    asker: &Asker,
    contact: &ContactId,
    text: &str,
    mut tx: Tx,
) -> Result<()> {
    let conversation = &item.event.conversation;
    tx.audit(AuditEvent::new(
        "request",
        contact.0.clone(),
        item.id.to_string(),
        json!({"conversation": conversation.to_string(), "text": text}),
    ));
    let history = recent_plans(inner, conversation, inner.planner.memory()).await?;
    let policy = inner.policy.summary();
    let skills = inner.skills();
    let asked = tokio::time::Instant::now();
    let mut outcome = inner
        .planner
        .plan(PlanRequest {
            text,
            requester: contact,
            conversation,
            skills: &skills,
            history: &history,
            policy: &policy,
            max_steps: inner.config.limits.max_steps_per_plan,
            max_tokens: None,
            sub_goal_of: None,
        })
        .await;
    let answered = match &outcome {
        Ok(PlanOutcome::Plan(_) | PlanOutcome::Fallback { .. }) => "plan",
        Ok(PlanOutcome::Reply(_)) => "reply",
        Err(_) => "error",
    };
    crate::metrics::planner(answered, asked.elapsed());
    if let Ok(PlanOutcome::Fallback {
        notice,
        outcome: stand_in,
    }) = outcome
    {
        tracing::warn!(notice = %notice, "planner fell back");
        tx.reply(asker, notice);
        outcome = Ok(*stand_in);
    }
    let draft = match outcome {
        Ok(PlanOutcome::Plan(draft)) => draft,
        Ok(PlanOutcome::Reply(reply)) => {
            tx.reply(asker, reply);
            return inner.apply(&tx.effects).await;
        }
        Ok(PlanOutcome::Fallback { .. }) => {
            tx.reply(asker, "I could not plan that: no planner could stand in.");
            return inner.apply(&tx.effects).await;
        }
        Err(err) => {
            tracing::warn!(error = %err, "planner failed");
            tx.reply(asker, format!("I could not plan that: {err}"));
            return inner.apply(&tx.effects).await;
        }
    };
    if let Err(problems) = validate_draft(&draft, &skills, inner.config.limits.max_steps_per_plan) {
        tx.audit(AuditEvent::new(
            "plan.invalid",
            "openmog",
            item.id.to_string(),
            json!({"problems": problems}),
        ));
        tx.reply(
            asker,
            format!(
                "I could not make a valid plan:\n  {}",
                problems.join("\n  ")
            ),
        );
        return inner.apply(&tx.effects).await;
    }

    let now = tx.now;
    let origin = open::Origin {
        id: PlanId::new(),
        request_id: item.id.to_string(),
        text,
        conversation,
        requester: contact,
        notes: Default::default(),
        headline: None,
        gate: None,
    };
    let open::Opened {
        plan,
        summary,
        forbidden,
    } = open::open(inner, &draft, origin, &mut tx);
    if !forbidden.is_empty() {
        tx.reply(
            asker,
            format!(
                "{summary}\nRejected: nothing was run. {}",
                forbidden.join("; ")
            ),
        );
    }
    match inner.store.save_plan(&plan, None, &tx.effects, now).await? {
        SaveOutcome::Saved => inner.after_write(&tx.effects),
        // This request was planned before a crash; the inbox item is simply finished.
        SaveOutcome::Conflict => {
            let done = crate::store::Effects {
                inbox_done: Some(item.id.clone()),
                ..Default::default()
            };
            inner.apply(&done).await?;
        }
    }
    Ok(())
}
