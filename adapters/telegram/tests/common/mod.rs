//! Shared set-up of the Telegram tests: the fake Bot API server, an engine with the real
//! Telegram channel pointed at it, and people with Telegram ids.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openmog::config::{Config, ConfigSource};
use openmog::engine::{Engine, RunningEngine};
use openmog::skills::{Skill, SkillContext, SkillError, SkillRegistry};
use openmog::store::{MemoryStore, SharedStore};
use openmog_telegram::TelegramChannel;
use openmog_telegram::fake::{ChatRef, FakeTelegram, SentMessage, TgUser};
use serde_json::{Value, json};

/// A token shaped like a real one; it must never show up in logs.
pub const TOKEN: &str = "123456:AAH-secret-token-never-logged";

pub const ALICE: i64 = 1001;
pub const BOB: i64 = 1002;
pub const CAROL: i64 = 1003;
pub const GROUP: i64 = -100_500;
pub const TOPIC: i64 = 7;

pub fn alice() -> TgUser {
    TgUser::new(ALICE, "Alice")
}
pub fn bob() -> TgUser {
    TgUser::new(BOB, "Bob")
}
pub fn carol() -> TgUser {
    TgUser::new(CAROL, "Carol")
}

/// Contacts, rules and plans; `{api_url}` and `{pacing}` are filled in.
const CONFIG: &str = r#"
[[contacts]]
id = "alice"
name = "Alice"
roles = ["member"]
addresses = { telegram = "1001" }

[[contacts]]
id = "bob"
name = "Bob"
roles = ["member", "oncall"]
addresses = { telegram = "1002" }

[[contacts]]
id = "carol"
name = "Carol"
roles = ["member"]
addresses = { telegram = "1003" }

[authorizations]
chat = ["role:member"]

[[authorizations.rules]]
skill = "restart"
decision = "approve"
approvers = ["role:oncall"]
timeout = "1h"
on_timeout = "deny"
whole_plan = true

[[authorizations.rules]]
skill = "*"
decision = "auto"

[channels.telegram]
kind = "telegram"
{pacing}

[channels.telegram.settings]
token = "{token}"
api_url = "{api_url}"
poll_timeout = "1s"
request_timeout = "2s"

[store]
url = "memory:"

[[planner.rules]]
name = "deploy"
pattern = 'deploy (?P<svc>\w+)'
title = "Deploy ${svc}"
steps = [
  { key = "check", skill = "echo", args = { text = "checked ${svc}" } },
  { key = "restart", skill = "restart", args = { service = "${svc}" }, depends_on = ["check"] },
]

[[planner.rules]]
name = "shout"
pattern = 'shout (?P<text>.+)'
title = "Shout ${text}"
steps = [{ key = "shout", skill = "echo", args = { text = "${text}" } }]

[[planner.rules]]
name = "say"
pattern = 'say (?P<n>\d+)'
title = "Say ${n}"
steps = [{ key = "say", skill = "echo", args = { text = "line ${n}" } }]
"#;

/// The configuration, with the channel pointed at `fake` and paced by `pacing` (a TOML
/// table body such as `pacing = { per_conversation = "50/s", per_channel = "50/s" }`).
pub fn config(fake: &FakeTelegram, pacing: &str) -> Config {
    let toml = CONFIG
        .replace("{api_url}", &fake.api_url())
        .replace("{token}", TOKEN)
        .replace("{pacing}", pacing);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openmog.toml");
    std::fs::write(&path, toml).expect("write config");
    openmog::config::load(&[ConfigSource::File(path)]).expect("valid test config")
}

/// A stand-in for a service restart: returns what it restarted.
pub struct Restart;

#[async_trait]
impl Skill for Restart {
    fn name(&self) -> &str {
        "restart"
    }
    fn description(&self) -> &str {
        "restarts a service (pretend)"
    }
    fn args_schema(&self) -> Value {
        json!({"type": "object", "properties": {"service": {"type": "string"}}, "required": ["service"]})
    }
    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        // Long enough for a typing indicator to go out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(json!({"text": format!("restarted {}", args["service"].as_str().unwrap_or("?"))}))
    }
}

pub fn skills() -> SkillRegistry {
    let mut skills = SkillRegistry::new();
    skills.register(openmog::skills::Echo);
    skills.register(Restart);
    skills
}

/// An engine with the real Telegram channel on `fake`.
pub struct Bot {
    pub engine: Engine,
    pub running: Option<RunningEngine>,
}

impl Bot {
    pub async fn start(fake: &FakeTelegram, store: SharedStore, pacing: &str) -> Bot {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = config(fake, pacing);
        let channel = TelegramChannel::from_config("telegram", &config.channels["telegram"])
            .expect("channel settings");
        let engine = Engine::builder(config)
            .store(store)
            .skills(skills())
            .channel(channel)
            .poll_interval(Duration::from_millis(20))
            .build()
            .await
            .expect("engine builds");
        let running = Some(engine.start());
        Bot { engine, running }
    }

    pub async fn in_memory(fake: &FakeTelegram) -> Bot {
        Self::start(fake, Arc::new(MemoryStore::new()), FAST).await
    }

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

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// Pacing fast enough for tests that are not about pacing.
pub const FAST: &str =
    r#"pacing = { per_conversation = "100/s", per_channel = "200/s", per_group = "100/s" }"#;

/// Waits for a bot message in `chat` whose visible text contains `needle`; returns it.
pub async fn expect(fake: &FakeTelegram, chat: ChatRef, needle: &str) -> SentMessage {
    let what = format!("a message containing {needle:?} in {chat:?}");
    fake.wait_until(&what, Duration::from_secs(15), |f| {
        f.messages(chat).iter().any(|m| m.text.contains(needle))
    })
    .await;
    fake.messages(chat)
        .into_iter()
        .find(|m| m.text.contains(needle))
        .expect("just seen")
}

/// Waits for the approval request in `chat` and returns it.
pub async fn request(fake: &FakeTelegram, chat: ChatRef) -> SentMessage {
    expect(fake, chat, "Approval needed").await
}

/// The callback data of the button labelled `label` on `message`.
pub fn button(message: &SentMessage, label: &str) -> String {
    message
        .buttons
        .iter()
        .find(|(text, _)| text.contains(label))
        .map(|(_, data)| data.clone())
        .unwrap_or_else(|| panic!("no {label:?} button on {message:?}"))
}

/// The approval id a request shows.
pub fn approval_id(message: &SentMessage) -> String {
    openmog::channel::decisions::parse_decision_data(&button(message, "Approve"))
        .expect("our callback data")
        .2
        .to_string()
}

/// Waits for the callback notice answering `callback_id`; returns its text.
pub async fn notice(fake: &FakeTelegram, callback_id: &str) -> String {
    let what = format!("an answer to button press {callback_id}");
    fake.wait_until(&what, Duration::from_secs(15), |f| {
        f.callback_answers()
            .iter()
            .any(|a| a.callback_id == callback_id)
    })
    .await;
    fake.callback_answers()
        .into_iter()
        .find(|a| a.callback_id == callback_id)
        .and_then(|a| a.text)
        .unwrap_or_default()
}
