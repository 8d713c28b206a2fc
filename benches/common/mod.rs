//! What the in-process benchmarks share: one configuration, a skill that records when each
//! run started, an engine on the in-memory channel, and resident memory from `/proc`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openmog::channel::{MemoryChannel, MemoryChannelHandle};
use openmog::config::{Config, ConfigSource};
use openmog::engine::Engine;
use openmog::skills::{Skill, SkillContext, SkillError, SkillRegistry};
use openmog::store::{SharedStore, SqliteStore};
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
skill = "parked"
decision = "approve"
approvers = ["role:oncall"]
timeout = "1s"
on_timeout = "park"

[[authorizations.rules]]
skill = "mark"
decision = "auto"

# The benchmarks measure the loop, not the inbound limits that would (rightly) slow one
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

[[planner.rules]]
name = "park"
pattern = 'park (?P<n>\d+)'
title = "park ${n}"
steps = [{ key = "p", skill = "parked", args = { label = "park ${n}" } }]
"#;

/// When each labelled run started.
pub type Starts = Arc<Mutex<BTreeMap<String, Instant>>>;

/// Records its start time under its `label` argument.
#[derive(Clone)]
struct Mark {
    name: &'static str,
    started: Starts,
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
    openmog::config::load(&[ConfigSource::Text {
        format: "toml".into(),
        text: CONFIG.into(),
    }])
    .unwrap()
}

/// An engine on `store` with the `bench` memory channel and the marking skills.
pub async fn engine(store: SharedStore) -> (Engine, MemoryChannelHandle, Starts) {
    let started: Starts = Arc::new(Mutex::new(BTreeMap::new()));
    let mut skills = SkillRegistry::new();
    for name in ["mark", "gated", "parked"] {
        skills.register(Mark {
            name,
            started: started.clone(),
        });
    }
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

/// The store openmog opens for `sqlite://PATH`.
pub async fn sqlite(path: &Path) -> SharedStore {
    Arc::new(SqliteStore::open(path).await.unwrap())
}

/// Waits until `count` delivered messages contain `needle`, looking every `every`.
pub async fn wait_until(handle: &MemoryChannelHandle, count: usize, needle: &str, every: Duration) {
    loop {
        let n = handle
            .delivered()
            .iter()
            .filter(|d| d.message.body.plain_text().contains(needle))
            .count();
        if n >= count {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

/// The `q` quantile (0..=1) of sorted `values`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// This process's resident memory now and at its peak, in MiB (Linux; `None` elsewhere).
pub fn resident_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
