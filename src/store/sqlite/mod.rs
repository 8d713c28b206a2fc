//! The SQLite store: one database file in WAL mode; every write is one `BEGIN IMMEDIATE`
//! transaction (a deferred transaction that upgrades to a write fails with `SQLITE_BUSY`
//! without waiting for the busy timeout).

mod memory;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::sql::{decode_json, encode_json, from_i64, sql_limit, to_i64};
use super::{Effects, InboxItem, OutboxItem, PlanSummary, RunnableStep, SaveOutcome, Store};
use crate::audit::{AuditEvent, AuditRecord};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::domain::{
    ApprovalId, ConversationRef, Inbound, InboxId, Note, Outbound, OutboxId, PlanId, PlanRecord,
    SentRef, StepKey, Timer,
};
use crate::{Error, Result};

/// Schema migrations, applied in order; each version once.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("sqlite_schema.sql")),
    (2, include_str!("sqlite_channel_state.sql")),
    (3, include_str!("sqlite_memory.sql")),
    (4, include_str!("sqlite_leases.sql")),
];

/// Connections in the pool (SQLite serialises writers anyway; readers run alongside in WAL).
const MAX_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts every write transaction: takes the write lock up front, honouring the busy timeout.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// A [`Store`] in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path`, in WAL mode,
    /// and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|err| {
                Error::Store(format!(
                    "cannot create directory {}: {err}",
                    parent.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|err| Error::Store(format!("cannot open {}: {err}", path.display())))?;
        migrate(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// The connection pool (for maintenance and tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Takes a message out of the outbox as `state` (`sent`, with the platform's reference,
    /// or `failed`) and audits it, in one transaction.
    async fn close_outbox_message(
        &self,
        id: &OutboxId,
        state: &str,
        sent: Option<&SentRef>,
        audit: &AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let result = sqlx::query(
            "UPDATE outbox SET state = ?, sent_at = ?, platform_message_id = ? WHERE id = ?",
        )
        .bind(state)
        .bind(sent.map(|_| now.0))
        .bind(sent.and_then(|s| s.message_id.as_deref()))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(Error::NotFound(format!("outbox message {id}")));
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Applies the migrations the database has not seen yet, in one transaction.
async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _openmog_migrations (
             version INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         )",
    )
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query("SELECT MAX(version) AS version FROM _openmog_migrations")
        .fetch_one(&mut *tx)
        .await?;
    let current: i64 = row.try_get::<Option<i64>, _>("version")?.unwrap_or(0);
    let latest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if current > latest {
        return Err(Error::Store(format!(
            "the database has schema version {current}, newer than this openmog supports ({latest})"
        )));
    }
    let now = SystemClock.now();
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(|err| Error::Store(format!("migration {version} failed: {err}")))?;
        sqlx::query("INSERT INTO _openmog_migrations (version, applied_at) VALUES (?, ?)")
            .bind(*version)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn inbox_item(row: &SqliteRow) -> Result<InboxItem> {
    let id: String = row.try_get("id")?;
    let event: String = row.try_get("event")?;
    let event: Inbound = decode_json(&format!("inbox event {id}"), &event)?;
    Ok(InboxItem {
        id: InboxId(id),
        event,
        received_at: Timestamp(row.try_get("received_at")?),
    })
}

fn outbox_item(row: &SqliteRow) -> Result<OutboxItem> {
    let id: String = row.try_get("id")?;
    let message: String = row.try_get("message")?;
    let message: Outbound = decode_json(&format!("outbox message {id}"), &message)?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(OutboxItem {
        attempts: from_i64(attempts, "outbox attempts")?,
        id: OutboxId(id),
        message,
        not_before: Timestamp(row.try_get("not_before")?),
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn plan_body(row: &SqliteRow) -> Result<PlanRecord> {
    let body: String = row.try_get("body")?;
    decode_json("plan", &body)
}

fn audit_record(row: &SqliteRow) -> Result<AuditRecord> {
    let seq: i64 = row.try_get("seq")?;
    let data: String = row.try_get("data")?;
    Ok(AuditRecord {
        seq: from_i64(seq, "audit seq")?,
        at: Timestamp(row.try_get("at")?),
        event: AuditEvent {
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            subject: row.try_get("subject")?,
            data: decode_json(&format!("audit record {seq}"), &data)?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Queues a message unless one with the same idempotency key exists.
async fn insert_outbox(
    conn: &mut SqliteConnection,
    message: &Outbound,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, channel, conversation, idempotency_key, message, state, attempts,
                             not_before, created_at)
         VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(OutboxId::new().0)
    .bind(message.conversation.channel.as_str())
    .bind(message.conversation.id.as_str())
    .bind(message.idempotency_key.as_str())
    .bind(encode_json("outbound message", message)?)
    .bind(now.0)
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Seals `event` after the last record of the chain and appends it.
async fn append_audit(
    conn: &mut SqliteConnection,
    event: &AuditEvent,
    now: Timestamp,
) -> Result<()> {
    let last = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let prev = match last {
        Some(row) => {
            let seq: i64 = row.try_get("seq")?;
            let hash: String = row.try_get("hash")?;
            Some((from_i64::<u64>(seq, "audit seq")?, hash))
        }
        None => None,
    };
    let record = AuditRecord::seal(
        prev.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        now,
        event.clone(),
    );
    sqlx::query(
        "INSERT INTO audit (seq, at, kind, actor, subject, data, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(to_i64(record.seq, "audit seq")?)
    .bind(record.at.0)
    .bind(record.event.kind.as_str())
    .bind(record.event.actor.as_str())
    .bind(record.event.subject.as_str())
    .bind(encode_json("audit data", &record.event.data)?)
    .bind(record.prev_hash.as_str())
    .bind(record.hash.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes `effects` on `conn`, inside the caller's transaction.
async fn apply_effects(
    conn: &mut SqliteConnection,
    effects: &Effects,
    now: Timestamp,
) -> Result<()> {
    for message in &effects.outbox {
        insert_outbox(conn, message, now).await?;
    }
    for event in &effects.audit {
        append_audit(conn, event, now).await?;
    }
    if let Some(id) = &effects.inbox_done {
        sqlx::query("UPDATE inbox SET done = 1 WHERE id = ?")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Rewrites the step and approval index rows of `plan`.
async fn write_plan_index(conn: &mut SqliteConnection, plan: &PlanRecord) -> Result<()> {
    let id = plan.id.as_str();
    sqlx::query("DELETE FROM steps WHERE plan_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for step in &plan.steps {
        sqlx::query("INSERT INTO steps (plan_id, key, state, lease_until) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(step.key().0.as_str())
            .bind(step.state.as_str())
            .bind(step.lease_until.map(|t| t.0))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM approvals WHERE plan_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for approval in &plan.approvals {
        sqlx::query("INSERT INTO approvals (id, plan_id, state, expires_at) VALUES (?, ?, ?, ?)")
            .bind(approval.id.as_str())
            .bind(id)
            .bind(approval.state.as_str())
            .bind(approval.expires_at.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn inbox_put(&self, event: &Inbound, now: Timestamp) -> Result<Option<InboxId>> {
        let id = InboxId::new();
        let result = sqlx::query(
            "INSERT INTO inbox (id, channel, event_id, event, received_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (channel, event_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(event.conversation.channel.as_str())
        .bind(event.event_id.as_str())
        .bind(encode_json("inbound event", event)?)
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        Ok((result.rows_affected() > 0).then_some(id))
    }

    async fn inbox_pending(&self, limit: usize) -> Result<Vec<InboxItem>> {
        let rows = sqlx::query(
            "SELECT id, event, received_at FROM inbox WHERE done = 0 ORDER BY seq LIMIT ?",
        )
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(inbox_item).collect()
    }

    async fn apply(&self, effects: &Effects, now: Timestamp) -> Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        apply_effects(&mut tx, effects, now).await?;
        tx.commit().await?;
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
        let mut stored = plan.clone();
        stored.revision = revision;
        let body = encode_json("plan", &stored)?;
        let new_revision = to_i64(revision, "plan revision")?;

        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        match expected_revision {
            None => {
                // The request is planned already: a conflict. A plan id taken by another
                // request's plan fails the insert below instead, so the caller draws again.
                let existing = sqlx::query("SELECT 1 FROM plans WHERE request_id = ? LIMIT 1")
                    .bind(stored.request_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if existing.is_some() {
                    tx.rollback().await?;
                    return Ok(SaveOutcome::Conflict);
                }
                sqlx::query(
                    "INSERT INTO plans (id, request_id, revision, state, title, channel, conversation,
                                        updated_at, body)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(stored.id.as_str())
                .bind(stored.request_id.as_str())
                .bind(new_revision)
                .bind(stored.state.as_str())
                .bind(stored.title.as_str())
                .bind(stored.conversation.channel.as_str())
                .bind(stored.conversation.id.as_str())
                .bind(stored.updated_at.0)
                .bind(body)
                .execute(&mut *tx)
                .await?;
            }
            Some(expected) => {
                let result = sqlx::query(
                    "UPDATE plans SET revision = ?, state = ?, title = ?, channel = ?, conversation = ?,
                                      updated_at = ?, body = ?
                     WHERE id = ? AND revision = ?",
                )
                .bind(new_revision)
                .bind(stored.state.as_str())
                .bind(stored.title.as_str())
                .bind(stored.conversation.channel.as_str())
                .bind(stored.conversation.id.as_str())
                .bind(stored.updated_at.0)
                .bind(body)
                .bind(stored.id.as_str())
                .bind(to_i64(expected, "plan revision")?)
                .execute(&mut *tx)
                .await?;
                if result.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(SaveOutcome::Conflict);
                }
            }
        }
        write_plan_index(&mut tx, &stored).await?;
        apply_effects(&mut tx, effects, now).await?;
        tx.commit().await?;
        Ok(SaveOutcome::Saved)
    }

    async fn plan(&self, id: &PlanId) -> Result<Option<PlanRecord>> {
        let row = sqlx::query("SELECT body FROM plans WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(plan_body).transpose()
    }

    async fn plan_of_approval(&self, id: &ApprovalId) -> Result<Option<PlanRecord>> {
        let row = sqlx::query(
            "SELECT p.body AS body FROM approvals a JOIN plans p ON p.id = a.plan_id WHERE a.id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(plan_body).transpose()
    }

    async fn plans(&self, open_only: bool, limit: usize) -> Result<Vec<PlanSummary>> {
        let sql = if open_only {
            "SELECT id, title, state, channel, conversation, updated_at FROM plans
             WHERE state IN ('active', 'parked') ORDER BY updated_at DESC, id LIMIT ?"
        } else {
            "SELECT id, title, state, channel, conversation, updated_at FROM plans
             ORDER BY updated_at DESC, id LIMIT ?"
        };
        let rows = sqlx::query(sql)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| -> Result<PlanSummary> {
                let state: String = row.try_get("state")?;
                let channel: String = row.try_get("channel")?;
                let conversation: String = row.try_get("conversation")?;
                Ok(PlanSummary {
                    id: PlanId(row.try_get("id")?),
                    title: row.try_get("title")?,
                    state: super::parse_plan_state(&state)?,
                    conversation: ConversationRef::new(channel, conversation),
                    updated_at: Timestamp(row.try_get("updated_at")?),
                })
            })
            .collect()
    }

    async fn runnable_steps(&self, now: Timestamp, limit: usize) -> Result<Vec<RunnableStep>> {
        let rows = sqlx::query(
            "SELECT s.plan_id AS plan_id, s.key AS key FROM steps s JOIN plans p ON p.id = s.plan_id
             WHERE p.state = 'active'
               AND (s.state = 'ready'
                    OR (s.state = 'running' AND s.lease_until IS NOT NULL AND s.lease_until < ?))
             ORDER BY s.plan_id, s.key
             LIMIT ?",
        )
        .bind(now.0)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| -> Result<RunnableStep> {
                Ok(RunnableStep {
                    plan: PlanId(row.try_get("plan_id")?),
                    step: StepKey(row.try_get("key")?),
                })
            })
            .collect()
    }

    async fn plans_with_expired_approvals(&self, now: Timestamp) -> Result<Vec<PlanId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT plan_id FROM approvals
             WHERE state = 'pending' AND expires_at <= ? ORDER BY plan_id",
        )
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| -> Result<PlanId> { Ok(PlanId(row.try_get("plan_id")?)) })
            .collect()
    }

    async fn plans_with_open_approvals(&self) -> Result<Vec<PlanId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT plan_id FROM approvals WHERE state IN ('pending', 'parked') ORDER BY plan_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| -> Result<PlanId> { Ok(PlanId(row.try_get("plan_id")?)) })
            .collect()
    }

    async fn outbox_due(
        &self,
        channel: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let rows = sqlx::query(
            "SELECT o.id AS id, o.message AS message, o.attempts AS attempts,
                    o.not_before AS not_before, o.created_at AS created_at
             FROM outbox o
             WHERE o.channel = ? AND o.state = 'pending'
               AND o.seq = (SELECT MIN(i.seq) FROM outbox i
                            WHERE i.channel = o.channel AND i.conversation = o.conversation
                              AND i.state = 'pending')
               AND o.not_before <= ?
             ORDER BY o.seq
             LIMIT ?",
        )
        .bind(channel)
        .bind(now.0)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_item).collect()
    }

    async fn outbox_next_due(&self, channel: &str) -> Result<Option<Timestamp>> {
        // Only the head of each conversation can be sent next, so only heads count.
        let row = sqlx::query(
            "SELECT MIN(o.not_before) AS next FROM outbox o
             WHERE o.channel = ? AND o.state = 'pending'
               AND o.seq = (SELECT MIN(i.seq) FROM outbox i
                            WHERE i.channel = o.channel AND i.conversation = o.conversation
                              AND i.state = 'pending')",
        )
        .bind(channel)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("next")?.map(Timestamp))
    }

    async fn outbox_sent(
        &self,
        id: &OutboxId,
        sent: &SentRef,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        self.close_outbox_message(id, "sent", Some(sent), &audit, now)
            .await
    }

    async fn outbox_sent_ref(&self, key: &str) -> Result<Option<SentRef>> {
        let row = sqlx::query(
            "SELECT platform_message_id FROM outbox WHERE idempotency_key = ? AND state = 'sent'",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| SentRef {
            message_id: row.get("platform_message_id"),
        }))
    }

    async fn channel_state(&self, channel: &str, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM channel_state WHERE channel = ? AND key = ?")
            .bind(channel)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.get("value")))
    }

    async fn set_channel_state(&self, channel: &str, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO channel_state (channel, key, value) VALUES (?, ?, ?)
             ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value",
        )
        .bind(channel)
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn note_put(&self, note: &Note) -> Result<()> {
        memory::note_put(&self.pool, note).await
    }

    async fn notes_search(&self, words: &[String], limit: usize) -> Result<Vec<Note>> {
        memory::notes_search(&self.pool, words, limit).await
    }

    async fn timer_put(&self, timer: &Timer) -> Result<()> {
        memory::timer_put(&self.pool, timer).await
    }

    async fn timers_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Timer>> {
        memory::timers_due(&self.pool, now, limit).await
    }

    async fn timers(&self, limit: usize) -> Result<Vec<Timer>> {
        memory::timers_until(&self.pool, Timestamp(i64::MAX), limit).await
    }

    async fn timer_cancel(&self, id: &str) -> Result<bool> {
        memory::timer_cancel(&self.pool, id).await
    }

    async fn timer_advance(
        &self,
        id: &str,
        from: Timestamp,
        next: Option<Timestamp>,
    ) -> Result<bool> {
        memory::timer_advance(&self.pool, id, from, next).await
    }

    async fn outbox_retry(&self, id: &OutboxId, not_before: Timestamp, error: &str) -> Result<()> {
        let result = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, not_before = ?, last_error = ? WHERE id = ?",
        )
        .bind(not_before.0)
        .bind(error)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound(format!("outbox message {id}")));
        }
        Ok(())
    }

    async fn outbox_failed(&self, id: &OutboxId, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.close_outbox_message(id, "failed", None, &audit, now)
            .await
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS depth FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        from_i64(row.try_get("depth")?, "outbox depth")
    }

    async fn lease_acquire(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
             WHERE leases.owner = excluded.owner OR leases.until <= ?
             RETURNING owner",
        )
        .bind(name)
        .bind(owner)
        .bind(until.0)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn lease_holder(&self, name: &str, now: Timestamp) -> Result<Option<String>> {
        let row = sqlx::query("SELECT owner FROM leases WHERE name = ? AND until > ?")
            .bind(name)
            .bind(now.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.get("owner")))
    }

    async fn lease_release(&self, name: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = ? AND owner = ?")
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>> {
        // Sequence numbers beyond i64 cannot be stored, so nothing lies past them.
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT seq, at, kind, actor, subject, data, prev_hash, hash FROM audit
             WHERE seq >= ? ORDER BY seq LIMIT ?",
        )
        .bind(from)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_record).collect()
    }
}
