//! The hand-off from a channel's receive loop to the engine: store first, then wake.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::link::{Link, Links};
use crate::clock::SharedClock;
use crate::domain::Inbound;
use crate::store::SharedStore;
use crate::{Error, Result};

/// Where a channel puts what it receives. `deliver` returns once the event is durable in
/// the inbox, so the channel may then acknowledge it to its platform.
#[derive(Clone)]
pub struct InboundSink {
    channel: String,
    store: SharedStore,
    clock: SharedClock,
    wake: Arc<Notify>,
    links: Links,
}

impl std::fmt::Debug for InboundSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSink")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl InboundSink {
    /// A sink for `channel` that stores into `store` and wakes whoever waits on `wake`.
    pub fn new(
        channel: impl Into<String>,
        store: SharedStore,
        clock: SharedClock,
        wake: Arc<Notify>,
    ) -> Self {
        InboundSink {
            channel: channel.into(),
            store,
            clock,
            wake,
            links: Links::new(),
        }
    }

    /// Reports connection changes to `links` (the engine's board) instead of a private one.
    pub fn reporting_to(mut self, links: Links) -> Self {
        self.links = links;
        self
    }

    /// Tells the engine this channel is connected to its platform (its first poll answered,
    /// its session is ready, its login succeeded). Until an adapter says so, the channel
    /// counts as connecting and `/readyz` answers not ready.
    pub fn connected(&self) {
        self.links.set(&self.channel, Link::Connected);
    }

    /// Tells the engine this channel lost its connection, or cannot make one, and why (no
    /// secret in `why`). Say [`Self::connected`] again once it is back.
    pub fn disconnected(&self, why: impl Into<String>) {
        self.links.set(&self.channel, Link::Down(why.into()));
    }

    /// The channel this sink belongs to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Stores `event` in the inbox. Returns `false` if it was a duplicate (same channel and
    /// event id), which is dropped.
    pub async fn deliver(&self, event: Inbound) -> Result<bool> {
        if event.conversation.channel != self.channel {
            return Err(Error::Channel {
                channel: self.channel.clone(),
                message: format!("event for another channel `{}`", event.conversation.channel),
            });
        }
        let stored = self
            .store
            .inbox_put(&event, self.clock.now())
            .await?
            .is_some();
        if stored {
            crate::metrics::inbound(&self.channel);
            self.wake.notify_one();
        } else {
            tracing::debug!(channel = %self.channel, event_id = %event.event_id, "duplicate inbound event dropped");
        }
        Ok(stored)
    }

    /// [`Self::deliver`], retried with doubling backoff (200 ms to 30 s) while the store is
    /// unavailable, so the event is never skipped. Returns `false` only if `shutdown` fired
    /// first; then the event was not stored and the platform position must not move.
    pub async fn deliver_until_stored(&self, event: Inbound, shutdown: &CancellationToken) -> bool {
        let mut wait = Duration::from_millis(200);
        loop {
            match self.deliver(event.clone()).await {
                Ok(_) => return true,
                Err(err) => {
                    tracing::warn!(channel = %self.channel, event_id = %event.event_id, error = %err, "cannot store an inbound event; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = shutdown.cancelled() => return false,
                    }
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
