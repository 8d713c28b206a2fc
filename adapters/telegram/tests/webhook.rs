//! Webhook mode: the endpoint is registered with its secret token, updates posted with the
//! token are processed, and requests without it are refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use openmog::engine::Engine;
use openmog::store::MemoryStore;
use openmog_telegram::fake::{ChatRef, FakeTelegram};
use openmog_telegram::{TelegramChannel, TelegramSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "hook-secret_123";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Posts `body` to the webhook with `secret` (if any); returns the HTTP status.
async fn post(port: u16, secret: Option<&str>, body: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let header = secret
        .map(|s| format!("X-Telegram-Bot-Api-Secret-Token: {s}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn updates_arrive_by_webhook_with_the_secret_token_and_others_are_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeTelegram::start(TOKEN).await;
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let port = free_port();
    let mut config = config(&fake, FAST);
    let telegram = config.channels.get_mut("telegram").unwrap();
    telegram.settings.insert("mode".into(), "webhook".into());
    telegram.settings.insert(
        "webhook".into(),
        serde_json::json!({
            "listen": format!("127.0.0.1:{port}"),
            "register_url": format!("http://127.0.0.1:{port}/telegram"),
            "secret_token": SECRET,
        }),
    );
    let settings = TelegramSettings::from_config("telegram", telegram).unwrap();
    let engine = Engine::builder(config)
        .store(Arc::new(MemoryStore::new()))
        .skills(skills())
        .channel(TelegramChannel::new("telegram", settings).unwrap())
        .poll_interval(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    let running = engine.start();

    fake.wait_until("the webhook registered", Duration::from_secs(10), |f| {
        f.webhook().is_some()
    })
    .await;
    assert_eq!(
        fake.webhook(),
        Some((
            format!("http://127.0.0.1:{port}/telegram"),
            Some(SECRET.to_owned())
        ))
    );

    let here = ChatRef::private(ALICE);
    fake.user_says(here, &alice(), "say 7");
    expect(&fake, here, "line 7").await;

    let forged = r#"{"update_id": 999, "message": {"message_id": 1, "date": 0, "chat": {"id": 1001, "type": "private", "first_name": "A"}, "from": {"id": 1002, "is_bot": false, "first_name": "Bob"}, "text": "say 8"}}"#;
    assert_eq!(post(port, None, forged).await, 401, "no secret: refused");
    assert_eq!(
        post(port, Some("wrong"), forged).await,
        401,
        "wrong secret: refused"
    );
    assert_eq!(
        post(port, Some(SECRET), "{not json").await,
        200,
        "garbage is dropped, not retried forever"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !fake
            .messages(here)
            .iter()
            .any(|m| m.text.contains("line 8")),
        "a forged update did nothing"
    );
    running.shutdown(Duration::from_secs(5)).await;
    assert!(
        fake.webhook().is_some(),
        "stopping does not unhook other instances"
    );
    fake.stop().await;
}
