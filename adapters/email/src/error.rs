//! The crate's one error type.

/// What can go wrong setting up or running an email channel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or wrong; `key` is the full config key.
    #[error("{key}: {reason}")]
    Config {
        /// The config key, e.g. `channels.email.settings.imap.host`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A TLS connection could not be set up.
    #[error("TLS to {host}: {reason}")]
    Tls {
        /// The server.
        host: String,
        /// Why.
        reason: String,
    },
    /// The IMAP server failed or refused (connection, login, a command).
    #[error("IMAP {host}: {reason}")]
    Imap {
        /// The server.
        host: String,
        /// What happened (never a password).
        reason: String,
    },
    /// The engine's store failed.
    #[error(transparent)]
    Store(#[from] openmog::Error),
}

impl From<openmog::config::SettingError> for Error {
    fn from(err: openmog::config::SettingError) -> Self {
        Error::Config {
            key: err.key,
            reason: err.reason,
        }
    }
}
