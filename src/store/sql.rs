//! What the SQL stores (SQLite, Postgres) share whatever the dialect: integers as the
//! databases store them, JSON columns, `LIMIT` values, `LIKE` patterns.

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// A count or sequence number as a signed 64-bit column.
pub(super) fn to_i64(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::Store(format!("{what} out of range: {value}")))
}

/// A stored integer that must fit an unsigned field.
pub(super) fn from_i64<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T> {
    T::try_from(value).map_err(|_| Error::Corrupt(format!("{what} out of range: {value}")))
}

/// A `LIMIT` value.
pub(super) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Decodes a stored JSON column.
pub(super) fn decode_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| Error::Corrupt(format!("{what}: {err}")))
}

/// Encodes a value for a JSON column.
pub(super) fn encode_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|err| Error::Store(format!("cannot encode {what}: {err}")))
}

/// `word` as a literal inside a `LIKE ... ESCAPE '\'` pattern.
pub(super) fn escape_like(word: &str) -> String {
    word.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
