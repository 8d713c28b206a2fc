//! The one error type of the core crate.

use std::path::PathBuf;

/// Result with the core [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the core library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file or value is invalid; the message names the file and the key.
    #[error("configuration error: {0}")]
    Config(String),
    /// A configuration file could not be read.
    #[error("cannot read configuration file {path}: {reason}")]
    ConfigFile {
        /// The file that could not be read.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
    },
    /// The store failed (database unreachable, corrupt row, failed migration).
    #[error("store error: {0}")]
    Store(String),
    /// A stored record could not be decoded.
    #[error("corrupt record in the store: {0}")]
    Corrupt(String),
    /// A plan draft is invalid (unknown skill, cycle, dangling reference...).
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    /// A planner failed to produce a plan.
    #[error("planner error: {0}")]
    Planner(String),
    /// A channel failed to send or receive.
    #[error("channel {channel}: {message}")]
    Channel {
        /// The channel's name.
        channel: String,
        /// What happened.
        message: String,
    },
    /// Something was asked of the engine that does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The vault could not be opened, decrypted or written; never carries a secret.
    #[error("vault: {0}")]
    Vault(String),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Store(err.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Error::Store(format!("migration failed: {err}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Corrupt(err.to_string())
    }
}
