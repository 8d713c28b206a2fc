//! The outbox sender: takes stored messages for one channel and sends them, in order per
//! conversation, paced by the channel's [`crate::channel::Paced`] layer, retrying with
//! backoff that honours the platform's retry-after. Nothing is dropped on a transient
//! failure; a permanent one is audited.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditEvent;
use crate::channel::{SendError, SharedChannel};
use crate::clock::SharedClock;
use crate::domain::Outbound;
use crate::store::{OutboxItem, SharedStore};

/// Backoff after transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure; doubled each time.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay before try `attempts + 1`.
    pub fn delay(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.min(20));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Sends one channel's outbox.
pub struct OutboxSender {
    channel: SharedChannel,
    store: SharedStore,
    clock: SharedClock,
    wake: Arc<Notify>,
    retry: RetryPolicy,
    poll: Duration,
}

impl OutboxSender {
    /// A sender for `channel`. `wake` is notified whenever messages are queued.
    pub fn new(
        channel: SharedChannel,
        store: SharedStore,
        clock: SharedClock,
        wake: Arc<Notify>,
        retry: RetryPolicy,
        poll: Duration,
    ) -> Self {
        OutboxSender {
            channel,
            store,
            clock,
            wake,
            retry,
            poll,
        }
    }

    /// Sends until `shutdown`; then returns without waiting for a message in flight to be
    /// retried (it stays in the outbox for the next start).
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.channel.name().to_owned();
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if shutdown.is_cancelled() {
                return;
            }
            let sent_any = match self.send_due(&name).await {
                Ok(n) => n > 0,
                Err(err) => {
                    tracing::warn!(channel = %name, error = %err, "outbox: store unavailable; retrying");
                    false
                }
            };
            if sent_any {
                continue;
            }
            let wait = match self.store.outbox_next_due(&name).await {
                Ok(Some(at)) => at.since(self.clock.now()).min(self.poll),
                _ => self.poll,
            };
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(wait.max(Duration::from_millis(1))) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Sends what is due now (one message per conversation, concurrently); returns how many
    /// were handled.
    pub async fn send_due(&self, name: &str) -> crate::Result<usize> {
        let due = self.store.outbox_due(name, self.clock.now(), 64).await?;
        let handled = due.len();
        join_all(due.into_iter().map(|item| {
            let span = tracing::debug_span!(
                "outbound",
                channel = %item.message.conversation.channel,
                conversation = %item.message.conversation.id,
                key = %item.message.idempotency_key
            );
            tracing::Instrument::instrument(self.send_one(item), span)
        }))
        .await;
        Ok(handled)
    }

    async fn send_one(&self, mut item: OutboxItem) {
        let key = item.message.idempotency_key.clone();
        let result = match self.resolve_edit_target(&mut item).await {
            Ok(()) => self.channel.send(&item.message).await,
            Err(err) => Err(SendError::Transient(format!(
                "cannot look up the message to edit: {err}"
            ))),
        };
        let now = self.clock.now();
        let stored = match result {
            Ok(sent) => {
                let audit = AuditEvent::new(
                    "outbound.sent",
                    "openmog",
                    item.id.to_string(),
                    json!({
                        "conversation": item.message.conversation.to_string(),
                        "idempotency_key": key,
                        "message_id": sent.message_id,
                        "attempts": item.attempts + 1,
                    }),
                );
                crate::metrics::outbound(self.channel.name(), "sent");
                self.store.outbox_sent(&item.id, &sent, audit, now).await
            }
            Err(SendError::RetryAfter(wait)) => {
                crate::metrics::outbound(self.channel.name(), "rate_limited");
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "outbound rate limited by the platform"
                );
                self.store
                    .outbox_retry(&item.id, now.after(wait), "rate limited")
                    .await
            }
            Err(SendError::Transient(why)) => {
                crate::metrics::outbound(self.channel.name(), "retry");
                let wait = self.retry.delay(item.attempts);
                tracing::warn!(error = %why, retry_in_ms = wait.as_millis() as u64, "outbound failed; will retry");
                self.store
                    .outbox_retry(&item.id, now.after(wait), &why)
                    .await
            }
            Err(SendError::Permanent(why)) => {
                crate::metrics::outbound(self.channel.name(), "failed");
                tracing::error!(error = %why, "outbound failed permanently");
                let audit = AuditEvent::new(
                    "outbound.failed",
                    "openmog",
                    item.id.to_string(),
                    json!({ "conversation": item.message.conversation.to_string(), "idempotency_key": key, "error": why }),
                );
                match self.store.outbox_failed(&item.id, audit, now).await {
                    Ok(()) => self.tell_undeliverable(&item.message, &why, now).await,
                    Err(err) => Err(err),
                }
            }
        };
        if let Err(err) = stored {
            // The message stays pending in the store and will be tried again.
            tracing::warn!(error = %err, "outbox: could not record the send result");
        }
    }
}

/// The key suffix of the notice that a message could not be delivered.
const UNDELIVERABLE: &str = ":undeliverable";

impl OutboxSender {
    /// Tells the conversation that one of its messages will never arrive (where it can be
    /// told: a platform that refused one message may take the next, and email may reach
    /// the thread's other participants). A notice that fails in turn is only audited.
    async fn tell_undeliverable(
        &self,
        failed: &Outbound,
        why: &str,
        now: crate::clock::Timestamp,
    ) -> crate::Result<()> {
        if failed.idempotency_key.ends_with(UNDELIVERABLE) {
            return Ok(());
        }
        let notice = Outbound::text(
            failed.conversation.clone(),
            format!("{}{UNDELIVERABLE}", failed.idempotency_key),
            format!("I could not deliver a message here, and will not retry it: {why}"),
        );
        let mut effects = crate::store::Effects::none();
        effects.send(notice);
        self.store.apply(&effects, now).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// An edit names the earlier message by idempotency key; the channel needs the
    /// platform's id for it, known only once that message was sent.
    async fn resolve_edit_target(&self, item: &mut OutboxItem) -> crate::Result<()> {
        if let Some(target) = item.message.replaces.as_mut()
            && target.message_id.is_none()
        {
            target.message_id = self
                .store
                .outbox_sent_ref(&target.key)
                .await?
                .and_then(|sent| sent.message_id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(p.delay(0), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(400));
        assert_eq!(p.delay(30), Duration::from_secs(1));
    }
}
