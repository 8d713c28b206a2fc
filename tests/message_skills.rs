//! `message.send` and `email.send` through the engine: the message goes to the contact's
//! preferred channel (or the email channel) once, queued with the step's completion, says
//! which plan and requester it comes from, and a bad recipient fails the step, not the
//! engine.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CONFIG, CONV, Counter, config, skills};
use openmog::channel::{MemoryChannel, MemoryChannelHandle};
use openmog::engine::{Engine, RunningEngine};
use openmog::store::MemoryStore;

const EXTRA: &str = r#"
[channels.mail]
kind = "email"

[[contacts]]
id = "dave"
name = "Dave"
roles = ["member"]
preferred = "mail"
addresses = { test = "u-dave", mail = "dave@example.com" }

[[planner.rules]]
name = "tell"
pattern = 'tell (?P<who>\w+) (?P<text>.+)'
title = "Tell ${who}"
steps = [{ key = "tell", skill = "message.send", args = { to = "${who}", text = "${text}" } }]

[[planner.rules]]
name = "mail"
pattern = 'mail (?P<to>\S+) about (?P<subject>[^:]+): (?P<text>.+)'
title = "Mail"
steps = [{ key = "mail", skill = "email.send", args = { to = "${to}", subject = "${subject}", text = "${text}" } }]
"#;

struct Two {
    running: RunningEngine,
    chat: MemoryChannelHandle,
    mail: MemoryChannelHandle,
}

async fn start() -> Two {
    let (chat_channel, chat) = MemoryChannel::new("test");
    let (mail_channel, mail) = MemoryChannel::new("mail");
    let engine = Engine::builder(config(&format!("{CONFIG}\n{EXTRA}")))
        .store(Arc::new(MemoryStore::new()))
        .skills(skills(&Counter::default()))
        .channel(chat_channel)
        .channel(mail_channel)
        .poll_interval(Duration::from_millis(20))
        .build()
        .await
        .expect("engine builds");
    Two {
        running: engine.start(),
        chat,
        mail,
    }
}

#[tokio::test]
async fn a_message_goes_to_the_contacts_preferred_channel_once_saying_whose_plan_sent_it() {
    let two = start().await;
    two.chat.say(CONV, "u-alice", "tell bob the deploy is done");
    two.chat
        .wait_for_text(CONV, "succeeded (1/1 steps done): Tell bob")
        .await;
    // Bob has no preferred channel: his first address on a channel the engine has.
    let told = two.chat.wait_for_text("u-bob", "the deploy is done").await;
    let text = format!("{:?}", told.message.body);
    assert!(text.contains("(for Alice)"), "{text}");
    assert_eq!(
        two.chat
            .texts("u-bob")
            .iter()
            .filter(|t| t.contains("the deploy is done"))
            .count(),
        1
    );

    // Dave prefers mail.
    two.chat.say(CONV, "u-alice", "tell dave lunch at noon");
    two.mail
        .wait_for_text("dave@example.com", "lunch at noon")
        .await;

    two.chat.say(CONV, "u-alice", "tell nobody hello");
    two.chat
        .wait_for_text(CONV, "`nobody` is not a contact with an address")
        .await;
    two.running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_email_goes_through_the_email_channel_with_its_subject_first() {
    let two = start().await;
    two.chat.say(
        CONV,
        "u-alice",
        "mail ops@example.com about Disk usage: db-2 is at 91%",
    );
    let sent = two
        .mail
        .wait_for_text("ops@example.com", "db-2 is at 91%")
        .await;
    let text = format!("{:?}", sent.message.body);
    assert!(text.contains("Disk usage\\n\\ndb-2 is at 91%"), "{text}");

    two.chat.say(
        CONV,
        "u-alice",
        "mail ops@example.com,evil@example.org about X: y",
    );
    two.chat
        .wait_for_text(CONV, "is not an email address")
        .await;
    two.running.shutdown(Duration::from_secs(5)).await;
}
