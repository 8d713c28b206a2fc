//! Unit tests: the fake's JSON parses into serenity's models (as the real client would parse it),
//! and its REST, interaction and gateway logic behaves like Discord's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use serenity::model::application::CurrentApplicationInfo;
use serenity::model::channel::MessageType;
use serenity::model::event::{Event, GatewayEvent};
use serenity::model::gateway::BotGateway;
use serenity::model::id::ChannelId;
use serenity::model::user::CurrentUser;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::session::Outgoing;
use super::state::State;
use super::{APPLICATION_ID, BOT_ID, DcUser, GENERAL, GUILD_ID, Place, commands, gateway, json};

const TOKEN: &str = "secret-token";

pub(super) fn ann() -> DcUser {
    DcUser::new(42, "Ann")
}

/// A state with a connected, identified gateway client; READY and GUILD_CREATE already drained.
pub(super) fn identified() -> (State, u64, UnboundedReceiver<Outgoing>) {
    let mut s = State::new_for_tests();
    let (tx, mut rx) = unbounded_channel();
    let conn = s.gateway.connect(tx);
    let d = json!({ "token": format!("Bot {TOKEN}"), "intents": 37_377, "shard": [0, 1] });
    gateway::identify(&mut s, TOKEN, conn, &d);
    let _ = frames(&mut rx);
    (s, conn, rx)
}

/// Every queued outgoing item as text (close frames as `close:<code>`).
fn frames(rx: &mut UnboundedReceiver<Outgoing>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(item) = rx.try_recv() {
        out.push(match item {
            Outgoing::Frame(text) => text,
            Outgoing::Close(code, _) => format!("close:{code}"),
        });
    }
    out
}

/// The queued dispatches, parsed as serenity's gateway client parses them.
pub(super) fn dispatches(rx: &mut UnboundedReceiver<Outgoing>) -> Vec<(u64, Event)> {
    frames(rx)
        .iter()
        .filter_map(|text| match serde_json::from_str::<GatewayEvent>(text) {
            Ok(GatewayEvent::Dispatch(seq, event)) => Some((seq, event)),
            Ok(_) => None,
            Err(err) => panic!("serenity cannot parse {text}: {err}"),
        })
        .collect()
}

pub(super) fn id_of(v: &Value) -> u64 {
    v["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("snowflake id")
}

pub(super) fn buttons_body(content: &str) -> Value {
    json!({
        "content": content,
        "tts": false,
        "embeds": [{ "description": "the plan", "color": 5_814_783 }],
        "components": [{ "type": 1, "components": [
            { "type": 2, "style": 3, "label": "Approve", "custom_id": "approve:1", "disabled": false },
            { "type": 2, "style": 4, "label": "Deny", "custom_id": "deny:1", "disabled": false },
        ]}],
        "sticker_ids": [],
        "attachments": [],
        "enforce_nonce": false,
    })
}

#[test]
fn timestamps_are_rfc3339_and_parse() {
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_micros(123_456);
    let text = json::timestamp(at);
    assert_eq!(text, "2023-11-14T22:13:20.123456+00:00");
    let leap = json::timestamp(UNIX_EPOCH + Duration::from_secs(1_709_164_800));
    assert_eq!(leap, "2024-02-29T00:00:00.000000+00:00");
    assert!(serenity::model::Timestamp::parse(&json::timestamp(SystemTime::now())).is_ok());
}

#[test]
fn static_objects_parse() {
    let me: CurrentUser = serde_json::from_value(json::bot_user()).expect("current user");
    assert_eq!(me.id.get(), BOT_ID);
    assert!(me.bot);
    let app: CurrentApplicationInfo =
        serde_json::from_value(commands::application_info()).expect("application info");
    assert_eq!(app.id.get(), APPLICATION_ID);
    let gw: BotGateway = serde_json::from_value(json::gateway_bot("ws://x/gateway")).expect("gw");
    assert_eq!((gw.url.as_str(), gw.shards), ("ws://x/gateway", 1));
}

#[test]
fn identify_sends_ready_and_guild_create() {
    let mut s = State::new_for_tests();
    let (tx, mut rx) = unbounded_channel();
    let conn = s.gateway.connect(tx);
    let d = json!({ "token": format!("Bot {TOKEN}"), "intents": 37_377, "shard": [0, 1] });
    gateway::identify(&mut s, TOKEN, conn, &d);
    let texts = frames(&mut rx);
    let hello = serde_json::from_str::<GatewayEvent>(&texts[0]).expect("hello");
    assert!(matches!(hello, GatewayEvent::Hello(41_250)));
    let events: Vec<(u64, Event)> = texts[1..]
        .iter()
        .map(
            |t| match serde_json::from_str::<GatewayEvent>(t).expect("dispatch") {
                GatewayEvent::Dispatch(seq, event) => (seq, event),
                other => panic!("not a dispatch: {other:?}"),
            },
        )
        .collect();
    match &events[0] {
        (1, Event::Ready(ready)) => {
            assert_eq!(ready.ready.user.id.get(), BOT_ID);
            assert_eq!(ready.ready.application.id.get(), APPLICATION_ID);
            assert_eq!(ready.ready.guilds[0].id.get(), GUILD_ID);
            assert_eq!(ready.ready.shard.map(|s| s.total), Some(1));
        }
        other => panic!("expected READY, got {other:?}"),
    }
    match &events[1] {
        (2, Event::GuildCreate(create)) => {
            assert_eq!(create.guild.id.get(), GUILD_ID);
            assert_eq!(create.guild.owner_id.get(), BOT_ID);
            assert!(create.guild.channels.contains_key(&ChannelId::new(GENERAL)));
            assert_eq!(create.guild.members.len(), 1);
        }
        other => panic!("expected GUILD_CREATE, got {other:?}"),
    }
    assert_eq!(s.gateway.intents, Some(37_377));
    assert_eq!(s.gateway.identifies, 1);
}

#[test]
fn identify_with_a_wrong_token_closes_4004() {
    let mut s = State::new_for_tests();
    let (tx, mut rx) = unbounded_channel();
    let conn = s.gateway.connect(tx);
    gateway::identify(
        &mut s,
        TOKEN,
        conn,
        &json!({ "token": "Bot nope", "intents": 1 }),
    );
    assert_eq!(
        frames(&mut rx).last().map(String::as_str),
        Some("close:4004")
    );
    assert_eq!(s.gateway.identifies, 0);
}

#[test]
fn resume_replays_and_parses_resumed() {
    let (mut s, _, _rx) = identified();
    let session = s.gateway.session_id().expect("session").to_owned();
    s.gateway.drop_connection();
    let said = s.user_message(Place::Guild(GENERAL), &ann(), "while away", None);
    let (tx, mut rx) = unbounded_channel();
    let conn = s.gateway.connect(tx);
    let wrong = json!({ "token": TOKEN, "session_id": "nope", "seq": 2 });
    gateway::resume(&mut s, TOKEN, conn, &wrong);
    assert!(frames(&mut rx).iter().any(|f| f == r#"{"op":9,"d":false}"#));
    let d = json!({ "token": TOKEN, "session_id": session, "seq": 2 });
    gateway::resume(&mut s, TOKEN, conn, &d);
    let events = dispatches(&mut rx);
    assert!(matches!(&events[0], (3, Event::MessageCreate(m)) if m.message.id.get() == said));
    assert!(matches!(&events[1], (4, Event::Resumed(_))));
    assert_eq!(s.gateway.resumes, 1);
}

#[test]
fn guild_reply_with_mention_parses_as_message_create() {
    let (mut s, _, mut rx) = identified();
    let (sent, _) = s
        .create_message(GENERAL, &buttons_body("Approve?"))
        .expect("create");
    let bot_message = id_of(&sent);
    let text = format!("<@{BOT_ID}> yes please");
    let id = s.user_message(Place::Guild(GENERAL), &ann(), &text, Some(bot_message));
    let events = dispatches(&mut rx);
    let Some((_, Event::MessageCreate(created))) = events.last() else {
        panic!("expected MESSAGE_CREATE, got {events:?}");
    };
    let m = &created.message;
    assert_eq!(m.id.get(), id);
    assert_eq!(m.guild_id.map(|g| g.get()), Some(GUILD_ID));
    assert!(m.member.is_some());
    assert_eq!(m.author.name, "ann");
    assert_eq!(m.author.global_name.as_deref(), Some("Ann"));
    assert!(!m.author.bot);
    assert_eq!(m.mentions[0].id.get(), BOT_ID);
    assert_eq!(m.kind, MessageType::InlineReply);
    let reference = m.message_reference.as_ref().expect("reference");
    assert_eq!(reference.message_id.map(|r| r.get()), Some(bot_message));
    let replied = m.referenced_message.as_ref().expect("referenced message");
    assert!(replied.author.bot);
    assert_eq!(replied.components[0].components.len(), 2);
}

#[test]
fn dm_message_has_no_guild() {
    let (mut s, _, mut rx) = identified();
    let id = s.user_message(Place::Dm(42), &ann(), "hello", None);
    let dm = *s.dms.get(&42).expect("dm channel");
    let events = dispatches(&mut rx);
    let Some((_, Event::MessageCreate(created))) = events.last() else {
        panic!("expected MESSAGE_CREATE, got {events:?}");
    };
    assert_eq!(created.message.id.get(), id);
    assert_eq!(created.message.channel_id.get(), dm);
    assert!(created.message.guild_id.is_none() && created.message.member.is_none());
    assert!(created.message.mentions.is_empty());
}

mod rest;
