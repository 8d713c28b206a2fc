//! The Discord channel passes the shared adapter conformance suite, driven through the fake
//! Discord.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use openmog::channel::conformance::{self, Peer};
use openmog::domain::{ApprovalId, ConversationRef};
use openmog_discord::fake::{FakeDiscord, Place};
use openmog_discord::{DiscordChannel, DiscordSettings};

struct DiscordPeer<'a> {
    fake: &'a FakeDiscord,
    /// Gateway sessions seen so far.
    sessions: AtomicUsize,
}

impl DiscordPeer<'_> {
    /// Discord delivers events only to a connected session, and each check of the suite
    /// starts a fresh receive loop, which identifies anew: wait for that session.
    async fn wait_for_new_session(&self) {
        let seen = self.sessions.fetch_add(1, Ordering::SeqCst);
        self.fake
            .wait_until("the adapter to connect", Duration::from_secs(15), |f| {
                f.identifies() > seen
            })
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// Alice's DM channel, which exists once she has written.
    fn dm(&self) -> u64 {
        self.fake.dm_channel(ALICE).expect("Alice has written")
    }
}

#[async_trait]
impl Peer for DiscordPeer<'_> {
    fn conversation(&self) -> ConversationRef {
        ConversationRef::new("discord", self.dm().to_string())
    }

    fn user_id(&self) -> String {
        ALICE.to_string()
    }

    async fn say(&self, text: &str) {
        self.wait_for_new_session().await;
        self.fake.user_says(Place::Dm(ALICE), &alice(), text);
    }

    async fn press_approve(&self, approval: &ApprovalId) {
        self.wait_for_new_session().await;
        let request = self
            .fake
            .messages(self.dm())
            .into_iter()
            .find(|m| m.content.contains(approval.as_str()))
            .expect("the request is shown");
        self.fake.click(
            Place::Dm(ALICE),
            &alice(),
            request.id,
            &button(&request, "Approve"),
        );
    }

    async fn visible(&self) -> Vec<String> {
        self.fake
            .messages(self.dm())
            .into_iter()
            .map(|m| shown(&m.content))
            .collect()
    }
}

#[tokio::test]
async fn the_discord_channel_passes_the_adapter_conformance_suite() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeDiscord::start(TOKEN).await;
    let settings = config(&fake, "").channels["discord"].clone();
    let settings = DiscordSettings::from_config("discord", &settings).unwrap();
    let channel = || DiscordChannel::new("discord", settings.clone()).unwrap();
    conformance::run_all(
        channel,
        &DiscordPeer {
            fake: &fake,
            sessions: AtomicUsize::new(0),
        },
    )
    .await;
    fake.stop().await;
}
