//! The crate's one error type.

/// What can go wrong setting up a Telegram channel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or wrong; `key` is the full config key.
    #[error("{key}: {reason}")]
    Config {
        /// The config key, e.g. `channels.telegram.settings.token`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The webhook listener could not start.
    #[error("webhook listener on {addr}: {reason}")]
    Webhook {
        /// The address it tried to listen on.
        addr: String,
        /// Why it failed.
        reason: String,
    },
}

impl From<openmog::config::SettingError> for Error {
    fn from(err: openmog::config::SettingError) -> Self {
        Error::Config {
            key: err.key,
            reason: err.reason,
        }
    }
}
