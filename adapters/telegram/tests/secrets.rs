//! The bot token never reaches logs, errors or Debug output, even when requests fail with
//! messages that carry the request URL (which holds the token).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TOKEN;
use openmog::channel::{Channel, InboundSink};
use openmog::clock::SystemClock;
use openmog::domain::{ConversationRef, Outbound};
use openmog::store::MemoryStore;
use openmog::testing::LogCapture;
use openmog_telegram::{TelegramChannel, TelegramSettings};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_token_is_never_logged_nor_in_errors() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let captured = LogCapture::start();

    // Nothing listens on port 9: every request fails with a connection error.
    let settings: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_value(
        serde_json::json!({"token": TOKEN, "api_url": "http://127.0.0.1:9/", "request_timeout": "1s", "poll_timeout": "1s"}),
    )
    .unwrap();
    let settings = TelegramSettings::from_map("telegram", &settings).unwrap();
    let channel = TelegramChannel::new("telegram", settings).unwrap();
    assert!(!format!("{channel:?}").contains(TOKEN));

    let err = channel
        .send(&Outbound::text(
            ConversationRef::new("telegram", "1001"),
            "k",
            "hi",
        ))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(TOKEN), "{err}");
    assert!(
        err.to_string().contains("[token]") || !err.to_string().contains("/bot"),
        "{err}"
    );

    let sink = InboundSink::new(
        "telegram",
        Arc::new(MemoryStore::new()),
        Arc::new(SystemClock),
        Arc::new(tokio::sync::Notify::new()),
    );
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        stop.cancel();
    });
    channel.receive(sink, shutdown).await.unwrap();

    let logs = captured.text();
    assert!(
        logs.contains("getMe failed"),
        "the failures were logged: {logs}"
    );
    assert!(
        !logs.contains(TOKEN),
        "the token leaked into the logs:\n{logs}"
    );
    assert!(
        !logs.contains("AAH-secret"),
        "part of the token leaked into the logs"
    );
}
