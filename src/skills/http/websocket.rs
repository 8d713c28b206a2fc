//! `websocket.exchange`: connects to an allowed `ws://` or `wss://` URL, sends text messages,
//! and collects replies, within caps on message size, message count and time.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use reqwest::header::{
    CONNECTION, HeaderMap, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use rustls_platform_verifier::BuilderVerifierExt;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError, UrlError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, connect_async_tls_with_config};

use super::{allowed_url, normalize_allowlist, request_headers};
use crate::config::{ConfigDuration, WebSocketSkillConfig};
use crate::skills::{Skill, SkillContext, SkillError};

/// How long closing politely may take once the exchange is over. Bounded so a server that
/// never answers the close cannot hold the step.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Opens a WebSocket, sends `send` (strings as they are, other JSON values serialized), then
/// waits for up to `expect` messages and returns `{received, complete, closed}`.
///
/// Each received message is parsed as JSON when it parses, else kept as text (binary
/// messages as lossy UTF-8). `complete` says whether all `expect` messages arrived; `closed`
/// whether the server closed the connection. Running out of time while waiting is not an
/// error: it gives `complete: false`. Failing to connect or send in time is.
///
/// A message larger than `max_message_bytes` is an error, sent or received: a received one
/// is refused as soon as its size is known (from its frame header), without reading the
/// rest, and a cut message is never passed off as whole. The host is checked before any
/// connection is made. `wss://` uses rustls on ring with the platform's certificate
/// verifier, as the HTTP skills do.
#[derive(Debug, Clone)]
pub struct WebSocketExchange {
    allow_hosts: Vec<String>,
    connect_timeout: ConfigDuration,
    timeout: ConfigDuration,
    max_message_bytes: usize,
    max_messages: usize,
    tls: Arc<rustls::ClientConfig>,
}

impl WebSocketExchange {
    /// Builds the skill and its TLS configuration from `[skills.websocket]`.
    ///
    /// # Errors
    ///
    /// [`SkillError::Failed`] when the TLS configuration cannot be built.
    pub fn new(config: &WebSocketSkillConfig) -> Result<Self, SkillError> {
        // The provider is given explicitly rather than taken from the process default, so
        // this works whoever installed what.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_platform_verifier())
            .map_err(|e| SkillError::Failed(format!("cannot build the TLS configuration: {e}")))?
            .with_no_client_auth();
        Ok(WebSocketExchange {
            allow_hosts: normalize_allowlist(&config.allow_hosts),
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            max_message_bytes: config.max_message_bytes,
            max_messages: config.max_messages,
            tls: Arc::new(tls),
        })
    }

    /// The `send` argument as text messages, each within `max_message_bytes`, at most
    /// `max_messages` of them. Errors give the message's position, never its content.
    fn outgoing(&self, arg: Option<&Value>) -> Result<Vec<String>, SkillError> {
        let items = match arg {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(SkillError::InvalidArgs(
                    "`send` must be an array of messages".into(),
                ));
            }
        };
        if items.len() > self.max_messages {
            return Err(SkillError::InvalidArgs(format!(
                "`send` has {} messages; at most {} are allowed",
                items.len(),
                self.max_messages
            )));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let text = match item {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                if text.len() > self.max_message_bytes {
                    return Err(SkillError::InvalidArgs(format!(
                        "`send` message {i} is {} bytes, larger than max_message_bytes ({})",
                        text.len(),
                        self.max_message_bytes
                    )));
                }
                Ok(text)
            })
            .collect()
    }

    /// The `expect` argument: how many messages to wait for (default 1).
    fn expected(&self, arg: Option<&Value>) -> Result<usize, SkillError> {
        let wanted = match arg {
            None | Some(Value::Null) => 1,
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| SkillError::InvalidArgs("`expect` must be a whole number".into()))?,
        };
        if wanted > self.max_messages {
            return Err(SkillError::InvalidArgs(format!(
                "`expect` is at most {}",
                self.max_messages
            )));
        }
        Ok(wanted)
    }

    /// The `timeout` argument (milliseconds, or a duration like `500ms`), at most the
    /// configured timeout, which is also the default.
    fn exchange_timeout(&self, arg: Option<&Value>) -> Result<Duration, SkillError> {
        let bad = || {
            SkillError::InvalidArgs(
                "`timeout` must be milliseconds or a duration like 500ms or 30s".into(),
            )
        };
        let wanted = match arg {
            None | Some(Value::Null) => return Ok(self.timeout.0),
            Some(Value::Number(n)) => Duration::from_millis(n.as_u64().ok_or_else(bad)?),
            Some(Value::String(text)) => match text.trim().parse::<u64>() {
                Ok(ms) => Duration::from_millis(ms),
                Err(_) => ConfigDuration::parse(text).map_err(|_| bad())?.0,
            },
            Some(_) => return Err(bad()),
        };
        if wanted > self.timeout.0 {
            return Err(SkillError::InvalidArgs(format!(
                "`timeout` is at most {}",
                self.timeout
            )));
        }
        Ok(wanted)
    }
}

#[async_trait]
impl Skill for WebSocketExchange {
    fn name(&self) -> &str {
        "websocket.exchange"
    }

    fn description(&self) -> &str {
        "Opens a WebSocket (allowed hosts only), sends messages, and collects up to `expect` replies within a timeout. Arguments: url, send, expect, timeout, headers."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": { "type": "string", "description": "ws or wss URL; its host must be on the allowlist" },
                "send": {
                    "type": "array",
                    "description": "messages to send in order: strings as they are, other JSON values serialized"
                },
                "expect": { "type": "integer", "description": "how many messages to wait for (default 1)" },
                "timeout": {
                    "type": ["integer", "string"],
                    "description": "the whole exchange's time limit: milliseconds or a duration like 500ms (default and maximum: the configured one)"
                },
                "headers": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "description": "handshake request headers, name to value"
                }
            },
            "required": ["url"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let (mut url, host) = allowed_url(&args, &["ws", "wss"], &self.allow_hosts)?;
        // WebSocket URLs have no fragment (RFC 6455), and the handshake's URI parser
        // rejects one.
        url.set_fragment(None);
        let outgoing = self.outgoing(args.get("send"))?;
        let expect = self.expected(args.get("expect"))?;
        let timeout = self.exchange_timeout(args.get("timeout"))?;
        let headers = handshake_headers(args.get("headers"))?;
        let deadline = Instant::now() + timeout;

        // `Url` has already normalized the text; the request keeps its query, which is
        // therefore never quoted in errors below.
        let mut request = url.as_str().into_client_request().map_err(|e| {
            SkillError::InvalidArgs(format!(
                "`url` cannot be used for a WebSocket: {}",
                ws_error_text(&e)
            ))
        })?;
        for (name, value) in &headers {
            request.headers_mut().append(name.clone(), value.clone());
        }

        let config = WebSocketConfig::default()
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes));
        // For `ws://` the rustls connector passes the plain stream through.
        let connector = Connector::Rustls(Arc::clone(&self.tls));
        let connect_limit = self
            .connect_timeout
            .0
            .min(deadline.saturating_duration_since(Instant::now()));
        let connecting =
            connect_async_tls_with_config(request, Some(config), false, Some(connector));
        let mut socket = match tokio::time::timeout(connect_limit, connecting).await {
            Err(_) => {
                return Err(SkillError::Failed(format!(
                    "connecting to {host} timed out after {}",
                    ConfigDuration(connect_limit)
                )));
            }
            Ok(Err(e)) => {
                return Err(SkillError::Failed(format!(
                    "connecting to {host} failed: {}",
                    ws_error_text(&e)
                )));
            }
            Ok(Ok((socket, _response))) => socket,
        };

        let sending = async {
            for text in outgoing {
                socket.send(Message::text(text)).await?;
            }
            Ok::<(), WsError>(())
        };
        match tokio::time::timeout_at(deadline, sending).await {
            Err(_) => {
                return Err(SkillError::Failed(format!(
                    "sending to {host} timed out after {}",
                    ConfigDuration(timeout)
                )));
            }
            Ok(Err(e)) => {
                return Err(SkillError::Failed(format!(
                    "sending to {host} failed: {}",
                    ws_error_text(&e)
                )));
            }
            Ok(Ok(())) => {}
        }

        let mut received = Vec::new();
        let mut closed = false;
        while received.len() < expect {
            let Ok(next) = tokio::time::timeout_at(deadline, socket.next()).await else {
                break;
            };
            match next {
                None => {
                    closed = true;
                    break;
                }
                Some(Ok(Message::Text(text))) => received.push(parse_message(text.as_str())),
                Some(Ok(Message::Binary(bytes))) => {
                    received.push(parse_message(&String::from_utf8_lossy(&bytes)));
                }
                Some(Ok(Message::Close(_))) => {
                    closed = true;
                    break;
                }
                // Pings are answered by the library; pongs and raw frames carry nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                    closed = true;
                    break;
                }
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, .. }))) => {
                    return Err(SkillError::Failed(format!(
                        "a message from {host} is {size} bytes, larger than max_message_bytes ({})",
                        self.max_message_bytes
                    )));
                }
                Some(Err(e)) => {
                    return Err(SkillError::Failed(format!(
                        "receiving from {host} failed: {}",
                        ws_error_text(&e)
                    )));
                }
            }
        }
        if !closed {
            // Best effort: the exchange is over whether or not the server acknowledges.
            let _ = tokio::time::timeout(CLOSE_GRACE, socket.close(None)).await;
        }

        let complete = received.len() >= expect;
        Ok(json!({
            "received": received,
            "complete": complete,
            "closed": closed,
        }))
    }
}

/// The `headers` argument for the handshake: as for HTTP, minus the headers the handshake
/// computes. A caller's value for those would break the upgrade, or for extensions make
/// frames unreadable (none are supported).
fn handshake_headers(arg: Option<&Value>) -> Result<HeaderMap, SkillError> {
    let headers = request_headers(arg)?;
    for name in [
        CONNECTION,
        UPGRADE,
        SEC_WEBSOCKET_KEY,
        SEC_WEBSOCKET_VERSION,
        SEC_WEBSOCKET_EXTENSIONS,
    ] {
        if headers.contains_key(&name) {
            return Err(SkillError::Refused(format!(
                "the `{name}` header cannot be set (the handshake computes it)"
            )));
        }
    }
    Ok(headers)
}

/// A received message: its JSON value when it parses, else its text.
fn parse_message(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A WebSocket error as text safe to show: variants whose text can quote header values or
/// the request (with its query) are described instead of printed.
fn ws_error_text(error: &WsError) -> String {
    match error {
        WsError::Io(e) => e.to_string(),
        WsError::Tls(e) => e.to_string(),
        WsError::Capacity(e) => e.to_string(),
        WsError::Protocol(e) => e.to_string(),
        WsError::Http(response) => format!(
            "the server answered HTTP {} instead of switching to WebSocket",
            response.status().as_u16()
        ),
        WsError::Url(UrlError::UnableToConnect(_)) => "cannot connect".to_owned(),
        WsError::Url(e) => e.to_string(),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "the connection is closed".to_owned(),
        WsError::AttackAttempt => "the server's handshake looked like an attack".to_owned(),
        WsError::Utf8(_) => "text that is not valid UTF-8 in the handshake or a message".to_owned(),
        WsError::HttpFormat(_) => "the handshake request is not valid HTTP".to_owned(),
        WsError::WriteBufferFull(_) => "the write buffer is full".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(max_messages: usize, max_message_bytes: usize) -> WebSocketExchange {
        WebSocketExchange::new(&WebSocketSkillConfig {
            allow_hosts: vec!["127.0.0.1".to_owned()],
            max_messages,
            max_message_bytes,
            ..WebSocketSkillConfig::default()
        })
        .expect("the skill builds")
    }

    #[test]
    fn json_values_are_sent_serialized_and_strings_as_they_are() {
        let out = skill(10, 100)
            .outgoing(Some(&json!(["plain", { "a": 1 }, 2, "{\"b\":2}"])))
            .unwrap();
        assert_eq!(out, vec!["plain", r#"{"a":1}"#, "2", r#"{"b":2}"#]);
    }

    #[test]
    fn limits_apply_to_what_is_sent_and_awaited() {
        let s = skill(2, 5);
        assert!(matches!(
            s.outgoing(Some(&json!(["a", "b", "c"]))),
            Err(SkillError::InvalidArgs(_))
        ));
        let err = s.outgoing(Some(&json!(["s3cret-too-long"]))).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert_eq!(s.expected(None).ok(), Some(1));
        assert_eq!(s.expected(Some(&json!(0))).ok(), Some(0));
        assert!(s.expected(Some(&json!(3))).is_err());
        assert!(s.expected(Some(&json!(-1))).is_err());
    }

    #[test]
    fn the_timeout_argument_is_bounded_by_the_configured_one() {
        let s = skill(10, 100);
        assert_eq!(s.exchange_timeout(None).ok(), Some(s.timeout.0));
        assert_eq!(
            s.exchange_timeout(Some(&json!("300ms"))).ok(),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            s.exchange_timeout(Some(&json!(250))).ok(),
            Some(Duration::from_millis(250))
        );
        assert!(s.exchange_timeout(Some(&json!("1d"))).is_err());
        assert!(s.exchange_timeout(Some(&json!("soon"))).is_err());
    }

    #[test]
    fn handshake_headers_cannot_be_overridden() {
        let refused = handshake_headers(Some(&json!({ "Sec-WebSocket-Key": "x" })));
        assert!(
            matches!(refused, Err(SkillError::Refused(_))),
            "{refused:?}"
        );
        let ok = handshake_headers(Some(&json!({ "Authorization": "Bearer t" })));
        assert!(ok.is_ok_and(|h| h.len() == 1));
    }

    #[test]
    fn received_messages_parse_as_json_when_they_can() {
        assert_eq!(parse_message(r#"{"a":1}"#), json!({ "a": 1 }));
        assert_eq!(parse_message("hello"), json!("hello"));
    }
}
