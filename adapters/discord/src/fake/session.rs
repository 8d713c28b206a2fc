//! Gateway sessions of the fake Discord: sequence numbers, the replay log, the live connection,
//! and the test controls that act on it (drop, reconnect request, invalidation).

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

/// HELLO, sent on every new connection.
pub(super) const HELLO: &str = r#"{"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null}"#;
/// HEARTBEAT_ACK.
pub(super) const HEARTBEAT_ACK: &str = r#"{"op":11}"#;
/// RECONNECT: the client should reconnect and resume.
const RECONNECT: &str = r#"{"op":7,"d":null}"#;
/// INVALID_SESSION, not resumable.
pub(super) const INVALID_SESSION: &str = r#"{"op":9,"d":false}"#;

/// A frame for a connection's socket task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outgoing {
    /// A JSON text frame.
    Frame(String),
    /// A close frame with this code and reason; the task ends after sending it.
    Close(u16, &'static str),
}

/// The connection currently attached to the gateway.
struct Conn {
    id: u64,
    tx: UnboundedSender<Outgoing>,
    /// Identified or resumed: dispatches are sent to it as they happen.
    live: bool,
}

/// A dispatch of the current session.
struct Entry {
    seq: u64,
    frame: String,
    /// Sent again on RESUME (everything but READY and RESUMED).
    replay: bool,
}

/// A session started by IDENTIFY.
struct Session {
    id: String,
    seq: u64,
    log: Vec<Entry>,
}

/// The gateway's state: at most one session and one connection (one shard).
#[derive(Default)]
pub(super) struct Gateway {
    session: Option<Session>,
    /// Dispatches made while there was no session, sent after the next READY.
    pending: Vec<(String, Value)>,
    conn: Option<Conn>,
    next_conn: u64,
    /// Websocket connections accepted.
    pub(super) connections: usize,
    /// IDENTIFYs accepted.
    pub(super) identifies: usize,
    /// RESUMEs accepted.
    pub(super) resumes: usize,
    /// The intents of the last IDENTIFY.
    pub(super) intents: Option<u64>,
}

impl Gateway {
    /// Attaches a new connection (replacing, and so ending, any previous one) and greets it with
    /// HELLO; returns its id.
    pub(super) fn connect(&mut self, tx: UnboundedSender<Outgoing>) -> u64 {
        self.connections += 1;
        self.next_conn += 1;
        let id = self.next_conn;
        let _ = tx.send(Outgoing::Frame(HELLO.to_owned()));
        self.conn = Some(Conn {
            id,
            tx,
            live: false,
        });
        id
    }

    /// Detaches connection `id` if it is still the current one.
    pub(super) fn disconnect(&mut self, id: u64) {
        if self.conn.as_ref().is_some_and(|c| c.id == id) {
            self.conn = None;
        }
    }

    /// Whether `id` is the current connection.
    pub(super) fn is_current(&self, id: u64) -> bool {
        self.conn.as_ref().is_some_and(|c| c.id == id)
    }

    /// Sends `out` on connection `id` if it is still the current one.
    pub(super) fn send(&self, id: u64, out: Outgoing) {
        if let Some(conn) = self.conn.as_ref().filter(|c| c.id == id) {
            let _ = conn.tx.send(out);
        }
    }

    /// The current session's id.
    pub(super) fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
    }

    /// Drops the current connection without a close frame (its task ends and closes the socket).
    pub(super) fn drop_connection(&mut self) {
        self.conn = None;
    }

    /// Asks the client to reconnect (op 7); dispatches wait in the log for its RESUME.
    pub(super) fn request_reconnect(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.live = false;
            let _ = conn.tx.send(Outgoing::Frame(RECONNECT.to_owned()));
        }
    }

    /// Ends the session and tells the client so (op 9, not resumable).
    pub(super) fn invalidate(&mut self) {
        self.session = None;
        if let Some(conn) = self.conn.as_mut() {
            conn.live = false;
            let _ = conn.tx.send(Outgoing::Frame(INVALID_SESSION.to_owned()));
        }
    }

    /// Dispatches event `t` with payload `d`: logged in the session (and sent if a client is
    /// live), or held until the next READY when there is no session.
    pub(super) fn dispatch(&mut self, t: &str, d: Value) {
        if self.session.is_none() {
            self.pending.push((t.to_owned(), d));
        } else {
            self.push(t, d, true);
        }
    }

    /// Starts session `session_id` on connection `conn`: READY, GUILD_CREATE, then every
    /// dispatch held while there was no session. Any previous session's log is discarded.
    pub(super) fn start_session(
        &mut self,
        conn: u64,
        session_id: String,
        ready: Value,
        guild_create: Value,
    ) {
        self.identifies += 1;
        self.session = Some(Session {
            id: session_id,
            seq: 0,
            log: Vec::new(),
        });
        if let Some(c) = self.conn.as_mut().filter(|c| c.id == conn) {
            c.live = true;
        }
        self.push("READY", ready, false);
        self.push("GUILD_CREATE", guild_create, true);
        for (t, d) in std::mem::take(&mut self.pending) {
            self.push(&t, d, true);
        }
    }

    /// Resumes `session_id` on connection `conn` after `seq`: replays every later dispatch, then
    /// RESUMED. Returns `false` (and changes nothing) if the session is not the current one.
    pub(super) fn resume(&mut self, conn: u64, session_id: &str, seq: u64) -> bool {
        let Some(session) = self.session.as_ref().filter(|s| s.id == session_id) else {
            return false;
        };
        let Some(c) = self.conn.as_mut().filter(|c| c.id == conn) else {
            return false;
        };
        c.live = true;
        for entry in session.log.iter().filter(|e| e.seq > seq && e.replay) {
            let _ = c.tx.send(Outgoing::Frame(entry.frame.clone()));
        }
        self.resumes += 1;
        self.push("RESUMED", json!({}), false);
        true
    }

    /// Appends a dispatch to the session log and sends it to a live connection.
    fn push(&mut self, t: &str, d: Value, replay: bool) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        session.seq += 1;
        let frame = json!({ "op": 0, "s": session.seq, "t": t, "d": d }).to_string();
        if let Some(conn) = self.conn.as_ref().filter(|c| c.live) {
            let _ = conn.tx.send(Outgoing::Frame(frame.clone()));
        }
        session.log.push(Entry {
            seq: session.seq,
            frame,
            replay,
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

    use super::{Gateway, HELLO, INVALID_SESSION, Outgoing};

    /// Every text frame queued so far, parsed.
    fn drain(rx: &mut UnboundedReceiver<Outgoing>) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            match item {
                Outgoing::Frame(text) => out.push(serde_json::from_str(&text).expect("json")),
                Outgoing::Close(code, _) => out.push(json!({ "close": code })),
            }
        }
        out
    }

    fn types(frames: &[Value]) -> Vec<(Option<u64>, String)> {
        frames
            .iter()
            .map(|f| (f["s"].as_u64(), f["t"].as_str().unwrap_or("-").to_owned()))
            .collect()
    }

    #[test]
    fn events_before_identify_follow_ready() {
        let mut gw = Gateway::default();
        gw.dispatch("MESSAGE_CREATE", json!({ "n": 1 }));
        let (tx, mut rx) = unbounded_channel();
        let conn = gw.connect(tx);
        assert_eq!(
            drain(&mut rx),
            vec![serde_json::from_str::<Value>(HELLO).unwrap()]
        );
        gw.start_session(conn, "abc".into(), json!({}), json!({}));
        let frames = drain(&mut rx);
        assert_eq!(
            types(&frames),
            vec![
                (Some(1), "READY".to_owned()),
                (Some(2), "GUILD_CREATE".to_owned()),
                (Some(3), "MESSAGE_CREATE".to_owned()),
            ]
        );
        assert_eq!(gw.identifies, 1);
    }

    #[test]
    fn resume_replays_missed_dispatches_in_order() {
        let mut gw = Gateway::default();
        let (tx, mut rx) = unbounded_channel();
        let conn = gw.connect(tx);
        gw.start_session(conn, "abc".into(), json!({}), json!({}));
        gw.dispatch("MESSAGE_CREATE", json!({ "n": 1 }));
        drain(&mut rx);
        gw.drop_connection();
        gw.dispatch("MESSAGE_CREATE", json!({ "n": 2 }));
        gw.dispatch("INTERACTION_CREATE", json!({ "n": 3 }));
        let (tx, mut rx) = unbounded_channel();
        let conn = gw.connect(tx);
        assert!(!gw.resume(conn, "other", 3));
        assert!(gw.resume(conn, "abc", 2));
        let frames = drain(&mut rx);
        assert_eq!(
            types(&frames[1..]),
            vec![
                (Some(3), "MESSAGE_CREATE".to_owned()),
                (Some(4), "MESSAGE_CREATE".to_owned()),
                (Some(5), "INTERACTION_CREATE".to_owned()),
                (Some(6), "RESUMED".to_owned()),
            ]
        );
        assert_eq!(frames[2]["d"]["n"], 2);
        assert_eq!(gw.resumes, 1);
        gw.dispatch("MESSAGE_CREATE", json!({ "n": 4 }));
        assert_eq!(
            types(&drain(&mut rx)),
            vec![(Some(7), "MESSAGE_CREATE".to_owned())]
        );
    }

    #[test]
    fn invalidation_ends_the_session() {
        let mut gw = Gateway::default();
        let (tx, mut rx) = unbounded_channel();
        let conn = gw.connect(tx);
        gw.start_session(conn, "abc".into(), json!({}), json!({}));
        drain(&mut rx);
        gw.invalidate();
        assert_eq!(
            drain(&mut rx),
            vec![serde_json::from_str::<Value>(INVALID_SESSION).unwrap()]
        );
        assert!(!gw.resume(conn, "abc", 0));
        gw.dispatch("MESSAGE_CREATE", json!({}));
        assert!(drain(&mut rx).is_empty());
        assert_eq!(gw.session_id(), None);
    }
}
