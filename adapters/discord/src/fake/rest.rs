//! HTTP side of the fake Discord: the router, route parsing and dispatch, authorization, injected
//! faults, and Discord-style error replies.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::commands::application_info;
use super::limits::retry_header;
use super::state::{Shared, State};
use super::{APPLICATION_ID, Fault, gateway, json};

/// Response headers to add: `(lowercase name, value)`.
pub(super) type Headers = Vec<(&'static str, String)>;

/// A Discord-style error reply.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) headers: Headers,
}

impl ApiError {
    /// `{"message": message, "code": code}` with `status`.
    pub(super) fn new(status: u16, code: u64, message: &str) -> ApiError {
        ApiError {
            status,
            body: json!({ "message": message, "code": code }),
            headers: Vec::new(),
        }
    }

    /// 400 "Invalid Form Body" (50035) with one error at the dotted `path` of the body.
    pub(super) fn form(path: &str, code: &str, message: &str) -> ApiError {
        let mut errors = json!({ "_errors": [{ "code": code, "message": message }] });
        for key in path.rsplit('.') {
            let mut level = Map::new();
            level.insert(key.to_owned(), errors);
            errors = Value::Object(level);
        }
        ApiError {
            status: 400,
            body: json!({ "message": "Invalid Form Body", "code": 50035, "errors": errors }),
            headers: Vec::new(),
        }
    }

    /// 404 Unknown Channel.
    pub(super) fn unknown_channel() -> ApiError {
        ApiError::new(404, 10003, "Unknown Channel")
    }

    /// 404 Unknown Message.
    pub(super) fn unknown_message() -> ApiError {
        ApiError::new(404, 10008, "Unknown Message")
    }

    /// 404 Unknown Webhook (an interaction token the fake does not know or not yet acknowledged).
    pub(super) fn unknown_webhook() -> ApiError {
        ApiError::new(404, 10015, "Unknown Webhook")
    }

    /// 429 with `retry_after` seconds; `global` picks the scope.
    pub(super) fn too_many(retry_after: f64, global: bool) -> ApiError {
        let mut headers = vec![
            ("retry-after", retry_header(retry_after)),
            (
                "x-ratelimit-scope",
                if global { "global" } else { "user" }.to_owned(),
            ),
        ];
        if global {
            headers.push(("x-ratelimit-global", "true".to_owned()));
        }
        ApiError {
            status: 429,
            body: json!({
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": global,
                "code": 0,
            }),
            headers,
        }
    }

    /// An injected server error with this status.
    fn server_error(status: u16) -> ApiError {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Server Error");
        ApiError::new(status, 0, &format!("{status}: {reason}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        with_headers(
            (status, axum::Json(self.body)).into_response(),
            self.headers,
        )
    }
}

/// A successful reply.
enum Done {
    /// 200 with a JSON body.
    Json(Value),
    /// 200 with a JSON body and rate-limit headers.
    Limited(Value, Headers),
    /// 204 without a body.
    NoContent,
}

impl IntoResponse for Done {
    fn into_response(self) -> Response {
        match self {
            Done::Json(body) => axum::Json(body).into_response(),
            Done::Limited(body, headers) => with_headers(axum::Json(body).into_response(), headers),
            Done::NoContent => StatusCode::NO_CONTENT.into_response(),
        }
    }
}

fn with_headers(mut response: Response, headers: Headers) -> Response {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// A REST route the fake implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Gateway,
    GatewayBot,
    CurrentUser,
    CurrentApplication,
    PutCommands(u64, Option<u64>),
    GetCommands(u64, Option<u64>),
    CreateMessage(u64),
    GetMessage(u64, u64),
    EditMessage(u64, u64),
    Typing(u64),
    ThreadFromMessage(u64, u64),
    Thread(u64),
    CreateDm,
    GetChannel(u64),
    Callback(u64, &'a str),
    Followup(u64, &'a str),
    GetOriginal(u64, &'a str),
    EditOriginal(u64, &'a str),
    EditFollowup(u64, &'a str, u64),
}

impl<'a> Route<'a> {
    /// The route for `method` and the path segments after `/api/v10/`.
    fn parse(method: &Method, segments: &[&'a str]) -> Option<Route<'a>> {
        fn id(segment: &str) -> Option<u64> {
            segment.parse().ok()
        }
        Some(match (method.as_str(), segments) {
            ("GET", ["gateway"]) => Route::Gateway,
            ("GET", ["gateway", "bot"]) => Route::GatewayBot,
            ("GET", ["users", "@me"]) => Route::CurrentUser,
            ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => {
                Route::CurrentApplication
            }
            ("PUT", ["applications", app, "commands"]) => Route::PutCommands(id(app)?, None),
            ("GET", ["applications", app, "commands"]) => Route::GetCommands(id(app)?, None),
            ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
                Route::PutCommands(id(app)?, Some(id(guild)?))
            }
            ("GET", ["applications", app, "guilds", guild, "commands"]) => {
                Route::GetCommands(id(app)?, Some(id(guild)?))
            }
            ("POST", ["channels", c, "messages"]) => Route::CreateMessage(id(c)?),
            ("GET", ["channels", c, "messages", m]) => Route::GetMessage(id(c)?, id(m)?),
            ("PATCH", ["channels", c, "messages", m]) => Route::EditMessage(id(c)?, id(m)?),
            ("POST", ["channels", c, "typing"]) => Route::Typing(id(c)?),
            ("POST", ["channels", c, "messages", m, "threads"]) => {
                Route::ThreadFromMessage(id(c)?, id(m)?)
            }
            ("POST", ["channels", c, "threads"]) => Route::Thread(id(c)?),
            ("POST", ["users", "@me", "channels"]) => Route::CreateDm,
            ("GET", ["channels", c]) => Route::GetChannel(id(c)?),
            ("POST", ["interactions", i, token, "callback"]) => Route::Callback(id(i)?, token),
            ("POST", ["webhooks", app, token]) => Route::Followup(id(app)?, token),
            ("GET", ["webhooks", app, token, "messages", "@original"]) => {
                Route::GetOriginal(id(app)?, token)
            }
            ("PATCH", ["webhooks", app, token, "messages", "@original"]) => {
                Route::EditOriginal(id(app)?, token)
            }
            ("PATCH", ["webhooks", app, token, "messages", m]) => {
                Route::EditFollowup(id(app)?, token, id(m)?)
            }
            _ => return None,
        })
    }

    /// The name requests are counted and faults injected under.
    fn name(self) -> &'static str {
        match self {
            Route::Gateway => "gateway",
            Route::GatewayBot => "gateway_bot",
            Route::CurrentUser => "current_user",
            Route::CurrentApplication => "current_application",
            Route::PutCommands(..) => "overwrite_commands",
            Route::GetCommands(..) => "get_commands",
            Route::CreateMessage(_) => "create_message",
            Route::GetMessage(..) => "get_message",
            Route::EditMessage(..) => "edit_message",
            Route::Typing(_) => "typing",
            Route::ThreadFromMessage(..) | Route::Thread(_) => "create_thread",
            Route::CreateDm => "create_dm",
            Route::GetChannel(_) => "get_channel",
            Route::Callback(..) => "interaction_callback",
            Route::Followup(..) => "create_followup",
            Route::GetOriginal(..) => "get_original",
            Route::EditOriginal(..) => "edit_original",
            Route::EditFollowup(..) => "edit_followup",
        }
    }

    /// Interaction routes authenticate by their token, not the bot token.
    fn needs_bot_token(self) -> bool {
        !matches!(
            self,
            Route::Callback(..)
                | Route::Followup(..)
                | Route::GetOriginal(..)
                | Route::EditOriginal(..)
                | Route::EditFollowup(..)
        )
    }

    /// Performs the route on the state.
    fn execute(self, s: &mut State, body: &Value) -> Result<Done, ApiError> {
        let own_app = |app: u64| {
            if app == APPLICATION_ID {
                Ok(())
            } else {
                Err(ApiError::new(403, 50001, "Missing Access"))
            }
        };
        Ok(match self {
            Route::Gateway => Done::Json(json!({ "url": s.ws_url })),
            Route::GatewayBot => Done::Json(json::gateway_bot(&s.ws_url)),
            Route::CurrentUser => Done::Json(json::bot_user()),
            Route::CurrentApplication => Done::Json(application_info()),
            Route::PutCommands(app, guild) => {
                own_app(app)?;
                Done::Json(s.overwrite_commands(guild, body)?)
            }
            Route::GetCommands(app, guild) => {
                own_app(app)?;
                Done::Json(s.get_commands(guild))
            }
            Route::CreateMessage(c) => {
                let (message, headers) = s.create_message(c, body)?;
                Done::Limited(message, headers)
            }
            Route::GetMessage(c, m) => Done::Json(s.get_message(c, m)?),
            Route::EditMessage(c, m) => {
                let (message, headers) = s.edit_message(c, m, body)?;
                Done::Limited(message, headers)
            }
            Route::Typing(c) => {
                if !s.channels.contains_key(&c) {
                    return Err(ApiError::unknown_channel());
                }
                s.typing.push(c);
                Done::NoContent
            }
            Route::ThreadFromMessage(c, m) => Done::Json(s.create_thread(c, Some(m), body)?),
            Route::Thread(c) => Done::Json(s.create_thread(c, None, body)?),
            Route::CreateDm => Done::Json(s.create_dm(body)?),
            Route::GetChannel(c) => {
                Done::Json(s.channel_json(c).ok_or_else(ApiError::unknown_channel)?)
            }
            Route::Callback(i, token) => {
                s.interaction_callback(i, token, body)?;
                Done::NoContent
            }
            Route::Followup(app, token) => Done::Json(s.followup(app, token, body)?),
            Route::GetOriginal(app, token) => Done::Json(s.get_original(app, token)?),
            Route::EditOriginal(app, token) => Done::Json(s.edit_original(app, token, body)?),
            Route::EditFollowup(app, token, m) => Done::Json(s.edit_followup(app, token, m, body)?),
        })
    }
}

/// The router: the gateway websocket at `/gateway`, every REST route under `/api/v10/`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/gateway", get(gateway::upgrade))
        .fallback(handle)
        .with_state(shared)
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path
        .strip_prefix("/api/v10/")
        .map(|rest| rest.trim_end_matches('/').split('/').collect())
        .unwrap_or_default();
    let Some(route) = Route::parse(&method, &segments) else {
        tracing::warn!(%method, %path, "fake discord: no such route");
        shared.with_state(|s| s.begin_request("unknown"));
        return ApiError::new(404, 0, "404: Not Found").into_response();
    };
    let expected = format!("Bot {}", shared.token);
    let authorized = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if route.needs_bot_token() && !authorized {
        return ApiError::new(401, 0, "401: Unauthorized").into_response();
    }
    let name = route.name();
    match shared.with_state(|s| s.begin_request(name)) {
        Some(Fault::TooManyRequests { retry_after }) => {
            return ApiError::too_many(retry_after, false).into_response();
        }
        Some(Fault::ServerError(status)) => return ApiError::server_error(status).into_response(),
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Drop) => {
            // Abort the connection without a response. `axum::serve` runs each connection in its
            // own task, so unwinding out of the handler kills only this connection. The state
            // lock is not held here, and `resume_unwind` skips the panic hook.
            std::panic::resume_unwind(Box::new("fake discord: dropped connection"));
        }
        None => {}
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(err) => {
                tracing::warn!(%method, %path, %err, "fake discord: body is not JSON (multipart is not supported)");
                return ApiError::new(400, 50109, "The request body contains invalid JSON.")
                    .into_response();
            }
        }
    };
    tracing::debug!(route = name, %path, "fake discord: request");
    match shared.with_state(|s| route.execute(s, &body)) {
        Ok(done) => done.into_response(),
        Err(err) => {
            tracing::debug!(route = name, status = err.status, body = %err.body, "fake discord: error reply");
            err.into_response()
        }
    }
}
