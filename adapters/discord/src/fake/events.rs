//! Events the test drives: users writing, replying, clicking buttons and running slash commands,
//! stored and dispatched on the gateway.

use serde_json::{Value, json};

use super::interactions::InteractionInfo;
use super::json::{self, InteractionParts};
use super::state::{ChannelKind, State, StoredMessage};
use super::{BOT_ID, DcUser, Place};

impl State {
    /// The channel of `place` (a DM channel is created if new) and its guild.
    ///
    /// # Panics
    ///
    /// Panics if a guild place names a channel the fake does not know.
    fn resolve(&mut self, place: Place) -> (u64, Option<u64>) {
        match place {
            Place::Guild(channel) => match self.channels.get(&channel).map(|c| c.kind) {
                Some(ChannelKind::Text | ChannelKind::Thread { .. }) => {
                    (channel, self.guild_of(channel))
                }
                _ => panic!("fake discord: {channel} is not a guild channel or thread"),
            },
            Place::Dm(user) => (self.dm_channel_for(user), None),
        }
    }

    /// A user writes `text` in `place`, optionally replying to `reply_to`: stores the message,
    /// dispatches MESSAGE_CREATE, and returns the message id.
    pub(super) fn user_message(
        &mut self,
        place: Place,
        from: &DcUser,
        text: &str,
        reply_to: Option<u64>,
    ) -> u64 {
        self.users.insert(from.id, from.clone());
        let (channel, _) = self.resolve(place);
        let mentioned =
            text.contains(&format!("<@{BOT_ID}>")) || text.contains(&format!("<@!{BOT_ID}>"));
        // A reply pings the replied-to author by default, so replying to the bot mentions it.
        let replied_to_bot = reply_to
            .and_then(|to| self.message(to))
            .is_some_and(|m| m.author.is_none());
        let message = StoredMessage {
            id: 0,
            channel_id: channel,
            guild_id: None,
            author: Some(from.clone()),
            content: text.to_owned(),
            embeds: Vec::new(),
            components: Vec::new(),
            reply_to,
            edits: 0,
            ephemeral: false,
            webhook: false,
            mentions_bot: mentioned || replied_to_bot,
            timestamp: String::new(),
            edited_timestamp: None,
            thread: None,
        };
        let id = self.push_message(message);
        let payload = self.message_json(id, true).unwrap_or_default();
        self.gateway.dispatch("MESSAGE_CREATE", payload);
        id
    }

    /// A user clicks the button `custom_id` under message `message_id`: dispatches
    /// INTERACTION_CREATE (message component) and returns the interaction id.
    ///
    /// # Panics
    ///
    /// Panics if the message is unknown or not in `place`.
    pub(super) fn click(
        &mut self,
        place: Place,
        from: &DcUser,
        message_id: u64,
        custom_id: &str,
    ) -> u64 {
        self.users.insert(from.id, from.clone());
        let (channel, guild) = self.resolve(place);
        let message = self
            .message(message_id)
            .filter(|m| m.channel_id == channel)
            .and_then(|m| self.message_json(m.id, false))
            .unwrap_or_else(|| {
                panic!("fake discord: no message {message_id} in channel {channel} to click")
            });
        let data = json!({ "custom_id": custom_id, "component_type": 2 });
        self.new_interaction(3, channel, guild, from, data, Some((message_id, message)))
    }

    /// A user runs slash command `command` with string `options`: dispatches
    /// INTERACTION_CREATE (application command) and returns the interaction id.
    pub(super) fn slash(
        &mut self,
        place: Place,
        from: &DcUser,
        command: &str,
        options: &[(&str, &str)],
    ) -> u64 {
        self.users.insert(from.id, from.clone());
        let (channel, guild) = self.resolve(place);
        if !self.command_names().iter().any(|name| name == command) {
            tracing::warn!(
                command,
                "fake discord: slash command that is not registered"
            );
        }
        let command_id = match self.command_ids.get(command) {
            Some(&known) => known,
            None => {
                let fresh = self.next_id();
                self.command_ids.insert(command.to_owned(), fresh);
                fresh
            }
        };
        let options: Vec<Value> = options
            .iter()
            .map(|(name, value)| json!({ "name": name, "type": 3, "value": value }))
            .collect();
        let data = json!({
            "id": json::id(command_id),
            "name": command,
            "type": 1,
            "options": options,
        });
        self.new_interaction(2, channel, guild, from, data, None)
    }

    /// Stores and dispatches a new interaction; returns its id.
    fn new_interaction(
        &mut self,
        kind: u8,
        channel: u64,
        guild: Option<u64>,
        from: &DcUser,
        data: Value,
        message: Option<(u64, Value)>,
    ) -> u64 {
        let id = self.next_id();
        let token = format!("itok-{id}");
        let (clicked, message) = message.unzip();
        self.interactions
            .insert(id, InteractionInfo::new(token.clone(), channel, clicked));
        let parts = InteractionParts {
            id,
            kind,
            data,
            channel: self.channel_json(channel).unwrap_or_default(),
            channel_id: channel,
            guild_id: guild,
            user: json::dc_user(from),
            token,
            message,
        };
        let payload = json::interaction(parts, &self.joined_at);
        self.gateway.dispatch("INTERACTION_CREATE", payload);
        id
    }
}
