//! In-memory state of the fake Bot API: chats, stored messages, pending updates, queued faults, rate-limit windows and the records tests inspect.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{BOT_ID, BOT_USERNAME, CallbackAnswer, ChatRef, Fault, Limits, SentMessage, TgUser};

/// Sends older than `period - RATE_TOLERANCE` no longer count against a window. The slack absorbs
/// loopback scheduling jitter: a client that waits exactly one period between sends may arrive a
/// few milliseconds "early" as measured here.
pub(super) const RATE_TOLERANCE: Duration = Duration::from_millis(25);

const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply \
     markup are exactly the same as a current content and reply markup of the message";
const QUERY_TOO_OLD: &str =
    "query is too old and response timeout expired or query ID is invalid";
const WEBHOOK_ACTIVE: &str = "can't use getUpdates method while webhook is active; use \
     deleteWebhook to delete the webhook first";
const TERMINATED: &str =
    "terminated by other getUpdates request; make sure that only one bot instance is running";

/// Everything the HTTP handlers, the webhook deliverer and the test handle share.
pub(super) struct Shared {
    /// The bot token every request path must carry.
    pub(super) token: String,
    /// Woken when updates are pushed, a poll starts or the webhook changes.
    pub(super) updates: Notify,
    /// Cancelled when the fake server stops.
    pub(super) cancel: CancellationToken,
    state: Mutex<State>,
}

impl Shared {
    pub(super) fn new(token: &str, cancel: CancellationToken) -> Shared {
        Shared {
            token: token.to_owned(),
            updates: Notify::new(),
            cancel,
            state: Mutex::new(State::default()),
        }
    }

    /// Runs `f` with the state locked. Never call this across an await.
    pub(super) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().expect("fake telegram: state lock poisoned");
        f(&mut state)
    }
}

/// A Telegram-style error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TgError {
    pub(super) status: u16,
    pub(super) description: String,
    pub(super) retry_after: Option<u32>,
}

impl TgError {
    pub(super) fn new(status: u16, description: impl Into<String>) -> TgError {
        TgError { status, description: description.into(), retry_after: None }
    }

    pub(super) fn bad_request(what: &str) -> TgError {
        TgError::new(400, format!("Bad Request: {what}"))
    }

    pub(super) fn conflict(what: &str) -> TgError {
        TgError::new(409, format!("Conflict: {what}"))
    }

    pub(super) fn too_many(retry_after: u32) -> TgError {
        TgError {
            status: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }
}

/// The webhook the bot registered.
#[derive(Debug, Clone)]
pub(super) struct Webhook {
    pub(super) url: String,
    pub(super) secret: Option<String>,
}

/// An update waiting to be fetched or delivered.
pub(super) struct PendingUpdate {
    id: i64,
    body: Value,
}

/// Text the bot sent: as sent, and as displayed.
pub(super) struct OutgoingText {
    pub(super) raw: String,
    pub(super) text: String,
    pub(super) parse_mode: Option<String>,
}

/// An inline keyboard: the JSON to echo back and the flattened `(text, data)` buttons.
pub(super) struct Markup {
    pub(super) json: Value,
    pub(super) buttons: Vec<(String, String)>,
}

/// A validated `SendMessage`.
pub(super) struct SendRequest {
    pub(super) chat_id: i64,
    pub(super) thread_id: Option<i64>,
    pub(super) body: OutgoingText,
    pub(super) markup: Option<Markup>,
    /// `(message_id, allow_sending_without_reply)`.
    pub(super) reply_to: Option<(i64, bool)>,
}

/// A chat: private when its id is positive, else a supergroup.
struct ChatInfo {
    /// First name (private) or title (group).
    name: String,
    username: Option<String>,
    is_forum: bool,
}

/// A message of any sender, as stored.
struct StoredMessage {
    chat_id: i64,
    message_id: i64,
    thread_id: Option<i64>,
    /// `None` for the bot's own messages.
    from: Option<TgUser>,
    date: i64,
    edit_date: Option<i64>,
    text: String,
    raw: String,
    parse_mode: Option<String>,
    entities: Vec<Value>,
    markup: Option<Value>,
    buttons: Vec<(String, String)>,
    reply_to: Option<i64>,
    edits: Vec<String>,
}

/// The whole mutable state of the fake server.
#[derive(Default)]
pub(super) struct State {
    pub(super) limits: Limits,
    pub(super) faults: HashMap<String, VecDeque<Fault>>,
    pub(super) requests: HashMap<String, usize>,
    pub(super) rate_limited: usize,
    pub(super) callback_answers: Vec<CallbackAnswer>,
    pub(super) chat_actions: Vec<(ChatRef, String)>,
    pub(super) webhook: Option<Webhook>,
    pub(super) updates: VecDeque<PendingUpdate>,
    chats: HashMap<i64, ChatInfo>,
    messages: Vec<StoredMessage>,
    index: HashMap<(i64, i64), usize>,
    last_message_id: HashMap<i64, i64>,
    last_update_id: i64,
    callbacks: HashMap<String, bool>,
    callback_seq: u64,
    poll_generation: u64,
    windows: RateWindows,
}

impl State {
    /// Counts a request of `method` and takes the next fault queued for it.
    pub(super) fn begin_request(&mut self, method: &str) -> Option<Fault> {
        *self.requests.entry(method.to_owned()).or_default() += 1;
        self.faults.get_mut(method).and_then(VecDeque::pop_front)
    }

    /// Starts a `GetUpdates`: confirms updates below `offset` and supersedes older polls.
    pub(super) fn begin_poll(&mut self, offset: Option<i64>) -> Result<u64, TgError> {
        if self.webhook.is_some() {
            return Err(TgError::conflict(WEBHOOK_ACTIVE));
        }
        match offset {
            Some(offset) if offset < 0 => {
                let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
                let forget = self.updates.len().saturating_sub(keep);
                self.updates = self.updates.split_off(forget);
            }
            Some(offset) => {
                while self.updates.front().is_some_and(|u| u.id < offset) {
                    self.updates.pop_front();
                }
            }
            None => {}
        }
        self.poll_generation += 1;
        Ok(self.poll_generation)
    }

    /// The updates a poll started as `generation` may return now.
    pub(super) fn poll_batch(&self, generation: u64, limit: usize) -> Result<Vec<Value>, TgError> {
        if self.webhook.is_some() {
            return Err(TgError::conflict(WEBHOOK_ACTIVE));
        }
        if generation != self.poll_generation {
            return Err(TgError::conflict(TERMINATED));
        }
        Ok(self.updates.iter().take(limit).map(|u| u.body.clone()).collect())
    }

    /// The next update to POST to the webhook, if one is set.
    pub(super) fn next_delivery(&self) -> Option<(Webhook, i64, Value)> {
        let hook = self.webhook.clone()?;
        let update = self.updates.front()?;
        Some((hook, update.id, update.body.clone()))
    }

    /// The webhook accepted update `id`.
    pub(super) fn delivered(&mut self, id: i64) {
        if self.updates.front().is_some_and(|u| u.id == id) {
            self.updates.pop_front();
        }
    }

    /// Stores a user's message (creating the chat if new) and queues its update.
    pub(super) fn push_user_message(
        &mut self,
        chat: ChatRef,
        from: &TgUser,
        text: &str,
        reply_to: Option<i64>,
    ) -> i64 {
        self.ensure_chat(chat, from);
        let message_id = self.next_message_id(chat.chat_id);
        let message = StoredMessage {
            chat_id: chat.chat_id,
            message_id,
            thread_id: chat.thread_id,
            from: Some(from.clone()),
            date: now_unix(),
            edit_date: None,
            text: text.to_owned(),
            raw: text.to_owned(),
            parse_mode: None,
            entities: text_entities(text),
            markup: None,
            buttons: Vec::new(),
            reply_to: reply_to.filter(|id| self.index.contains_key(&(chat.chat_id, *id))),
            edits: Vec::new(),
        };
        let json = self.message_json(&message, true);
        self.store(message);
        self.push_update("message", json);
        message_id
    }

    /// Queues a callback query for a button under `message_id`; returns the query id.
    pub(super) fn push_callback(
        &mut self,
        chat: ChatRef,
        from: &TgUser,
        message_id: i64,
        data: &str,
    ) -> String {
        self.ensure_chat(chat, from);
        self.callback_seq += 1;
        let id = format!("cbq-{}", self.callback_seq);
        let message = match self.find(chat.chat_id, message_id) {
            Some(stored) => self.message_json(stored, true),
            // Date 0 is how the Bot API marks an inaccessible message.
            None => json!({"message_id": message_id, "date": 0, "chat": self.chat_json(chat.chat_id)}),
        };
        self.callbacks.insert(id.clone(), false);
        let query = json!({
            "id": id,
            "from": user_json(from),
            "chat_instance": format!("ci{}", chat.chat_id),
            "message": message,
            "data": data,
        });
        self.push_update("callback_query", query);
        id
    }

    /// `SendMessage`.
    pub(super) fn send_message(&mut self, req: SendRequest) -> Result<Value, TgError> {
        if !self.chats.contains_key(&req.chat_id) {
            return Err(TgError::bad_request("chat not found"));
        }
        let reply_to = match req.reply_to {
            Some((id, _)) if self.index.contains_key(&(req.chat_id, id)) => Some(id),
            Some((_, true)) | None => None,
            Some((_, false)) => return Err(TgError::bad_request("message to be replied not found")),
        };
        let thread_id = req.thread_id.or_else(|| {
            reply_to.and_then(|id| self.find(req.chat_id, id)).and_then(|m| m.thread_id)
        });
        self.admit(req.chat_id)?;
        let (markup, buttons) = split_markup(req.markup);
        let message = StoredMessage {
            chat_id: req.chat_id,
            message_id: self.next_message_id(req.chat_id),
            thread_id,
            from: None,
            date: now_unix(),
            edit_date: None,
            text: req.body.text,
            raw: req.body.raw,
            parse_mode: req.body.parse_mode,
            entities: Vec::new(),
            markup,
            buttons,
            reply_to,
            edits: Vec::new(),
        };
        let json = self.message_json(&message, true);
        self.store(message);
        Ok(json)
    }

    /// `EditMessageText`.
    pub(super) fn edit_message(
        &mut self,
        chat_id: i64,
        message_id: i64,
        body: OutgoingText,
        markup: Option<Markup>,
    ) -> Result<Value, TgError> {
        let Some(&idx) = self.index.get(&(chat_id, message_id)) else {
            return Err(TgError::bad_request("message to edit not found"));
        };
        let current = &self.messages[idx];
        if current.from.is_some() {
            return Err(TgError::bad_request("message can't be edited"));
        }
        if current.text == body.text
            && current.raw == body.raw
            && current.markup.as_ref() == markup.as_ref().map(|m| &m.json)
        {
            return Err(TgError::bad_request(NOT_MODIFIED));
        }
        self.admit(chat_id)?;
        let message = &mut self.messages[idx];
        let previous = std::mem::replace(&mut message.text, body.text);
        message.edits.push(previous);
        message.raw = body.raw;
        message.parse_mode = body.parse_mode;
        message.edit_date = Some(now_unix());
        (message.markup, message.buttons) = split_markup(markup);
        Ok(self.message_json(&self.messages[idx], true))
    }

    /// `AnswerCallbackQuery`.
    pub(super) fn answer_callback(
        &mut self,
        id: &str,
        text: Option<String>,
    ) -> Result<Value, TgError> {
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            return Err(TgError::bad_request("MESSAGE_TOO_LONG"));
        }
        match self.callbacks.get_mut(id) {
            Some(answered) if !*answered => *answered = true,
            _ => return Err(TgError::bad_request(QUERY_TOO_OLD)),
        }
        self.callback_answers.push(CallbackAnswer { callback_id: id.to_owned(), text });
        Ok(Value::Bool(true))
    }

    /// `SendChatAction`.
    pub(super) fn chat_action(
        &mut self,
        chat_id: i64,
        thread_id: Option<i64>,
        action: String,
    ) -> Result<Value, TgError> {
        if !self.chats.contains_key(&chat_id) {
            return Err(TgError::bad_request("chat not found"));
        }
        self.chat_actions.push((ChatRef { chat_id, thread_id }, action));
        Ok(Value::Bool(true))
    }

    /// `SetWebhook`; an empty URL removes the webhook.
    pub(super) fn set_webhook(
        &mut self,
        url: String,
        secret: Option<String>,
        drop_pending: bool,
    ) -> Result<Value, TgError> {
        if !url.is_empty() && !url.starts_with("http://") {
            return Err(TgError::bad_request("bad webhook: the fake server only delivers to http://"));
        }
        if drop_pending {
            self.updates.clear();
        }
        self.webhook = (!url.is_empty()).then_some(Webhook { url, secret });
        Ok(Value::Bool(true))
    }

    /// `DeleteWebhook`.
    pub(super) fn delete_webhook(&mut self, drop_pending: bool) -> Value {
        if drop_pending {
            self.updates.clear();
        }
        self.webhook = None;
        Value::Bool(true)
    }

    /// `GetWebhookInfo`.
    pub(super) fn webhook_info(&self) -> Value {
        json!({
            "url": self.webhook.as_ref().map_or("", |hook| hook.url.as_str()),
            "has_custom_certificate": false,
            "pending_update_count": self.updates.len(),
        })
    }

    /// The bot's messages, optionally only those in one chat (and topic).
    pub(super) fn bot_messages(&self, chat: Option<ChatRef>) -> Vec<SentMessage> {
        let wanted = |m: &&StoredMessage| {
            m.from.is_none()
                && chat.is_none_or(|c| {
                    c.chat_id == m.chat_id && c.thread_id.is_none_or(|t| m.thread_id == Some(t))
                })
        };
        self.messages
            .iter()
            .filter(wanted)
            .map(|m| SentMessage {
                chat_id: m.chat_id,
                message_id: m.message_id,
                thread_id: m.thread_id,
                text: m.text.clone(),
                raw: m.raw.clone(),
                parse_mode: m.parse_mode.clone(),
                buttons: m.buttons.clone(),
                reply_to: m.reply_to,
                edits: m.edits.clone(),
            })
            .collect()
    }

    fn admit(&mut self, chat_id: i64) -> Result<(), TgError> {
        let limits = self.limits;
        self.windows.admit(&limits, chat_id, Instant::now()).map_err(|wait| {
            self.rate_limited += 1;
            TgError::too_many(retry_secs(wait))
        })
    }

    fn ensure_chat(&mut self, chat: ChatRef, from: &TgUser) {
        let info = self.chats.entry(chat.chat_id).or_insert_with(|| {
            if chat.chat_id > 0 {
                ChatInfo { name: from.first_name.clone(), username: from.username.clone(), is_forum: false }
            } else {
                ChatInfo { name: format!("Group {}", chat.chat_id), username: None, is_forum: false }
            }
        });
        if chat.chat_id < 0 && chat.thread_id.is_some() {
            info.is_forum = true;
        }
    }

    fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let last = self.last_message_id.entry(chat_id).or_insert(0);
        *last += 1;
        *last
    }

    fn push_update(&mut self, kind: &str, payload: Value) {
        self.last_update_id += 1;
        let id = self.last_update_id;
        let mut body = json!({ "update_id": id });
        body[kind] = payload;
        self.updates.push_back(PendingUpdate { id, body });
    }

    fn find(&self, chat_id: i64, message_id: i64) -> Option<&StoredMessage> {
        self.index.get(&(chat_id, message_id)).and_then(|&i| self.messages.get(i))
    }

    fn store(&mut self, message: StoredMessage) {
        self.index.insert((message.chat_id, message.message_id), self.messages.len());
        self.messages.push(message);
    }

    fn chat_json(&self, chat_id: i64) -> Value {
        match self.chats.get(&chat_id) {
            Some(info) if chat_id > 0 => {
                let mut chat = json!({"id": chat_id, "type": "private", "first_name": info.name});
                if let Some(username) = &info.username {
                    chat["username"] = json!(username);
                }
                chat
            }
            Some(info) => json!({
                "id": chat_id, "type": "supergroup", "title": info.name, "is_forum": info.is_forum,
            }),
            None => json!({"id": chat_id, "type": "private", "first_name": "unknown"}),
        }
    }

    fn message_json(&self, m: &StoredMessage, with_reply: bool) -> Value {
        let mut json = json!({
            "message_id": m.message_id,
            "date": m.date,
            "chat": self.chat_json(m.chat_id),
            "from": m.from.as_ref().map_or_else(bot_user_json, user_json),
            "text": m.text,
        });
        if let Some(thread_id) = m.thread_id {
            json["message_thread_id"] = json!(thread_id);
            if self.chats.get(&m.chat_id).is_some_and(|c| c.is_forum) {
                json["is_topic_message"] = json!(true);
            }
        }
        if !m.entities.is_empty() {
            json["entities"] = Value::Array(m.entities.clone());
        }
        if let Some(markup) = &m.markup {
            json["reply_markup"] = markup.clone();
        }
        if let Some(edit_date) = m.edit_date {
            json["edit_date"] = json!(edit_date);
        }
        if with_reply && let Some(original) = m.reply_to.and_then(|id| self.find(m.chat_id, id)) {
            json["reply_to_message"] = self.message_json(original, false);
        }
        json
    }
}

fn split_markup(markup: Option<Markup>) -> (Option<Value>, Vec<(String, String)>) {
    markup.map_or((None, Vec::new()), |m| (Some(m.json), m.buttons))
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs().try_into().unwrap_or(i64::MAX))
}

/// The bot as a Bot API `User`.
pub(super) fn bot_user_json() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "openmog", "username": BOT_USERNAME})
}

fn user_json(user: &TgUser) -> Value {
    let mut json = json!({"id": user.id, "is_bot": false, "first_name": user.first_name});
    if let Some(username) = &user.username {
        json["username"] = json!(username);
    }
    json
}

/// Entities Telegram would attach to a user's text: a `bot_command` for a leading
/// `/command[@bot]`, and a `mention` per `@username`. Offsets and lengths are UTF-16 units.
pub(super) fn text_entities(text: &str) -> Vec<Value> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let word_len = |s: &str| s.find(|c: char| !is_word(c)).unwrap_or(s.len());
    let mut entities = Vec::new();
    let mut skip_to = 0;
    if let Some(rest) = text.strip_prefix('/') {
        let name = word_len(rest);
        if name > 0 {
            let mut len = 1 + name;
            if let Some(bot) = rest[name..].strip_prefix('@') {
                let bot_len = word_len(bot);
                if bot_len > 0 {
                    len += 1 + bot_len;
                }
            }
            // The command is ASCII, so bytes and UTF-16 units agree.
            entities.push(json!({"type": "bot_command", "offset": 0, "length": len}));
            skip_to = len;
        }
    }
    let mut utf16 = 0;
    let mut after_word = false;
    for (i, c) in text.char_indices() {
        if i >= skip_to && c == '@' && !after_word {
            let name = word_len(&text[i + 1..]);
            if name > 0 {
                entities.push(json!({"type": "mention", "offset": utf16, "length": name + 1}));
                skip_to = i + 1 + name;
            }
        }
        after_word = is_word(c);
        utf16 += c.len_utf16();
    }
    entities
}

/// The per-chat, per-group and global send windows.
#[derive(Default)]
pub(super) struct RateWindows {
    chat: HashMap<i64, VecDeque<Instant>>,
    group: HashMap<i64, VecDeque<Instant>>,
    global: VecDeque<Instant>,
}

impl RateWindows {
    /// Records a send to `chat_id` at `now` if every applicable limit allows it; otherwise
    /// returns how long until it would be allowed (and records nothing).
    pub(super) fn admit(&mut self, limits: &Limits, chat_id: i64, now: Instant) -> Result<(), Duration> {
        let mut windows: Vec<(&mut VecDeque<Instant>, (u32, Duration))> = Vec::with_capacity(3);
        if let Some(limit) = limits.per_chat {
            windows.push((self.chat.entry(chat_id).or_default(), limit));
        }
        if chat_id < 0 && let Some(limit) = limits.per_group {
            windows.push((self.group.entry(chat_id).or_default(), limit));
        }
        if let Some(limit) = limits.global {
            windows.push((&mut self.global, limit));
        }
        let wait = windows
            .iter_mut()
            .filter_map(|(window, (count, period))| window_wait(window, *count, *period, now))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (window, _) in windows {
            window.push_back(now);
        }
        Ok(())
    }
}

/// Drops expired sends from `window`; if it already holds `count` sends within `period` (minus
/// [`RATE_TOLERANCE`]), returns how long until one more would fit.
pub(super) fn window_wait(
    window: &mut VecDeque<Instant>,
    count: u32,
    period: Duration,
    now: Instant,
) -> Option<Duration> {
    let span = period.saturating_sub(RATE_TOLERANCE);
    while window.front().is_some_and(|&t| now.saturating_duration_since(t) >= span) {
        window.pop_front();
    }
    let count = (count as usize).max(1);
    if window.len() < count {
        return None;
    }
    let pivot = window[window.len() - count];
    Some(span.saturating_sub(now.saturating_duration_since(pivot)))
}

/// `retry_after` for a wait: whole seconds, rounded up, at least 1.
pub(super) fn retry_secs(wait: Duration) -> u32 {
    u32::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u32::MAX).max(1)
}
