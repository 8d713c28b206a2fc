//! Shared set-up of the Discord tests: the fake Discord, an engine with the real Discord
//! channel pointed at it, and people with Discord ids.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openmog::config::{Config, ConfigSource};
use openmog::engine::{Engine, RunningEngine};
use openmog::skills::{Skill, SkillContext, SkillError, SkillRegistry};
use openmog::store::{MemoryStore, SharedStore};
use openmog_discord::DiscordChannel;
use openmog_discord::fake::{DcUser, FakeDiscord, SentMessage};
use serde_json::{Value, json};

/// A token shaped like a real one; it must never show up in logs.
pub const TOKEN: &str = "MTA0.secret-part.never-logged";

pub const ALICE: u64 = 111_000_000_000_000_001;
pub const BOB: u64 = 111_000_000_000_000_002;
pub const CAROL: u64 = 111_000_000_000_000_003;

pub fn alice() -> DcUser {
    DcUser::new(ALICE, "Alice")
}
pub fn bob() -> DcUser {
    DcUser::new(BOB, "Bob")
}
pub fn carol() -> DcUser {
    DcUser::new(CAROL, "Carol")
}

const CONFIG: &str = r#"
[[contacts]]
id = "alice"
name = "Alice"
roles = ["member"]
addresses = { discord = "111000000000000001" }

[[contacts]]
id = "bob"
name = "Bob"
roles = ["member", "oncall"]
addresses = { discord = "111000000000000002" }

[[contacts]]
id = "carol"
name = "Carol"
roles = ["member"]
addresses = { discord = "111000000000000003" }

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

[channels.discord]
kind = "discord"
{pacing}

[channels.discord.settings]
token = "{token}"
api_url = "{api_url}"
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
pattern = '(?s)shout (?P<text>.+)'
title = "Shout ${text}"
steps = [{ key = "shout", skill = "echo", args = { text = "done" } }]

[[planner.rules]]
name = "say"
pattern = 'say (?P<n>\d+)'
title = "Say ${n}"
steps = [{ key = "say", skill = "echo", args = { text = "line ${n}" } }]
"#;

/// Pacing fast enough for tests that are not about pacing.
pub const FAST: &str = r#"pacing = { per_conversation = "100/s", per_channel = "200/s" }"#;

/// The configuration, with the channel pointed at `fake`.
pub fn config(fake: &FakeDiscord, pacing: &str) -> Config {
    let toml = CONFIG
        .replace("{api_url}", &fake.url())
        .replace("{token}", TOKEN)
        .replace("{pacing}", pacing);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openmog.toml");
    std::fs::write(&path, toml).expect("write config");
    openmog::config::load(&[ConfigSource::File(path)]).expect("valid test config")
}

/// A stand-in for a service restart.
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

/// An engine with the real Discord channel on `fake`.
pub struct Bot {
    pub engine: Engine,
    pub running: Option<RunningEngine>,
}

impl Bot {
    pub async fn start(fake: &FakeDiscord, store: SharedStore, pacing: &str) -> Bot {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = config(fake, pacing);
        let channel = DiscordChannel::from_config("discord", &config.channels["discord"])
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
        let bot = Bot { engine, running };
        fake.wait_until("the bot to identify", Duration::from_secs(10), |f| {
            f.identifies() + f.resumes() > 0
        })
        .await;
        // READY is processed before anything else the gateway sends.
        tokio::time::sleep(Duration::from_millis(200)).await;
        bot
    }

    pub async fn in_memory(fake: &FakeDiscord) -> Bot {
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

/// Discord shows `\*` as `*`: what a person sees of the content.
pub fn shown(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.peek()
            && "\\*_~|>#-".contains(*next)
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// Waits for a bot message in `channel` whose shown content contains `needle`.
pub async fn expect(fake: &FakeDiscord, channel: u64, needle: &str) -> SentMessage {
    let what = format!("a message containing {needle:?} in channel {channel}");
    fake.wait_until(&what, Duration::from_secs(15), |f| {
        f.messages(channel)
            .iter()
            .any(|m| shown(&m.content).contains(needle))
    })
    .await;
    fake.messages(channel)
        .into_iter()
        .find(|m| shown(&m.content).contains(needle))
        .expect("just seen")
}

/// Waits for the approval request in `channel`.
pub async fn request(fake: &FakeDiscord, channel: u64) -> SentMessage {
    expect(fake, channel, "Approval needed").await
}

/// The custom id of the button labelled `label`.
pub fn button(message: &SentMessage, label: &str) -> String {
    message
        .buttons
        .iter()
        .find(|(text, _)| text == label)
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| panic!("no {label:?} button on {message:?}"))
}

/// The approval id a request shows.
pub fn approval_id(message: &SentMessage) -> String {
    openmog::channel::decisions::parse_decision_data(&button(message, "Approve"))
        .expect("our custom id")
        .2
        .to_string()
}

/// Waits for the ephemeral answer to interaction `id`; returns its content.
pub async fn ephemeral(fake: &FakeDiscord, id: u64) -> String {
    let what = format!("an ephemeral answer to interaction {id}");
    fake.wait_until(&what, Duration::from_secs(15), |f| {
        f.ephemerals(id).iter().any(|text| !text.is_empty())
    })
    .await;
    fake.ephemerals(id).join("\n")
}
