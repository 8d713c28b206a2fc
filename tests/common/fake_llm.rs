//! Fake language-model servers speaking the OpenAI chat-completions and Anthropic messages APIs, for planner tests.
//!
//! The wire shapes follow what genai 0.7.2 sends and parses: OpenAI-style adapters POST to
//! `{base}chat/completions`, the Anthropic adapter to `{base}messages`, both non-streaming
//! (`"stream": false`) for `exec_chat`, and both read the reply only if its content type is
//! `application/json`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Which provider API a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenAI chat completions (`POST /v1/chat/completions`, `Authorization: Bearer …`).
    OpenAi,
    /// Anthropic messages (`POST /v1/messages`, `x-api-key: …`).
    Anthropic,
}

impl Flavor {
    /// The path genai posts chat requests to when its endpoint is `base_url()`.
    fn chat_path(self) -> &'static str {
        match self {
            Flavor::OpenAi => "/v1/chat/completions",
            Flavor::Anthropic => "/v1/messages",
        }
    }

    /// The API key a request carried, or "" when it carried none.
    fn api_key(self, headers: &HeaderMap) -> String {
        let key = match self {
            // Kept whole when not a bearer token, so a test can see what was sent instead.
            Flavor::OpenAi => {
                let value = header(headers, "authorization");
                value.strip_prefix("Bearer ").unwrap_or(value)
            }
            Flavor::Anthropic => header(headers, "x-api-key"),
        };
        key.to_owned()
    }
}

/// One scripted answer of the fake model.
#[derive(Debug, Clone, PartialEq)]
pub enum Scripted {
    /// The model calls tool `name` with `arguments` (a JSON object).
    ToolCall {
        /// The tool's name.
        name: String,
        /// The tool's arguments, a JSON object.
        arguments: Value,
    },
    /// The model answers with text.
    Text(String),
    /// The server fails with this HTTP status (e.g. 500, 503, 429) and a JSON error body in the flavor's format.
    Status(u16),
}

/// A fake language-model server on 127.0.0.1, answering from a script.
pub struct FakeLlm {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    shutdown: Arc<Notify>,
}

impl FakeLlm {
    /// Starts a fake on 127.0.0.1 (port 0) speaking `flavor`'s API.
    pub async fn start(flavor: Flavor) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake LLM");
        let addr = listener.local_addr().expect("the fake LLM's address");
        let shared = Arc::new(Mutex::new(Shared::new(flavor)));
        let shutdown = Arc::new(Notify::new());
        let app = router(flavor, Arc::clone(&shared));
        let signal = Arc::clone(&shutdown);
        tokio::spawn(async move {
            // `notify_one` keeps a permit, so a stop before this task first runs is not lost.
            let stopped = async move { signal.notified().await };
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                eprintln!("fake LLM server failed: {err}");
            }
        });
        FakeLlm {
            addr,
            shared,
            shutdown,
        }
    }

    /// The base URL to configure, ending in `/v1/` (exactly what genai's endpoint wants).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1/", self.addr)
    }

    /// Queues answers, served in order, one per request.
    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.lock().script.extend(answers);
    }

    /// When the script is empty: answer with this (default: Status(500)).
    pub fn otherwise(&self, answer: Scripted) {
        self.lock().otherwise = answer;
    }

    /// The JSON bodies of the requests received, in order.
    ///
    /// A body that is not JSON is recorded as a JSON string of its text.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// The API key each request carried (Authorization: Bearer … for OpenAI, x-api-key for Anthropic).
    ///
    /// One entry per request, in order; "" for a request that carried none.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys.clone()
    }

    /// Tokens reported per answer: (input, output); default (100, 20).
    pub fn set_usage(&self, input: u64, output: u64) {
        self.lock().usage = (input, output);
    }

    /// Stops the server (also on drop).
    ///
    /// The listener closes and idle connections are shut down once the server task next runs.
    pub fn stop(&self) {
        self.shutdown.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the server and the test share: the script, and what was received.
struct Shared {
    flavor: Flavor,
    script: VecDeque<Scripted>,
    otherwise: Scripted,
    requests: Vec<Value>,
    keys: Vec<String>,
    usage: (u64, u64),
    tool_calls: u64,
}

impl Shared {
    fn new(flavor: Flavor) -> Shared {
        Shared {
            flavor,
            script: VecDeque::new(),
            otherwise: Scripted::Status(500),
            requests: Vec::new(),
            keys: Vec::new(),
            usage: (100, 20),
            tool_calls: 0,
        }
    }

    /// Records one request and picks its reply from the script.
    fn serve(&mut self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Value) {
        let request = parse_body(body);
        // Echoed back as the provider's model, as real APIs do.
        let model = request["model"].as_str().unwrap_or("fake-model").to_owned();
        self.keys.push(self.flavor.api_key(headers));
        self.requests.push(request);
        let answer = self
            .script
            .pop_front()
            .unwrap_or_else(|| self.otherwise.clone());
        self.reply(&model, answer)
    }

    fn reply(&mut self, model: &str, answer: Scripted) -> (StatusCode, Value) {
        let response_id = format!("fake-{}", self.requests.len());
        let usage = self.usage;
        let body = match (self.flavor, answer) {
            (flavor, Scripted::Status(code)) => return error_reply(flavor, code),
            (Flavor::OpenAi, Scripted::Text(text)) => {
                let message = json!({"role": "assistant", "content": text});
                openai_completion(&response_id, model, message, "stop", usage)
            }
            (Flavor::OpenAi, Scripted::ToolCall { name, arguments }) => {
                let message = openai_tool_message(&self.next_call_id(), &name, &arguments);
                openai_completion(&response_id, model, message, "tool_calls", usage)
            }
            (Flavor::Anthropic, Scripted::Text(text)) => {
                let block = json!({"type": "text", "text": text});
                anthropic_message(&response_id, model, block, "end_turn", usage)
            }
            (Flavor::Anthropic, Scripted::ToolCall { name, arguments }) => {
                let call_id = self.next_call_id();
                let block =
                    json!({"type": "tool_use", "id": call_id, "name": name, "input": arguments});
                anthropic_message(&response_id, model, block, "tool_use", usage)
            }
        };
        (StatusCode::OK, body)
    }

    /// A fresh tool-call id, `call_1`, `call_2`, … in both flavors so tests need not care which.
    fn next_call_id(&mut self) -> String {
        self.tool_calls += 1;
        format!("call_{}", self.tool_calls)
    }
}

/// The routes of `flavor`'s chat endpoint, with and without a trailing slash.
fn router(flavor: Flavor, shared: Arc<Mutex<Shared>>) -> Router {
    let path = flavor.chat_path();
    Router::new()
        .route(path, post(answer))
        .route(&format!("{path}/"), post(answer))
        .fallback(unrouted)
        .with_state(shared)
}

async fn answer(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The body is taken raw rather than as `Json` so even a malformed request gets recorded.
    let (status, reply) = lock(&shared).serve(&headers, &body);
    (status, Json(reply)).into_response()
}

/// Names the unexpected route, so a misconfigured base URL shows up plainly in the test's error.
async fn unrouted(method: Method, uri: Uri) -> Response {
    let message = format!("fake LLM has no route for {method} {uri}");
    let body = json!({"error": {"message": message, "type": "not_found_error"}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// An OpenAI chat completion with one choice.
fn openai_completion(
    id: &str,
    model: &str,
    message: Value,
    finish_reason: &str,
    (input, output): (u64, u64),
) -> Value {
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    })
}

/// An OpenAI assistant message calling one tool; the arguments travel as a JSON string, as OpenAI sends them.
fn openai_tool_message(call_id: &str, name: &str, arguments: &Value) -> Value {
    json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments.to_string()},
        }],
    })
}

/// An Anthropic message with one content block.
fn anthropic_message(
    id: &str,
    model: &str,
    block: Value,
    stop_reason: &str,
    (input, output): (u64, u64),
) -> Value {
    json!({
        "id": format!("msg_{id}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": input,
            "output_tokens": output,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    })
}

/// A scripted failure in `flavor`'s error format; a code outside 100..=999 becomes 500.
fn error_reply(flavor: Flavor, code: u16) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = "scripted failure";
    let body = match flavor {
        Flavor::OpenAi => {
            let kind = if status.is_server_error() {
                "server_error"
            } else {
                "invalid_request_error"
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Flavor::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_error_type(status), "message": message}})
        }
    };
    (status, body)
}

/// Anthropic's documented error type for a status.
fn anthropic_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

fn parse_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// Locks the shared state, ignoring poison: a test that panicked mid-request should not hide its own failure.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}
