//! The shared adapter conformance suite, run against real Dovecot and SMTP: the peer is a
//! person writing in one thread and reading their own Maildir. Over IMAP with implicit TLS
//! and with STARTTLS (each with a certificate made for the test), and once without IDLE,
//! polling a plain loopback connection.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{AGENT, Person, Received, channel, config, servers};
use openmog::channel::conformance::{Peer, run_all};
use openmog::domain::{ApprovalId, ConversationRef};
use openmog::store::{MemoryStore, SharedStore};

/// Ann, writing in one thread whose root she started.
struct Thread {
    ann: Person,
    root: Received,
}

#[async_trait]
impl Peer for Thread {
    fn conversation(&self) -> ConversationRef {
        ConversationRef::new("mail", format!("<{}>", self.root.message_id))
    }

    fn user_id(&self) -> String {
        self.ann.address.clone()
    }

    async fn say(&self, text: &str) {
        self.ann
            .send_as(
                &self.ann.address,
                AGENT,
                "Re: conformance",
                text,
                Some(&self.root),
                None,
            )
            .await;
    }

    async fn press_approve(&self, _approval: &ApprovalId) {
        unreachable!("email has no buttons")
    }

    async fn visible(&self) -> Vec<String> {
        self.ann
            .inbox()
            .into_iter()
            .filter(|m| m.references.first() == Some(&self.root.message_id))
            .map(|m| m.text.trim_end().to_owned())
            .collect()
    }
}

async fn conformance(imap: &str, idle: bool) {
    let Some(servers) = servers() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = config(&servers, imap);
    let settings = &mut config.channels.get_mut("mail").expect("mail").settings;
    settings.insert("idle".to_owned(), idle.into());
    settings.insert("poll_interval".to_owned(), "1s".into());
    let ann = Person::new(&servers, "ann@example.test");
    let root_id = ann
        .send_as(
            &ann.address,
            &ann.address,
            "conformance",
            "a thread of my own",
            None,
            None,
        )
        .await;
    let root = ann.expect("a thread of my own").await;
    assert_eq!(root.message_id, root_id);
    let state: SharedStore = Arc::new(MemoryStore::new());
    run_all(|| channel(&config, &state), &Thread { ann, root }).await;
}

#[tokio::test]
async fn conformance_over_implicit_tls() {
    conformance("tls", true).await;
}

#[tokio::test]
async fn conformance_over_starttls() {
    conformance("starttls", true).await;
}

#[tokio::test]
async fn conformance_polling_without_idle() {
    conformance("plain", false).await;
}
