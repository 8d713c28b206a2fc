//! Wake-ups from other instances: one `LISTEN` connection per store, started on first use,
//! fanned out to every subscriber. A notification sent while the connection was down is
//! lost, so a reconnect wakes everyone too (they re-poll), and the engine's periodic
//! re-poll covers the rest.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener};
use tokio::sync::broadcast;

use super::NOTIFY_CHANNEL;

/// The fan-out of one store's notifications.
#[derive(Debug, Clone, Default)]
pub(super) struct Wakeups {
    sender: Arc<Mutex<Option<broadcast::Sender<()>>>>,
}

impl Wakeups {
    /// A receiver of wake-ups; the first call starts the listener.
    pub(super) fn subscribe(&self, options: &PgConnectOptions) -> broadcast::Receiver<()> {
        let mut sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = sender.as_ref() {
            return sender.subscribe();
        }
        let (tx, rx) = broadcast::channel(16);
        tokio::spawn(listen(options.clone(), tx.clone()));
        *sender = Some(tx);
        rx
    }
}

async fn listen(options: PgConnectOptions, wake: broadcast::Sender<()>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let listener = async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(200);
                // Whatever was missed while not listening is found by polling once.
                let _ = wake.send(());
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => {}
                        // The connection was lost; the next call reconnects. Re-poll.
                        Ok(None) => {}
                        Err(err) => {
                            tracing::warn!(error = %err, "Postgres LISTEN failed; reconnecting");
                            break;
                        }
                    }
                    if wake.send(()).is_err() {
                        return; // No subscriber left.
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot LISTEN on Postgres; retrying"),
        }
        if wake.receiver_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
