//! The SQLite store's notes and timers: what outlives a plan.

use sqlx::{Row, SqlitePool};

use crate::Result;
use crate::clock::Timestamp;
use crate::domain::{ContactId, Note, PlanId, Timer};
use crate::store::sql::{decode_json, encode_json, escape_like};

pub(super) async fn note_put(pool: &SqlitePool, note: &Note) -> Result<()> {
    sqlx::query(
        "INSERT INTO notes (id, text, author, plan, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&note.id)
    .bind(&note.text)
    .bind(&note.author.0)
    .bind(note.plan.as_str())
    .bind(note.created_at.0)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn notes_search(
    pool: &SqlitePool,
    words: &[String],
    limit: usize,
) -> Result<Vec<Note>> {
    let mut sql = String::from("SELECT id, text, author, plan, created_at FROM notes WHERE 1 = 1");
    for _ in words {
        // LIKE ignores ASCII case; the escape keeps `%` and `_` in a word literal.
        sql.push_str(" AND text LIKE '%' || ? || '%' ESCAPE '\\'");
    }
    sql.push_str(" ORDER BY created_at DESC, id LIMIT ?");
    // Built from the constant fragments above only; the words are bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for word in words {
        query = query.bind(escape_like(word));
    }
    let rows = query
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|row| Note {
            id: row.get("id"),
            text: row.get("text"),
            author: ContactId(row.get("author")),
            plan: PlanId(row.get("plan")),
            created_at: Timestamp(row.get("created_at")),
        })
        .collect())
}

pub(super) async fn timer_put(pool: &SqlitePool, timer: &Timer) -> Result<()> {
    sqlx::query(
        "INSERT INTO timers (id, due_at, body) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&timer.id)
    .bind(timer.due_at.0)
    .bind(encode_json("timer", timer)?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn timers_due(
    pool: &SqlitePool,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Timer>> {
    timers_until(pool, now, limit).await
}

pub(super) async fn timers_until(
    pool: &SqlitePool,
    until: Timestamp,
    limit: usize,
) -> Result<Vec<Timer>> {
    let rows = sqlx::query(
        "SELECT due_at, body FROM timers WHERE due_at <= ? ORDER BY due_at, id LIMIT ?",
    )
    .bind(until.0)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let mut timer: Timer = decode_json("timer", row.get("body"))?;
            // The column is the truth: advancing rewrites only it.
            timer.due_at = Timestamp(row.get("due_at"));
            Ok(timer)
        })
        .collect()
}

pub(super) async fn timer_cancel(pool: &SqlitePool, id: &str) -> Result<bool> {
    let result = sqlx::query("DELETE FROM timers WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}

pub(super) async fn timer_advance(
    pool: &SqlitePool,
    id: &str,
    from: Timestamp,
    next: Option<Timestamp>,
) -> Result<bool> {
    let result = match next {
        Some(next) => {
            sqlx::query("UPDATE timers SET due_at = ? WHERE id = ? AND due_at = ?")
                .bind(next.0)
                .bind(id)
                .bind(from.0)
                .execute(pool)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM timers WHERE id = ? AND due_at = ?")
                .bind(id)
                .bind(from.0)
                .execute(pool)
                .await?
        }
    };
    Ok(result.rows_affected() == 1)
}
