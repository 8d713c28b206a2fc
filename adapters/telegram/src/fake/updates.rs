//! Update queue of the fake Bot API: user events, `GetUpdates` bookkeeping, webhook delivery.

use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::server::TgError;
use super::state::{
    ChatInfo, PendingUpdate, Shared, State, StoredMessage, Webhook, now_unix, user_json,
};
use super::text::text_entities;
use super::{ChatRef, TgUser};

const WEBHOOK_ACTIVE: &str = "can't use getUpdates method while webhook is active; use \
     deleteWebhook to delete the webhook first";
const TERMINATED: &str =
    "terminated by other getUpdates request; make sure that only one bot instance is running";
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const WEBHOOK_POST_TIMEOUT: Duration = Duration::from_secs(10);

impl State {
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
            reply_to: reply_to.filter(|&id| self.find(chat.chat_id, id).is_some()),
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
            None => {
                json!({"message_id": message_id, "date": 0, "chat": self.chat_json(chat.chat_id)})
            }
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

    /// Starts a `GetUpdates`: confirms updates below `offset` and supersedes older polls.
    pub(super) fn begin_poll(&mut self, offset: Option<i64>) -> Result<u64, TgError> {
        if self.webhook.is_some() {
            return Err(TgError::conflict(WEBHOOK_ACTIVE));
        }
        match offset {
            // A negative offset keeps only the last `-offset` updates.
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
        Ok(self
            .updates
            .iter()
            .take(limit)
            .map(|u| u.body.clone())
            .collect())
    }

    /// The next update to POST to the webhook, if one is set.
    fn next_delivery(&self) -> Option<(Webhook, i64, Value)> {
        let hook = self.webhook.clone()?;
        let update = self.updates.front()?;
        Some((hook, update.id, update.body.clone()))
    }

    /// The webhook accepted update `id`.
    fn delivered(&mut self, id: i64) {
        if self.updates.front().is_some_and(|u| u.id == id) {
            self.updates.pop_front();
        }
    }

    fn ensure_chat(&mut self, chat: ChatRef, from: &TgUser) {
        let info = self.chats.entry(chat.chat_id).or_insert_with(|| {
            if chat.chat_id > 0 {
                ChatInfo {
                    name: from.first_name.clone(),
                    username: from.username.clone(),
                    is_forum: false,
                }
            } else {
                ChatInfo {
                    name: format!("Group {}", chat.chat_id),
                    username: None,
                    is_forum: false,
                }
            }
        });
        if chat.chat_id < 0 && chat.thread_id.is_some() {
            info.is_forum = true;
        }
    }

    fn push_update(&mut self, kind: &str, payload: Value) {
        self.last_update_id += 1;
        let id = self.last_update_id;
        let mut body = json!({ "update_id": id });
        body[kind] = payload;
        self.updates.push_back(PendingUpdate { id, body });
    }
}

/// Delivers pending updates to the webhook, in order and one at a time, retrying failures with a
/// doubling backoff (100 ms up to 2 s). Runs until the server is cancelled.
pub(super) async fn deliver_webhooks(shared: Arc<Shared>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut notified = pin!(shared.updates.notified());
        notified.as_mut().enable();
        let Some((hook, id, update)) = shared.with_state(|s| s.next_delivery()) else {
            tokio::select! {
                () = notified => {}
                () = shared.cancel.cancelled() => return,
            }
            continue;
        };
        let posted = tokio::select! {
            posted = tokio::time::timeout(
                WEBHOOK_POST_TIMEOUT,
                post_json(&hook.url, hook.secret.as_deref(), &update),
            ) => posted,
            () = shared.cancel.cancelled() => return,
        };
        match posted {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                shared.with_state(|s| s.delivered(id));
                backoff = MIN_BACKOFF;
            }
            failed => {
                tracing::debug!(
                    ?failed,
                    update_id = id,
                    "fake telegram: webhook delivery failed"
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shared.cancel.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// A minimal HTTP/1.1 POST of `body` to an `http://host:port/path` URL; returns the status code.
async fn post_json(url: &str, secret: Option<&str>, body: &Value) -> io::Result<u16> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "only http:// is supported"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let payload = serde_json::to_vec(body)?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        payload.len()
    );
    if let Some(secret) = secret {
        head.push_str(&format!("X-Telegram-Bot-Api-Secret-Token: {secret}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(authority).await?;
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&payload).await?;
    stream.flush().await?;
    // Only the status line matters; the rest of the response is left unread.
    let mut response = Vec::with_capacity(256);
    let mut chunk = [0_u8; 256];
    while !response.windows(2).any(|pair| pair == b"\r\n") {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
    }
    let status_line = String::from_utf8_lossy(&response);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line: {status_line:?}"),
            )
        })
}
