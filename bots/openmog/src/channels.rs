//! Which adapter each configured channel kind is: the one place that knows them all.

use anyhow::{anyhow, bail};
use openmog::channel::{SharedChannel, TerminalChannel};
use openmog::config::Config;
use openmog::engine::EngineBuilder;
use openmog::store::SharedStore;
use openmog_discord::DiscordChannel;
use openmog_email::EmailChannel;
use openmog_telegram::TelegramChannel;

/// The channel kinds this binary can run.
pub const KNOWN: &[&str] = &["terminal", "telegram", "discord", "email"];

/// Every enabled channel of `config`, built (no connection is opened), with `store` for
/// the state channels keep. `origin` names the configuration files, so a bad setting is
/// reported with its file and key.
pub fn build(
    config: &Config,
    origin: &str,
    store: &SharedStore,
) -> anyhow::Result<Vec<SharedChannel>> {
    let mut built: Vec<SharedChannel> = Vec::new();
    for (name, channel) in config.channels.iter().filter(|(_, c)| c.enabled) {
        let in_file = |err: &dyn std::fmt::Display| anyhow!("{origin}: {err}");
        built.push(match channel.kind.as_str() {
            "terminal" => std::sync::Arc::new(TerminalChannel::stdio(name)),
            "telegram" => std::sync::Arc::new(
                TelegramChannel::from_config(name, channel).map_err(|e| in_file(&e))?,
            ),
            "discord" => std::sync::Arc::new(
                DiscordChannel::from_config(name, channel).map_err(|e| in_file(&e))?,
            ),
            "email" => std::sync::Arc::new(
                EmailChannel::from_config(name, channel, store.clone())
                    .map_err(|e| in_file(&e))?,
            ),
            other => bail!(
                "{origin}: channels.{name}.kind: `{other}` is not a channel this binary knows (known: {})",
                KNOWN.join(", ")
            ),
        });
    }
    Ok(built)
}

/// Adds every enabled channel of `config` to `builder`, with `store` as the engine's store
/// (channels keep their own state there too).
pub fn wire(
    builder: EngineBuilder,
    config: &Config,
    origin: &str,
    store: &SharedStore,
) -> anyhow::Result<EngineBuilder> {
    let channels = build(config, origin, store)?;
    Ok(channels
        .into_iter()
        .fold(builder.store(store.clone()), |builder, channel| {
            builder.channel(channel)
        }))
}
