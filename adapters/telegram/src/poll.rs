//! Long polling: `getUpdates`, each update stored in the inbox before the offset moves past
//! it, so an update is confirmed to Telegram only once it is durable. A crash re-fetches
//! what was stored but not confirmed, and the inbox drops it as a duplicate.

use std::time::Duration;

use openmog::channel::{InboundSink, ReceiveError};
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, Update};
use teloxide::{ApiError, RequestError};
use tokio_util::sync::CancellationToken;

use crate::channel::TelegramChannel;
use crate::inbound::{Identity, Incoming, convert};

/// Waits between failed polls: doubling from 200 ms to 30 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(30);

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        wait
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// Sleeps `wait` unless `shutdown` fires first; returns `false` on shutdown.
async fn pause(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = shutdown.cancelled() => false,
    }
}

/// Asks `getMe` until it answers (or shutdown); each failure is reported to `sink`.
pub(crate) async fn identity(
    channel: &TelegramChannel,
    sink: &InboundSink,
    shutdown: &CancellationToken,
) -> Option<Identity> {
    let mut backoff = Backoff(Backoff::FIRST);
    loop {
        match channel.identity().await {
            Ok(me) => return Some(me.clone()),
            Err(err) => {
                let why = channel.describe(&err);
                tracing::warn!(error = %why, "getMe failed; retrying");
                sink.disconnected(format!("getMe failed: {why}"));
                if !pause(backoff.next(), shutdown).await {
                    return None;
                }
            }
        }
    }
}

/// Stores one update's event (retrying while the store is unavailable), or answers a press
/// that is not ours. Returns `false` only on shutdown.
pub(crate) async fn handle(
    channel: &TelegramChannel,
    me: &Identity,
    sink: &InboundSink,
    update: &Update,
    shutdown: &CancellationToken,
) -> bool {
    match convert(sink.channel(), me, update) {
        Incoming::Deliver(event) => sink.deliver_until_stored(event, shutdown).await,
        Incoming::Dismiss {
            callback_id,
            notice,
        } => {
            let answer = channel
                .bot
                .answer_callback_query(teloxide::types::CallbackQueryId(callback_id))
                .text(notice)
                .await;
            if let Err(err) = answer {
                tracing::debug!(error = %channel.describe(&err), "could not dismiss a foreign button press");
            }
            true
        }
        Incoming::Ignore(why) => {
            tracing::debug!(update = update.id.0, why, "update ignored");
            true
        }
    }
}

pub(crate) async fn run(
    channel: &TelegramChannel,
    sink: InboundSink,
    shutdown: CancellationToken,
) -> Result<(), ReceiveError> {
    let Some(me) = identity(channel, &sink, &shutdown).await else {
        return Ok(());
    };
    tracing::info!(channel = sink.channel(), bot = %me.username, "polling Telegram for updates");
    // The API answered and took the token; a long poll's first answer may take up to
    // `poll_timeout`, and a failed poll says so below.
    sink.connected();
    let timeout = u32::try_from(channel.settings().poll_timeout.as_secs()).unwrap_or(u32::MAX);
    let mut offset: Option<i32> = None;
    let mut backoff = Backoff(Backoff::FIRST);
    loop {
        let mut request = channel
            .poller
            .get_updates()
            .timeout(timeout)
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        if let Some(offset) = offset {
            request = request.offset(offset);
        }
        let polled = tokio::select! {
            polled = request.send() => polled,
            () = shutdown.cancelled() => break,
        };
        match polled {
            Ok(updates) => {
                backoff.reset();
                sink.connected();
                for update in &updates {
                    if !handle(channel, &me, &sink, update, &shutdown).await {
                        break;
                    }
                    offset = Some(
                        i32::try_from(update.id.0)
                            .unwrap_or(i32::MAX)
                            .saturating_add(1),
                    );
                }
            }
            Err(RequestError::RetryAfter(wait)) => {
                sink.connected();
                if !pause(wait.duration(), &shutdown).await {
                    break;
                }
            }
            Err(err) => {
                let wait = backoff.next();
                sink.disconnected(format!("getUpdates failed: {}", channel.describe(&err)));
                match &err {
                    RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => tracing::error!(
                        "another process polls this bot token; only one poller per token works (see docs/adapters/telegram.md)"
                    ),
                    RequestError::Api(ApiError::CantGetUpdates) => tracing::error!(
                        "a webhook is set for this bot; delete it or use mode = \"webhook\""
                    ),
                    _ => {
                        tracing::warn!(error = %channel.describe(&err), retry_in_ms = wait.as_millis() as u64, "getUpdates failed")
                    }
                }
                if !pause(wait, &shutdown).await {
                    break;
                }
            }
        }
        if shutdown.is_cancelled() {
            break;
        }
    }
    confirm(channel, offset).await;
    Ok(())
}

/// Tells Telegram that everything before `offset` is stored, so the next start does not
/// fetch it again. Best effort: the inbox drops duplicates anyway.
async fn confirm(channel: &TelegramChannel, offset: Option<i32>) {
    let Some(offset) = offset else { return };
    let request = channel.bot.get_updates().offset(offset).limit(1).timeout(0);
    match tokio::time::timeout(Duration::from_secs(2), request.send()).await {
        Ok(Ok(_)) => tracing::debug!(offset, "update offset confirmed"),
        Ok(Err(err)) => {
            tracing::debug!(error = %channel.describe(&err), "could not confirm the update offset")
        }
        Err(_) => tracing::debug!("confirming the update offset timed out"),
    }
}
