//! HTTP side of the fake Bot API: routes, errors, faults, method dispatch and long polling.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Fault;
use super::state::{Markup, OutgoingText, SendRequest, Shared, bot_user_json};
use super::text::html_visible;

/// Longest text (in UTF-16 units, after parsing) a message may carry.
const MAX_TEXT_UTF16: usize = 4096;
/// Longest long poll the fake honours, whatever the client asks.
const MAX_POLL_SECS: u64 = 600;

/// A Telegram-style error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TgError {
    pub(super) status: u16,
    pub(super) description: String,
    pub(super) retry_after: Option<u32>,
}

impl TgError {
    pub(super) fn new(status: u16, description: impl Into<String>) -> TgError {
        TgError {
            status,
            description: description.into(),
            retry_after: None,
        }
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

/// The router: every `POST /bot<TOKEN>/<Method>`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{*path}", post(handle))
        .with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    let Some((token, method)) = path
        .strip_prefix("bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return error_response(&TgError::new(404, "Not Found"));
    };
    if token != shared.token {
        return error_response(&TgError::new(401, "Unauthorized"));
    }
    let method = method.trim_end_matches('/').to_ascii_lowercase();
    tracing::debug!(%method, bytes = body.len(), "fake telegram: request");

    match shared.with_state(|s| s.begin_request(&method)) {
        Some(Fault::TooManyRequests { retry_after }) => {
            return error_response(&TgError::too_many(retry_after));
        }
        Some(Fault::ServerError(code)) => {
            let description = if code == 502 {
                "Bad Gateway"
            } else {
                "Internal Server Error"
            };
            return error_response(&TgError::new(code, description));
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Drop) => {
            // Abort the connection without a response. `axum::serve` runs each connection in its
            // own task, so unwinding out of the handler kills only this connection (the client
            // sees it closed mid-request). `resume_unwind` skips the panic hook, so nothing is
            // printed, and the state lock is not held here, so nothing is poisoned.
            std::panic::resume_unwind(Box::new("fake telegram: dropped connection"));
        }
        None => {}
    }

    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parsed = match content_type.split_once("boundary=") {
        Some((kind, boundary)) if kind.starts_with("multipart/form-data") => {
            parse_multipart(&body, boundary.trim_matches('"'))
        }
        _ => parse_body(&body),
    };
    let result = match parsed {
        Ok(params) => dispatch(&shared, &method, &params).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(value) => (StatusCode::OK, Json(json!({"ok": true, "result": value}))).into_response(),
        Err(err) => {
            tracing::debug!(
                %method,
                status = err.status,
                description = %err.description,
                "fake telegram: error reply"
            );
            error_response(&err)
        }
    }
}

fn error_response(err: &TgError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({"ok": false, "error_code": err.status, "description": err.description});
    if let Some(retry_after) = err.retry_after {
        body["parameters"] = json!({"retry_after": retry_after});
    }
    (status, Json(body)).into_response()
}

fn parse_body(body: &[u8]) -> Result<Value, TgError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Null) => Ok(json!({})),
        Ok(params @ Value::Object(_)) => Ok(params),
        Ok(_) => Err(TgError::bad_request("parameters must be a JSON object")),
        Err(err) => Err(TgError::bad_request(&format!("can't parse JSON: {err}"))),
    }
}

/// A `multipart/form-data` body (teloxide sends methods that may carry files this way) as
/// a JSON object: text fields as strings, or as JSON where they hold an array or object.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Value, TgError> {
    let text = String::from_utf8_lossy(body);
    let mut params = serde_json::Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let parsed = if value.starts_with('[') || value.starts_with('{') {
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()))
        } else {
            Value::String(value.to_owned())
        };
        params.insert(name.to_owned(), parsed);
    }
    Ok(Value::Object(params))
}

fn parse<T: DeserializeOwned>(params: &Value) -> Result<T, TgError> {
    T::deserialize(params)
        .map_err(|err| TgError::bad_request(&format!("invalid parameters: {err}")))
}

/// `chat_id` arrives as a number or as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ChatId {
    Int(i64),
    Str(String),
}

fn chat_id(param: Option<ChatId>) -> Result<i64, TgError> {
    match param {
        Some(ChatId::Int(id)) => Ok(id),
        Some(ChatId::Str(id)) => id
            .trim()
            .parse()
            .map_err(|_| TgError::bad_request("chat not found")),
        None => Err(TgError::bad_request("chat_id is empty")),
    }
}

#[derive(Deserialize)]
struct GetUpdatesParams {
    offset: Option<i64>,
    limit: Option<u64>,
    timeout: Option<u64>,
}

#[derive(Deserialize)]
struct SendMessageParams {
    chat_id: Option<ChatId>,
    text: Option<String>,
    parse_mode: Option<String>,
    message_thread_id: Option<i64>,
    reply_markup: Option<Value>,
    reply_parameters: Option<ReplyParameters>,
    reply_to_message_id: Option<i64>,
}

#[derive(Deserialize)]
struct ReplyParameters {
    message_id: i64,
    allow_sending_without_reply: Option<bool>,
}

#[derive(Deserialize)]
struct EditMessageTextParams {
    chat_id: Option<ChatId>,
    message_id: Option<i64>,
    text: Option<String>,
    parse_mode: Option<String>,
    reply_markup: Option<Value>,
}

#[derive(Deserialize)]
struct AnswerCallbackQueryParams {
    callback_query_id: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct SendChatActionParams {
    chat_id: Option<ChatId>,
    action: Option<String>,
    message_thread_id: Option<i64>,
}

#[derive(Deserialize)]
struct SetWebhookParams {
    url: Option<String>,
    secret_token: Option<String>,
    drop_pending_updates: Option<bool>,
}

#[derive(Deserialize)]
struct DeleteWebhookParams {
    drop_pending_updates: Option<bool>,
}

async fn dispatch(shared: &Shared, method: &str, params: &Value) -> Result<Value, TgError> {
    match method {
        "getme" => {
            let mut me = bot_user_json();
            me["can_join_groups"] = json!(true);
            me["can_read_all_group_messages"] = json!(false);
            me["supports_inline_queries"] = json!(false);
            me["can_connect_to_business"] = json!(false);
            me["has_main_web_app"] = json!(false);
            Ok(me)
        }
        "getupdates" => get_updates(shared, parse(params)?).await,
        "sendmessage" => {
            let p: SendMessageParams = parse(params)?;
            let reply_to = match (p.reply_parameters, p.reply_to_message_id) {
                (Some(r), _) => {
                    Some((r.message_id, r.allow_sending_without_reply.unwrap_or(false)))
                }
                (None, id) => id.map(|id| (id, false)),
            };
            let request = SendRequest {
                chat_id: chat_id(p.chat_id)?,
                thread_id: p.message_thread_id,
                body: outgoing_text(p.text, p.parse_mode)?,
                markup: inline_markup(p.reply_markup),
                reply_to,
            };
            shared.with_state(|s| s.send_message(request))
        }
        "editmessagetext" => {
            let p: EditMessageTextParams = parse(params)?;
            let chat_id = chat_id(p.chat_id)?;
            let message_id = p
                .message_id
                .ok_or_else(|| TgError::bad_request("message to edit not found"))?;
            let body = outgoing_text(p.text, p.parse_mode)?;
            let markup = inline_markup(p.reply_markup);
            shared.with_state(|s| s.edit_message(chat_id, message_id, body, markup))
        }
        "answercallbackquery" => {
            let p: AnswerCallbackQueryParams = parse(params)?;
            let id = p.callback_query_id.unwrap_or_default();
            shared.with_state(|s| s.answer_callback(&id, p.text))
        }
        "sendchataction" => {
            let p: SendChatActionParams = parse(params)?;
            let chat_id = chat_id(p.chat_id)?;
            let action = p
                .action
                .ok_or_else(|| TgError::bad_request("action is empty"))?;
            shared.with_state(|s| s.chat_action(chat_id, p.message_thread_id, action))
        }
        "setwebhook" => {
            let p: SetWebhookParams = parse(params)?;
            let url = p.url.unwrap_or_default();
            let drop_pending = p.drop_pending_updates.unwrap_or(false);
            let result = shared.with_state(|s| s.set_webhook(url, p.secret_token, drop_pending));
            shared.updates.notify_waiters();
            result
        }
        "deletewebhook" => {
            let p: DeleteWebhookParams = parse(params)?;
            let drop_pending = p.drop_pending_updates.unwrap_or(false);
            Ok(shared.with_state(|s| s.delete_webhook(drop_pending)))
        }
        "getwebhookinfo" => Ok(shared.with_state(|s| s.webhook_info())),
        "setmycommands" | "deletemycommands" => Ok(Value::Bool(true)),
        "getmycommands" => Ok(json!([])),
        _ => Err(TgError::new(404, "Not Found: method not found")),
    }
}

/// `GetUpdates` with Telegram's semantics: the offset confirms older updates, an empty queue is
/// long-polled for up to `timeout` seconds, and a newer poll terminates an older one with 409.
async fn get_updates(shared: &Shared, p: GetUpdatesParams) -> Result<Value, TgError> {
    let limit = usize::try_from(p.limit.unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let timeout = Duration::from_secs(p.timeout.unwrap_or(0).min(MAX_POLL_SECS));
    let generation = shared.with_state(|s| s.begin_poll(p.offset))?;
    // Wake any older poll so it sees it has been superseded.
    shared.updates.notify_waiters();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut notified = pin!(shared.updates.notified());
        notified.as_mut().enable();
        let batch = shared.with_state(|s| s.poll_batch(generation, limit))?;
        if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Value::Array(batch));
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.cancel.cancelled() => return Ok(json!([])),
        }
    }
}

/// Validates and parses outgoing text the way the Bot API does.
fn outgoing_text(
    text: Option<String>,
    parse_mode: Option<String>,
) -> Result<OutgoingText, TgError> {
    let raw = text.unwrap_or_default();
    let visible = match parse_mode.as_deref() {
        None => raw.clone(),
        Some(mode) if mode.eq_ignore_ascii_case("html") => html_visible(&raw)
            .map_err(|err| TgError::bad_request(&format!("can't parse entities: {err}")))?,
        Some(mode)
            if mode.eq_ignore_ascii_case("markdownv2") || mode.eq_ignore_ascii_case("markdown") =>
        {
            raw.clone()
        }
        Some(_) => return Err(TgError::bad_request("unsupported parse_mode")),
    };
    if visible.trim().is_empty() {
        return Err(TgError::bad_request("message text is empty"));
    }
    if visible.encode_utf16().count() > MAX_TEXT_UTF16 {
        return Err(TgError::bad_request("message is too long"));
    }
    Ok(OutgoingText {
        raw,
        text: visible,
        parse_mode,
    })
}

/// The inline keyboard in `reply_markup`, if that is what it is (other markups are not echoed).
fn inline_markup(markup: Option<Value>) -> Option<Markup> {
    let markup = markup?;
    let rows = markup.get("inline_keyboard")?.as_array()?;
    let buttons = rows
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .map(|button| {
            let field = |name: &str| button.get(name).and_then(Value::as_str);
            let text = field("text").unwrap_or_default().to_owned();
            let data = field("callback_data")
                .or_else(|| field("url"))
                .unwrap_or_default()
                .to_owned();
            (text, data)
        })
        .collect();
    Some(Markup {
        json: markup,
        buttons,
    })
}
