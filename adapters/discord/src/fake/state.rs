//! Shared state of the fake Discord: channels, messages, interactions, records, faults, limits,
//! and the lookups every route needs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::interactions::InteractionInfo;
use super::json;
use super::limits::{RateWindows, retry_secs};
use super::rest::{ApiError, Headers};
use super::session::Gateway;
use super::{DcUser, Fault, GENERAL, GUILD_ID, InteractionReply, Limits, SentMessage};

/// First id handed out for messages, channels, interactions and commands.
const FIRST_ID: u64 = 1_000_000_000_000_000_000;

/// Everything the HTTP handlers, the gateway tasks and the test handle share.
pub(super) struct Shared {
    /// The bot token (without the `Bot ` prefix).
    pub(super) token: String,
    /// Cancelled when the fake stops.
    pub(super) cancel: CancellationToken,
    state: Mutex<State>,
}

impl Shared {
    pub(super) fn new(token: &str, ws_url: String, cancel: CancellationToken) -> Shared {
        let token = token.trim();
        Shared {
            token: token.strip_prefix("Bot ").unwrap_or(token).to_owned(),
            cancel,
            state: Mutex::new(State::new(ws_url)),
        }
    }

    /// Runs `f` with the state locked. Never call this across an await.
    pub(super) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }
}

/// What kind of channel a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChannelKind {
    /// A guild text channel.
    Text,
    /// A thread of a guild text channel.
    Thread {
        /// The channel it belongs to.
        parent: u64,
        /// Channel type: 11 (public) or 12 (private).
        kind: u8,
        /// Minutes of inactivity before it archives.
        auto_archive: u64,
    },
    /// The DM channel with a user.
    Dm {
        /// The user.
        user: u64,
    },
}

/// A channel.
#[derive(Debug, Clone)]
pub(super) struct ChannelInfo {
    pub(super) id: u64,
    pub(super) kind: ChannelKind,
    pub(super) name: String,
    pub(super) created: String,
    pub(super) last_message_id: Option<u64>,
    pub(super) message_count: u32,
}

/// A message of any author, as stored.
#[derive(Debug, Clone)]
pub(super) struct StoredMessage {
    pub(super) id: u64,
    pub(super) channel_id: u64,
    /// Set for messages in guild channels and threads.
    pub(super) guild_id: Option<u64>,
    /// `None` for the bot's own messages.
    pub(super) author: Option<DcUser>,
    pub(super) content: String,
    pub(super) embeds: Vec<Value>,
    pub(super) components: Vec<Value>,
    pub(super) reply_to: Option<u64>,
    pub(super) edits: usize,
    pub(super) ephemeral: bool,
    /// Sent as an interaction response or follow-up.
    pub(super) webhook: bool,
    pub(super) mentions_bot: bool,
    pub(super) timestamp: String,
    pub(super) edited_timestamp: Option<String>,
    /// The thread started from this message.
    pub(super) thread: Option<u64>,
}

/// The whole mutable state of the fake.
pub(super) struct State {
    /// The gateway URL handed out by `GET /gateway`.
    pub(super) ws_url: String,
    /// When the bot "joined" the guild.
    pub(super) joined_at: String,
    next_id: u64,
    pub(super) limits: Limits,
    windows: RateWindows,
    pub(super) faults: HashMap<String, VecDeque<Fault>>,
    pub(super) requests: HashMap<String, usize>,
    pub(super) rate_limited: usize,
    pub(super) users: HashMap<u64, DcUser>,
    pub(super) channels: HashMap<u64, ChannelInfo>,
    /// Thread ids in creation order.
    pub(super) thread_order: Vec<u64>,
    /// DM channel per user id.
    pub(super) dms: HashMap<u64, u64>,
    messages: Vec<StoredMessage>,
    index: HashMap<u64, usize>,
    pub(super) interactions: HashMap<u64, InteractionInfo>,
    pub(super) replies: Vec<InteractionReply>,
    /// Follow-ups sent to interactions: (interaction id, content, ephemeral).
    pub(super) followups: Vec<(u64, String, bool)>,
    pub(super) typing: Vec<u64>,
    /// Registered global commands (as returned).
    pub(super) global_commands: Vec<Value>,
    /// Registered guild commands per guild (as returned).
    pub(super) guild_commands: BTreeMap<u64, Vec<Value>>,
    /// Command id per command name, kept across overwrites.
    pub(super) command_ids: HashMap<String, u64>,
    pub(super) gateway: Gateway,
}

impl State {
    fn new(ws_url: String) -> State {
        let joined_at = json::now();
        let general = ChannelInfo {
            id: GENERAL,
            kind: ChannelKind::Text,
            name: "general".to_owned(),
            created: joined_at.clone(),
            last_message_id: None,
            message_count: 0,
        };
        State {
            ws_url,
            joined_at,
            next_id: FIRST_ID,
            limits: Limits::none(),
            windows: RateWindows::default(),
            faults: HashMap::new(),
            requests: HashMap::new(),
            rate_limited: 0,
            users: HashMap::new(),
            channels: HashMap::from([(GENERAL, general)]),
            thread_order: Vec::new(),
            dms: HashMap::new(),
            messages: Vec::new(),
            index: HashMap::new(),
            interactions: HashMap::new(),
            replies: Vec::new(),
            followups: Vec::new(),
            typing: Vec::new(),
            global_commands: Vec::new(),
            guild_commands: BTreeMap::new(),
            command_ids: HashMap::new(),
            gateway: Gateway::default(),
        }
    }

    /// A fresh snowflake.
    pub(super) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Counts a request of `route` and takes the next fault queued for it.
    pub(super) fn begin_request(&mut self, route: &str) -> Option<Fault> {
        *self.requests.entry(route.to_owned()).or_default() += 1;
        self.faults.get_mut(route).and_then(VecDeque::pop_front)
    }

    /// Counts a create/edit in `channel` against the limits: the rate-limit headers, or a 429.
    pub(super) fn admit(&mut self, channel: u64) -> Result<Headers, ApiError> {
        match self.windows.admit(&self.limits, channel, Instant::now()) {
            Ok(ok) => Ok(vec![
                ("x-ratelimit-limit", ok.limit.to_string()),
                ("x-ratelimit-remaining", ok.remaining.to_string()),
                (
                    "x-ratelimit-reset-after",
                    format!("{:.3}", ok.reset_after.as_secs_f64()),
                ),
                ("x-ratelimit-bucket", "fake-channel-messages".to_owned()),
            ]),
            Err(blocked) => {
                self.rate_limited += 1;
                Err(ApiError::too_many(retry_secs(blocked.wait), blocked.global))
            }
        }
    }

    /// The guild a channel belongs to (`None` for DMs and unknown channels).
    pub(super) fn guild_of(&self, channel: u64) -> Option<u64> {
        match self.channels.get(&channel)?.kind {
            ChannelKind::Text | ChannelKind::Thread { .. } => Some(GUILD_ID),
            ChannelKind::Dm { .. } => None,
        }
    }

    /// The user object for `user` (a generic one for users never seen).
    pub(super) fn user_json(&self, user: u64) -> Value {
        match self.users.get(&user) {
            Some(known) => json::dc_user(known),
            None => json::dc_user(&DcUser::new(user, &format!("user{user}"))),
        }
    }

    /// A stored message.
    pub(super) fn message(&self, id: u64) -> Option<&StoredMessage> {
        self.index.get(&id).map(|&i| &self.messages[i])
    }

    /// A stored message, mutably.
    pub(super) fn message_mut(&mut self, id: u64) -> Option<&mut StoredMessage> {
        self.index.get(&id).map(|&i| &mut self.messages[i])
    }

    /// The JSON of message `id`, with its referenced message one level deep.
    pub(super) fn message_json(&self, id: u64, gateway: bool) -> Option<Value> {
        let m = self.message(id)?;
        let referenced = m
            .reply_to
            .and_then(|to| self.message(to))
            .map(|r| json::message(r, self.author_json(r), None, gateway, &self.joined_at));
        Some(json::message(
            m,
            self.author_json(m),
            referenced,
            gateway,
            &self.joined_at,
        ))
    }

    fn author_json(&self, m: &StoredMessage) -> Value {
        m.author.as_ref().map_or_else(json::bot_user, json::dc_user)
    }

    /// Stores a new message in `channel` and returns its id.
    pub(super) fn push_message(&mut self, mut m: StoredMessage) -> u64 {
        m.id = self.next_id();
        m.guild_id = self.guild_of(m.channel_id);
        m.timestamp = json::now();
        let id = m.id;
        if let Some(info) = self.channels.get_mut(&m.channel_id) {
            info.last_message_id = Some(id);
            info.message_count += 1;
        }
        self.index.insert(id, self.messages.len());
        self.messages.push(m);
        id
    }

    /// A new bot message in `channel` (ids, guild and timestamp are filled by
    /// [`State::push_message`]).
    pub(super) fn bot_draft(channel: u64, content: String, embeds: Vec<Value>) -> StoredMessage {
        StoredMessage {
            id: 0,
            channel_id: channel,
            guild_id: None,
            author: None,
            content,
            embeds,
            components: Vec::new(),
            reply_to: None,
            edits: 0,
            ephemeral: false,
            webhook: false,
            mentions_bot: false,
            timestamp: String::new(),
            edited_timestamp: None,
            thread: None,
        }
    }

    /// The bot's messages, in order: in `channel` (or everywhere), ephemeral or not.
    pub(super) fn bot_messages(&self, channel: Option<u64>, ephemeral: bool) -> Vec<SentMessage> {
        self.messages
            .iter()
            .filter(|m| m.author.is_none() && m.ephemeral == ephemeral)
            .filter(|m| channel.is_none_or(|c| c == m.channel_id))
            .map(|m| SentMessage {
                id: m.id,
                channel_id: m.channel_id,
                content: m.content.clone(),
                embeds: m.embeds.clone(),
                buttons: json::buttons(&m.components),
                reply_to: m.reply_to,
                edits: m.edits,
            })
            .collect()
    }

    /// The names of every registered command: global ones, then guild ones.
    pub(super) fn command_names(&self) -> Vec<String> {
        self.global_commands
            .iter()
            .chain(self.guild_commands.values().flatten())
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// A fresh state for unit tests.
    #[cfg(test)]
    pub(super) fn new_for_tests() -> State {
        State::new("ws://127.0.0.1:1/gateway".to_owned())
    }
}
