//! Durable state behind one small trait: plans (with their steps and approvals) as
//! aggregates saved under optimistic concurrency, the inbox, the outbox and the audit chain.
//!
//! Every mutation is one transaction that also writes the outbound messages and audit
//! events it causes ([`Effects`]): a state change and what it tells people cannot come apart.

pub mod conformance;
mod memory;
mod postgres;
mod sql;
mod sqlite;

use async_trait::async_trait;

use crate::Result;
use crate::audit::{AuditEvent, AuditRecord};
use crate::clock::Timestamp;
use crate::domain::{
    ApprovalId, ConversationRef, Inbound, InboxId, Note, Outbound, OutboxId, PlanId, PlanRecord,
    PlanState, SentRef, StepKey, Timer,
};

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// What a mutation also writes, in the same transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Messages to queue in the outbox (a duplicate idempotency key is ignored).
    pub outbox: Vec<Outbound>,
    /// Events to append to the audit chain.
    pub audit: Vec<AuditEvent>,
    /// An inbox event to mark processed.
    pub inbox_done: Option<InboxId>,
}

impl Effects {
    /// Nothing.
    pub fn none() -> Self {
        Effects::default()
    }

    /// Queues a message.
    pub fn send(&mut self, message: Outbound) -> &mut Self {
        self.outbox.push(message);
        self
    }

    /// Records an audit event.
    pub fn audit(&mut self, event: AuditEvent) -> &mut Self {
        self.audit.push(event);
        self
    }
}

/// Result of saving a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written; the plan's revision is now the expected one plus one.
    Saved,
    /// Someone else saved first (or, for a new plan, the request already has one): reload.
    Conflict,
}

/// A stored inbound event.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    /// Its id.
    pub id: InboxId,
    /// The event.
    pub event: Inbound,
    /// When it was stored.
    pub received_at: Timestamp,
}

/// A queued outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Its id.
    pub id: OutboxId,
    /// The message.
    pub message: Outbound,
    /// Sends tried so far.
    pub attempts: u32,
    /// Not to be sent before this.
    pub not_before: Timestamp,
    /// When it was queued.
    pub created_at: Timestamp,
}

/// A step that may be claimed: ready, or running with an expired lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnableStep {
    /// Its plan.
    pub plan: PlanId,
    /// Its key.
    pub step: StepKey,
}

/// A line of a plan listing.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSummary {
    /// The plan.
    pub id: PlanId,
    /// Its title.
    pub title: String,
    /// Its state.
    pub state: PlanState,
    /// Where it was asked.
    pub conversation: ConversationRef,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Durable state. Implementations: [`SqliteStore`] and [`MemoryStore`]; every
/// implementation passes [`conformance`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores an inbound event unless one with the same channel and event id is already
    /// stored; returns the new id, or `None` for a duplicate.
    async fn inbox_put(&self, event: &Inbound, now: Timestamp) -> Result<Option<InboxId>>;

    /// Events not yet processed, oldest first.
    async fn inbox_pending(&self, limit: usize) -> Result<Vec<InboxItem>>;

    /// Applies effects on their own (e.g. a reply, an audit event, marking an event done).
    async fn apply(&self, effects: &Effects, now: Timestamp) -> Result<()>;

    /// Saves a plan if its stored revision equals `expected_revision` (`None`: the plan is
    /// new and its request has no plan yet), bumping the stored revision by one, together
    /// with `effects`.
    async fn save_plan(
        &self,
        plan: &PlanRecord,
        expected_revision: Option<u64>,
        effects: &Effects,
        now: Timestamp,
    ) -> Result<SaveOutcome>;

    /// The plan with this id.
    async fn plan(&self, id: &PlanId) -> Result<Option<PlanRecord>>;

    /// The plan an approval belongs to.
    async fn plan_of_approval(&self, id: &ApprovalId) -> Result<Option<PlanRecord>>;

    /// Plans, most recently changed first; only non-terminal ones if `open_only`.
    async fn plans(&self, open_only: bool, limit: usize) -> Result<Vec<PlanSummary>>;

    /// Steps that are ready, or running with a lease that ended before `now`.
    async fn runnable_steps(&self, now: Timestamp, limit: usize) -> Result<Vec<RunnableStep>>;

    /// Plans with a pending approval whose `expires_at` is at or before `now`.
    async fn plans_with_expired_approvals(&self, now: Timestamp) -> Result<Vec<PlanId>>;

    /// Plans with at least one open (pending or parked) approval.
    async fn plans_with_open_approvals(&self) -> Result<Vec<PlanId>>;

    /// Outbox messages due on `channel`: for each conversation, only its oldest unsent
    /// message (so order holds through retries), and only if it is due by `now`.
    async fn outbox_due(
        &self,
        channel: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxItem>>;

    /// The earliest `not_before` among the oldest unsent message of each conversation on
    /// `channel` (only those can be sent next, since order is kept per conversation).
    async fn outbox_next_due(&self, channel: &str) -> Result<Option<Timestamp>>;

    /// Marks a message sent and audits it.
    async fn outbox_sent(
        &self,
        id: &OutboxId,
        sent: &SentRef,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()>;

    /// How the platform knows the message with idempotency key `key`, if it was sent (so a
    /// later message can edit it).
    async fn outbox_sent_ref(&self, key: &str) -> Result<Option<SentRef>>;

    /// A channel's own durable state under `key` (an IMAP mailbox's UIDVALIDITY, an email
    /// thread's headers): what the adapter needs after a restart that the platform cannot
    /// tell it.
    async fn channel_state(&self, channel: &str, key: &str) -> Result<Option<String>>;

    /// Sets (or replaces) a channel's state under `key`.
    async fn set_channel_state(&self, channel: &str, key: &str, value: &str) -> Result<()>;

    /// Keeps a note, unless one with its id is already kept.
    async fn note_put(&self, note: &Note) -> Result<()>;

    /// Notes whose text contains every one of `words` (ignoring ASCII case), newest first.
    async fn notes_search(&self, words: &[String], limit: usize) -> Result<Vec<Note>>;

    /// Sets a timer, unless one with its id is already set.
    async fn timer_put(&self, timer: &Timer) -> Result<()>;

    /// Timers due at `now`, earliest first.
    async fn timers_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Timer>>;

    /// Moves a timer still due at `from` to `next`, or removes it when `next` is `None`.
    /// False if it is no longer due at `from` (someone else fired it first).
    async fn timer_advance(
        &self,
        id: &str,
        from: Timestamp,
        next: Option<Timestamp>,
    ) -> Result<bool>;

    /// Every timer, earliest first.
    async fn timers(&self, limit: usize) -> Result<Vec<Timer>>;

    /// Removes a timer; false if there was none with this id.
    async fn timer_cancel(&self, id: &str) -> Result<bool>;

    /// Schedules another try.
    async fn outbox_retry(&self, id: &OutboxId, not_before: Timestamp, error: &str) -> Result<()>;

    /// Gives up on a message and audits why.
    async fn outbox_failed(&self, id: &OutboxId, audit: AuditEvent, now: Timestamp) -> Result<()>;

    /// Number of unsent messages (all channels).
    async fn outbox_depth(&self) -> Result<u64>;

    /// The audit chain from sequence number `from` on, in order.
    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>>;

    /// Takes the lease `name` for `owner` until `until`, or renews it: only if it is free,
    /// ended at or before `now`, or already `owner`'s. True if `owner` holds it now.
    async fn lease_acquire(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool>;

    /// Gives up the lease `name` if `owner` holds it.
    async fn lease_release(&self, name: &str, owner: &str) -> Result<()>;

    /// Who holds the lease `name` at `now`, if anyone.
    async fn lease_holder(&self, name: &str, now: Timestamp) -> Result<Option<String>>;

    /// Wake-ups when another process changed something (Postgres `NOTIFY`); `None` for a
    /// store only this process uses. A wake-up carries nothing: look again.
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        None
    }

    /// Whether several processes may share this store at once, so channels must be held
    /// by lease (one process at a time connects each).
    fn is_shared(&self) -> bool {
        false
    }
}

/// A plan state from its stored name.
fn parse_plan_state(name: &str) -> Result<crate::domain::PlanState> {
    use crate::domain::PlanState;
    const ALL: [PlanState; 7] = [
        PlanState::Active,
        PlanState::Parked,
        PlanState::Succeeded,
        PlanState::Failed,
        PlanState::Denied,
        PlanState::Cancelled,
        PlanState::Rejected,
    ];
    ALL.into_iter()
        .find(|state| state.as_str() == name)
        .ok_or_else(|| crate::Error::Corrupt(format!("unknown plan state `{name}`")))
}

/// The revision a plan is stored at when saved over `expected` (1 for a new plan).
fn next_revision(plan: &PlanRecord, expected: Option<u64>) -> Result<u64> {
    match expected {
        Some(expected) => expected
            .checked_add(1)
            .ok_or_else(|| crate::Error::Store(format!("plan {} revision overflow", plan.id))),
        None => Ok(1),
    }
}

/// A shared store.
pub type SharedStore = std::sync::Arc<dyn Store>;

/// Opens the store a configuration URL names: `sqlite://PATH`, `postgres://...` or
/// `memory:`.
pub async fn open(url: &str) -> Result<SharedStore> {
    if url == "memory:" {
        return Ok(std::sync::Arc::new(MemoryStore::new()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(PostgresStore::open(url).await?));
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(std::sync::Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ));
    }
    Err(crate::Error::Config(format!(
        "store.url: unsupported store `{url}`"
    )))
}
