//! The in-memory store: the same semantics as the SQLite store behind one mutex, for tests
//! and `memory:`; nothing survives the process.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{Effects, InboxItem, OutboxItem, PlanSummary, RunnableStep, SaveOutcome, Store};
use crate::audit::{AuditEvent, AuditRecord};
use crate::clock::Timestamp;
use crate::domain::{
    ApprovalId, ApprovalState, Inbound, InboxId, Note, Outbound, OutboxId, PlanId, PlanRecord,
    PlanState, SentRef, StepState, Timer,
};
use crate::{Error, Result};

/// A [`Store`] held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state; a panic elsewhere while holding the lock cannot leave it half-written,
    /// because every mutation completes before the guard is released.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct State {
    /// In arrival order.
    inbox: Vec<InboxEntry>,
    /// By id.
    plans: BTreeMap<PlanId, PlanRecord>,
    /// In queueing order (ascending `seq`).
    outbox: Vec<OutboxEntry>,
    /// The last `seq` given to an outbox entry.
    outbox_seq: u64,
    /// The audit chain, in order (`seq` = index + 1).
    audit: Vec<AuditRecord>,
    /// Channels' own state, by (channel, key).
    channel_state: BTreeMap<(String, String), String>,
    /// Notes, in the order kept.
    notes: Vec<Note>,
    /// Timers, by id.
    timers: BTreeMap<String, Timer>,
    /// Leases, by name: (owner, until).
    leases: BTreeMap<String, (String, Timestamp)>,
}

#[derive(Debug)]
struct InboxEntry {
    item: InboxItem,
    done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    Pending,
    Sent(SentRef),
    Failed,
}

#[derive(Debug)]
struct OutboxEntry {
    /// Queueing order: breaks ties between messages queued at the same instant.
    seq: u64,
    item: OutboxItem,
    delivery: Delivery,
}

impl State {
    fn apply(&mut self, effects: &Effects, now: Timestamp) {
        for message in &effects.outbox {
            self.enqueue(message, now);
        }
        for event in &effects.audit {
            self.append_audit(event.clone(), now);
        }
        if let Some(id) = &effects.inbox_done
            && let Some(entry) = self.inbox.iter_mut().find(|entry| &entry.item.id == id)
        {
            entry.done = true;
        }
    }

    fn enqueue(&mut self, message: &Outbound, now: Timestamp) {
        if self
            .outbox
            .iter()
            .any(|entry| entry.item.message.idempotency_key == message.idempotency_key)
        {
            return;
        }
        self.outbox_seq += 1;
        self.outbox.push(OutboxEntry {
            seq: self.outbox_seq,
            item: OutboxItem {
                id: OutboxId::new(),
                message: message.clone(),
                attempts: 0,
                not_before: now,
                created_at: now,
            },
            delivery: Delivery::Pending,
        });
    }

    fn append_audit(&mut self, event: AuditEvent, now: Timestamp) {
        let prev = self
            .audit
            .last()
            .map(|record| (record.seq, record.hash.as_str()));
        let record = AuditRecord::seal(prev, now, event);
        self.audit.push(record);
    }

    fn outbox_entry(&mut self, id: &OutboxId) -> Result<&mut OutboxEntry> {
        self.outbox
            .iter_mut()
            .find(|entry| &entry.item.id == id)
            .ok_or_else(|| Error::NotFound(format!("outbox message {id}")))
    }

    /// The oldest unsent message of each conversation on `channel`, in queueing order.
    fn outbox_heads(&self, channel: &str) -> Vec<&OutboxEntry> {
        let mut seen = HashSet::new();
        let mut heads = Vec::new();
        for entry in &self.outbox {
            let conversation = &entry.item.message.conversation;
            if entry.delivery == Delivery::Pending
                && conversation.channel == channel
                && seen.insert(conversation.id.as_str())
            {
                heads.push(entry);
            }
        }
        heads.sort_by_key(|entry| entry.seq);
        heads
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn inbox_put(&self, event: &Inbound, now: Timestamp) -> Result<Option<InboxId>> {
        let mut state = self.lock();
        let duplicate = state.inbox.iter().any(|entry| {
            entry.item.event.conversation.channel == event.conversation.channel
                && entry.item.event.event_id == event.event_id
        });
        if duplicate {
            return Ok(None);
        }
        let id = InboxId::new();
        state.inbox.push(InboxEntry {
            item: InboxItem {
                id: id.clone(),
                event: event.clone(),
                received_at: now,
            },
            done: false,
        });
        Ok(Some(id))
    }

    async fn inbox_pending(&self, limit: usize) -> Result<Vec<InboxItem>> {
        let state = self.lock();
        Ok(state
            .inbox
            .iter()
            .filter(|entry| !entry.done)
            .take(limit)
            .map(|entry| entry.item.clone())
            .collect())
    }

    async fn apply(&self, effects: &Effects, now: Timestamp) -> Result<()> {
        self.lock().apply(effects, now);
        Ok(())
    }

    async fn save_plan(
        &self,
        plan: &PlanRecord,
        expected_revision: Option<u64>,
        effects: &Effects,
        now: Timestamp,
    ) -> Result<SaveOutcome> {
        let revision = super::next_revision(plan, expected_revision)?;
        let mut state = self.lock();
        let allowed = match expected_revision {
            None => {
                let planned = state
                    .plans
                    .values()
                    .any(|stored| stored.request_id == plan.request_id);
                if !planned && state.plans.contains_key(&plan.id) {
                    return Err(Error::Store(format!("plan id {} is taken", plan.id)));
                }
                !planned
            }
            Some(expected) => state
                .plans
                .get(&plan.id)
                .is_some_and(|stored| stored.revision == expected),
        };
        if !allowed {
            return Ok(SaveOutcome::Conflict);
        }
        taken_approval_ids(&state.plans, plan)?;
        let mut stored = plan.clone();
        stored.revision = revision;
        state.plans.insert(stored.id.clone(), stored);
        state.apply(effects, now);
        Ok(SaveOutcome::Saved)
    }

    async fn plan(&self, id: &PlanId) -> Result<Option<PlanRecord>> {
        Ok(self.lock().plans.get(id).cloned())
    }

    async fn plan_of_approval(&self, id: &ApprovalId) -> Result<Option<PlanRecord>> {
        Ok(self
            .lock()
            .plans
            .values()
            .find(|plan| plan.approval(id).is_some())
            .cloned())
    }

    async fn plans(&self, open_only: bool, limit: usize) -> Result<Vec<PlanSummary>> {
        let state = self.lock();
        let mut plans: Vec<&PlanRecord> = state
            .plans
            .values()
            .filter(|plan| !open_only || !plan.state.is_terminal())
            .collect();
        plans.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(plans
            .into_iter()
            .take(limit)
            .map(|plan| PlanSummary {
                id: plan.id.clone(),
                title: plan.title.clone(),
                state: plan.state,
                conversation: plan.conversation.clone(),
                updated_at: plan.updated_at,
            })
            .collect())
    }

    async fn runnable_steps(&self, now: Timestamp, limit: usize) -> Result<Vec<RunnableStep>> {
        let state = self.lock();
        let mut steps: Vec<RunnableStep> = state
            .plans
            .values()
            .filter(|plan| plan.state == PlanState::Active)
            .flat_map(|plan| {
                plan.steps
                    .iter()
                    .filter(|step| match step.state {
                        StepState::Ready => true,
                        StepState::Running => step.lease_until.is_some_and(|until| until < now),
                        _ => false,
                    })
                    .map(|step| RunnableStep {
                        plan: plan.id.clone(),
                        step: step.key().clone(),
                    })
            })
            .collect();
        steps.sort_by(|a, b| a.plan.cmp(&b.plan).then_with(|| a.step.cmp(&b.step)));
        steps.truncate(limit);
        Ok(steps)
    }

    async fn plans_with_expired_approvals(&self, now: Timestamp) -> Result<Vec<PlanId>> {
        let state = self.lock();
        Ok(state
            .plans
            .values()
            .filter(|plan| {
                plan.approvals.iter().any(|approval| {
                    approval.state == ApprovalState::Pending && approval.expires_at <= now
                })
            })
            .map(|plan| plan.id.clone())
            .collect())
    }

    async fn plans_with_open_approvals(&self) -> Result<Vec<PlanId>> {
        let state = self.lock();
        Ok(state
            .plans
            .values()
            .filter(|plan| {
                plan.approvals
                    .iter()
                    .any(|approval| approval.state.is_open())
            })
            .map(|plan| plan.id.clone())
            .collect())
    }

    async fn outbox_due(
        &self,
        channel: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let state = self.lock();
        Ok(state
            .outbox_heads(channel)
            .into_iter()
            .filter(|entry| entry.item.not_before <= now)
            .take(limit)
            .map(|entry| entry.item.clone())
            .collect())
    }

    async fn outbox_next_due(&self, channel: &str) -> Result<Option<Timestamp>> {
        let state = self.lock();
        Ok(state
            .outbox_heads(channel)
            .into_iter()
            .map(|entry| entry.item.not_before)
            .min())
    }

    async fn outbox_sent(
        &self,
        id: &OutboxId,
        sent: &SentRef,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let mut state = self.lock();
        state.outbox_entry(id)?.delivery = Delivery::Sent(sent.clone());
        state.append_audit(audit, now);
        Ok(())
    }

    async fn outbox_sent_ref(&self, key: &str) -> Result<Option<SentRef>> {
        let state = self.lock();
        Ok(state.outbox.iter().find_map(|entry| match &entry.delivery {
            Delivery::Sent(sent) if entry.item.message.idempotency_key == key => Some(sent.clone()),
            _ => None,
        }))
    }

    async fn channel_state(&self, channel: &str, key: &str) -> Result<Option<String>> {
        let state = self.lock();
        Ok(state
            .channel_state
            .get(&(channel.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn note_put(&self, note: &Note) -> Result<()> {
        let mut state = self.lock();
        if !state.notes.iter().any(|n| n.id == note.id) {
            state.notes.push(note.clone());
        }
        Ok(())
    }

    async fn notes_search(&self, words: &[String], limit: usize) -> Result<Vec<Note>> {
        let words: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        let mut found: Vec<Note> = self
            .lock()
            .notes
            .iter()
            .filter(|n| {
                let text = n.text.to_ascii_lowercase();
                words.iter().all(|w| text.contains(w.as_str()))
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        found.truncate(limit);
        Ok(found)
    }

    async fn timer_put(&self, timer: &Timer) -> Result<()> {
        self.lock()
            .timers
            .entry(timer.id.clone())
            .or_insert_with(|| timer.clone());
        Ok(())
    }

    async fn timers_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Timer>> {
        let mut due: Vec<Timer> = self
            .lock()
            .timers
            .values()
            .filter(|t| t.due_at <= now)
            .cloned()
            .collect();
        due.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
        due.truncate(limit);
        Ok(due)
    }

    async fn timers(&self, limit: usize) -> Result<Vec<Timer>> {
        let mut all: Vec<Timer> = self.lock().timers.values().cloned().collect();
        all.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
        all.truncate(limit);
        Ok(all)
    }

    async fn timer_cancel(&self, id: &str) -> Result<bool> {
        Ok(self.lock().timers.remove(id).is_some())
    }

    async fn timer_advance(
        &self,
        id: &str,
        from: Timestamp,
        next: Option<Timestamp>,
    ) -> Result<bool> {
        let mut state = self.lock();
        match state.timers.get_mut(id) {
            Some(timer) if timer.due_at == from => {
                match next {
                    Some(next) => timer.due_at = next,
                    None => {
                        state.timers.remove(id);
                    }
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_channel_state(&self, channel: &str, key: &str, value: &str) -> Result<()> {
        self.lock()
            .channel_state
            .insert((channel.to_owned(), key.to_owned()), value.to_owned());
        Ok(())
    }

    async fn outbox_retry(&self, id: &OutboxId, not_before: Timestamp, _error: &str) -> Result<()> {
        let mut state = self.lock();
        let entry = state.outbox_entry(id)?;
        entry.item.attempts = entry.item.attempts.saturating_add(1);
        entry.item.not_before = not_before;
        Ok(())
    }

    async fn outbox_failed(&self, id: &OutboxId, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let mut state = self.lock();
        state.outbox_entry(id)?.delivery = Delivery::Failed;
        state.append_audit(audit, now);
        Ok(())
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let state = self.lock();
        let depth = state
            .outbox
            .iter()
            .filter(|entry| entry.delivery == Delivery::Pending)
            .count();
        Ok(u64::try_from(depth).unwrap_or(u64::MAX))
    }

    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>> {
        let state = self.lock();
        let start = state.audit.partition_point(|record| record.seq < from);
        Ok(state.audit[start..].iter().take(limit).cloned().collect())
    }

    async fn lease_acquire(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let mut state = self.lock();
        let free = state
            .leases
            .get(name)
            .is_none_or(|(holder, ends)| holder == owner || *ends <= now);
        if free {
            state
                .leases
                .insert(name.to_owned(), (owner.to_owned(), until));
        }
        Ok(free)
    }

    async fn lease_holder(&self, name: &str, now: Timestamp) -> Result<Option<String>> {
        Ok(self
            .lock()
            .leases
            .get(name)
            .filter(|(_, until)| *until > now)
            .map(|(holder, _)| holder.clone()))
    }

    async fn lease_release(&self, name: &str, owner: &str) -> Result<()> {
        let mut state = self.lock();
        if state
            .leases
            .get(name)
            .is_some_and(|(holder, _)| holder == owner)
        {
            state.leases.remove(name);
        }
        Ok(())
    }
}

/// Refuses a plan one of whose approval ids another plan has, as the SQL stores' unique
/// key does.
fn taken_approval_ids(plans: &BTreeMap<PlanId, PlanRecord>, plan: &PlanRecord) -> Result<()> {
    let taken = plans
        .values()
        .filter(|stored| stored.id != plan.id)
        .flat_map(|stored| &stored.approvals)
        .find(|a| plan.approvals.iter().any(|mine| mine.id == a.id));
    match taken {
        Some(a) => Err(Error::Store(format!("approval id {} is taken", a.id))),
        None => Ok(()),
    }
}
