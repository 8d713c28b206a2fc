//! A channel's own durable state, kept in the engine's store: what an adapter must remember
//! across restarts that its platform cannot tell it (an IMAP mailbox's last UID, the headers
//! that continue an email thread).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::SharedStore;
use crate::{Error, Result};

/// One channel's keyed state, as JSON values in [`crate::store::Store::channel_state`].
#[derive(Clone)]
pub struct ChannelState {
    channel: String,
    store: SharedStore,
}

impl std::fmt::Debug for ChannelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelState")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl ChannelState {
    /// The state of `channel` in `store`.
    pub fn new(channel: impl Into<String>, store: SharedStore) -> Self {
        ChannelState {
            channel: channel.into(),
            store,
        }
    }

    /// The value under `key`, if one was stored.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(raw) = self.store.channel_state(&self.channel, key).await? else {
            return Ok(None);
        };
        serde_json::from_str(&raw)
            .map(Some)
            .map_err(|err| Error::Channel {
                channel: self.channel.clone(),
                message: format!("stored state `{key}` is unreadable: {err}"),
            })
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let raw = serde_json::to_string(value)?;
        self.store.set_channel_state(&self.channel, key, &raw).await
    }
}
