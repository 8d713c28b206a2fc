//! Engine benchmark: requests per second through the whole loop (inbox → plan → step →
//! report → outbox) on SQLite and on the in-memory store, and the latency from a decision
//! to the start of the step it released (p50, p99). Prints a table.
//!
//! Run with: `cargo bench --bench engine`

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openmog::channel::{MemoryChannel, MemoryChannelHandle};
use openmog::config::{Config, ConfigSource};
use openmog::domain::{DecisionScope, OutboundBody, Verdict};
use openmog::engine::Engine;
use openmog::skills::{Skill, SkillContext, SkillError, SkillRegistry};
use openmog::store::{MemoryStore, SharedStore, SqliteStore};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[contacts]]
id = "ann"
roles = ["member", "oncall"]
addresses = { bench = "u-ann" }

[[authorizations.rules]]
skill = "gated"
decision = "approve"
approvers = ["role:oncall"]

[[authorizations.rules]]
skill = "mark"
decision = "auto"

# The benchmark measures the loop, not the inbound limits that would (rightly) slow one
# sender down to 20 requests a minute.
[limits.inbound]
per_sender = "1000000/s"
per_conversation = "1000000/s"

[channels.bench]
kind = "memory"
pacing = { per_conversation = "100000/s", per_channel = "100000/s" }

[[planner.rules]]
name = "go"
pattern = 'go (?P<n>\d+)'
title = "go ${n}"
steps = [{ key = "s", skill = "mark", args = { label = "go ${n}" } }]

[[planner.rules]]
name = "gate"
pattern = 'gate (?P<n>\d+)'
title = "gate ${n}"
steps = [{ key = "g", skill = "gated", args = { label = "gate ${n}" } }]
"#;

/// Records when each labelled run started.
#[derive(Clone)]
struct Mark {
    name: &'static str,
    started: Arc<Mutex<BTreeMap<String, Instant>>>,
}

#[async_trait]
impl Skill for Mark {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "records its start time"
    }
    fn args_schema(&self) -> Value {
        json!({"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]})
    }
    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let label = args["label"].as_str().unwrap_or_default().to_owned();
        self.started.lock().unwrap().insert(label, Instant::now());
        Ok(json!({}))
    }
}

fn config() -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, CONFIG).unwrap();
    openmog::config::load(&[ConfigSource::File(path)]).unwrap()
}

async fn engine(
    store: SharedStore,
) -> (
    Engine,
    MemoryChannelHandle,
    Arc<Mutex<BTreeMap<String, Instant>>>,
) {
    let started = Arc::new(Mutex::new(BTreeMap::new()));
    let mut skills = SkillRegistry::new();
    skills.register(Mark {
        name: "mark",
        started: started.clone(),
    });
    skills.register(Mark {
        name: "gated",
        started: started.clone(),
    });
    let (channel, handle) = MemoryChannel::new("bench");
    let engine = Engine::builder(config())
        .store(store)
        .skills(skills)
        .channel(channel)
        .build()
        .await
        .unwrap();
    (engine, handle, started)
}

async fn wait_until(handle: &MemoryChannelHandle, count: usize, needle: &str) {
    loop {
        let n = handle
            .delivered()
            .iter()
            .filter(|d| d.message.body.plain_text().contains(needle))
            .count();
        if n >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Requests per second for `n` one-step requests, each in its own conversation.
async fn throughput(store: SharedStore, n: usize) -> f64 {
    let (engine, handle, _) = engine(store).await;
    let running = engine.start();
    let start = Instant::now();
    for i in 0..n {
        handle.say(&format!("c{i}"), "u-ann", &format!("go {i}"));
    }
    wait_until(&handle, n, "succeeded (1/1").await;
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
    wait_until(&handle, n, "Approval needed").await;
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
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    (pick(0.5), pick(0.99))
}

async fn sqlite(dir: &Path, name: &str) -> SharedStore {
    Arc::new(SqliteStore::open(&dir.join(name)).await.unwrap())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let requests = 500;
    let decisions = 200;
    let mem_rate = throughput(Arc::new(MemoryStore::new()), requests).await;
    let sql_rate = throughput(sqlite(dir.path(), "t.db").await, requests).await;
    let (mem_p50, mem_p99) = decision_latency(Arc::new(MemoryStore::new()), decisions).await;
    let (sql_p50, sql_p99) = decision_latency(sqlite(dir.path(), "l.db").await, decisions).await;
    println!(
        "| store | requests/s (whole loop, {requests} requests) | decision → step started p50 | p99 ({decisions} decisions) |"
    );
    println!("|---|---|---|---|");
    println!("| in-memory | {mem_rate:.0} | {mem_p50:.2} ms | {mem_p99:.2} ms |");
    println!("| SQLite (WAL, file) | {sql_rate:.0} | {sql_p50:.2} ms | {sql_p99:.2} ms |");
}
