//! The timer loop: durable timers that came due (`schedule.at`, `schedule.every`) become
//! inbox events — requests on behalf of whoever set them, planned like any request. The
//! event id names the timer and its slot, so a crash between storing the event and moving
//! the timer on cannot ask twice: the inbox drops the repeat.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::domain::{Inbound, InboundKind, Sender, Timer};

/// Timers fired per pass.
const BATCH: usize = 32;

pub(super) async fn run(inner: Arc<Inner>, shutdown: CancellationToken) {
    loop {
        match inner.store.timers_due(inner.now(), BATCH).await {
            Ok(due) => {
                for timer in due {
                    if let Err(err) = fire(&inner, &timer).await {
                        // Still due: the next pass tries again.
                        tracing::warn!(timer = %timer.id, error = %err, "cannot fire timer");
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "timers unavailable"),
        }
        tokio::select! {
            () = tokio::time::sleep(inner.poll) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn fire(inner: &Inner, timer: &Timer) -> crate::Result<()> {
    let now = inner.now();
    let event = Inbound {
        conversation: timer.conversation.clone(),
        sender: Sender {
            user_id: timer.requester.0.clone(),
            display_name: "schedule".to_owned(),
        },
        event_id: format!("timer:{}:{}", timer.id, timer.due_at.0),
        kind: InboundKind::Scheduled {
            text: timer.request.clone(),
            timer: timer.id.clone(),
        },
    };
    inner.store.inbox_put(&event, now).await?;
    let next = timer.next_after(timer.due_at, now);
    if inner
        .store
        .timer_advance(&timer.id, timer.due_at, next)
        .await?
    {
        tracing::info!(timer = %timer.id, next = ?next, "timer fired");
    }
    inner.inbox_wake.notify_waiters();
    Ok(())
}
