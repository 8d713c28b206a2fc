//! Which adapter each configured channel kind is: the one place that knows them all.

use anyhow::{anyhow, bail};
use openmog::channel::TerminalChannel;
use openmog::config::Config;
use openmog::engine::EngineBuilder;
use openmog::store::SharedStore;
use openmog_discord::DiscordChannel;
use openmog_email::EmailChannel;
use openmog_telegram::TelegramChannel;

/// The channel kinds this binary can run.
pub const KNOWN: &[&str] = &["terminal", "telegram", "discord", "email"];

/// Adds every enabled channel of `config` to `builder`, with `store` as the engine's store
/// (channels keep their own state there too). `origin` names the configuration files, so a
/// bad setting is reported with its file and key.
pub fn wire(
    mut builder: EngineBuilder,
    config: &Config,
    origin: &str,
    store: &SharedStore,
) -> anyhow::Result<EngineBuilder> {
    builder = builder.store(store.clone());
    for (name, channel) in config.channels.iter().filter(|(_, c)| c.enabled) {
        builder = match channel.kind.as_str() {
            "terminal" => builder.channel(TerminalChannel::stdio(name)),
            "telegram" => builder.channel(
                TelegramChannel::from_config(name, channel)
                    .map_err(|err| anyhow!("{origin}: {err}"))?,
            ),
            "discord" => builder.channel(
                DiscordChannel::from_config(name, channel)
                    .map_err(|err| anyhow!("{origin}: {err}"))?,
            ),
            "email" => builder.channel(
                EmailChannel::from_config(name, channel, store.clone())
                    .map_err(|err| anyhow!("{origin}: {err}"))?,
            ),
            other => bail!(
                "{origin}: channels.{name}.kind: `{other}` is not a channel this binary knows (known: {})",
                KNOWN.join(", ")
            ),
        };
    }
    Ok(builder)
}
