//! Crashes around the hand-off from the mailbox to the engine's inbox: a mail fetched but
//! not yet stored, and a mail stored whose progress was not yet recorded. After a restart
//! each is processed exactly once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{Bot, Person, servers};
use openmog::audit::{AuditEvent, AuditRecord};
use openmog::clock::Timestamp;
use openmog::domain::{
    ApprovalId, Inbound, InboxId, Note, OutboxId, PlanId, PlanRecord, SentRef, Timer,
};
use openmog::store::{
    Effects, InboxItem, OutboxItem, PlanSummary, RunnableStep, SaveOutcome, SharedStore, Store,
};
use tokio::sync::Notify;

/// The real SQLite store, made to hang at one point once armed, as a process would that is
/// killed right there.
struct Stalling {
    inner: SharedStore,
    /// Hang in `inbox_put` (fetched, not stored) …
    in_inbox_put: AtomicBool,
    /// … or when recording IMAP progress (stored, progress not moved).
    in_progress: AtomicBool,
    reached: Notify,
}

impl Stalling {
    async fn hang(&self) -> ! {
        self.reached.notify_one();
        std::future::pending().await
    }
}

#[async_trait]
impl Store for Stalling {
    async fn inbox_put(&self, event: &Inbound, now: Timestamp) -> openmog::Result<Option<InboxId>> {
        if self.in_inbox_put.load(Ordering::SeqCst) {
            self.hang().await;
        }
        self.inner.inbox_put(event, now).await
    }
    async fn set_channel_state(
        &self,
        channel: &str,
        key: &str,
        value: &str,
    ) -> openmog::Result<()> {
        if key.starts_with("imap:") && self.in_progress.load(Ordering::SeqCst) {
            self.hang().await;
        }
        self.inner.set_channel_state(channel, key, value).await
    }
    async fn channel_state(&self, channel: &str, key: &str) -> openmog::Result<Option<String>> {
        self.inner.channel_state(channel, key).await
    }
    async fn note_put(&self, note: &Note) -> openmog::Result<()> {
        self.inner.note_put(note).await
    }
    async fn notes_search(&self, words: &[String], limit: usize) -> openmog::Result<Vec<Note>> {
        self.inner.notes_search(words, limit).await
    }
    async fn timer_put(&self, timer: &Timer) -> openmog::Result<()> {
        self.inner.timer_put(timer).await
    }
    async fn timers_due(&self, now: Timestamp, limit: usize) -> openmog::Result<Vec<Timer>> {
        self.inner.timers_due(now, limit).await
    }
    async fn timers(&self, limit: usize) -> openmog::Result<Vec<Timer>> {
        self.inner.timers(limit).await
    }
    async fn timer_cancel(&self, id: &str) -> openmog::Result<bool> {
        self.inner.timer_cancel(id).await
    }
    async fn timer_advance(
        &self,
        id: &str,
        from: Timestamp,
        next: Option<Timestamp>,
    ) -> openmog::Result<bool> {
        self.inner.timer_advance(id, from, next).await
    }
    async fn inbox_pending(&self, limit: usize) -> openmog::Result<Vec<InboxItem>> {
        self.inner.inbox_pending(limit).await
    }
    async fn apply(&self, effects: &Effects, now: Timestamp) -> openmog::Result<()> {
        self.inner.apply(effects, now).await
    }
    async fn save_plan(
        &self,
        plan: &PlanRecord,
        expected: Option<u64>,
        effects: &Effects,
        now: Timestamp,
    ) -> openmog::Result<SaveOutcome> {
        self.inner.save_plan(plan, expected, effects, now).await
    }
    async fn plan(&self, id: &PlanId) -> openmog::Result<Option<PlanRecord>> {
        self.inner.plan(id).await
    }
    async fn plan_of_approval(&self, id: &ApprovalId) -> openmog::Result<Option<PlanRecord>> {
        self.inner.plan_of_approval(id).await
    }
    async fn plans(&self, open_only: bool, limit: usize) -> openmog::Result<Vec<PlanSummary>> {
        self.inner.plans(open_only, limit).await
    }
    async fn runnable_steps(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> openmog::Result<Vec<RunnableStep>> {
        self.inner.runnable_steps(now, limit).await
    }
    async fn plans_with_expired_approvals(&self, now: Timestamp) -> openmog::Result<Vec<PlanId>> {
        self.inner.plans_with_expired_approvals(now).await
    }
    async fn plans_with_open_approvals(&self) -> openmog::Result<Vec<PlanId>> {
        self.inner.plans_with_open_approvals().await
    }
    async fn outbox_due(
        &self,
        channel: &str,
        now: Timestamp,
        limit: usize,
    ) -> openmog::Result<Vec<OutboxItem>> {
        self.inner.outbox_due(channel, now, limit).await
    }
    async fn outbox_next_due(&self, channel: &str) -> openmog::Result<Option<Timestamp>> {
        self.inner.outbox_next_due(channel).await
    }
    async fn outbox_sent(
        &self,
        id: &OutboxId,
        sent: &SentRef,
        audit: AuditEvent,
        now: Timestamp,
    ) -> openmog::Result<()> {
        self.inner.outbox_sent(id, sent, audit, now).await
    }
    async fn outbox_sent_ref(&self, key: &str) -> openmog::Result<Option<SentRef>> {
        self.inner.outbox_sent_ref(key).await
    }
    async fn outbox_retry(
        &self,
        id: &OutboxId,
        not_before: Timestamp,
        error: &str,
    ) -> openmog::Result<()> {
        self.inner.outbox_retry(id, not_before, error).await
    }
    async fn outbox_failed(
        &self,
        id: &OutboxId,
        audit: AuditEvent,
        now: Timestamp,
    ) -> openmog::Result<()> {
        self.inner.outbox_failed(id, audit, now).await
    }
    async fn outbox_depth(&self) -> openmog::Result<u64> {
        self.inner.outbox_depth().await
    }
    async fn audit_records(&self, from: u64, limit: usize) -> openmog::Result<Vec<AuditRecord>> {
        self.inner.audit_records(from, limit).await
    }
    async fn lease_acquire(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> openmog::Result<bool> {
        self.inner.lease_acquire(name, owner, now, until).await
    }
    async fn lease_release(&self, name: &str, owner: &str) -> openmog::Result<()> {
        self.inner.lease_release(name, owner).await
    }
    async fn lease_holder(&self, name: &str, now: Timestamp) -> openmog::Result<Option<String>> {
        self.inner.lease_holder(name, now).await
    }
}

async fn sqlite(dir: &std::path::Path) -> SharedStore {
    Arc::new(
        openmog::store::SqliteStore::open(&dir.join("openmog.db"))
            .await
            .expect("sqlite opens"),
    )
}

#[tokio::test]
async fn a_mail_is_processed_exactly_once_across_crashes_at_the_hand_off() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ann = Person::new(&servers, "ann@example.test");

    for (n, armed) in ["fetched, not stored", "stored, progress not recorded"]
        .iter()
        .enumerate()
    {
        let stalling = Arc::new(Stalling {
            inner: sqlite(dir.path()).await,
            in_inbox_put: AtomicBool::new(false),
            in_progress: AtomicBool::new(false),
            reached: Notify::new(),
        });
        let bot = Bot::start(&servers, stalling.clone()).await;
        // Let the watcher settle on the mailbox before arming the fault.
        tokio::time::sleep(Duration::from_secs(1)).await;
        match n {
            0 => stalling.in_inbox_put.store(true, Ordering::SeqCst),
            _ => stalling.in_progress.store(true, Ordering::SeqCst),
        }
        ann.mail_agent(&format!("say {n}"), "").await;
        tokio::time::timeout(common::PATIENCE, stalling.reached.notified())
            .await
            .unwrap_or_else(|_| panic!("the fault ({armed}) was never reached"));
        // The crash: every task aborted where it stands.
        drop(bot);

        let bot = Bot::start(&servers, sqlite(dir.path()).await).await;
        ann.expect(&format!("line {n}")).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let requests = bot.audit_of("request").await;
        assert_eq!(
            requests
                .iter()
                .filter(|(_, _, data)| data["text"].as_str() == Some(&format!("say {n}")))
                .count(),
            1,
            "{armed}: the mail was planned exactly once: {requests:?}"
        );
        assert_eq!(
            ann.count(&format!("line {n}")),
            2,
            "{armed}: answered once (its status message and its report)"
        );
        bot.stop().await;
    }
}

#[tokio::test]
async fn temporary_smtp_failures_are_retried_until_the_mail_goes_out_once() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bot = Bot::start(&servers, sqlite(dir.path()).await).await;
    let ann = Person::new(&servers, "ann@example.test");
    ann.mail_agent("say 7", "").await;
    // Armed once Ann's own mail is in: the agent hears of it through IDLE, which Dovecot
    // reports half a second later, so the next sends through the server are the agent's.
    servers.fail_next_sends(2);
    ann.expect("line 7").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = bot.audit_of("outbound.sent").await;
    let attempts: Vec<u64> = sent
        .iter()
        .map(|(_, _, data)| data["attempts"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        attempts.first(),
        Some(&3),
        "the first mail went out on its third try, after two 451s: {sent:?}"
    );
    assert_eq!(ann.count("line 7"), 2, "nothing was sent twice");
    bot.stop().await;
}
