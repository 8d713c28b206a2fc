//! A fake Telegram Bot API server: the [`FakeTelegram`] handle and its test-facing types.
//!
//! The server speaks the real HTTP protocol on `127.0.0.1`, so the real teloxide client talks to it
//! unchanged: point the bot at [`FakeTelegram::api_url`], make users speak with
//! [`FakeTelegram::user_says`] / [`FakeTelegram::press`], then inspect what the bot sent with
//! [`FakeTelegram::messages`].

mod limits;
mod server;
mod state;
mod text;
mod updates;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::state::Shared;

/// The fake bot's user id.
pub const BOT_ID: i64 = 7_000_000;

/// The fake bot's username (without the `@`).
pub const BOT_USERNAME: &str = "openmog_bot";

/// Rate limits the fake server enforces on sends (`SendMessage`, `EditMessageText`).
///
/// Each limit is `(count, period)`: at most `count` sends within any `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Limit per chat (every chat, keyed by chat id; forum topics share their chat's window).
    pub per_chat: Option<(u32, Duration)>,
    /// Limit per group chat (chats with a negative id).
    pub per_group: Option<(u32, Duration)>,
    /// Limit over all chats together.
    pub global: Option<(u32, Duration)>,
}

impl Limits {
    /// Telegram's documented limits: 1 message per second per chat, 20 per minute per group,
    /// 30 per second overall.
    pub fn telegram() -> Limits {
        Limits {
            per_chat: Some((1, Duration::from_secs(1))),
            per_group: Some((20, Duration::from_secs(60))),
            global: Some((30, Duration::from_secs(1))),
        }
    }

    /// No limits at all (the default).
    pub fn none() -> Limits {
        Limits {
            per_chat: None,
            per_group: None,
            global: None,
        }
    }
}

/// A failure injected into the next request of a method, see [`FakeTelegram::inject`].
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Reply `429 Too Many Requests` with this `retry_after` (seconds).
    TooManyRequests {
        /// Seconds the client is told to wait.
        retry_after: u32,
    },
    /// Reply with this HTTP status and a Telegram-style error body.
    ServerError(u16),
    /// Wait this long, then handle the request normally.
    Slow(Duration),
    /// Abort the connection without sending any response.
    Drop,
}

/// A message the bot sent, as the fake server stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// Chat the message was sent to.
    pub chat_id: i64,
    /// Message id assigned by the fake server (increasing per chat).
    pub message_id: i64,
    /// Forum topic (message thread) the message is in, if any.
    pub thread_id: Option<i64>,
    /// The visible text (after parsing HTML, if any).
    pub text: String,
    /// The text exactly as the bot sent it.
    pub raw: String,
    /// The parse mode the bot used, as sent (e.g. `"HTML"`).
    pub parse_mode: Option<String>,
    /// Inline keyboard buttons as `(text, callback_data)`, rows flattened; empty after an edit
    /// without markup.
    pub buttons: Vec<(String, String)>,
    /// The message this one replies to, if any.
    pub reply_to: Option<i64>,
    /// Earlier visible texts of this message, oldest first (one per edit).
    pub edits: Vec<String>,
}

/// An `AnswerCallbackQuery` call the bot made.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackAnswer {
    /// The callback query id that was answered.
    pub callback_id: String,
    /// The notification text, if any.
    pub text: Option<String>,
}

/// A chat, optionally narrowed to one forum topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatRef {
    /// The chat id: positive for private chats, negative for groups.
    pub chat_id: i64,
    /// The forum topic (message thread id), if any.
    pub thread_id: Option<i64>,
}

impl ChatRef {
    /// The private chat with a user (its id is the user's id).
    pub fn private(user_id: i64) -> ChatRef {
        ChatRef {
            chat_id: user_id,
            thread_id: None,
        }
    }

    /// A group chat; `chat_id` should be negative (e.g. `-100123`).
    pub fn group(chat_id: i64) -> ChatRef {
        ChatRef {
            chat_id,
            thread_id: None,
        }
    }

    /// A topic of a forum supergroup; `chat_id` should be negative.
    pub fn topic(chat_id: i64, thread_id: i64) -> ChatRef {
        ChatRef {
            chat_id,
            thread_id: Some(thread_id),
        }
    }
}

/// A (human) Telegram user talking to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgUser {
    /// The user id.
    pub id: i64,
    /// The first name.
    pub first_name: String,
    /// The username (without the `@`), if any.
    pub username: Option<String>,
}

impl TgUser {
    /// A user whose username is the lowercased first name.
    pub fn new(id: i64, first_name: &str) -> TgUser {
        TgUser {
            id,
            first_name: first_name.to_owned(),
            username: Some(first_name.to_lowercase()),
        }
    }
}

/// A running fake Telegram Bot API server.
///
/// Dropping the handle cancels the server; [`FakeTelegram::stop`] also waits for it to finish.
pub struct FakeTelegram {
    url: String,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
    webhooks: Option<JoinHandle<()>>,
    cancel: CancellationToken,
}

impl FakeTelegram {
    /// Starts a fake server on `127.0.0.1` (random port) that accepts `token`, with no rate limits.
    pub async fn start(token: &str) -> FakeTelegram {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("fake telegram: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake telegram: local address");
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared::new(token, cancel.clone()));
        let app = server::router(Arc::clone(&shared));
        let shutdown = cancel.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%err, "fake telegram: server failed");
            }
        });
        let webhooks = tokio::spawn(updates::deliver_webhooks(Arc::clone(&shared)));
        FakeTelegram {
            url: format!("http://{addr}/"),
            shared,
            server: Some(server),
            webhooks: Some(webhooks),
            cancel,
        }
    }

    /// The API base URL to give teloxide's `set_api_url` (e.g. `http://127.0.0.1:PORT/`).
    pub fn api_url(&self) -> String {
        self.url.clone()
    }

    /// Replaces the enforced rate limits; violations get a 429 and count in [`Self::rate_limited`].
    pub fn set_limits(&self, limits: Limits) {
        self.shared.with_state(|s| s.limits = limits);
    }

    /// Queues `fault` for the next request of `method` (case-insensitive). Faults apply before the
    /// request has any effect; several faults for one method apply in order, one per request.
    pub fn inject(&self, method: &str, fault: Fault) {
        let method = method.to_ascii_lowercase();
        self.shared
            .with_state(|s| s.faults.entry(method).or_default().push_back(fault));
    }

    /// A user writes `text` in `chat` (created if new); returns the new message's id.
    pub fn user_says(&self, chat: ChatRef, from: &TgUser, text: &str) -> i64 {
        let id = self
            .shared
            .with_state(|s| s.push_user_message(chat, from, text, None));
        self.shared.updates.notify_waiters();
        id
    }

    /// A user replies with `text` to message `reply_to_message_id` of `chat`; returns the new
    /// message's id.
    pub fn user_replies(
        &self,
        chat: ChatRef,
        from: &TgUser,
        text: &str,
        reply_to_message_id: i64,
    ) -> i64 {
        let id = self
            .shared
            .with_state(|s| s.push_user_message(chat, from, text, Some(reply_to_message_id)));
        self.shared.updates.notify_waiters();
        id
    }

    /// A user presses the inline button carrying `data` under message `message_id`; returns the
    /// callback query id.
    pub fn press(&self, chat: ChatRef, from: &TgUser, message_id: i64, data: &str) -> String {
        let id = self
            .shared
            .with_state(|s| s.push_callback(chat, from, message_id, data));
        self.shared.updates.notify_waiters();
        id
    }

    /// The bot's messages in `chat`, in order; only that topic when `chat.thread_id` is set.
    pub fn messages(&self, chat: ChatRef) -> Vec<SentMessage> {
        self.shared.with_state(|s| s.bot_messages(Some(chat)))
    }

    /// All of the bot's messages, in order.
    pub fn all_messages(&self) -> Vec<SentMessage> {
        self.shared.with_state(|s| s.bot_messages(None))
    }

    /// Every callback query answer the bot made, in order.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.shared.with_state(|s| s.callback_answers.clone())
    }

    /// Every chat action the bot sent (chat, topic and action), in order.
    pub fn chat_actions(&self) -> Vec<(ChatRef, String)> {
        self.shared.with_state(|s| s.chat_actions.clone())
    }

    /// How many 429s the enforced [`Limits`] caused (injected faults are not counted).
    pub fn rate_limited(&self) -> usize {
        self.shared.with_state(|s| s.rate_limited)
    }

    /// How many requests of `method` (case-insensitive) arrived, faulted ones included.
    pub fn requests(&self, method: &str) -> usize {
        let method = method.to_ascii_lowercase();
        self.shared
            .with_state(|s| s.requests.get(&method).copied().unwrap_or(0))
    }

    /// Updates not yet confirmed by a `GetUpdates` offset (or delivered to the webhook).
    pub fn pending_updates(&self) -> usize {
        self.shared.with_state(|s| s.updates.len())
    }

    /// The webhook the bot set, as `(url, secret_token)`.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.shared.with_state(|s| {
            s.webhook
                .as_ref()
                .map(|hook| (hook.url.clone(), hook.secret.clone()))
        })
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
        mut check: impl FnMut(&FakeTelegram) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if check(self) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "fake telegram: timed out after {timeout:?} waiting for {what}; bot messages: {:#?}",
                    self.all_messages()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server (in-flight long polls return empty) and waits for its tasks to finish.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        for handle in [self.server.take(), self.webhooks.take()]
            .into_iter()
            .flatten()
        {
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

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
