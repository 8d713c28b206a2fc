//! In-memory state of the fake Bot API (chats, messages, faults, records) and the bot's methods.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::limits::{RateWindows, retry_secs};
use super::server::TgError;
use super::{BOT_ID, BOT_USERNAME, CallbackAnswer, ChatRef, Fault, Limits, SentMessage, TgUser};

const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply \
     markup are exactly the same as a current content and reply markup of the message";
const QUERY_TOO_OLD: &str = "query is too old and response timeout expired or query id is invalid";

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
        let mut state = self
            .state
            .lock()
            .expect("fake telegram: state lock poisoned");
        f(&mut state)
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
    pub(super) id: i64,
    pub(super) body: Value,
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
pub(super) struct ChatInfo {
    /// First name (private) or title (group).
    pub(super) name: String,
    pub(super) username: Option<String>,
    pub(super) is_forum: bool,
}

/// A message of any sender, as stored.
pub(super) struct StoredMessage {
    pub(super) chat_id: i64,
    pub(super) message_id: i64,
    pub(super) thread_id: Option<i64>,
    /// `None` for the bot's own messages.
    pub(super) from: Option<TgUser>,
    pub(super) date: i64,
    pub(super) edit_date: Option<i64>,
    pub(super) text: String,
    pub(super) raw: String,
    pub(super) parse_mode: Option<String>,
    pub(super) entities: Vec<Value>,
    pub(super) markup: Option<Value>,
    pub(super) buttons: Vec<(String, String)>,
    pub(super) reply_to: Option<i64>,
    pub(super) edits: Vec<String>,
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
    pub(super) chats: HashMap<i64, ChatInfo>,
    messages: Vec<StoredMessage>,
    index: HashMap<(i64, i64), usize>,
    last_message_id: HashMap<i64, i64>,
    pub(super) last_update_id: i64,
    pub(super) callbacks: HashMap<String, bool>,
    pub(super) callback_seq: u64,
    pub(super) poll_generation: u64,
    windows: RateWindows,
}

impl State {
    /// Counts a request of `method` and takes the next fault queued for it.
    pub(super) fn begin_request(&mut self, method: &str) -> Option<Fault> {
        *self.requests.entry(method.to_owned()).or_default() += 1;
        self.faults.get_mut(method).and_then(VecDeque::pop_front)
    }

    /// `SendMessage`.
    pub(super) fn send_message(&mut self, req: SendRequest) -> Result<Value, TgError> {
        if !self.chats.contains_key(&req.chat_id) {
            return Err(TgError::bad_request("chat not found"));
        }
        let reply_to = match req.reply_to {
            Some((id, _)) if self.index.contains_key(&(req.chat_id, id)) => Some(id),
            Some((_, true)) | None => None,
            Some((_, false)) => {
                return Err(TgError::bad_request("message to be replied not found"));
            }
        };
        let thread_id = req.thread_id.or_else(|| {
            reply_to
                .and_then(|id| self.find(req.chat_id, id))
                .and_then(|m| m.thread_id)
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
        self.callback_answers.push(CallbackAnswer {
            callback_id: id.to_owned(),
            text,
        });
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
        self.chat_actions
            .push((ChatRef { chat_id, thread_id }, action));
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
            return Err(TgError::bad_request(
                "bad webhook: the fake server only delivers to http://",
            ));
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
        self.windows
            .admit(&limits, chat_id, Instant::now())
            .map_err(|wait| {
                self.rate_limited += 1;
                TgError::too_many(retry_secs(wait))
            })
    }

    pub(super) fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let last = self.last_message_id.entry(chat_id).or_insert(0);
        *last += 1;
        *last
    }

    pub(super) fn find(&self, chat_id: i64, message_id: i64) -> Option<&StoredMessage> {
        self.index
            .get(&(chat_id, message_id))
            .and_then(|&i| self.messages.get(i))
    }

    pub(super) fn store(&mut self, message: StoredMessage) {
        self.index
            .insert((message.chat_id, message.message_id), self.messages.len());
        self.messages.push(message);
    }

    pub(super) fn chat_json(&self, chat_id: i64) -> Value {
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

    pub(super) fn message_json(&self, m: &StoredMessage, with_reply: bool) -> Value {
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

pub(super) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().try_into().unwrap_or(i64::MAX))
}

/// The bot as a Bot API `User`.
pub(super) fn bot_user_json() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "openmog", "username": BOT_USERNAME})
}

pub(super) fn user_json(user: &TgUser) -> Value {
    let mut json = json!({"id": user.id, "is_bot": false, "first_name": user.first_name});
    if let Some(username) = &user.username {
        json["username"] = json!(username);
    }
    json
}
