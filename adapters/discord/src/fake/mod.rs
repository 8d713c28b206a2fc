//! A fake Discord (REST API and gateway) for tests: the [`FakeDiscord`] handle and its types.
//!
//! The fake speaks real HTTP and websockets on `127.0.0.1`, so the real serenity client talks to
//! it unchanged: build its `Http` with `HttpBuilder::new(token).proxy(fake.url())
//! .ratelimiter_disabled(true)`, and the gateway URL comes from `GET /api/v10/gateway`. Make users
//! speak with [`FakeDiscord::user_says`], [`FakeDiscord::click`] and [`FakeDiscord::slash`], then
//! inspect what the bot did with [`FakeDiscord::messages`] and friends.
//!
//! The world is small: one guild ([`GUILD_ID`]) with one text channel ([`GENERAL`]) plus the
//! threads the bot creates, and DM channels created on demand.

mod channels;
mod commands;
mod events;
mod gateway;
mod interactions;
mod json;
mod limits;
mod messages;
mod rest;
mod session;
mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::state::Shared;

/// The bot's user id.
pub const BOT_ID: u64 = 900_000_000_000_000_001;
/// The bot's application id.
pub const APPLICATION_ID: u64 = 900_000_000_000_000_002;
/// The bot's username.
pub const BOT_NAME: &str = "openmog";
/// The one guild the bot is in.
pub const GUILD_ID: u64 = 800_000_000_000_000_001;
/// The guild text channel `#general`, which exists from the start.
pub const GENERAL: u64 = 800_000_000_000_000_010;

/// Rate limits the fake enforces on message creates and edits (`POST`/`PATCH` on
/// `/channels/{channel}/messages...`).
///
/// Each limit is `(count, period)`: at most `count` requests within any `period` (with 25 ms of
/// tolerance for scheduling jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Limit per channel.
    pub per_channel: Option<(u32, Duration)>,
    /// Limit over all channels together.
    pub global: Option<(u32, Duration)>,
}

impl Limits {
    /// No limits at all (the default).
    pub fn none() -> Limits {
        Limits {
            per_channel: None,
            global: None,
        }
    }

    /// Roughly Discord's: 5 messages per 5 seconds per channel, 50 requests per second overall.
    pub fn discord() -> Limits {
        Limits {
            per_channel: Some((5, Duration::from_secs(5))),
            global: Some((50, Duration::from_secs(1))),
        }
    }
}

/// A failure injected into the next request of a route, see [`FakeDiscord::inject`].
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Reply `429 Too Many Requests` with this `retry_after` (seconds).
    TooManyRequests {
        /// Seconds the client is told to wait.
        retry_after: f64,
    },
    /// Reply with this HTTP status and a Discord-style error body.
    ServerError(u16),
    /// Wait this long, then handle the request normally.
    Slow(Duration),
    /// Abort the connection without sending any response.
    Drop,
}

/// A message the bot sent, as the fake stored it (edits applied).
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// Message id.
    pub id: u64,
    /// Channel (guild channel, thread or DM) it is in.
    pub channel_id: u64,
    /// The text.
    pub content: String,
    /// The embeds, as sent.
    pub embeds: Vec<serde_json::Value>,
    /// Buttons as `(label, custom_id)` (`url` for link buttons), action rows flattened; empty
    /// once removed.
    pub buttons: Vec<(String, String)>,
    /// The message this one replies to.
    pub reply_to: Option<u64>,
    /// How many times it was edited.
    pub edits: usize,
}

/// An interaction callback the bot made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionReply {
    /// The interaction answered.
    pub interaction_id: u64,
    /// The response type (4 message, 5 deferred message, 6 deferred update, 7 update, ...).
    pub kind: u8,
    /// `data.content`, if given.
    pub content: Option<String>,
    /// Whether `data.flags` had the ephemeral bit (64).
    pub ephemeral: bool,
    /// Whether `data.components` was given and empty (buttons removed).
    pub components_removed: bool,
}

/// A (human) Discord user talking to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcUser {
    /// User id.
    pub id: u64,
    /// Display name (`global_name`); the username is its lowercase form.
    pub name: String,
}

impl DcUser {
    /// A user with this id and display name.
    pub fn new(id: u64, name: &str) -> DcUser {
        DcUser {
            id,
            name: name.to_owned(),
        }
    }
}

/// Where a user acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A guild channel: [`GENERAL`] or a thread id.
    Guild(u64),
    /// The DM channel with this user id (created if new).
    Dm(u64),
}

/// A running fake Discord.
///
/// Dropping the handle cancels the server; [`FakeDiscord::stop`] also waits for it to finish.
pub struct FakeDiscord {
    url: String,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
    cancel: CancellationToken,
}

impl FakeDiscord {
    /// Starts a fake on `127.0.0.1` (random port) that accepts `token` (with or without the
    /// `Bot ` prefix), with no rate limits.
    pub async fn start(token: &str) -> FakeDiscord {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("fake discord: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake discord: local address");
        let cancel = CancellationToken::new();
        let ws_url = format!("ws://{addr}/gateway");
        let shared = Arc::new(Shared::new(token, ws_url, cancel.clone()));
        let app = rest::router(Arc::clone(&shared));
        let shutdown = cancel.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%err, "fake discord: server failed");
            }
        });
        FakeDiscord {
            url: format!("http://{addr}"),
            shared,
            server: Some(server),
            cancel,
        }
    }

    /// The base URL to give `HttpBuilder::proxy` (e.g. `http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Replaces the enforced rate limits; violations get a 429 and count in
    /// [`Self::rate_limited`].
    pub fn set_limits(&self, limits: Limits) {
        self.shared.with_state(|s| s.limits = limits);
    }

    /// Queues `fault` for the next request of `route`: `"create_message"`, `"edit_message"`,
    /// `"interaction_callback"`, `"typing"` (or any other route name, see [`Self::requests`]).
    /// Faults apply before the request has any effect; several apply in order, one per request.
    pub fn inject(&self, route: &str, fault: Fault) {
        self.shared.with_state(|s| {
            s.faults
                .entry(route.to_owned())
                .or_default()
                .push_back(fault);
        });
    }

    /// A user writes `text` in `place`; returns the new message's id.
    pub fn user_says(&self, place: Place, from: &DcUser, text: &str) -> u64 {
        self.shared
            .with_state(|s| s.user_message(place, from, text, None))
    }

    /// A user replies with `text` to message `to_message`; returns the new message's id.
    pub fn user_replies(&self, place: Place, from: &DcUser, text: &str, to_message: u64) -> u64 {
        self.shared
            .with_state(|s| s.user_message(place, from, text, Some(to_message)))
    }

    /// A user clicks the button `custom_id` under message `message_id`; returns the interaction
    /// id.
    ///
    /// # Panics
    ///
    /// Panics if the message is not in `place`.
    pub fn click(&self, place: Place, from: &DcUser, message_id: u64, custom_id: &str) -> u64 {
        self.shared
            .with_state(|s| s.click(place, from, message_id, custom_id))
    }

    /// A user runs slash command `command` with string options; returns the interaction id.
    pub fn slash(
        &self,
        place: Place,
        from: &DcUser,
        command: &str,
        options: &[(&str, &str)],
    ) -> u64 {
        self.shared
            .with_state(|s| s.slash(place, from, command, options))
    }

    /// The bot's visible (not ephemeral) messages in `channel`, in order, edits applied.
    pub fn messages(&self, channel: u64) -> Vec<SentMessage> {
        self.shared
            .with_state(|s| s.bot_messages(Some(channel), false))
    }

    /// All of the bot's visible messages, in order.
    pub fn all_messages(&self) -> Vec<SentMessage> {
        self.shared.with_state(|s| s.bot_messages(None, false))
    }

    /// The bot's ephemeral messages (interaction responses and follow-ups) in `channel`.
    pub fn ephemeral_messages(&self, channel: u64) -> Vec<SentMessage> {
        self.shared
            .with_state(|s| s.bot_messages(Some(channel), true))
    }

    /// The DM channel with `user`, if there is one.
    pub fn dm_channel(&self, user: u64) -> Option<u64> {
        self.shared.with_state(|s| s.dms.get(&user).copied())
    }

    /// Threads as `(thread id, parent channel, name)`, in creation order.
    pub fn threads(&self) -> Vec<(u64, u64, String)> {
        self.shared.with_state(|s| s.threads())
    }

    /// Every interaction callback the bot made, in order.
    pub fn interaction_replies(&self) -> Vec<InteractionReply> {
        self.shared.with_state(|s| s.replies.clone())
    }

    /// The ephemeral follow-ups the bot sent to interaction `interaction`, in order.
    pub fn ephemerals(&self, interaction: u64) -> Vec<String> {
        self.shared.with_state(|s| {
            s.followups
                .iter()
                .filter(|(id, _, ephemeral)| *id == interaction && *ephemeral)
                .map(|(_, content, _)| content.clone())
                .collect()
        })
    }

    /// The channels the bot sent typing indicators to, in order.
    pub fn typing(&self) -> Vec<u64> {
        self.shared.with_state(|s| s.typing.clone())
    }

    /// The names of the registered slash commands (global, then guild).
    pub fn commands(&self) -> Vec<String> {
        self.shared.with_state(|s| s.command_names())
    }

    /// How many 429s the enforced [`Limits`] caused (injected faults are not counted).
    pub fn rate_limited(&self) -> usize {
        self.shared.with_state(|s| s.rate_limited)
    }

    /// How many requests of `route` arrived, faulted ones included. Routes: `gateway`,
    /// `gateway_bot`, `current_user`, `current_application`, `overwrite_commands`,
    /// `get_commands`, `create_message`, `get_message`, `edit_message`, `typing`,
    /// `create_thread`, `create_dm`, `get_channel`, `interaction_callback`, `create_followup`,
    /// `get_original`, `edit_original`, `edit_followup`, and `unknown`.
    pub fn requests(&self, route: &str) -> usize {
        self.shared
            .with_state(|s| s.requests.get(route).copied().unwrap_or(0))
    }

    /// Closes the gateway connection abruptly (no close frame); the session stays resumable.
    pub fn drop_gateway(&self) {
        self.shared.with_state(|s| s.gateway.drop_connection());
    }

    /// Asks the client to reconnect and resume (op 7).
    pub fn request_reconnect(&self) {
        self.shared.with_state(|s| s.gateway.request_reconnect());
    }

    /// Ends the session (op 9, not resumable): the client must identify again.
    pub fn invalidate_session(&self) {
        self.shared.with_state(|s| s.gateway.invalidate());
    }

    /// Gateway websocket connections accepted so far.
    pub fn gateway_connections(&self) -> usize {
        self.shared.with_state(|s| s.gateway.connections)
    }

    /// IDENTIFYs accepted so far.
    pub fn identifies(&self) -> usize {
        self.shared.with_state(|s| s.gateway.identifies)
    }

    /// Successful RESUMEs so far.
    pub fn resumes(&self) -> usize {
        self.shared.with_state(|s| s.gateway.resumes)
    }

    /// The intents of the last IDENTIFY.
    pub fn identified_intents(&self) -> Option<u64> {
        self.shared.with_state(|s| s.gateway.intents)
    }

    /// Waits until `check` holds, polling every 10 ms.
    ///
    /// # Panics
    ///
    /// Panics, naming `what` and dumping all bot messages, if `timeout` passes first.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&FakeDiscord) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if check(self) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "fake discord: timed out after {timeout:?} waiting for {what}; bot messages: {:#?}",
                    self.all_messages()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server and gateway connections and waits for the server to finish.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(handle) = self.server.take() {
            let abort = handle.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), handle)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
