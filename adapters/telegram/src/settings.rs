//! The `[channels.<name>.settings]` of a Telegram channel, read and checked: every error
//! names the full key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use openmog::config::{
    ChannelConfig, ConfigDuration, channel_settings, secret_setting, setting_key,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// How updates reach the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Long polling with `getUpdates` (one poller per token).
    #[default]
    Polling,
    /// Telegram posts updates to an HTTPS endpoint this channel serves.
    Webhook,
}

/// Settings of webhook mode.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Where the listener binds, e.g. `0.0.0.0:8443` (TLS is terminated in front of it).
    pub listen: SocketAddr,
    /// The path Telegram posts to.
    pub path: String,
    /// The public URL to register with `setWebhook`, if this instance should register it.
    pub register_url: Option<String>,
    /// The `X-Telegram-Bot-Api-Secret-Token` every request must carry.
    pub secret_token: SecretString,
}

/// A Telegram channel's settings.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// The bot token from @BotFather.
    pub token: SecretString,
    /// The Bot API base URL (a local Bot API server, or a fake in tests).
    pub api_url: String,
    /// Polling or webhook.
    pub mode: Mode,
    /// How long one `getUpdates` call waits for updates.
    pub poll_timeout: Duration,
    /// How long any other request may take before it is retried.
    pub request_timeout: Duration,
    /// Webhook mode's settings.
    pub webhook: Option<WebhookSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    token: Option<SecretString>,
    token_env: Option<String>,
    #[serde(default = "default_api_url")]
    api_url: String,
    #[serde(default)]
    mode: Mode,
    #[serde(default = "default_poll_timeout")]
    poll_timeout: ConfigDuration,
    #[serde(default = "default_request_timeout")]
    request_timeout: ConfigDuration,
    webhook: Option<RawWebhook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    listen: String,
    #[serde(default = "default_webhook_path")]
    path: String,
    register_url: Option<String>,
    secret_token: Option<SecretString>,
    secret_token_env: Option<String>,
}

fn default_api_url() -> String {
    "https://api.telegram.org/".to_owned()
}

fn default_poll_timeout() -> ConfigDuration {
    ConfigDuration::secs(30)
}

fn default_request_timeout() -> ConfigDuration {
    ConfigDuration::secs(15)
}

fn default_webhook_path() -> String {
    "/telegram".to_owned()
}

impl TelegramSettings {
    /// Reads the settings of channel `name`. Errors name the full key.
    pub fn from_config(name: &str, config: &ChannelConfig) -> Result<Self, Error> {
        Self::from_map(name, &config.settings)
    }

    /// Reads settings from the `settings` table of channel `name`.
    pub fn from_map(name: &str, settings: &BTreeMap<String, Value>) -> Result<Self, Error> {
        let key = |k: &str| setting_key(name, k);
        let raw: Raw = channel_settings(name, settings)?;
        let token = secret_setting(raw.token, raw.token_env.as_deref(), &key("token"))?;
        check_token(token.expose_secret(), &key("token"))?;
        if let Err(reason) = openmog::net::require_tls(&raw.api_url) {
            return Err(Error::Config {
                key: key("api_url"),
                reason,
            });
        }
        let webhook = match (raw.mode, raw.webhook) {
            (Mode::Webhook, None) => {
                return Err(Error::Config {
                    key: key("webhook"),
                    reason: "mode = \"webhook\" needs a [webhook] table with `listen`".to_owned(),
                });
            }
            (_, None) => None,
            (_, Some(w)) => Some(WebhookSettings {
                listen: w.listen.parse().map_err(|err| Error::Config {
                    key: key("webhook.listen"),
                    reason: format!("`{}` is not an address like 0.0.0.0:8443: {err}", w.listen),
                })?,
                path: if w.path.starts_with('/') {
                    w.path
                } else {
                    format!("/{}", w.path)
                },
                register_url: w.register_url,
                secret_token: secret_setting(
                    w.secret_token,
                    w.secret_token_env.as_deref(),
                    &key("webhook.secret_token"),
                )?,
            }),
        };
        if let Some(w) = &webhook {
            let s = w.secret_token.expose_secret();
            if s.is_empty()
                || s.len() > 256
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(Error::Config {
                    key: key("webhook.secret_token"),
                    reason: "must be 1-256 characters of A-Z, a-z, 0-9, _ and -".to_owned(),
                });
            }
        }
        Ok(TelegramSettings {
            token,
            api_url: raw.api_url,
            mode: raw.mode,
            poll_timeout: raw.poll_timeout.0,
            request_timeout: raw.request_timeout.0,
            webhook,
        })
    }
}

/// A bot token looks like `123456:ABC-DEF…`; checking the shape catches a pasted chat id or
/// an empty variable early, without ever echoing the value.
fn check_token(token: &str, key: &str) -> Result<(), Error> {
    let shaped = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty()
    });
    if shaped {
        Ok(())
    } else {
        Err(Error::Config {
            key: key.to_owned(),
            reason: "does not look like a bot token (`<digits>:<secret>`, from @BotFather)"
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: Value) -> Result<TelegramSettings, Error> {
        let map: BTreeMap<String, Value> = serde_json::from_value(value).unwrap();
        TelegramSettings::from_map("tg", &map)
    }

    #[test]
    fn defaults_and_an_inline_token() {
        let s = settings(json!({"token": "123:abc"})).unwrap();
        assert_eq!(s.mode, Mode::Polling);
        assert_eq!(s.api_url, "https://api.telegram.org/");
        assert_eq!(s.poll_timeout, Duration::from_secs(30));
        assert!(
            !format!("{s:?}").contains("123:abc"),
            "the token is never in Debug output"
        );
    }

    #[test]
    fn errors_name_the_full_key_and_never_the_secret() {
        let err = settings(json!({"token": "123:abc", "poll_timout": "5s"})).unwrap_err();
        assert!(err.to_string().starts_with("channels.tg.settings"), "{err}");
        assert!(err.to_string().contains("poll_timout"), "{err}");

        let err = settings(json!({"token": "123:abc", "poll_timeout": "soon"})).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("channels.tg.settings.poll_timeout:"),
            "{err}"
        );

        let err = settings(json!({"token": "not-a-token"})).unwrap_err();
        assert!(
            err.to_string().starts_with("channels.tg.settings.token:"),
            "{err}"
        );
        assert!(!err.to_string().contains("not-a-token"), "{err}");

        let err = settings(json!({})).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("channels.tg.settings.token: missing"),
            "{err}"
        );

        let err = settings(json!({"token_env": "OPENMOG_TEST_SURELY_UNSET_VAR"})).unwrap_err();
        assert!(err.to_string().contains("token_env"), "{err}");

        let err = settings(json!({"token": "1:a", "mode": "webhook"})).unwrap_err();
        assert!(
            err.to_string().starts_with("channels.tg.settings.webhook:"),
            "{err}"
        );

        let err = settings(json!({"token": "1:a", "mode": "webhook", "webhook": {"listen": "127.0.0.1:1", "secret_token": "has space"}})).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("channels.tg.settings.webhook.secret_token:"),
            "{err}"
        );
    }
}
