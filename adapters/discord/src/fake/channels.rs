//! Channels of the fake Discord: channel objects, DM channels and threads.

use serde_json::Value;

use super::json;
use super::rest::ApiError;
use super::state::{ChannelInfo, ChannelKind, State};

impl State {
    /// The channel object for `channel`.
    pub(super) fn channel_json(&self, channel: u64) -> Option<Value> {
        let info = self.channels.get(&channel)?;
        let recipient = match info.kind {
            ChannelKind::Dm { user } => Some(self.user_json(user)),
            _ => None,
        };
        Some(json::channel(info, recipient))
    }

    /// The DM channel with `user`, created if new.
    pub(super) fn dm_channel_for(&mut self, user: u64) -> u64 {
        if let Some(&channel) = self.dms.get(&user) {
            return channel;
        }
        let id = self.next_id();
        let info = ChannelInfo {
            id,
            kind: ChannelKind::Dm { user },
            name: String::new(),
            created: json::now(),
            last_message_id: None,
            message_count: 0,
        };
        self.channels.insert(id, info);
        self.dms.insert(user, id);
        id
    }

    /// `POST /channels/{channel}/threads` and `.../messages/{message}/threads`.
    pub(super) fn create_thread(
        &mut self,
        channel: u64,
        message: Option<u64>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        match self.channels.get(&channel).map(|c| c.kind) {
            Some(ChannelKind::Text) => {}
            Some(_) => {
                return Err(ApiError::new(
                    400,
                    50024,
                    "Cannot execute action on this channel type",
                ));
            }
            None => return Err(ApiError::unknown_channel()),
        }
        if let Some(message) = message {
            match self.message(message).filter(|m| m.channel_id == channel) {
                None => return Err(ApiError::unknown_message()),
                Some(m) if m.thread.is_some() => {
                    return Err(ApiError::new(
                        400,
                        160_004,
                        "A thread has already been created for this message",
                    ));
                }
                Some(_) => {}
            }
        }
        let name = body["name"].as_str().unwrap_or_default().to_owned();
        let length = name.chars().count();
        if length == 0 || length > 100 {
            return Err(ApiError::form(
                "name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        // As on Discord, a thread started from a message has the message's id.
        let id = message.unwrap_or_else(|| self.next_id());
        let kind = body["type"]
            .as_u64()
            .and_then(|k| u8::try_from(k).ok())
            .unwrap_or(11);
        let info = ChannelInfo {
            id,
            kind: ChannelKind::Thread {
                parent: channel,
                kind,
                auto_archive: body["auto_archive_duration"].as_u64().unwrap_or(1440),
            },
            name,
            created: json::now(),
            last_message_id: None,
            message_count: 0,
        };
        let reply = json::channel(&info, None);
        self.channels.insert(id, info);
        self.thread_order.push(id);
        if let Some(m) = message.and_then(|m| self.message_mut(m)) {
            m.thread = Some(id);
        }
        Ok(reply)
    }

    /// `POST /users/@me/channels`.
    pub(super) fn create_dm(&mut self, body: &Value) -> Result<Value, ApiError> {
        let recipient = &body["recipient_id"];
        let user = recipient
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .or_else(|| recipient.as_u64())
            .ok_or_else(|| {
                ApiError::form(
                    "recipient_id",
                    "NUMBER_TYPE_COERCE",
                    "Value is not snowflake.",
                )
            })?;
        let channel = self.dm_channel_for(user);
        self.channel_json(channel)
            .ok_or_else(ApiError::unknown_channel)
    }

    /// The channel objects of `GUILD_CREATE`: text channels, then threads.
    pub(super) fn guild_channels(&self) -> (Vec<Value>, Vec<Value>) {
        let mut text: Vec<&ChannelInfo> = self
            .channels
            .values()
            .filter(|c| c.kind == ChannelKind::Text)
            .collect();
        text.sort_by_key(|c| c.id);
        let text = text.into_iter().map(|c| json::channel(c, None)).collect();
        let threads = self
            .thread_order
            .iter()
            .filter_map(|id| self.channels.get(id))
            .map(|c| json::channel(c, None))
            .collect();
        (text, threads)
    }

    /// Threads as `(id, parent, name)`, in creation order.
    pub(super) fn threads(&self) -> Vec<(u64, u64, String)> {
        self.thread_order
            .iter()
            .filter_map(|id| self.channels.get(id))
            .filter_map(|c| match c.kind {
                ChannelKind::Thread { parent, .. } => Some((c.id, parent, c.name.clone())),
                _ => None,
            })
            .collect()
    }
}
