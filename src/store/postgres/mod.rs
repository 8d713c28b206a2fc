//! The Postgres store, for several instances sharing one database: every write is one
//! transaction; plans change by compare-and-swap on their revision (concurrent writers
//! block on the row and the loser sees the new revision); audit appends are serialised by
//! a transaction-scoped advisory lock so the chain stays one chain; leases give one
//! instance at a time a channel's connection; `NOTIFY` wakes the other instances.

mod memory;
mod wakeups;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

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
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("schema_1.sql"))];

/// Advisory lock keys (arbitrary, fixed): one for migrations, one for the audit chain.
const MIGRATION_LOCK: i64 = 0x6f70_656e_6d6f_6701;
const AUDIT_LOCK: i64 = 0x6f70_656e_6d6f_6702;

/// The `NOTIFY` channel other instances listen on.
pub(crate) const NOTIFY_CHANNEL: &str = "openmog_wake";

const MAX_CONNECTIONS: u32 = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] in a Postgres database, shared by any number of openmog instances.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    options: PgConnectOptions,
    wakeups: wakeups::Wakeups,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`) and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|err| Error::Config(format!("store.url: {err}")))?;
        Self::open_with(options).await
    }

    /// Connects with `options` (e.g. with a `search_path` of its own schema) and brings
    /// the schema up to date.
    pub async fn open_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|err| Error::Store(format!("cannot connect to Postgres: {err}")))?;
        migrate(&pool).await?;
        Ok(PostgresStore {
            pool,
            options,
            wakeups: wakeups::Wakeups::default(),
        })
    }

    /// The connection pool (for maintenance and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn close_outbox_message(
        &self,
        id: &OutboxId,
        state: &str,
        sent: Option<&SentRef>,
        audit: &AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE outbox SET state = $1, sent_at = $2, platform_message_id = $3
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(state)
        .bind(sent.map(|_| now.0))
        .bind(sent.and_then(|s| s.message_id.as_deref()))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(Error::NotFound(format!("pending outbox message {id}")));
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Applies the migrations the database has not seen yet, in one transaction; instances
/// starting at once take turns.
async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _openmog_migrations (
             version BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .execute(&mut *tx)
    .await?;
    let current: i64 =
        sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM _openmog_migrations")
            .fetch_one(&mut *tx)
            .await?
            .try_get("version")?;
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
        sqlx::query("INSERT INTO _openmog_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn inbox_item(row: &PgRow) -> Result<InboxItem> {
    let id: String = row.try_get("id")?;
    let event: String = row.try_get("event")?;
    Ok(InboxItem {
        event: decode_json::<Inbound>(&format!("inbox event {id}"), &event)?,
        id: InboxId(id),
        received_at: Timestamp(row.try_get("received_at")?),
    })
}

fn outbox_item(row: &PgRow) -> Result<OutboxItem> {
    let id: String = row.try_get("id")?;
    let message: String = row.try_get("message")?;
    Ok(OutboxItem {
        message: decode_json::<Outbound>(&format!("outbox message {id}"), &message)?,
        attempts: from_i64(row.try_get("attempts")?, "outbox attempts")?,
        id: OutboxId(id),
        not_before: Timestamp(row.try_get("not_before")?),
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn plan_body(row: &PgRow) -> Result<PlanRecord> {
    let body: String = row.try_get("body")?;
    decode_json("plan", &body)
}

fn audit_record(row: &PgRow) -> Result<AuditRecord> {
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

fn plan_ids(rows: &[PgRow]) -> Result<Vec<PlanId>> {
    rows.iter()
        .map(|row| -> Result<PlanId> { Ok(PlanId(row.try_get("plan_id")?)) })
        .collect()
}

async fn insert_outbox(conn: &mut PgConnection, message: &Outbound, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, channel, conversation, idempotency_key, message, state, attempts,
                             not_before, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)
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

/// Seals `event` after the last record and appends it. The advisory lock, held until the
/// transaction ends, makes concurrent appenders take turns, so no two seal on one head.
async fn append_audit(conn: &mut PgConnection, event: &AuditEvent, now: Timestamp) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(&mut *conn)
        .await?;
    let last = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let prev = match last {
        Some(row) => Some((
            from_i64::<u64>(row.try_get("seq")?, "audit seq")?,
            row.try_get::<String, _>("hash")?,
        )),
        None => None,
    };
    let record = AuditRecord::seal(
        prev.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        now,
        event.clone(),
    );
    sqlx::query(
        "INSERT INTO audit (seq, at, kind, actor, subject, data, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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

/// Writes `effects` inside the caller's transaction, and tells the other instances.
async fn apply_effects(conn: &mut PgConnection, effects: &Effects, now: Timestamp) -> Result<()> {
    for message in &effects.outbox {
        insert_outbox(conn, message, now).await?;
    }
    for event in &effects.audit {
        append_audit(conn, event, now).await?;
    }
    if let Some(id) = &effects.inbox_done {
        sqlx::query("UPDATE inbox SET done = TRUE WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    if !effects.outbox.is_empty() {
        notify(conn).await?;
    }
    Ok(())
}

/// Wakes every listening instance when the transaction commits (Postgres delivers
/// notifications only then, and folds duplicates within one transaction).
async fn notify(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn write_plan_index(conn: &mut PgConnection, plan: &PlanRecord) -> Result<()> {
    let id = plan.id.as_str();
    sqlx::query("DELETE FROM steps WHERE plan_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for step in &plan.steps {
        sqlx::query("INSERT INTO steps (plan_id, key, state, lease_until) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(step.key().0.as_str())
            .bind(step.state.as_str())
            .bind(step.lease_until.map(|t| t.0))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM approvals WHERE plan_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for approval in &plan.approvals {
        sqlx::query(
            "INSERT INTO approvals (id, plan_id, state, expires_at) VALUES ($1, $2, $3, $4)",
        )
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
impl Store for PostgresStore {
    async fn inbox_put(&self, event: &Inbound, now: Timestamp) -> Result<Option<InboxId>> {
        let id = InboxId::new();
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "INSERT INTO inbox (id, channel, event_id, event, received_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (channel, event_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(event.conversation.channel.as_str())
        .bind(event.event_id.as_str())
        .bind(encode_json("inbound event", event)?)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        let stored = result.rows_affected() > 0;
        if stored {
            notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(stored.then_some(id))
    }

    async fn inbox_pending(&self, limit: usize) -> Result<Vec<InboxItem>> {
        let rows = sqlx::query(
            "SELECT id, event, received_at FROM inbox WHERE NOT done ORDER BY seq LIMIT $1",
        )
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(inbox_item).collect()
    }

    async fn apply(&self, effects: &Effects, now: Timestamp) -> Result<()> {
        let mut tx = self.pool.begin().await?;
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

        let mut tx = self.pool.begin().await?;
        let written = match expected_revision {
            // A second instance planning the same request loses on the unique request id;
            // a plan id taken by another request's plan is an error, so the caller draws
            // again.
            None => sqlx::query(
                "INSERT INTO plans (id, request_id, revision, state, title, channel, conversation,
                                    updated_at, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (request_id) DO NOTHING",
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
            .await?,
            // Under READ COMMITTED a concurrent writer waits for this row and then
            // re-checks the revision, so exactly one of two swaps succeeds.
            Some(expected) => {
                sqlx::query(
                    "UPDATE plans SET revision = $1, state = $2, title = $3, channel = $4,
                                  conversation = $5, updated_at = $6, body = $7
                 WHERE id = $8 AND revision = $9",
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
                .await?
            }
        };
        if written.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(SaveOutcome::Conflict);
        }
        write_plan_index(&mut tx, &stored).await?;
        apply_effects(&mut tx, effects, now).await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        Ok(SaveOutcome::Saved)
    }

    async fn plan(&self, id: &PlanId) -> Result<Option<PlanRecord>> {
        let row = sqlx::query("SELECT body FROM plans WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(plan_body).transpose()
    }

    async fn plan_of_approval(&self, id: &ApprovalId) -> Result<Option<PlanRecord>> {
        let row = sqlx::query(
            "SELECT p.body AS body FROM approvals a JOIN plans p ON p.id = a.plan_id WHERE a.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(plan_body).transpose()
    }

    async fn plans(&self, open_only: bool, limit: usize) -> Result<Vec<PlanSummary>> {
        let sql = if open_only {
            "SELECT id, title, state, channel, conversation, updated_at FROM plans
             WHERE state IN ('active', 'parked') ORDER BY updated_at DESC, id LIMIT $1"
        } else {
            "SELECT id, title, state, channel, conversation, updated_at FROM plans
             ORDER BY updated_at DESC, id LIMIT $1"
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
                    OR (s.state = 'running' AND s.lease_until IS NOT NULL AND s.lease_until < $1))
             ORDER BY s.plan_id, s.key
             LIMIT $2",
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
             WHERE state = 'pending' AND expires_at <= $1 ORDER BY plan_id",
        )
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        plan_ids(&rows)
    }

    async fn plans_with_open_approvals(&self) -> Result<Vec<PlanId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT plan_id FROM approvals WHERE state IN ('pending', 'parked') ORDER BY plan_id",
        )
        .fetch_all(&self.pool)
        .await?;
        plan_ids(&rows)
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
             WHERE o.channel = $1 AND o.state = 'pending'
               AND o.seq = (SELECT MIN(i.seq) FROM outbox i
                            WHERE i.channel = o.channel AND i.conversation = o.conversation
                              AND i.state = 'pending')
               AND o.not_before <= $2
             ORDER BY o.seq
             LIMIT $3",
        )
        .bind(channel)
        .bind(now.0)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_item).collect()
    }

    async fn outbox_next_due(&self, channel: &str) -> Result<Option<Timestamp>> {
        let row = sqlx::query(
            "SELECT MIN(o.not_before) AS next FROM outbox o
             WHERE o.channel = $1 AND o.state = 'pending'
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
            "SELECT platform_message_id FROM outbox WHERE idempotency_key = $1 AND state = 'sent'",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| SentRef {
            message_id: row.get("platform_message_id"),
        }))
    }

    async fn channel_state(&self, channel: &str, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM channel_state WHERE channel = $1 AND key = $2")
            .bind(channel)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.get("value")))
    }

    async fn set_channel_state(&self, channel: &str, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO channel_state (channel, key, value) VALUES ($1, $2, $3)
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
        memory::timers_until(&self.pool, now, limit).await
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
            "UPDATE outbox SET attempts = attempts + 1, not_before = $1, last_error = $2 WHERE id = $3",
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

    async fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>> {
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT seq, at, kind, actor, subject, data, prev_hash, hash FROM audit
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    async fn lease_acquire(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
             WHERE leases.owner = excluded.owner OR leases.until <= $4
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
        let row = sqlx::query("SELECT owner FROM leases WHERE name = $1 AND until > $2")
            .bind(name)
            .bind(now.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.get("owner")))
    }

    async fn lease_release(&self, name: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        Some(self.wakeups.subscribe(&self.options))
    }

    fn is_shared(&self) -> bool {
        true
    }
}
