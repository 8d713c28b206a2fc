//! `openmog doctor`'s check of an email channel against real Dovecot and SMTP: it passes
//! with the right credentials, and names the server, the setting to fix and never the
//! password when IMAP or SMTP refuses; the receive loop reports its connection the same
//! way `/readyz` sees it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{AGENT, channel, config, servers};
use openmog::channel::{Channel, InboundSink, Link, Links};
use openmog::clock::SystemClock;
use openmog::config::Config;
use openmog::store::{MemoryStore, SharedStore};
use tokio_util::sync::CancellationToken;

const WRONG: &str = "wrong-Pa55word-for-the-probe";

fn with_wrong_password(good: &Config, server: &str) -> Config {
    let mut bad = good.clone();
    let settings = &mut bad.channels.get_mut("mail").expect("mail").settings;
    settings.get_mut(server).expect(server)["password"] = WRONG.into();
    bad
}

#[tokio::test]
async fn the_probe_logs_in_to_both_servers_and_says_which_one_refused() {
    let Some(servers) = servers() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store: SharedStore = Arc::new(MemoryStore::new());
    let good = config(&servers, "starttls");

    let found = channel(&good, &store)
        .probe()
        .await
        .expect("good credentials");
    assert!(found.contains(&format!("IMAP login as {AGENT}")), "{found}");
    assert!(found.contains("SMTP"), "{found}");

    for (server, setting) in [("imap", "settings.imap"), ("smtp", "settings.smtp")] {
        let bad = with_wrong_password(&good, server);
        let failure = channel(&bad, &store).probe().await.unwrap_err();
        let text = format!("{} {}", failure.problem, failure.hint);
        assert!(
            failure.problem.to_lowercase().contains(server),
            "{server}: {text}"
        );
        assert!(failure.hint.contains(setting), "{server}: {text}");
        assert!(!text.contains(WRONG), "the password leaked: {text}");
        assert!(!text.contains(&servers.password(AGENT)), "{text}");
    }
}

#[tokio::test]
async fn the_receive_loop_reports_a_refused_login_and_then_a_connection() {
    let Some(servers) = servers() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store: SharedStore = Arc::new(MemoryStore::new());
    let good = config(&servers, "starttls");

    for (config, expect_connected) in [(with_wrong_password(&good, "imap"), false), (good, true)] {
        let links = Links::new();
        let sink = InboundSink::new(
            "mail",
            store.clone(),
            Arc::new(SystemClock),
            Arc::new(tokio::sync::Notify::new()),
        )
        .reporting_to(links.clone());
        let mail = channel(&config, &store);
        let shutdown = CancellationToken::new();
        let receiving = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { mail.receive(sink, shutdown).await }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let link = loop {
            match links.snapshot().remove("mail") {
                Some(link @ Link::Connected) if expect_connected => break link,
                Some(link @ Link::Down(_)) if !expect_connected => break link,
                other => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "expected connected={expect_connected}, saw {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        if let Link::Down(why) = &link {
            assert!(why.contains("IMAP") && !why.contains(WRONG), "{why}");
        }
        shutdown.cancel();
        receiving.await.unwrap().unwrap();
    }
}
