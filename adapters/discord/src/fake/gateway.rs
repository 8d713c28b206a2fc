//! The fake gateway's websocket: HELLO, IDENTIFY (READY and GUILD_CREATE), RESUME (replay and
//! RESUMED), heartbeats, and the socket task that writes what the session queues.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::mpsc;

use super::json;
use super::session::{HEARTBEAT_ACK, INVALID_SESSION, Outgoing};
use super::state::{Shared, State};

/// Close code for a bad token in IDENTIFY or RESUME.
const AUTHENTICATION_FAILED: u16 = 4004;

/// `GET /gateway`: upgrades to a websocket (the query, e.g. `?v=10`, is ignored).
pub(super) async fn upgrade(
    AxumState(shared): AxumState<Arc<Shared>>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| run(socket, shared))
}

/// One connection: greets with HELLO, then writes queued frames and handles the client's until
/// either side goes away, the connection is replaced or dropped, or the fake stops.
async fn run(mut socket: WebSocket, shared: Arc<Shared>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = shared.with_state(|s| s.gateway.connect(tx));
    tracing::debug!(conn, "fake discord: gateway connected");
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => break,
            out = rx.recv() => match out {
                Some(Outgoing::Frame(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                // Replaced or dropped: end without a close frame.
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => handle_frame(&shared, conn, text.as_str()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.with_state(|s| s.gateway.disconnect(conn));
    tracing::debug!(conn, "fake discord: gateway connection ended");
}

/// Handles one frame from the client.
fn handle_frame(shared: &Shared, conn: u64, text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        tracing::warn!(text, "fake discord: gateway frame is not JSON");
        return;
    };
    let d = &frame["d"];
    match frame["op"].as_u64() {
        Some(1) => shared.with_state(|s| {
            s.gateway
                .send(conn, Outgoing::Frame(HEARTBEAT_ACK.to_owned()));
        }),
        Some(2) => shared.with_state(|s| identify(s, &shared.token, conn, d)),
        Some(6) => shared.with_state(|s| resume(s, &shared.token, conn, d)),
        op => tracing::debug!(?op, "fake discord: gateway op ignored"),
    }
}

/// Whether `given` (with or without a `Bot ` prefix) is the bot token.
fn token_ok(expected: &str, given: &Value) -> bool {
    given
        .as_str()
        .is_some_and(|t| t.strip_prefix("Bot ").unwrap_or(t) == expected)
}

/// IDENTIFY: a new session with READY and GUILD_CREATE, or close 4004 for a bad token.
pub(super) fn identify(s: &mut State, token: &str, conn: u64, d: &Value) {
    if !s.gateway.is_current(conn) {
        return;
    }
    if !token_ok(token, &d["token"]) {
        let out = Outgoing::Close(AUTHENTICATION_FAILED, "Authentication failed.");
        s.gateway.send(conn, out);
        return;
    }
    s.gateway.intents = d["intents"].as_u64();
    let shard = Some(d["shard"].clone()).filter(Value::is_array);
    let session_id = session_id();
    let ready = json::ready(&session_id, &s.ws_url, shard);
    let (channels, threads) = s.guild_channels();
    let guild = json::guild_create(channels, threads, &s.joined_at);
    s.gateway.start_session(conn, session_id, ready, guild);
    tracing::debug!(
        conn,
        session = s.gateway.session_id().unwrap_or_default(),
        "fake discord: identified"
    );
}

/// RESUME: replays the session after the client's sequence number, or INVALID_SESSION.
pub(super) fn resume(s: &mut State, token: &str, conn: u64, d: &Value) {
    if !s.gateway.is_current(conn) {
        return;
    }
    if !token_ok(token, &d["token"]) {
        let out = Outgoing::Close(AUTHENTICATION_FAILED, "Authentication failed.");
        s.gateway.send(conn, out);
        return;
    }
    let session = d["session_id"].as_str().unwrap_or_default();
    let seq = d["seq"].as_u64().unwrap_or(0);
    if !s.gateway.resume(conn, session, seq) {
        s.gateway
            .send(conn, Outgoing::Frame(INVALID_SESSION.to_owned()));
    }
}

/// A random 32-hex-digit session id.
fn session_id() -> String {
    let half = || {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(), half())
}
