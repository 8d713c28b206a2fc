//! How fast a channel sends what waits in its outbox, through the same pacing layer and
//! outbox sender the engine uses: the adapters' send-rate benchmarks share it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::channel::{Channel, Paced};
use crate::clock::{SystemClock, Timestamp};
use crate::config::Pacing;
use crate::domain::Outbound;
use crate::outbox::{OutboxSender, RetryPolicy};
use crate::store::{Effects, MemoryStore, SharedStore};

/// What [`drain_outbox`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Drained {
    /// Messages sent.
    pub messages: usize,
    /// From starting the sender to the outbox being empty.
    pub elapsed: Duration,
}

/// Queues `messages` in a fresh outbox, all due at once, and times `channel` (wrapped in
/// [`Paced`] with `pacing`) sending them all, retries after 429s included.
pub async fn drain_outbox<C: Channel>(
    channel: C,
    pacing: Pacing,
    messages: Vec<Outbound>,
) -> crate::Result<Drained> {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let mut effects = Effects::none();
    let count = messages.len();
    for message in messages {
        effects.send(message);
    }
    store.apply(&effects, Timestamp(0)).await?;
    let sender = OutboxSender::new(
        Arc::new(Paced::new(channel, pacing)),
        Arc::clone(&store),
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
        RetryPolicy::default(),
        Duration::from_millis(10),
    );
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(sender.run(shutdown.clone()));
    while store.outbox_depth().await? > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    let _ = task.await;
    Ok(Drained {
        messages: count,
        elapsed,
    })
}
