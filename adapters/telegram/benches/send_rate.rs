//! Sustained send rate against the fake Bot API enforcing Telegram's published limits
//! (1 message/s per chat, 20/min per group, 30/s overall), as a fraction of the allowed
//! rate, through the real pacing layer, outbox and teloxide client.
//!
//! Run with: `cargo bench -p openmog-telegram --bench send_rate` (prints a table). Without
//! `--bench` (as `cargo test --all-targets` runs it) it does a short smoke run.

use std::time::Duration;

use openmog::config::Pacing;
use openmog::domain::{ConversationRef, Outbound};
use openmog::testing::drain_outbox;
use openmog_telegram::fake::{ChatRef, FakeTelegram, Limits, TgUser};
use openmog_telegram::{TelegramChannel, TelegramSettings};

const TOKEN: &str = "123456:bench-token";

struct Outcome {
    messages: usize,
    elapsed: Duration,
    rate_limited: usize,
}

/// Sends `per_chat` messages to each of `chats` private chats and times the whole run.
async fn run(chats: i64, per_chat: usize) -> Outcome {
    let fake = FakeTelegram::start(TOKEN).await;
    fake.set_limits(Limits::telegram());
    for chat in 1..=chats {
        fake.user_says(ChatRef::private(chat), &TgUser::new(chat, "user"), "hi");
    }
    let settings: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({"token": TOKEN, "api_url": fake.api_url()}))
            .unwrap();
    let settings = TelegramSettings::from_map("telegram", &settings).unwrap();
    let channel = TelegramChannel::new("telegram", settings).unwrap();
    let mut messages = Vec::new();
    for i in 0..per_chat {
        for chat in 1..=chats {
            messages.push(Outbound::text(
                ConversationRef::new("telegram", chat.to_string()),
                format!("bench-{chat}-{i}"),
                format!("message {i}"),
            ));
        }
    }
    let drained = drain_outbox(channel, Pacing::default_for("telegram"), messages)
        .await
        .unwrap();
    let rate_limited = fake.rate_limited();
    assert_eq!(
        fake.all_messages().len(),
        drained.messages,
        "every message arrived"
    );
    fake.stop().await;
    Outcome {
        messages: drained.messages,
        elapsed: drained.elapsed,
        rate_limited,
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let full = std::env::args().any(|a| a == "--bench");
    let (chats, per_chat, single) = if full { (40, 8, 12) } else { (8, 2, 3) };
    println!(
        "| scenario | messages | elapsed | fastest allowed | achieved | allowed | fraction | 429s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, chats, per_chat) in [
        (format!("{chats} private chats at once"), chats, per_chat),
        ("one private chat".to_owned(), 1, single),
    ] {
        let o = run(chats, per_chat).await;
        // The fastest the limits allow: the first message goes at once, then 30/s in all,
        // and each chat's later messages 1 s apart.
        let ideal = ((o.messages - 1) as f64 / 30.0).max((per_chat - 1) as f64);
        let elapsed = o.elapsed.as_secs_f64();
        println!(
            "| {name} | {} | {elapsed:.2} s | {ideal:.2} s | {:.2}/s | {:.2}/s | {:.3} | {} |",
            o.messages,
            (o.messages - 1) as f64 / elapsed,
            (o.messages - 1) as f64 / ideal,
            ideal / elapsed,
            o.rate_limited
        );
    }
}
