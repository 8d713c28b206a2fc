//! Whether each channel is connected to its platform, as its adapter reports it through the
//! [`InboundSink`](super::InboundSink) and the engine sees its receive loop: what `/readyz`
//! and the `openmog_channel_connected` gauge tell an operator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// One channel's connection, as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// The receive loop started; the adapter has not said it is connected yet.
    Connecting,
    /// The adapter is connected (polling answers, the gateway session is ready, the IMAP
    /// login succeeded, the terminal is read).
    Connected,
    /// The adapter lost its connection or cannot make one; it is retrying.
    Down(String),
    /// Another instance sharing the store holds this channel's connection (its lease).
    Standby,
    /// The receive loop ended (shutdown, or the channel closed on its own).
    Stopped,
}

impl Link {
    /// Whether this state counts as ready: connected here, or held by another instance.
    pub fn is_ready(&self) -> bool {
        matches!(self, Link::Connected | Link::Standby)
    }

    /// A short word for the state, for status lines and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Down(_) => "down",
            Link::Standby => "standby",
            Link::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Down(why) => write!(f, "down: {why}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// The connection state of every channel of one engine. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Links {
    states: Arc<Mutex<BTreeMap<String, Link>>>,
}

impl Links {
    /// An empty board.
    pub fn new() -> Self {
        Links::default()
    }

    /// Records `channel`'s state; a change is logged and sets the gauge.
    pub fn set(&self, channel: &str, link: Link) {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let connected = if link == Link::Connected { 1.0 } else { 0.0 };
        let previous = states.insert(channel.to_owned(), link.clone());
        drop(states);
        metrics::gauge!(crate::metrics::CHANNEL_CONNECTED, "channel" => channel.to_owned())
            .set(connected);
        if previous.as_ref() != Some(&link) {
            match &link {
                Link::Down(why) => {
                    tracing::warn!(channel, reason = %why, "channel disconnected")
                }
                other => tracing::debug!(channel, state = other.as_str(), "channel state"),
            }
        }
    }

    /// Every channel's state, by name.
    pub fn snapshot(&self) -> BTreeMap<String, Link> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `Ok` when every channel is connected or on standby; otherwise which are not, and why.
    pub fn readiness(&self) -> Result<(), String> {
        let not_ready: Vec<String> = self
            .snapshot()
            .into_iter()
            .filter(|(_, link)| !link.is_ready())
            .map(|(name, link)| format!("channel {name} {link}"))
            .collect();
        if not_ready.is_empty() {
            Ok(())
        } else {
            Err(not_ready.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_channel_is_connected_or_on_standby() {
        let links = Links::new();
        assert_eq!(
            links.readiness(),
            Ok(()),
            "no channels: nothing to wait for"
        );
        links.set("telegram", Link::Connecting);
        links.set("email", Link::Standby);
        assert_eq!(
            links.readiness(),
            Err("channel telegram connecting".to_owned())
        );
        links.set("telegram", Link::Connected);
        assert_eq!(links.readiness(), Ok(()));
        links.set("email", Link::Down("IMAP login refused".into()));
        assert_eq!(
            links.readiness(),
            Err("channel email down: IMAP login refused".to_owned())
        );
    }
}
