//! The conformance suite every Store implementation runs.
//!
//! Each check uses fresh random ids, request ids and channel names, so the checks are
//! independent of each other and of whatever the store already holds: they can run in any
//! order, on a fresh or a shared store. A check panics, like a test, with a message saying
//! which guarantee the store broke.
//!
//! ```ignore
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     openmog::store::conformance::run_all(&MyStore::new()).await;
//! }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Effects, InboxItem, OutboxItem, RunnableStep, SaveOutcome, Store};
use crate::audit::{self, AuditEvent, Verification};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::domain::{
    Approval, ApprovalId, ApprovalState, ContactId, ConversationRef, Inbound, InboundKind,
    OnTimeout, Outbound, OutboundBody, PlanId, PlanRecord, PlanState, PostCondition, Sender,
    SentRef, StepDraft, StepKey, StepRecord, StepState, StepVerdict, Verdict, Vote, new_short_id,
};

/// A limit large enough to see every record of interest, even on a busy shared store.
const WIDE: usize = 100_000;

/// Runs every check, in order.
pub async fn run_all(store: &dyn Store) {
    inbox_dedupe_and_order(store).await;
    save_new_plan_and_duplicate_request(store).await;
    save_plan_optimistic_concurrency(store).await;
    plan_listing(store).await;
    effects_are_atomic_with_plan_save(store).await;
    outbox_head_of_line_retry_and_sent(store).await;
    outbox_duplicate_key_ignored(store).await;
    outbox_failed_leaves_due(store).await;
    runnable_steps_and_leases(store).await;
    approval_queries(store).await;
    audit_chain_intact(store).await;
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A channel name no other check uses, e.g. `conf-k3m9x2`.
pub fn fresh_channel() -> String {
    format!("conf-{}", new_short_id(6))
}

/// A text message on `channel` (conversation `chat-1`) with the platform event id `event_id`.
pub fn sample_inbound(channel: &str, event_id: &str) -> Inbound {
    Inbound {
        conversation: ConversationRef::new(channel, "chat-1"),
        sender: Sender {
            user_id: "u-1001".to_owned(),
            display_name: "Alice".to_owned(),
        },
        event_id: event_id.to_owned(),
        kind: InboundKind::Message {
            text: "restart the api".to_owned(),
        },
    }
}

/// A text message to `conversation` with a fresh idempotency key.
pub fn sample_message(conversation: &ConversationRef, text: &str) -> Outbound {
    Outbound {
        conversation: conversation.clone(),
        idempotency_key: format!("conf-{}", new_short_id(12)),
        body: OutboundBody::Text {
            text: text.to_owned(),
        },
    }
}

/// A step record with key `key` in state `state`, running the `echo` skill.
pub fn sample_step(key: &str, state: StepState) -> StepRecord {
    let draft = StepDraft {
        key: StepKey::from(key),
        skill: "echo".to_owned(),
        args: json!({ "text": format!("step {key}"), "times": 2 }),
        depends_on: Vec::new(),
        post: Vec::new(),
    };
    StepRecord {
        state,
        ..StepRecord::new(draft, StepVerdict::Auto, 1)
    }
}

/// An active plan with a fresh id and request id, in a fresh conversation on `channel`, made
/// and last changed at `now`: a ready step `check`, and a step `restart` awaiting its one
/// pending approval, which expires an hour after `now`.
pub fn sample_plan(channel: &str, now: Timestamp) -> PlanRecord {
    let id = PlanId::new();
    let approval_id = ApprovalId::new();
    let check = sample_step("check", StepState::Ready);
    let mut restart = StepRecord::new(
        StepDraft {
            key: StepKey::from("restart"),
            skill: "shell".to_owned(),
            args: json!({ "command": "systemctl restart api" }),
            depends_on: vec![StepKey::from("check")],
            post: vec![PostCondition::ExitStatus { equals: 0 }],
        },
        StepVerdict::Approve {
            approvers: vec!["role:ops".to_owned()],
            quorum: 2,
            timeout_ms: 3_600_000,
            on_timeout: OnTimeout::Deny,
            whole_plan: true,
            rule: 0,
        },
        1,
    );
    restart.state = StepState::AwaitingApproval;
    restart.approval = Some(approval_id.clone());
    let approval = Approval {
        id: approval_id,
        plan: id.clone(),
        plan_version: 1,
        step: StepKey::from("restart"),
        approvers: vec!["role:ops".to_owned()],
        quorum: 2,
        state: ApprovalState::Pending,
        votes: vec![Vote {
            contact: ContactId("bob".to_owned()),
            verdict: Verdict::Approve,
            at: now,
            evidence: format!("{channel}:u-1002"),
        }],
        created_at: now,
        expires_at: now.after(Duration::from_secs(3600)),
        on_timeout: OnTimeout::Deny,
        whole_plan: true,
        settled_at: None,
    };
    let mut notes = BTreeMap::new();
    notes.insert("origin".to_owned(), "conformance".to_owned());
    PlanRecord {
        id,
        revision: 0,
        version: 1,
        request_id: format!("conf-req-{}", new_short_id(12)),
        request_text: "restart the api".to_owned(),
        conversation: ConversationRef::new(channel, format!("chat-{}", new_short_id(6))),
        requester: ContactId("alice".to_owned()),
        title: "Restart the API".to_owned(),
        state: PlanState::Active,
        steps: vec![check, restart],
        approvals: vec![approval],
        plan_grants: Vec::new(),
        created_at: now,
        updated_at: now,
        notes,
    }
}

fn now() -> Timestamp {
    SystemClock.now()
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

async fn save(
    store: &dyn Store,
    plan: &PlanRecord,
    expected: Option<u64>,
    effects: &Effects,
    now: Timestamp,
) -> SaveOutcome {
    store
        .save_plan(plan, expected, effects, now)
        .await
        .expect("Store::save_plan failed")
}

async fn load(store: &dyn Store, id: &PlanId) -> PlanRecord {
    store
        .plan(id)
        .await
        .expect("Store::plan failed")
        .unwrap_or_else(|| panic!("plan {id} was saved but cannot be loaded"))
}

async fn pending_on(store: &dyn Store, channels: &[&str]) -> Vec<InboxItem> {
    let pending = store
        .inbox_pending(WIDE)
        .await
        .expect("Store::inbox_pending failed");
    pending
        .into_iter()
        .filter(|item| channels.contains(&item.event.conversation.channel.as_str()))
        .collect()
}

async fn due(store: &dyn Store, channel: &str, now: Timestamp) -> Vec<OutboxItem> {
    store
        .outbox_due(channel, now, WIDE)
        .await
        .expect("Store::outbox_due failed")
}

fn keys(items: &[OutboxItem]) -> Vec<&str> {
    items
        .iter()
        .map(|item| item.message.idempotency_key.as_str())
        .collect()
}

async fn depth(store: &dyn Store) -> u64 {
    store
        .outbox_depth()
        .await
        .expect("Store::outbox_depth failed")
}

async fn runnable_of(store: &dyn Store, plan: &PlanId, now: Timestamp) -> Vec<StepKey> {
    let steps = store
        .runnable_steps(now, WIDE)
        .await
        .expect("Store::runnable_steps failed");
    let mut keys: Vec<StepKey> = steps
        .into_iter()
        .filter(|s| &s.plan == plan)
        .map(|RunnableStep { step, .. }| step)
        .collect();
    keys.sort();
    keys
}

async fn expired_at(store: &dyn Store, at: Timestamp) -> Vec<PlanId> {
    store
        .plans_with_expired_approvals(at)
        .await
        .expect("Store::plans_with_expired_approvals failed")
}

async fn open_plans(store: &dyn Store) -> Vec<PlanId> {
    store
        .plans_with_open_approvals()
        .await
        .expect("Store::plans_with_open_approvals failed")
}

async fn audit_len(store: &dyn Store) -> u64 {
    match audit::verify(store).await.expect("audit::verify failed") {
        Verification::Intact { records, .. } => records,
        Verification::Broken { seq, reason } => {
            panic!("the audit chain is broken at record {seq}: {reason}")
        }
    }
}

async fn audit_about(store: &dyn Store, from: u64, subject: &str) -> Vec<audit::AuditRecord> {
    let records = store
        .audit_records(from, WIDE)
        .await
        .expect("Store::audit_records failed");
    records
        .into_iter()
        .filter(|record| record.event.subject == subject)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// The inbox drops a second event with the same channel and event id (but not the same event
/// id on another channel), lists pending events oldest first, and forgets processed ones.
pub async fn inbox_dedupe_and_order(store: &dyn Store) {
    let channel = fresh_channel();
    let other = fresh_channel();
    let now = now();
    let first = sample_inbound(&channel, "evt-1");
    let first_id = store
        .inbox_put(&first, now)
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");
    let again = store
        .inbox_put(&first, now.after(millis(1)))
        .await
        .expect("Store::inbox_put failed");
    assert_eq!(
        again, None,
        "a second event with the same channel and event id must be dropped"
    );
    let elsewhere = sample_inbound(&other, "evt-1");
    let elsewhere_id = store
        .inbox_put(&elsewhere, now.after(millis(2)))
        .await
        .expect("Store::inbox_put failed")
        .expect("the same event id on another channel is another event and must be stored");
    let second = sample_inbound(&channel, "evt-2");
    let second_id = store
        .inbox_put(&second, now.after(millis(3)))
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");

    let pending = pending_on(store, &[channel.as_str(), other.as_str()]).await;
    let ids: Vec<_> = pending.iter().map(|item| &item.id).collect();
    assert_eq!(
        ids,
        [&first_id, &elsewhere_id, &second_id],
        "pending events must come oldest first"
    );
    assert_eq!(
        pending[0].event, first,
        "a stored event must read back unchanged"
    );
    assert_eq!(
        pending[0].received_at, now,
        "a stored event keeps the time it was received"
    );

    let done = Effects {
        inbox_done: Some(first_id.clone()),
        ..Effects::none()
    };
    store.apply(&done, now).await.expect("Store::apply failed");
    let pending = pending_on(store, &[channel.as_str(), other.as_str()]).await;
    let ids: Vec<_> = pending.iter().map(|item| &item.id).collect();
    assert_eq!(
        ids,
        [&elsewhere_id, &second_id],
        "a processed event must no longer be pending"
    );
    let again = store
        .inbox_put(&first, now.after(millis(4)))
        .await
        .expect("Store::inbox_put failed");
    assert_eq!(again, None, "a processed event must still count as seen");
}

/// A new plan is saved at revision 1 and reads back unchanged; saving it as new again, or
/// saving another plan for the same request, conflicts.
pub async fn save_new_plan_and_duplicate_request(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    let outcome = save(store, &plan, None, &Effects::none(), now).await;
    assert_eq!(outcome, SaveOutcome::Saved, "a new plan must be saved");
    let expected = PlanRecord {
        revision: 1,
        ..plan.clone()
    };
    assert_eq!(
        load(store, &plan.id).await,
        expected,
        "a new plan must read back unchanged, at revision 1"
    );

    let outcome = save(store, &plan, None, &Effects::none(), now).await;
    assert_eq!(
        outcome,
        SaveOutcome::Conflict,
        "saving an existing plan as new must conflict"
    );

    let twin = PlanRecord {
        request_id: plan.request_id.clone(),
        ..sample_plan(&channel, now)
    };
    let outcome = save(store, &twin, None, &Effects::none(), now).await;
    assert_eq!(
        outcome,
        SaveOutcome::Conflict,
        "a second plan for the same request must conflict"
    );
    assert_eq!(
        store.plan(&twin.id).await.expect("Store::plan failed"),
        None,
        "a conflicting plan must not be stored"
    );
    assert_eq!(
        load(store, &plan.id).await,
        expected,
        "a conflict must leave the stored plan alone"
    );
    assert_eq!(
        store
            .plan(&PlanId::new())
            .await
            .expect("Store::plan failed"),
        None,
        "an unknown plan is None"
    );
}

/// A save with the stored revision succeeds and bumps it (whatever the record's own
/// `revision` field says); a save with a stale revision, or of an unknown plan, conflicts.
pub async fn save_plan_optimistic_concurrency(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    assert_eq!(
        save(store, &plan, None, &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );

    let v2 = PlanRecord {
        title: "second".to_owned(),
        updated_at: now.after(millis(1)),
        ..plan.clone()
    };
    assert_eq!(
        save(store, &v2, Some(1), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a save with the current revision must succeed"
    );
    let stored = load(store, &plan.id).await;
    assert_eq!(stored.revision, 2, "a save must bump the stored revision");
    assert_eq!(stored.title, "second", "a save must store the new content");

    let stale = PlanRecord {
        title: "stale".to_owned(),
        ..plan.clone()
    };
    assert_eq!(
        save(store, &stale, Some(1), &Effects::none(), now).await,
        SaveOutcome::Conflict,
        "a save with a stale revision must conflict"
    );
    let stored = load(store, &plan.id).await;
    assert_eq!(
        (stored.revision, stored.title.as_str()),
        (2, "second"),
        "a conflict must leave the plan alone"
    );

    let v3 = PlanRecord {
        revision: 0,
        title: "third".to_owned(),
        ..v2.clone()
    };
    assert_eq!(
        save(store, &v3, Some(2), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "the expected revision decides, not the record's own revision field"
    );
    let stored = load(store, &plan.id).await;
    assert_eq!(
        stored,
        PlanRecord { revision: 3, ..v3 },
        "the stored plan must carry the new revision"
    );

    let ghost = sample_plan(&channel, now);
    assert_eq!(
        save(store, &ghost, Some(1), &Effects::none(), now).await,
        SaveOutcome::Conflict,
        "updating a plan that was never saved must conflict"
    );
    assert_eq!(
        store.plan(&ghost.id).await.expect("Store::plan failed"),
        None,
        "a conflicting plan must not be stored"
    );
}

/// Plans are listed most recently changed first; `open_only` leaves out terminal plans.
pub async fn plan_listing(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let older = sample_plan(&channel, now);
    let newer = PlanRecord {
        updated_at: now.after(millis(1000)),
        ..sample_plan(&channel, now)
    };
    let finished = PlanRecord {
        state: PlanState::Succeeded,
        updated_at: now.after(millis(2000)),
        ..sample_plan(&channel, now)
    };
    for plan in [&older, &newer, &finished] {
        assert_eq!(
            save(store, plan, None, &Effects::none(), now).await,
            SaveOutcome::Saved,
            "a new plan must be saved"
        );
    }
    let ours = [&older.id, &newer.id, &finished.id];

    let all = store.plans(false, WIDE).await.expect("Store::plans failed");
    let listed: Vec<_> = all.iter().filter(|s| ours.contains(&&s.id)).collect();
    let ids: Vec<_> = listed.iter().map(|s| &s.id).collect();
    assert_eq!(
        ids,
        [&finished.id, &newer.id, &older.id],
        "plans must be listed most recently changed first"
    );
    let summary = listed[0];
    assert_eq!(
        summary.title, finished.title,
        "a summary carries the plan's title"
    );
    assert_eq!(
        summary.state,
        PlanState::Succeeded,
        "a summary carries the plan's state"
    );
    assert_eq!(
        summary.conversation, finished.conversation,
        "a summary carries the plan's conversation"
    );
    assert_eq!(
        summary.updated_at, finished.updated_at,
        "a summary carries the plan's last change"
    );

    let open = store.plans(true, WIDE).await.expect("Store::plans failed");
    let ids: Vec<_> = open
        .iter()
        .filter(|s| ours.contains(&&s.id))
        .map(|s| &s.id)
        .collect();
    assert_eq!(
        ids,
        [&newer.id, &older.id],
        "open_only must leave out terminal plans"
    );
}

/// The outbox messages, audit events and inbox acknowledgement of a save are written with
/// it, and none of them when the save conflicts.
pub async fn effects_are_atomic_with_plan_save(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    let inbox_id = store
        .inbox_put(&sample_inbound(&channel, "evt-request"), now)
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");
    let audit_before = audit_len(store).await;

    let message = sample_message(&plan.conversation, "Plan created");
    let mut effects = Effects {
        inbox_done: Some(inbox_id.clone()),
        ..Effects::none()
    };
    effects.send(message.clone()).audit(AuditEvent::new(
        "plan.created",
        "alice",
        plan.id.as_str(),
        json!({ "title": plan.title }),
    ));
    assert_eq!(
        save(store, &plan, None, &effects, now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );

    let queued = due(store, &channel, now).await;
    assert_eq!(queued.len(), 1, "a save must queue its outbound message");
    assert_eq!(
        queued[0].message, message,
        "a queued message must read back unchanged"
    );
    assert_eq!(
        queued[0].attempts, 0,
        "a queued message starts with no attempts"
    );
    assert_eq!(queued[0].not_before, now, "a queued message is due at once");
    assert_eq!(
        queued[0].created_at, now,
        "a queued message keeps the time it was queued"
    );
    let recorded = audit_about(store, audit_before + 1, plan.id.as_str()).await;
    assert_eq!(recorded.len(), 1, "a save must append its audit event");
    assert_eq!(
        recorded[0].event.kind, "plan.created",
        "the audit event must read back unchanged"
    );
    assert!(
        pending_on(store, &[channel.as_str()])
            .await
            .iter()
            .all(|item| item.id != inbox_id),
        "a save must mark its inbox event processed"
    );

    // A conflicting new plan (same request) and a stale update: neither writes anything.
    let second_inbox = store
        .inbox_put(&sample_inbound(&channel, "evt-again"), now)
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");
    let twin = PlanRecord {
        request_id: plan.request_id.clone(),
        ..sample_plan(&channel, now)
    };
    let stale = PlanRecord {
        title: "stale".to_owned(),
        ..plan.clone()
    };
    for (attempt, expected) in [(&twin, None), (&stale, Some(7))] {
        let elsewhere = ConversationRef::new(channel.as_str(), format!("lost-{}", new_short_id(6)));
        let lost = sample_message(&elsewhere, "must not be sent");
        let mut effects = Effects {
            inbox_done: Some(second_inbox.clone()),
            ..Effects::none()
        };
        effects.send(lost.clone()).audit(AuditEvent::new(
            "plan.lost",
            "alice",
            attempt.id.as_str(),
            Value::Null,
        ));
        assert_eq!(
            save(store, attempt, expected, &effects, now).await,
            SaveOutcome::Conflict,
            "a duplicate request or a stale revision must conflict"
        );
        let queued = due(store, &channel, now).await;
        assert!(
            queued
                .iter()
                .all(|item| item.message.idempotency_key != lost.idempotency_key),
            "a conflicting save must not queue its message"
        );
        let lost_records = audit_about(store, audit_before + 1, attempt.id.as_str()).await;
        assert!(
            lost_records
                .iter()
                .all(|record| record.event.kind != "plan.lost"),
            "a conflicting save must not append its audit event"
        );
        assert!(
            pending_on(store, &[channel.as_str()])
                .await
                .iter()
                .any(|item| item.id == second_inbox),
            "a conflicting save must not mark its inbox event processed"
        );
    }
    assert!(
        audit_len(store).await > audit_before,
        "the audit chain must stay intact and grow"
    );
}

/// Only the oldest unsent message of each conversation is due, in queueing order; a retried
/// head blocks its conversation until its new `not_before`; a sent message makes way for
/// the next.
pub async fn outbox_head_of_line_retry_and_sent(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let first = ConversationRef::new(channel.as_str(), "c1");
    let second = ConversationRef::new(channel.as_str(), "c2");
    let m1 = sample_message(&first, "one");
    let m2 = sample_message(&first, "two");
    let m3 = sample_message(&second, "three");
    let depth_before = depth(store).await;
    let mut effects = Effects::none();
    effects.send(m1.clone()).send(m2.clone()).send(m3.clone());
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");
    assert_eq!(
        depth(store).await,
        depth_before + 3,
        "queued messages count in the outbox depth"
    );

    let queued = due(store, &channel, now).await;
    assert_eq!(
        keys(&queued),
        [m1.idempotency_key.as_str(), m3.idempotency_key.as_str()],
        "only the oldest unsent message of each conversation is due, in queueing order"
    );
    let limited = store
        .outbox_due(&channel, now, 1)
        .await
        .expect("Store::outbox_due failed");
    assert_eq!(
        keys(&limited),
        [m1.idempotency_key.as_str()],
        "outbox_due must honour its limit"
    );
    assert!(
        due(store, &channel, Timestamp(now.0 - 1)).await.is_empty(),
        "nothing is due before it was queued"
    );
    assert!(
        due(store, &fresh_channel(), now).await.is_empty(),
        "another channel's messages are not due here"
    );
    assert_eq!(
        store
            .outbox_next_due(&channel)
            .await
            .expect("Store::outbox_next_due failed"),
        Some(now),
        "the next due time is the earliest not_before"
    );
    let m1_id = queued[0].id.clone();
    let m3_id = queued[1].id.clone();

    let later = now.after(millis(60_000));
    store
        .outbox_retry(&m1_id, later, "timed out")
        .await
        .expect("Store::outbox_retry failed");
    assert_eq!(
        keys(&due(store, &channel, now).await),
        [m3.idempotency_key.as_str()],
        "a retried head must block its conversation until its not_before"
    );
    let queued = due(store, &channel, later).await;
    assert_eq!(
        keys(&queued),
        [m1.idempotency_key.as_str(), m3.idempotency_key.as_str()],
        "a retried head is due again at its not_before, still in queueing order"
    );
    assert_eq!(
        (queued[0].attempts, queued[0].not_before),
        (1, later),
        "a retry counts an attempt and reschedules"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 3,
        "a retried message stays in the outbox"
    );

    let sent = SentRef {
        message_id: Some("42".to_owned()),
    };
    let audit_event = AuditEvent::new(
        "outbound.sent",
        "openmog",
        m3_id.as_str(),
        json!({ "attempts": 1 }),
    );
    store
        .outbox_sent(&m3_id, &sent, audit_event, now)
        .await
        .expect("Store::outbox_sent failed");
    assert!(
        due(store, &channel, now).await.is_empty(),
        "a sent message is no longer due"
    );
    assert_eq!(
        store
            .outbox_next_due(&channel)
            .await
            .expect("Store::outbox_next_due failed"),
        Some(later),
        "the next due time follows the retried head"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 2,
        "a sent message leaves the outbox depth"
    );

    let audit_event = AuditEvent::new("outbound.sent", "openmog", m1_id.as_str(), Value::Null);
    store
        .outbox_sent(&m1_id, &SentRef::default(), audit_event, later)
        .await
        .expect("Store::outbox_sent failed");
    assert_eq!(
        keys(&due(store, &channel, now).await),
        [m2.idempotency_key.as_str()],
        "once the head is sent, the conversation's next message is due"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 1,
        "a sent message leaves the outbox depth"
    );
}

/// A message whose idempotency key was already queued (in the same or an earlier mutation,
/// sent or not) is ignored.
pub async fn outbox_duplicate_key_ignored(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let conversation = ConversationRef::new(channel.as_str(), "c1");
    let original = sample_message(&conversation, "first");
    let duplicate = Outbound {
        body: OutboundBody::Text {
            text: "second".to_owned(),
        },
        ..original.clone()
    };
    let depth_before = depth(store).await;
    let mut effects = Effects::none();
    effects.send(original.clone()).send(duplicate.clone());
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");
    let mut again = Effects::none();
    again.send(duplicate.clone());
    store.apply(&again, now).await.expect("Store::apply failed");

    let queued = due(store, &channel, now).await;
    assert_eq!(
        queued.len(),
        1,
        "a duplicate idempotency key must be ignored"
    );
    assert_eq!(
        queued[0].message, original,
        "the first message with a key wins"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 1,
        "a duplicate must not count in the outbox depth"
    );

    let audit_event = AuditEvent::new(
        "outbound.sent",
        "openmog",
        queued[0].id.as_str(),
        Value::Null,
    );
    store
        .outbox_sent(&queued[0].id, &SentRef::default(), audit_event, now)
        .await
        .expect("Store::outbox_sent failed");
    store.apply(&again, now).await.expect("Store::apply failed");
    assert!(
        due(store, &channel, now).await.is_empty(),
        "the key of a sent message stays taken"
    );
}

/// A failed message is no longer due and makes way for the next one.
pub async fn outbox_failed_leaves_due(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let conversation = ConversationRef::new(channel.as_str(), "c1");
    let doomed = sample_message(&conversation, "doomed");
    let next = sample_message(&conversation, "next");
    let depth_before = depth(store).await;
    let audit_before = audit_len(store).await;
    let mut effects = Effects::none();
    effects.send(doomed.clone()).send(next.clone());
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");

    let queued = due(store, &channel, now).await;
    assert_eq!(
        keys(&queued),
        [doomed.idempotency_key.as_str()],
        "only the head is due"
    );
    let doomed_id = queued[0].id.clone();
    let audit_event = AuditEvent::new(
        "outbound.failed",
        "openmog",
        doomed_id.as_str(),
        json!({ "error": "chat not found" }),
    );
    store
        .outbox_failed(&doomed_id, audit_event, now)
        .await
        .expect("Store::outbox_failed failed");
    assert_eq!(
        keys(&due(store, &channel, now).await),
        [next.idempotency_key.as_str()],
        "a failed message is no longer due; the next one is"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 1,
        "a failed message leaves the outbox depth"
    );
    let recorded = audit_about(store, audit_before + 1, doomed_id.as_str()).await;
    assert_eq!(recorded.len(), 1, "giving up on a message must be audited");
    assert_eq!(
        recorded[0].event.kind, "outbound.failed",
        "the audit event must read back unchanged"
    );
}

/// Runnable steps are the ready ones and the running ones whose lease ended, of active plans
/// only; the index follows every save.
pub async fn runnable_steps_and_leases(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let mut plan = sample_plan(&channel, now);
    let mut expired = sample_step("expired", StepState::Running);
    expired.lease_owner = Some("worker-1".to_owned());
    expired.lease_until = Some(Timestamp(now.0 - 1000));
    let mut live = sample_step("live", StepState::Running);
    live.lease_owner = Some("worker-2".to_owned());
    live.lease_until = Some(now.after(millis(60_000)));
    plan.steps
        .extend([expired, live, sample_step("waiting", StepState::Waiting)]);
    assert_eq!(
        save(store, &plan, None, &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );
    assert_eq!(
        runnable_of(store, &plan.id, now).await,
        [StepKey::from("check"), StepKey::from("expired")],
        "ready steps and running steps with an expired lease are runnable; a live lease is not"
    );
    assert_eq!(
        runnable_of(store, &plan.id, now.after(millis(120_000))).await,
        [
            StepKey::from("check"),
            StepKey::from("expired"),
            StepKey::from("live")
        ],
        "a lease that has run out makes its step runnable"
    );

    let mut claimed = plan.clone();
    for key in ["check", "expired"] {
        let step = claimed
            .step_mut(&StepKey::from(key))
            .expect("the fixture has this step");
        step.state = StepState::Running;
        step.lease_owner = Some("worker-3".to_owned());
        step.lease_until = Some(now.after(millis(60_000)));
    }
    assert_eq!(
        save(store, &claimed, Some(1), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a claim must be saved"
    );
    assert!(
        runnable_of(store, &plan.id, now).await.is_empty(),
        "claimed steps with live leases are not runnable"
    );

    for state in [PlanState::Cancelled, PlanState::Parked] {
        let inactive = PlanRecord {
            state,
            ..sample_plan(&channel, now)
        };
        assert_eq!(
            save(store, &inactive, None, &Effects::none(), now).await,
            SaveOutcome::Saved,
            "a new plan must be saved"
        );
        assert!(
            runnable_of(store, &inactive.id, now).await.is_empty(),
            "the steps of a plan that is not active are not runnable"
        );
    }
}

/// Pending approvals past their expiry, open (pending or parked) approvals, and the plan an
/// approval belongs to, all following every save.
pub async fn approval_queries(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let plan = sample_plan(&channel, now);
    let approval = plan.approvals[0].id.clone();
    let past_expiry = now.after(Duration::from_secs(7200));
    assert_eq!(
        save(store, &plan, None, &Effects::none(), now).await,
        SaveOutcome::Saved,
        "a new plan must be saved"
    );

    assert!(
        !expired_at(store, now).await.contains(&plan.id),
        "an approval is not expired before its expiry"
    );
    assert!(
        expired_at(store, past_expiry).await.contains(&plan.id),
        "a pending approval past its expiry is expired"
    );
    assert!(
        open_plans(store).await.contains(&plan.id),
        "a pending approval is open"
    );
    let owner = store
        .plan_of_approval(&approval)
        .await
        .expect("Store::plan_of_approval failed");
    assert_eq!(
        owner.map(|p| p.id),
        Some(plan.id.clone()),
        "an approval leads to its plan"
    );
    assert_eq!(
        store
            .plan_of_approval(&ApprovalId::new())
            .await
            .expect("Store::plan_of_approval failed"),
        None,
        "an unknown approval has no plan"
    );

    let mut parked = PlanRecord {
        state: PlanState::Parked,
        ..plan.clone()
    };
    parked.approvals[0].state = ApprovalState::Parked;
    assert_eq!(
        save(store, &parked, Some(1), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "an update must be saved"
    );
    assert!(
        open_plans(store).await.contains(&plan.id),
        "a parked approval is open"
    );
    assert!(
        !expired_at(store, past_expiry).await.contains(&plan.id),
        "a parked approval does not expire again"
    );

    let mut settled = PlanRecord {
        state: PlanState::Active,
        ..parked.clone()
    };
    settled.approvals[0].state = ApprovalState::Approved;
    settled.approvals[0].settled_at = Some(now);
    assert_eq!(
        save(store, &settled, Some(2), &Effects::none(), now).await,
        SaveOutcome::Saved,
        "an update must be saved"
    );
    assert!(
        !open_plans(store).await.contains(&plan.id),
        "a settled approval is not open"
    );
    assert!(
        !expired_at(store, past_expiry).await.contains(&plan.id),
        "a settled approval does not expire"
    );
    let owner = store
        .plan_of_approval(&approval)
        .await
        .expect("Store::plan_of_approval failed");
    assert_eq!(
        owner.map(|p| p.revision),
        Some(3),
        "a settled approval still leads to its (current) plan"
    );
}

/// Audit events are sealed in order into a chain that reads back intact: every appended
/// event reads back unchanged, and [`audit::verify`] finds the chain intact and longer.
pub async fn audit_chain_intact(store: &dyn Store) {
    let now = now();
    let before = audit_len(store).await;
    let subject = format!("conf-{}", new_short_id(8));
    let events = [
        AuditEvent::new(
            "conformance.first",
            "alice",
            subject.as_str(),
            json!({ "n": 1, "nested": { "list": [1, "two", null, true] }, "text": "héllo \"quoted\"\n" }),
        ),
        AuditEvent::new(
            "conformance.second",
            "unknown:conf:u-9",
            subject.as_str(),
            Value::Null,
        ),
        AuditEvent::new("conformance.third", "openmog", subject.as_str(), json!([])),
    ];
    let mut effects = Effects::none();
    for event in &events {
        effects.audit(event.clone());
    }
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");

    let after = audit_len(store).await;
    assert!(
        after >= before + 3,
        "appending must lengthen the audit chain ({before} -> {after})"
    );
    let records = audit_about(store, before + 1, &subject).await;
    let read: Vec<_> = records.iter().map(|record| &record.event).collect();
    assert_eq!(
        read,
        events.iter().collect::<Vec<_>>(),
        "audit events must read back unchanged, in order"
    );
    for pair in records.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "audit records must be numbered in order"
        );
    }
    for record in &records {
        assert!(
            record.is_intact(),
            "audit record {} must match its hash",
            record.seq
        );
        assert_eq!(
            record.at, now,
            "audit record {} keeps the time it was appended",
            record.seq
        );
        let page = store
            .audit_records(record.seq, 1)
            .await
            .expect("Store::audit_records failed");
        assert_eq!(
            page.as_slice(),
            std::slice::from_ref(record),
            "audit_records must start at `from`"
        );
    }
}
