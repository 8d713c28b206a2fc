//! Nothing is lost, duplicated or reordered: across a restart between the request and the
//! press, and for 200 messages to one chat under 429s, 5xx, slow answers and dropped
//! connections; and with pacing set to what the server enforces, no 429 at all.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use openmog::domain::{ConversationRef, Outbound};
use openmog::store::{Effects, SharedStore, SqliteStore};
use openmog_telegram::fake::{ChatRef, FakeTelegram, Fault, Limits};

async fn sqlite(dir: &std::path::Path) -> SharedStore {
    Arc::new(
        SqliteStore::open(&dir.join("openmog.db"))
            .await
            .expect("sqlite"),
    )
}

#[tokio::test]
async fn a_press_after_a_restart_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).await;
    let here = ChatRef::private(ALICE);

    let first = Bot::start(&fake, sqlite(dir.path()).await, FAST).await;
    fake.user_says(here, &alice(), "deploy api");
    let request = request(&fake, here).await;
    first.stop().await;

    // Pressed while no bot runs; a new process picks it up.
    let press = fake.press(
        here,
        &bob(),
        request.message_id,
        &button(&request, "✅ Approve"),
    );
    let second = Bot::start(&fake, sqlite(dir.path()).await, FAST).await;
    let answer = notice(&fake, &press).await;
    assert!(answer.contains("approved by Bob"), "{answer}");
    expect(&fake, here, "succeeded").await;
    let approval = approval_id(&request);
    assert_eq!(
        fake.messages(here)
            .iter()
            .filter(|m| m.text.contains(&approval))
            .count(),
        1,
        "the request was not sent again"
    );
    assert_eq!(
        second.audit_of("step.finished").await.len(),
        2,
        "each step ran once"
    );
    second.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn an_update_stored_before_a_crash_is_processed_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).await;
    let here = ChatRef::private(ALICE);
    let first = Bot::start(&fake, sqlite(dir.path()).await, FAST).await;
    fake.user_says(here, &alice(), "say 1");
    expect(&fake, here, "line 1").await;
    // A crash: no graceful stop, so the offset past this update was never confirmed.
    drop(first);
    let second = Bot::start(&fake, sqlite(dir.path()).await, FAST).await;
    fake.user_says(here, &alice(), "say 2");
    expect(&fake, here, "line 2").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.messages(here)
            .iter()
            .filter(|m| m.text.contains("line 1"))
            .count(),
        2,
        "the first request was answered once: its status message and its report"
    );
    assert_eq!(
        second.audit_of("request").await.len(),
        2,
        "two requests, each planned once"
    );
    second.stop().await;
    fake.stop().await;
}

/// Queues `n` numbered messages to `chat` straight into the outbox.
async fn queue(store: &SharedStore, chat: i64, n: usize) {
    let mut effects = Effects::none();
    for i in 0..n {
        effects.send(Outbound::text(
            ConversationRef::new("telegram", chat.to_string()),
            format!("load-{chat}-{i}"),
            format!("message {i:03}"),
        ));
    }
    store
        .apply(&effects, openmog::clock::Timestamp(0))
        .await
        .expect("queued");
}

fn numbers(fake: &FakeTelegram, chat: i64) -> Vec<usize> {
    fake.messages(ChatRef::private(chat))
        .iter()
        .filter_map(|m| m.text.strip_prefix("message ")?.parse().ok())
        .collect()
}

#[tokio::test]
async fn two_hundred_messages_survive_429s_5xx_slow_answers_and_dropped_connections() {
    let fake = FakeTelegram::start(TOKEN).await;
    fake.set_limits(Limits {
        per_chat: Some((50, Duration::from_secs(1))),
        per_group: None,
        global: Some((50, Duration::from_secs(1))),
    });
    for n in 0..4 {
        fake.inject("SendMessage", Fault::TooManyRequests { retry_after: 1 });
        fake.inject(
            "SendMessage",
            Fault::ServerError(if n % 2 == 0 { 500 } else { 502 }),
        );
        fake.inject("SendMessage", Fault::Slow(Duration::from_millis(300)));
        fake.inject("SendMessage", Fault::Drop);
    }
    // A bot can only write to chats that wrote to it first.
    fake.user_says(ChatRef::private(ALICE), &alice(), "hello");
    let store: SharedStore = Arc::new(openmog::store::MemoryStore::new());
    queue(&store, ALICE, 200).await;
    let bot = Bot::start(
        &fake,
        Arc::clone(&store),
        r#"pacing = { per_conversation = "50/s", per_channel = "50/s" }"#,
    )
    .await;
    fake.wait_until("200 messages", Duration::from_secs(120), |f| {
        numbers(f, ALICE).len() >= 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        numbers(&fake, ALICE),
        (0..200).collect::<Vec<_>>(),
        "all, once, in order"
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
    assert_eq!(
        fake.rate_limited(),
        0,
        "pacing matched the server's limits: no 429 of its own"
    );
    // The 200, and one retry for each 429, 5xx and dropped connection (slow answers
    // arrive within the request timeout).
    assert!(
        fake.requests("SendMessage") >= 200 + 12,
        "the faults were hit and retried: {} requests",
        fake.requests("SendMessage")
    );
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn with_telegram_limits_a_group_gets_no_429() {
    let fake = FakeTelegram::start(TOKEN).await;
    fake.set_limits(Limits::telegram());
    fake.user_says(ChatRef::private(ALICE), &alice(), "hello");
    fake.user_says(ChatRef::private(BOB), &bob(), "hello");
    fake.user_says(ChatRef::group(GROUP), &alice(), "hello, group");
    let store: SharedStore = Arc::new(openmog::store::MemoryStore::new());
    // Three chats at once, one a group: per-chat 1/s, per-group 20/min, global 30/s.
    let mut effects = Effects::none();
    for i in 0..4 {
        for chat in [ALICE, BOB, GROUP] {
            effects.send(Outbound::text(
                ConversationRef::new("telegram", chat.to_string()),
                format!("paced-{chat}-{i}"),
                format!("message {i:03}"),
            ));
        }
    }
    store
        .apply(&effects, openmog::clock::Timestamp(0))
        .await
        .unwrap();
    let bot = Bot::start(&fake, Arc::clone(&store), "").await;
    fake.wait_until("14 messages", Duration::from_secs(30), |f| {
        f.all_messages().len() >= 14
    })
    .await;
    assert_eq!(
        fake.rate_limited(),
        0,
        "Telegram's published limits were kept"
    );
    bot.stop().await;
    fake.stop().await;
}
