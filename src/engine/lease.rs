//! Exclusive work across instances: on a store several processes share, a channel's
//! receive loop, its outbox sender and the inbox processor run in one process at a time,
//! the one holding the work's lease in the store. The holder renews the lease every third
//! of its length; another process takes it over once it has ended, so a dead holder is
//! replaced within one lease length (plus one renewal period). On a store only this
//! process uses, the work simply runs.
//!
//! Leases are measured on the system clock, not the engine's (which tests move by hand):
//! they compare moments across processes, and a holder must stop before the others can
//! think its lease has ended.

use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::clock::{Clock, SystemClock};

/// Runs `work` while this process holds lease `name`, until `stop` is cancelled and the
/// work has ended, or the work ends on its own. A lost lease stops the work (its token is
/// cancelled) before another process can have taken it over; then the lease is sought
/// again.
pub(super) async fn hold<F, Fut>(
    inner: Arc<Inner>,
    name: String,
    stop: CancellationToken,
    mut work: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !inner.store.is_shared() {
        work(stop).await;
        return;
    }
    let ttl = inner.config.store.lease.0;
    let every = ttl / 3;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let now = SystemClock.now();
        match inner
            .store
            .lease_acquire(&name, &inner.instance, now, now.after(ttl))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tokio::select! {
                    () = tokio::time::sleep(every) => continue,
                    () = stop.cancelled() => return,
                }
            }
            Err(err) => {
                tracing::warn!(lease = %name, error = %err, "cannot take the lease");
                tokio::select! {
                    () = tokio::time::sleep(every) => continue,
                    () = stop.cancelled() => return,
                }
            }
        }
        tracing::info!(lease = %name, instance = %inner.instance, "lease taken");
        let mut held_until = now.after(ttl);
        let token = stop.child_token();
        // The work runs inside this task (not spawned), so aborting the engine aborts it
        // too: a killed instance must not go on sending.
        let running = work(token.clone());
        tokio::pin!(running);
        let ended_on_its_own = loop {
            tokio::select! {
                () = &mut running => break true,
                () = tokio::time::sleep(every) => {}
            }
            let now = SystemClock.now();
            match inner
                .store
                .lease_acquire(&name, &inner.instance, now, now.after(ttl))
                .await
            {
                Ok(true) => held_until = now.after(ttl),
                Ok(false) => {
                    tracing::warn!(lease = %name, "lease lost to another instance; stopping");
                    break false;
                }
                // The store is unreachable: keep working while the lease surely holds.
                Err(err) if now.after(every) < held_until => {
                    tracing::warn!(lease = %name, error = %err, "cannot renew the lease yet");
                }
                Err(err) => {
                    tracing::warn!(lease = %name, error = %err, "lease about to end unrenewed; stopping");
                    break false;
                }
            }
        };
        token.cancel();
        if !ended_on_its_own {
            // Let it wind down briefly; dropping it stops whatever is left.
            let _ = tokio::time::timeout(every, &mut running).await;
            continue;
        }
        if let Err(err) = inner.store.lease_release(&name, &inner.instance).await {
            tracing::warn!(lease = %name, error = %err, "cannot release the lease; it ends by itself");
        }
        return;
    }
}
