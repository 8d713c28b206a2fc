//! Engine benchmark: requests per second through the whole loop (inbox → plan → step →
//! report → outbox) on SQLite and on the in-memory store, the latency from a decision to
//! the start of the step it released (p50, p99), and, as the reference for the SQLite
//! figures, the raw rate of single-row durable commits on the same kind of SQLite file.
//! Prints a table.
//!
//! Run with: `cargo bench --bench engine`

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{engine, quantile, sqlite, wait_until};
use openmog::domain::{DecisionScope, OutboundBody, Verdict};
use openmog::store::{MemoryStore, SharedStore};

/// Requests per second for `n` one-step requests, each in its own conversation.
async fn throughput(store: SharedStore, n: usize) -> f64 {
    let (engine, handle, _) = engine(store).await;
    let running = engine.start();
    let start = Instant::now();
    for i in 0..n {
        handle.say(&format!("c{i}"), "u-ann", &format!("go {i}"));
    }
    wait_until(&handle, n, "succeeded (1/1", Duration::from_millis(2)).await;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    running.shutdown(Duration::from_secs(5)).await;
    rate
}

/// Decision → released step started, for `n` approvals, in milliseconds (p50, p99).
async fn decision_latency(store: SharedStore, n: usize) -> (f64, f64) {
    let (engine, handle, started) = engine(store).await;
    let running = engine.start();
    for i in 0..n {
        handle.say(&format!("g{i}"), "u-ann", &format!("gate {i}"));
    }
    wait_until(&handle, n, "Approval needed", Duration::from_millis(2)).await;
    let mut approvals = BTreeMap::new();
    for d in handle.delivered() {
        if let OutboundBody::ApprovalRequest(p) = &d.message.body {
            approvals.insert(d.message.conversation.id.clone(), p.approval.clone());
        }
    }
    let mut latencies = Vec::new();
    for i in 0..n {
        let conversation = format!("g{i}");
        let label = format!("gate {i}");
        let pressed = Instant::now();
        handle.press(
            &conversation,
            "u-ann",
            &approvals[&conversation],
            Verdict::Approve,
            DecisionScope::Step,
        );
        let began = loop {
            if let Some(at) = started.lock().unwrap().get(&label).copied() {
                break at;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        latencies.push(began.duration_since(pressed).as_secs_f64() * 1000.0);
    }
    running.shutdown(Duration::from_secs(5)).await;
    latencies.sort_by(f64::total_cmp);
    (quantile(&latencies, 0.5), quantile(&latencies, 0.99))
}

/// Single-row commits per second on a fresh SQLite file opened as the store opens its own
/// (WAL, `synchronous = NORMAL`), each insert its own `BEGIN IMMEDIATE` transaction.
async fn raw_commits(path: &Path, n: usize) -> f64 {
    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..n {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO rows (body) VALUES (?)")
            .bind(format!("row {i}"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let full = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().unwrap();
    let (requests, decisions, commits) = if full {
        (500, 200, 5000)
    } else {
        (50, 20, 200)
    };
    let mem_rate = throughput(Arc::new(MemoryStore::new()), requests).await;
    let sql_rate = throughput(sqlite(&dir.path().join("t.db")).await, requests).await;
    let (mem_p50, mem_p99) = decision_latency(Arc::new(MemoryStore::new()), decisions).await;
    let (sql_p50, sql_p99) =
        decision_latency(sqlite(&dir.path().join("l.db")).await, decisions).await;
    let raw = raw_commits(&dir.path().join("raw.db"), commits).await;
    println!(
        "| store | requests/s (whole loop, {requests} requests) | decision → step started p50 | p99 ({decisions} decisions) |"
    );
    println!("|---|---|---|---|");
    println!("| in-memory | {mem_rate:.0} | {mem_p50:.2} ms | {mem_p99:.2} ms |");
    println!("| SQLite (WAL, file) | {sql_rate:.0} | {sql_p50:.2} ms | {sql_p99:.2} ms |");
    println!();
    println!("| reference | rate |");
    println!("|---|---|");
    println!(
        "| raw SQLite single-row durable commits (WAL, synchronous = NORMAL, {commits} commits) | {raw:.0}/s |"
    );
    println!(
        "| whole-loop requests per raw commit budget | {:.1} commits' time per request |",
        raw / sql_rate
    );
}
