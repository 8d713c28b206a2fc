//! The `[channels.<name>.settings]` of an email channel, read and checked: every error
//! names the full key.

use std::collections::BTreeMap;
use std::time::Duration;

use openmog::config::{
    ChannelConfig, ConfigDuration, channel_settings, secret_setting, setting_key,
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::auth_results::Requirement;

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Tls,
    /// A plain connection upgraded with STARTTLS before login (IMAP 143, SMTP 587).
    Starttls,
    /// No TLS at all: only allowed to a loopback host (a local relay, tests).
    Plain,
}

/// One mail server and the account on it.
#[derive(Debug, Clone)]
pub struct Server {
    /// Host name (also the name its certificate must carry).
    pub host: String,
    /// Port.
    pub port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// Login name.
    pub username: String,
    /// Password or app password.
    pub password: SecretString,
}

/// An email channel's settings.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The agent's address: mail is sent from it and read for it.
    pub address: String,
    /// The name shown with it.
    pub display_name: String,
    /// Where mail is read (IMAP).
    pub imap: Server,
    /// Where mail is sent (SMTP submission).
    pub smtp: Server,
    /// The mailbox watched for requests and replies.
    pub mailbox: String,
    /// Wait for new mail with IDLE where the server offers it.
    pub idle: bool,
    /// How often to look for new mail without IDLE, and the longest one IDLE lasts.
    pub poll_interval: Duration,
    /// The `authserv-id`s of the receiving servers whose `Authentication-Results` are
    /// trusted (your provider's inbound servers, e.g. `mx.google.com`).
    pub trusted_authserv_ids: Vec<String>,
    /// What authenticates a sender: DMARC pass, or also a DKIM pass aligned with From.
    pub accept: Requirement,
    /// Larger attachments are listed but not kept.
    pub max_attachment_bytes: usize,
    /// Larger mails are refused unread.
    pub max_message_bytes: usize,
    /// Extra trusted root certificates (PEM), for a self-hosted server with its own CA.
    pub ca_pem: Option<String>,
    /// How long one SMTP or IMAP command may take.
    pub timeout: Duration,
    /// Where attachments within the size limit are kept (one folder per mail); without
    /// it attachments are only listed.
    pub attachments_dir: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    address: String,
    #[serde(default = "default_display_name")]
    display_name: String,
    imap: RawServer,
    smtp: RawServer,
    #[serde(default = "default_mailbox")]
    mailbox: String,
    #[serde(default = "yes")]
    idle: bool,
    #[serde(default = "default_poll_interval")]
    poll_interval: ConfigDuration,
    #[serde(default)]
    trusted_authserv_ids: Vec<String>,
    #[serde(default)]
    accept_dkim_aligned: bool,
    #[serde(default = "default_max_attachment_bytes")]
    max_attachment_bytes: usize,
    #[serde(default = "default_max_message_bytes")]
    max_message_bytes: usize,
    ca_file: Option<String>,
    #[serde(default = "default_timeout")]
    timeout: ConfigDuration,
    attachments_dir: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    host: String,
    port: Option<u16>,
    security: Option<Security>,
    username: Option<String>,
    password: Option<SecretString>,
    password_env: Option<String>,
}

fn default_display_name() -> String {
    "openmog".to_owned()
}

fn default_mailbox() -> String {
    "INBOX".to_owned()
}

fn yes() -> bool {
    true
}

fn default_poll_interval() -> ConfigDuration {
    ConfigDuration::secs(60)
}

fn default_max_attachment_bytes() -> usize {
    10 << 20
}

fn default_max_message_bytes() -> usize {
    25 << 20
}

fn default_timeout() -> ConfigDuration {
    ConfigDuration::secs(30)
}

impl EmailSettings {
    /// Reads the settings of channel `name`. Errors name the full key.
    pub fn from_config(name: &str, config: &ChannelConfig) -> Result<Self, Error> {
        Self::from_map(name, &config.settings)
    }

    /// Reads settings from the `settings` table of channel `name`.
    pub fn from_map(name: &str, settings: &BTreeMap<String, Value>) -> Result<Self, Error> {
        let key = |k: &str| setting_key(name, k);
        let raw: Raw = channel_settings(name, settings)?;
        let address = raw.address.trim().to_ascii_lowercase();
        if !is_address(&address) {
            return Err(Error::Config {
                key: key("address"),
                reason: format!("`{}` is not an email address", raw.address),
            });
        }
        if raw.trusted_authserv_ids.is_empty() {
            return Err(Error::Config {
                key: key("trusted_authserv_ids"),
                reason: "missing: name the receiving server whose Authentication-Results \
                         you trust (e.g. [\"mx.google.com\"]); without it no reply can \
                         approve anything"
                    .to_owned(),
            });
        }
        let ca_pem = match &raw.ca_file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|err| Error::Config {
                key: key("ca_file"),
                reason: format!("cannot read `{path}`: {err}"),
            })?),
            None => None,
        };
        Ok(EmailSettings {
            imap: server(raw.imap, &address, &key("imap"), 993, 143)?,
            smtp: server(raw.smtp, &address, &key("smtp"), 465, 587)?,
            address,
            display_name: raw.display_name,
            mailbox: raw.mailbox,
            idle: raw.idle,
            poll_interval: raw.poll_interval.0,
            trusted_authserv_ids: raw.trusted_authserv_ids,
            accept: if raw.accept_dkim_aligned {
                Requirement::DkimAligned
            } else {
                Requirement::Dmarc
            },
            max_attachment_bytes: raw.max_attachment_bytes,
            max_message_bytes: raw.max_message_bytes,
            ca_pem,
            timeout: raw.timeout.0,
            attachments_dir: raw.attachments_dir,
        })
    }

    /// Settings for `agent@example.test` that no server stands behind: for fuzzing the
    /// receive path and for unit tests.
    #[doc(hidden)]
    pub fn for_fuzzing() -> Self {
        let server = Server {
            host: "localhost".to_owned(),
            port: 1,
            security: Security::Plain,
            username: "agent@example.test".to_owned(),
            password: SecretString::from("unused"),
        };
        EmailSettings {
            address: "agent@example.test".to_owned(),
            display_name: "openmog".to_owned(),
            imap: server.clone(),
            smtp: server,
            mailbox: "INBOX".to_owned(),
            idle: false,
            poll_interval: Duration::from_secs(60),
            trusted_authserv_ids: vec!["mx.example.test".to_owned()],
            accept: Requirement::DkimAligned,
            max_attachment_bytes: 1 << 16,
            max_message_bytes: 1 << 20,
            ca_pem: None,
            timeout: Duration::from_secs(5),
            attachments_dir: None,
        }
    }

    /// The domain of the agent's address.
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// Reads one server table; `tls_port` and `starttls_port` are the protocol's usual ports.
fn server(
    raw: RawServer,
    address: &str,
    key: &str,
    tls_port: u16,
    starttls_port: u16,
) -> Result<Server, Error> {
    let security = raw.security.unwrap_or(Security::Tls);
    if security == Security::Plain && !is_loopback(&raw.host) {
        return Err(Error::Config {
            key: format!("{key}.security"),
            reason: format!(
                "`plain` sends the password unencrypted; it is only allowed to a loopback \
                 host, not `{}` (use `tls` or `starttls`)",
                raw.host
            ),
        });
    }
    let port = raw.port.unwrap_or(match security {
        Security::Tls => tls_port,
        Security::Starttls | Security::Plain => starttls_port,
    });
    Ok(Server {
        password: secret_setting(
            raw.password,
            raw.password_env.as_deref(),
            &format!("{key}.password"),
        )?,
        username: raw.username.unwrap_or_else(|| address.to_owned()),
        host: raw.host,
        port,
        security,
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `local@domain` with a dot-less or dotted domain: enough to catch a pasted name or a
/// missing `@`.
pub(crate) fn is_address(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !text
                .chars()
                .any(|c| c.is_whitespace() || c == '<' || c == '>')
            && !domain.contains('@')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: Value) -> Result<EmailSettings, Error> {
        let map: BTreeMap<String, Value> = serde_json::from_value(value).unwrap();
        EmailSettings::from_map("mail", &map)
    }

    fn minimal() -> Value {
        json!({
            "address": "Agent@Example.com",
            "imap": {"host": "imap.example.com", "password": "s3cret"},
            "smtp": {"host": "smtp.example.com", "security": "starttls", "password": "s3cret"},
            "trusted_authserv_ids": ["mx.example.com"],
        })
    }

    #[test]
    fn defaults_fill_in_ports_usernames_and_requirements() {
        let s = settings(minimal()).unwrap();
        assert_eq!(s.address, "agent@example.com");
        assert_eq!(s.domain(), "example.com");
        assert_eq!((s.imap.port, s.imap.security), (993, Security::Tls));
        assert_eq!((s.smtp.port, s.smtp.security), (587, Security::Starttls));
        assert_eq!(s.imap.username, "agent@example.com");
        assert_eq!(s.mailbox, "INBOX");
        assert_eq!(s.accept, Requirement::Dmarc);
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "Debug hides passwords"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let mut v = minimal();
        v["imap"]["security"] = json!("plain");
        let err = settings(v).unwrap_err().to_string();
        assert!(
            err.starts_with("channels.mail.settings.imap.security:"),
            "{err}"
        );

        let mut v = minimal();
        v["trusted_authserv_ids"] = json!([]);
        let err = settings(v).unwrap_err().to_string();
        assert!(
            err.starts_with("channels.mail.settings.trusted_authserv_ids:"),
            "{err}"
        );

        let mut v = minimal();
        v["smtp"].as_object_mut().unwrap().remove("password");
        let err = settings(v).unwrap_err().to_string();
        assert!(
            err.starts_with("channels.mail.settings.smtp.password:"),
            "{err}"
        );

        let mut v = minimal();
        v["address"] = json!("agent");
        let err = settings(v).unwrap_err().to_string();
        assert!(err.starts_with("channels.mail.settings.address:"), "{err}");

        let mut v = minimal();
        v["imap"]["prot"] = json!(1);
        let err = settings(v).unwrap_err().to_string();
        assert!(err.starts_with("channels.mail.settings.imap"), "{err}");
    }
}
