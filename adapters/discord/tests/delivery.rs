//! Nothing lost or duplicated: across a restart between request and click, a gateway drop
//! and resume mid-plan, and 429s with order kept.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use openmog::domain::{ConversationRef, Outbound};
use openmog::store::{Effects, SharedStore, SqliteStore};
use openmog_discord::fake::{FakeDiscord, Fault, Limits, Place};

async fn sqlite(dir: &std::path::Path) -> SharedStore {
    Arc::new(
        SqliteStore::open(&dir.join("openmog.db"))
            .await
            .expect("sqlite"),
    )
}

#[tokio::test]
async fn a_click_after_a_restart_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start(TOKEN).await;
    let first = Bot::start(&fake, sqlite(dir.path()).await, FAST).await;
    fake.user_says(Place::Dm(ALICE), &alice(), "deploy api");
    let dm = fake.dm_channel(ALICE).unwrap();
    let request = request(&fake, dm).await;
    first.stop().await;

    let second = Bot::start(&fake, sqlite(dir.path()).await, FAST).await;
    let click = fake.click(
        Place::Dm(ALICE),
        &bob(),
        request.id,
        &button(&request, "Approve"),
    );
    assert!(ephemeral(&fake, click).await.contains("approved by Bob"));
    expect(&fake, dm, "succeeded").await;
    let approval = approval_id(&request);
    assert_eq!(
        fake.messages(dm)
            .iter()
            .filter(|m| m.content.contains(&approval))
            .count(),
        1,
        "the request was not sent again"
    );
    assert_eq!(second.audit_of("step.finished").await.len(), 2);
    second.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_gateway_drop_and_resume_mid_plan_loses_and_repeats_nothing() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    fake.user_says(Place::Dm(ALICE), &alice(), "deploy api");
    let dm = fake.dm_channel(ALICE).unwrap();
    let request = request(&fake, dm).await;

    fake.drop_gateway();
    // Clicked while the bot is disconnected: Discord replays it on resume.
    let click = fake.click(
        Place::Dm(ALICE),
        &bob(),
        request.id,
        &button(&request, "Approve"),
    );
    fake.wait_until("a resume", Duration::from_secs(30), |f| f.resumes() >= 1)
        .await;
    ephemeral(&fake, click).await;
    expect(&fake, dm, "succeeded").await;

    fake.request_reconnect();
    fake.wait_until("a second resume", Duration::from_secs(30), |f| {
        f.resumes() >= 2
    })
    .await;
    fake.user_says(Place::Dm(ALICE), &alice(), "say 3");
    expect(&fake, dm, "line 3").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bot.audit_of("decision").await.len(),
        1,
        "the click counted once"
    );
    assert_eq!(
        bot.audit_of("request").await.len(),
        2,
        "each request planned once"
    );
    assert_eq!(fake.identifies(), 1, "resumed, never re-identified");
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn messages_survive_429s_and_5xx_in_order() {
    let fake = FakeDiscord::start(TOKEN).await;
    fake.set_limits(Limits {
        per_channel: Some((20, Duration::from_secs(1))),
        global: Some((50, Duration::from_secs(1))),
    });
    // One of each on the same message: its backoff grows with every failure (1 s, 2 s).
    fake.inject(
        "create_message",
        Fault::TooManyRequests { retry_after: 0.5 },
    );
    fake.inject("create_message", Fault::ServerError(502));
    fake.inject("create_message", Fault::Drop);
    fake.user_says(Place::Dm(ALICE), &alice(), "hello");
    let dm = fake.dm_channel(ALICE).unwrap();
    let store: SharedStore = Arc::new(openmog::store::MemoryStore::new());
    let mut effects = Effects::none();
    for i in 0..60 {
        effects.send(Outbound::text(
            ConversationRef::new("discord", dm.to_string()),
            format!("load-{i}"),
            format!("message {i:03}"),
        ));
    }
    store
        .apply(&effects, openmog::clock::Timestamp(0))
        .await
        .unwrap();
    let bot = Bot::start(
        &fake,
        Arc::clone(&store),
        r#"pacing = { per_conversation = "20/s", per_channel = "50/s" }"#,
    )
    .await;
    let numbers = |f: &FakeDiscord| -> Vec<usize> {
        f.messages(dm)
            .iter()
            .filter_map(|m| m.content.strip_prefix("message ")?.parse().ok())
            .collect()
    };
    fake.wait_until("60 messages", Duration::from_secs(60), |f| {
        numbers(f).len() >= 60
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        numbers(&fake),
        (0..60).collect::<Vec<_>>(),
        "all, once, in order"
    );
    assert_eq!(
        fake.rate_limited(),
        0,
        "pacing matched the limits: no 429 of the fake's own"
    );
    assert!(
        fake.requests("create_message") >= 60 + 3,
        "the faults were hit and retried"
    );
    bot.stop().await;
    fake.stop().await;
}
