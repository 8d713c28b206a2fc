//! Sustained send rate against the fake Discord enforcing Discord's limits on message
//! creates (5 per 5 s per channel, 50/s overall), as a fraction of the allowed rate,
//! through the real pacing layer, outbox and serenity-built requests.
//!
//! Run with: `cargo bench -p openmog-discord --bench send_rate` (prints a table). Without
//! `--bench` (as `cargo test --all-targets` runs it) it does a short smoke run.

use openmog::config::{ConfigSource, Pacing};
use openmog::domain::{ConversationRef, Outbound};
use openmog::testing::drain_outbox;
use openmog_discord::DiscordChannel;
use openmog_discord::fake::{DcUser, FakeDiscord, GENERAL, Limits, Place};

const TOKEN: &str = "MTA0NDI0.bench-part.bench-tail";

fn channel(fake: &FakeDiscord) -> DiscordChannel {
    let text = format!(
        "[channels.discord]\nkind = \"discord\"\nsettings = {{ token = \"{TOKEN}\", api_url = \"{}\" }}\n",
        fake.url()
    );
    let config = openmog::config::load(&[ConfigSource::Text {
        format: "toml".into(),
        text,
    }])
    .unwrap();
    DiscordChannel::from_config("discord", &config.channels["discord"]).unwrap()
}

/// Sends `per_channel` messages into each of `channels`; returns (messages, seconds, 429s).
async fn run(fake: &FakeDiscord, channels: &[u64], per_channel: usize) -> (usize, f64, usize) {
    let before = fake.rate_limited();
    let mut messages = Vec::new();
    for i in 0..per_channel {
        for id in channels {
            messages.push(Outbound::text(
                ConversationRef::new("discord", id.to_string()),
                format!("bench-{id}-{i}"),
                format!("message {i}"),
            ));
        }
    }
    let drained = drain_outbox(channel(fake), Pacing::default_for("discord"), messages)
        .await
        .unwrap();
    (
        drained.messages,
        drained.elapsed.as_secs_f64(),
        fake.rate_limited() - before,
    )
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let full = std::env::args().any(|a| a == "--bench");
    let (dms, per_dm, single) = if full { (60, 3, 30) } else { (12, 2, 7) };
    let fake = FakeDiscord::start(TOKEN).await;
    fake.set_limits(Limits::discord());
    let mut dm_channels = Vec::new();
    for user in 1..=dms {
        let user = 700_000_000_000_000_000 + user;
        fake.user_says(Place::Dm(user), &DcUser::new(user, "user"), "hi");
        dm_channels.push(fake.dm_channel(user).expect("the DM channel exists"));
    }
    println!(
        "| scenario | messages | elapsed | fastest allowed | achieved | allowed | fraction | 429s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, channels, per_channel) in [
        (format!("{dms} DM channels at once"), dm_channels, per_dm),
        ("one server channel".to_owned(), vec![GENERAL], single),
    ] {
        let (messages, elapsed, rate_limited) = run(&fake, &channels, per_channel).await;
        // The fastest the limits allow: 50/s in all; within a channel, 5 at once and then
        // 5 more every 5 s.
        let per_channel_bound = ((per_channel - 1) / 5 * 5) as f64;
        let ideal = ((messages - 1) as f64 / 50.0).max(per_channel_bound);
        println!(
            "| {name} | {messages} | {elapsed:.2} s | {ideal:.2} s | {:.2}/s | {:.2}/s | {:.3} | {rate_limited} |",
            (messages - 1) as f64 / elapsed,
            (messages - 1) as f64 / ideal,
            ideal / elapsed,
        );
    }
    fake.stop().await;
}
