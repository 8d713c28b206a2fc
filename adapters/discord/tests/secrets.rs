//! The bot token never reaches logs, errors or Debug output: not from the gateway (whose
//! IDENTIFY carries it), not from REST failures.

mod common;

use std::time::Duration;

use common::*;
use openmog::channel::Channel;
use openmog::domain::{ConversationRef, Outbound};
use openmog::testing::LogCapture;
use openmog_discord::fake::{FakeDiscord, Place};
use openmog_discord::{DiscordChannel, DiscordSettings};

#[tokio::test]
async fn the_token_is_never_logged_nor_in_errors() {
    let captured = LogCapture::start();

    let fake = FakeDiscord::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    fake.user_says(Place::Dm(ALICE), &alice(), "say 1");
    let dm = fake.dm_channel(ALICE).unwrap();
    expect(&fake, dm, "line 1").await;
    bot.stop().await;

    // REST failures: nothing listens on port 9.
    let settings: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_value(
        serde_json::json!({"token": TOKEN, "api_url": "http://127.0.0.1:9", "request_timeout": "1s"}),
    )
    .unwrap();
    let channel = DiscordChannel::new(
        "discord",
        DiscordSettings::from_map("discord", &settings).unwrap(),
    )
    .unwrap();
    assert!(!format!("{channel:?}").contains(TOKEN));
    let err = channel
        .send(&Outbound::text(
            ConversationRef::new("discord", "123"),
            "k",
            "hi",
        ))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(TOKEN), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let logs = captured.text();
    assert!(
        logs.contains("IDENTIFY") || logs.contains("identif") || logs.contains("connected"),
        "the gateway was logged"
    );
    for part in TOKEN.split('.') {
        assert!(
            !logs.contains(part),
            "part of the token leaked into the logs: {part}"
        );
    }
    fake.stop().await;
}
