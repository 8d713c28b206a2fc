//! Shared test harness: a configured engine on the in-memory channel, with counting skills.

#![allow(dead_code)]

pub mod fake_llm;
#[cfg(feature = "llm")]
pub mod llm;
pub mod postgres;
pub mod rendezvous;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use openmog::channel::{Delivered, MemoryChannel, MemoryChannelHandle};
use openmog::clock::SharedClock;
use openmog::config::{Config, ConfigSource};
use openmog::domain::{ApprovalId, DecisionScope, OutboundBody, Verdict};
use openmog::engine::{Engine, RunningEngine};
use openmog::skills::{Echo, Skill, SkillContext, SkillError, SkillRegistry};
use openmog::store::SharedStore;
use serde_json::{Value, json};

/// The conversation most tests talk in.
pub const CONV: &str = "room";

/// Contacts, authorizations and plan rules most tests use.
pub const CONFIG: &str = r#"
[[contacts]]
id = "alice"
name = "Alice"
roles = ["member", "oncall"]
addresses = { test = "u-alice" }

[[contacts]]
id = "bob"
name = "Bob"
roles = ["member", "oncall"]
addresses = { test = "u-bob" }

[[contacts]]
id = "carol"
name = "Carol"
roles = ["member"]
addresses = { test = "u-carol" }

[authorizations]
chat = ["role:member"]

[[authorizations.rules]]
skill = "danger"
decision = "forbid"
reason = "never in tests"

[[authorizations.rules]]
skill = "gated"
decision = "approve"
approvers = ["role:oncall"]
timeout = "1h"
on_timeout = "deny"
whole_plan = true

[[authorizations.rules]]
skill = "gated.park"
decision = "approve"
approvers = ["role:oncall"]
timeout = "1h"
on_timeout = "park"

[[authorizations.rules]]
skill = "gated.two"
decision = "approve"
approvers = ["role:oncall"]
quorum = 2

[[authorizations.rules]]
skill = "*"
decision = "auto"

[channels.test]
kind = "memory"

[store]
url = "memory:"

[[planner.rules]]
name = "deploy"
pattern = 'deploy (?P<svc>\w+)'
title = "Deploy ${svc}"
steps = [
  { key = "check", skill = "count", args = { label = "check ${svc}" } },
  { key = "restart", skill = "gated", args = { label = "restart ${svc}" }, depends_on = ["check"] },
  { key = "verify", skill = "count", args = { label = "${steps.restart.output.label} verified" }, depends_on = ["restart"] },
]

[[planner.rules]]
name = "slow"
pattern = 'slow (?P<ms>\d+)'
title = "Slow"
steps = [{ key = "nap", skill = "wait", args = { ms = "${ms}" } }]

[[planner.rules]]
name = "park"
pattern = 'park (?P<x>\w+)'
title = "Park ${x}"
steps = [{ key = "act", skill = "gated.park", args = { label = "${x}" } }]

[[planner.rules]]
name = "two"
pattern = 'two (?P<x>\w+)'
title = "Two ${x}"
steps = [{ key = "act", skill = "gated.two", args = { label = "${x}" } }]

[[planner.rules]]
name = "twice"
pattern = 'twice (?P<x>\w+)'
title = "Twice ${x}"
steps = [
  { key = "one", skill = "gated", args = { label = "one ${x}" } },
  { key = "two", skill = "gated", args = { label = "two ${x}" }, depends_on = ["one"] },
]

[[planner.rules]]
name = "nuke"
pattern = 'nuke'
title = "Nuke"
steps = [
  { key = "look", skill = "count", args = { label = "look" } },
  { key = "boom", skill = "danger", args = { label = "boom" }, depends_on = ["look"] },
]

[[planner.rules]]
name = "fail"
pattern = 'fail'
title = "Fail"
steps = [
  { key = "bad", skill = "count", args = { label = "bad", fail = true } },
  { key = "after", skill = "count", args = { label = "after" }, depends_on = ["bad"] },
]
"#;

/// Loads a TOML configuration through the real loader.
pub fn config(toml: &str) -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openmog.toml");
    std::fs::write(&path, toml).expect("write config");
    openmog::config::load(&[ConfigSource::File(path)]).expect("valid test config")
}

/// A skill that records every run by label (so tests can see nothing ran twice) and
/// returns its arguments.
#[derive(Clone, Default)]
pub struct Counter {
    name: String,
    runs: Arc<Mutex<BTreeMap<String, usize>>>,
    total: Arc<AtomicUsize>,
}

impl Counter {
    pub fn named(name: &str, shared: &Counter) -> Counter {
        Counter {
            name: name.to_owned(),
            runs: Arc::clone(&shared.runs),
            total: Arc::clone(&shared.total),
        }
    }

    pub fn runs(&self) -> BTreeMap<String, usize> {
        self.runs.lock().unwrap().clone()
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Skill for Counter {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        "counts runs"
    }

    fn args_schema(&self) -> Value {
        json!({"type": "object", "properties": {"label": {"type": "string"}, "fail": {"type": "boolean"}}, "required": ["label"]})
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let label = args["label"].as_str().unwrap_or_default().to_owned();
        *self.runs.lock().unwrap().entry(label.clone()).or_default() += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        if args.get("fail") == Some(&Value::Bool(true)) {
            return Err(SkillError::Failed(format!("{label} failed on purpose")));
        }
        Ok(json!({ "label": label }))
    }
}

/// The skills the test config refers to, all counted by one counter.
pub fn skills(counter: &Counter) -> SkillRegistry {
    let mut skills = SkillRegistry::new();
    for name in ["count", "gated", "gated.park", "gated.two", "danger"] {
        skills.register(Counter::named(name, counter));
    }
    skills.register(Echo);
    skills.register(openmog::skills::Wait);
    skills
}

/// A running engine with its channel handle.
pub struct Harness {
    pub engine: Engine,
    pub running: Option<RunningEngine>,
    pub chat: MemoryChannelHandle,
    pub counter: Counter,
}

impl Harness {
    pub async fn start(config: Config, store: SharedStore, clock: Option<SharedClock>) -> Harness {
        let (channel, chat) = MemoryChannel::new("test");
        Self::start_with(config, store, clock, channel, chat, Counter::default()).await
    }

    /// Starts with one more skill besides the test skills.
    pub async fn start_with_skill(
        config: Config,
        store: SharedStore,
        clock: Option<SharedClock>,
        extra: impl Skill,
    ) -> Harness {
        let (channel, chat) = MemoryChannel::new("test");
        let counter = Counter::default();
        let mut skills = skills(&counter);
        skills.register(extra);
        Self::launch(config, store, clock, channel, chat, counter, skills).await
    }

    pub async fn start_with(
        config: Config,
        store: SharedStore,
        clock: Option<SharedClock>,
        channel: MemoryChannel,
        chat: MemoryChannelHandle,
        counter: Counter,
    ) -> Harness {
        let skills = skills(&counter);
        Self::launch(config, store, clock, channel, chat, counter, skills).await
    }

    /// Starts with exactly `skills` (the counter stays unused).
    pub async fn start_with_skills(
        config: Config,
        store: SharedStore,
        skills: SkillRegistry,
    ) -> Harness {
        let (channel, chat) = MemoryChannel::new("test");
        Self::launch(
            config,
            store,
            None,
            channel,
            chat,
            Counter::default(),
            skills,
        )
        .await
    }

    async fn launch(
        config: Config,
        store: SharedStore,
        clock: Option<SharedClock>,
        channel: MemoryChannel,
        chat: MemoryChannelHandle,
        counter: Counter,
        skills: SkillRegistry,
    ) -> Harness {
        let mut builder = Engine::builder(config)
            .store(store)
            .skills(skills)
            .channel(channel)
            .poll_interval(Duration::from_millis(20));
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        let engine = builder.build().await.expect("engine builds");
        let running = Some(engine.start());
        Harness {
            engine,
            running,
            chat,
            counter,
        }
    }

    /// Presses a decision button as `user` in the test conversation, for one step.
    pub fn press(&self, user: &str, approval: &ApprovalId, verdict: Verdict) {
        self.chat
            .press(CONV, user, approval, verdict, DecisionScope::Step);
    }

    /// Says `text` as `user` in the test conversation.
    pub fn say(&self, user: &str, text: &str) {
        self.chat.say(CONV, user, text);
    }

    /// Waits for a message containing `needle` in the test conversation.
    pub async fn expect(&self, needle: &str) -> Delivered {
        self.chat.wait_for_text(CONV, needle).await
    }

    /// Waits for the first approval request for `step` and returns its id.
    pub async fn approval_for(&self, step: &str) -> ApprovalId {
        self.approval_for_except(step, None).await
    }

    /// Waits for an approval request for `step` other than `except`.
    pub async fn approval_for_except(&self, step: &str, except: Option<&ApprovalId>) -> ApprovalId {
        let step = format!("{step} · ");
        let d = self
            .chat
            .wait_for(Duration::from_secs(10), |d| {
                matches!(&d.message.body, OutboundBody::ApprovalRequest(p) if p.summary.starts_with(&step) && Some(&p.approval) != except)
            })
            .await;
        match d.message.body {
            OutboundBody::ApprovalRequest(p) => p.approval,
            _ => unreachable!(),
        }
    }

    /// Index of the first message containing `needle`, to check order.
    pub fn position(&self, needle: &str) -> usize {
        self.chat
            .texts(CONV)
            .iter()
            .position(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no message with {needle:?}"))
    }

    /// Audit event kinds in order.
    pub async fn audit_kinds(&self) -> Vec<String> {
        self.engine
            .store()
            .audit_records(1, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.event.kind)
            .collect()
    }

    /// Audit events of one kind, as (actor, subject, data).
    pub async fn audit_of(&self, kind: &str) -> Vec<(String, String, Value)> {
        self.engine
            .store()
            .audit_records(1, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.event.kind == kind)
            .map(|r| (r.event.actor, r.event.subject, r.event.data))
            .collect()
    }

    /// Stops gracefully.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// A SQLite store in `dir`.
pub async fn sqlite(dir: &Path) -> SharedStore {
    Arc::new(
        openmog::store::SqliteStore::open(&dir.join("openmog.db"))
            .await
            .expect("sqlite opens"),
    )
}
