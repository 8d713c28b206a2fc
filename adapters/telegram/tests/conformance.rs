//! The Telegram channel passes the shared adapter conformance suite, driven through the
//! fake Bot API server.

mod common;

use async_trait::async_trait;
use common::*;
use openmog::channel::conformance::{self, Peer};
use openmog::domain::{ApprovalId, ConversationRef};
use openmog_telegram::fake::{ChatRef, FakeTelegram};
use openmog_telegram::{TelegramChannel, TelegramSettings};

struct TelegramPeer<'a> {
    fake: &'a FakeTelegram,
}

impl TelegramPeer<'_> {
    fn chat(&self) -> ChatRef {
        ChatRef::private(ALICE)
    }
}

#[async_trait]
impl Peer for TelegramPeer<'_> {
    fn conversation(&self) -> ConversationRef {
        ConversationRef::new("telegram", ALICE.to_string())
    }

    fn user_id(&self) -> String {
        ALICE.to_string()
    }

    async fn say(&self, text: &str) {
        self.fake.user_says(self.chat(), &alice(), text);
    }

    async fn press_approve(&self, approval: &ApprovalId) {
        let request = self
            .fake
            .messages(self.chat())
            .into_iter()
            .find(|m| m.text.contains(approval.as_str()))
            .expect("the request is shown");
        self.fake.press(
            self.chat(),
            &alice(),
            request.message_id,
            &button(&request, "✅ Approve"),
        );
    }

    async fn visible(&self) -> Vec<String> {
        self.fake
            .messages(self.chat())
            .into_iter()
            .map(|m| m.text)
            .collect()
    }
}

#[tokio::test]
async fn the_telegram_channel_passes_the_adapter_conformance_suite() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeTelegram::start(TOKEN).await;
    let settings = config(&fake, "").channels["telegram"].clone();
    let settings = TelegramSettings::from_config("telegram", &settings).unwrap();
    let channel = || TelegramChannel::new("telegram", settings.clone()).unwrap();
    conformance::run_all(channel, &TelegramPeer { fake: &fake }).await;
    fake.stop().await;
}
