//! Mail passwords never reach logs, errors or Debug output: not when the login succeeds
//! (at trace level, where the IMAP and SMTP exchanges are logged), not when it fails.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{AGENT, Person, channel, config, servers};
use openmog::channel::{Channel, InboundSink};
use openmog::clock::SystemClock;
use openmog::domain::{ConversationRef, Outbound};
use openmog::store::{MemoryStore, SharedStore};
use openmog::testing::LogCapture;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn passwords_are_never_logged_nor_in_errors() {
    let Some(servers) = servers() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let captured = LogCapture::start();

    let good = config(&servers, "starttls");
    let password = servers.password(AGENT);
    let mut bad = good.clone();
    let wrong = "wrong-Pa55word-never-logged";
    let settings = &mut bad.channels.get_mut("mail").expect("mail").settings;
    for server in ["imap", "smtp"] {
        settings.get_mut(server).expect(server)["password"] = wrong.into();
    }

    for (config, secret) in [(&good, password.as_str()), (&bad, wrong)] {
        let store: SharedStore = Arc::new(MemoryStore::new());
        let channel = channel(config, &store);
        assert!(!format!("{channel:?} {:?}", channel.settings()).contains(secret));
        let sink = InboundSink::new(
            "mail",
            store.clone(),
            Arc::new(SystemClock),
            Arc::new(tokio::sync::Notify::new()),
        );
        let shutdown = CancellationToken::new();
        let receiving = tokio::spawn({
            let channel = channel.clone();
            let shutdown = shutdown.clone();
            async move { channel.receive(sink, shutdown).await }
        });
        let ann = Person::new(&servers, "ann@example.test");
        let thread = ConversationRef::new("mail", "ann@example.test");
        let sent = channel
            .send(&Outbound::text(thread, "secret-check", "hello Ann"))
            .await;
        if let Err(err) = &sent {
            assert!(!err.to_string().contains(secret), "{err}");
        } else {
            ann.expect("hello Ann").await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        shutdown.cancel();
        receiving
            .await
            .expect("joined")
            .expect("receive ends cleanly");
    }

    let logs = captured.text();
    assert!(logs.contains("LOGIN"), "the wrong login was logged: {logs}");
    for secret in [password.as_str(), wrong] {
        assert!(!logs.contains(secret), "a password is in the logs");
    }
}
