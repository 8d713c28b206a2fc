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

mod inbox;
mod memory;
mod outbox;
mod plans;
mod queries;

pub use inbox::inbox_dedupe_and_order;
pub use memory::{notes_are_kept_once_and_found_by_words, timers_fire_once_in_order};
pub use outbox::{
    outbox_duplicate_key_ignored, outbox_failed_leaves_due, outbox_head_of_line_retry_and_sent,
};
pub use plans::{
    effects_are_atomic_with_plan_save, plan_listing, save_new_plan_and_duplicate_request,
    save_plan_optimistic_concurrency,
};
pub use queries::{approval_queries, audit_chain_intact, runnable_steps_and_leases};

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
    channel_state_round_trips(store).await;
    notes_are_kept_once_and_found_by_words(store).await;
    timers_fire_once_in_order(store).await;
    leases_are_exclusive_until_they_end(store).await;
}

/// A lease has one holder at a time: others are refused until it ends or is released; the
/// holder renews it.
pub async fn leases_are_exclusive_until_they_end(store: &dyn Store) {
    let name = format!("channel:{}", fresh_channel());
    let t = |ms: i64| Timestamp(1_000_000 + ms);
    assert!(
        store
            .lease_acquire(&name, "a", t(0), t(100))
            .await
            .expect("acquire"),
        "a free lease is taken"
    );
    assert!(
        !store
            .lease_acquire(&name, "b", t(50), t(150))
            .await
            .expect("acquire"),
        "a held lease is refused to another"
    );
    assert!(
        store
            .lease_acquire(&name, "a", t(60), t(200))
            .await
            .expect("renew"),
        "the holder renews"
    );
    assert!(
        !store
            .lease_acquire(&name, "b", t(150), t(250))
            .await
            .expect("acquire"),
        "a renewed lease lasts to its new end"
    );
    assert!(
        store
            .lease_acquire(&name, "b", t(200), t(300))
            .await
            .expect("take over"),
        "an ended lease is taken over"
    );
    assert!(
        !store
            .lease_acquire(&name, "a", t(210), t(310))
            .await
            .expect("acquire"),
        "the former holder cannot renew what it lost"
    );
    store.lease_release(&name, "a").await.expect("release");
    assert!(
        !store
            .lease_acquire(&name, "c", t(220), t(320))
            .await
            .expect("acquire"),
        "only the holder's release frees it"
    );
    store.lease_release(&name, "b").await.expect("release");
    assert!(
        store
            .lease_acquire(&name, "c", t(220), t(320))
            .await
            .expect("acquire"),
        "a released lease is free at once"
    );
}

/// A channel's state reads back what was last set, per channel and key.
pub async fn channel_state_round_trips(store: &dyn Store) {
    let (a, b) = (fresh_channel(), fresh_channel());
    assert_eq!(store.channel_state(&a, "uid").await.expect("read"), None);
    store
        .set_channel_state(&a, "uid", "1:41")
        .await
        .expect("set");
    store
        .set_channel_state(&a, "uid", "1:42")
        .await
        .expect("replace");
    store
        .set_channel_state(&b, "uid", "7:1")
        .await
        .expect("set");
    store
        .set_channel_state(&a, "thread", "{\"subject\":\"Re: ü\"}")
        .await
        .expect("set");
    assert_eq!(
        store
            .channel_state(&a, "uid")
            .await
            .expect("read")
            .as_deref(),
        Some("1:42")
    );
    assert_eq!(
        store
            .channel_state(&b, "uid")
            .await
            .expect("read")
            .as_deref(),
        Some("7:1")
    );
    assert_eq!(
        store
            .channel_state(&a, "thread")
            .await
            .expect("read")
            .as_deref(),
        Some("{\"subject\":\"Re: ü\"}")
    );
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
    Outbound::text(
        conversation.clone(),
        format!("conf-{}", new_short_id(12)),
        text,
    )
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
            skill: "shell.run".to_owned(),
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
            rule: Some(0),
        },
        1,
    );
    restart.state = StepState::AwaitingApproval;
    restart.approval = Some(approval_id.clone());
    let conversation = ConversationRef::new(channel, format!("chat-{}", new_short_id(6)));
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
        summary: "deploy · shell.run".to_owned(),
        prompted_in: vec![conversation.clone()],
        nonce: Approval::new_nonce(),
    };
    let mut notes = BTreeMap::new();
    notes.insert("origin".to_owned(), "conformance".to_owned());
    PlanRecord {
        id,
        revision: 0,
        version: 1,
        request_id: format!("conf-req-{}", new_short_id(12)),
        request_text: "restart the api".to_owned(),
        conversation,
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
