//! The `[channels.<name>.settings]` of a Discord channel, read and checked: every error
//! names the full key.

use std::collections::BTreeMap;
use std::time::Duration;

use openmog::config::{
    ChannelConfig, ConfigDuration, channel_settings, secret_setting, setting_key,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// A Discord channel's settings.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    /// The bot token from the Developer Portal.
    pub token: SecretString,
    /// Where REST and the gateway URL come from instead of `https://discord.com` (tests).
    pub api_url: Option<String>,
    /// Ask for the privileged MESSAGE_CONTENT intent (needed to read replies that do not
    /// mention the bot; mentions, DMs and slash commands work without it).
    pub message_content: bool,
    /// A request in a server's text channel opens a thread, and the plan lives in it.
    pub open_threads: bool,
    /// Register the `/task`, `/approve` and `/deny` slash commands on start.
    pub register_commands: bool,
    /// How long one REST request may take before it is retried.
    pub request_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    token: Option<SecretString>,
    token_env: Option<String>,
    api_url: Option<String>,
    #[serde(default)]
    message_content: bool,
    #[serde(default = "yes")]
    open_threads: bool,
    #[serde(default = "yes")]
    register_commands: bool,
    #[serde(default = "default_request_timeout")]
    request_timeout: ConfigDuration,
}

fn yes() -> bool {
    true
}

fn default_request_timeout() -> ConfigDuration {
    ConfigDuration::secs(15)
}

impl DiscordSettings {
    /// Reads the settings of channel `name`. Errors name the full key.
    pub fn from_config(name: &str, config: &ChannelConfig) -> Result<Self, Error> {
        Self::from_map(name, &config.settings)
    }

    /// Reads settings from the `settings` table of channel `name`.
    pub fn from_map(name: &str, settings: &BTreeMap<String, Value>) -> Result<Self, Error> {
        let key = |k: &str| setting_key(name, k);
        let raw: Raw = channel_settings(name, settings)?;
        let token = secret_setting(raw.token, raw.token_env.as_deref(), &key("token"))?;
        // Discord tokens are three dot-separated base64 parts; checking the shape catches a
        // pasted application id or client secret early, without echoing the value.
        if token
            .expose_secret()
            .split('.')
            .filter(|p| !p.is_empty())
            .count()
            != 3
        {
            return Err(Error::Config {
                key: key("token"),
                reason: "does not look like a bot token (three parts separated by dots, from the \
                         Developer Portal's Bot page)"
                    .to_owned(),
            });
        }
        if let Some(url) = &raw.api_url
            && let Err(reason) = openmog::net::require_tls(url)
        {
            return Err(Error::Config {
                key: key("api_url"),
                reason,
            });
        }
        Ok(DiscordSettings {
            token,
            api_url: raw.api_url,
            message_content: raw.message_content,
            open_threads: raw.open_threads,
            register_commands: raw.register_commands,
            request_timeout: raw.request_timeout.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: Value) -> Result<DiscordSettings, Error> {
        let map: BTreeMap<String, Value> = serde_json::from_value(value).unwrap();
        DiscordSettings::from_map("dc", &map)
    }

    #[test]
    fn defaults_and_errors_with_full_keys() {
        let s = settings(json!({"token": "aaa.bbb.ccc"})).unwrap();
        assert!(s.open_threads && s.register_commands && !s.message_content);
        assert!(!format!("{s:?}").contains("aaa.bbb.ccc"));

        let err = settings(json!({"token": "nope"})).unwrap_err().to_string();
        assert!(
            err.starts_with("channels.dc.settings.token:") && !err.contains("nope"),
            "{err}"
        );
        let err = settings(json!({"token": "a.b.c", "threads": true}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("channels.dc.settings") && err.contains("threads"),
            "{err}"
        );
        let err = settings(json!({})).unwrap_err().to_string();
        assert!(
            err.starts_with("channels.dc.settings.token: missing"),
            "{err}"
        );
    }
}
