//! Webhook mode: an HTTP endpoint (TLS terminated in front of it) that Telegram posts
//! updates to. Every request must carry the configured secret token; an update is answered
//! 200 only once it is stored, so Telegram redelivers anything that was not. The webhook is
//! registered only when `register_url` is set, and never deleted on stop: with several
//! instances behind a load balancer, one stopping must not unhook the others.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use openmog::channel::{InboundSink, ReceiveError};
use secrecy::ExposeSecret;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, Update};
use tokio_util::sync::CancellationToken;

use crate::channel::TelegramChannel;
use crate::inbound::Identity;
use crate::poll::{handle, identity};

/// The header Telegram sends the secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

struct Endpoint<'a> {
    channel: &'a TelegramChannel,
    me: Identity,
    sink: InboundSink,
    shutdown: CancellationToken,
}

pub(crate) async fn run(
    channel: &TelegramChannel,
    sink: InboundSink,
    shutdown: CancellationToken,
) -> Result<(), ReceiveError> {
    let Some(settings) = channel.settings().webhook.clone() else {
        return Err(ReceiveError(
            "webhook mode without webhook settings".to_owned(),
        ));
    };
    let Some(me) = identity(channel, &sink, &shutdown).await else {
        return Ok(());
    };
    if let Some(url) = &settings.register_url {
        let url = url::Url::parse(url)
            .map_err(|err| ReceiveError(format!("webhook.register_url `{url}`: {err}")))?;
        channel
            .bot
            .set_webhook(url)
            .secret_token(settings.secret_token.expose_secret())
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .await
            .map_err(|err| {
                ReceiveError(format!("setWebhook failed: {}", channel.describe(&err)))
            })?;
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|err| ReceiveError(format!("cannot listen on {}: {err}", settings.listen)))?;
    tracing::info!(listen = %settings.listen, path = %settings.path, "serving the Telegram webhook");
    sink.connected();

    // The handler borrows the channel; the server runs inside this call, so the borrow
    // lives long enough. axum wants 'static state, hence the scoped pointer dance is
    // avoided by serving requests through a channel of our own.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Delivery>(64);
    let secret = Arc::new(settings.secret_token.clone());
    let app = Router::new()
        .route(&settings.path, post(accept))
        .with_state(Accept { tx, secret });
    let server =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let endpoint = Endpoint {
        channel,
        me,
        sink,
        shutdown: shutdown.clone(),
    };
    let process = async {
        while let Some(delivery) = rx.recv().await {
            let stored = handle(
                endpoint.channel,
                &endpoint.me,
                &endpoint.sink,
                &delivery.update,
                &endpoint.shutdown,
            )
            .await;
            let _ = delivery.done.send(stored);
        }
    };
    tokio::select! {
        served = server => served.map_err(|err| ReceiveError(format!("webhook server: {err}")))?,
        () = process => {}
    }
    Ok(())
}

/// An update handed from the HTTP handler to the processing loop, with the answer slot.
struct Delivery {
    update: Update,
    done: tokio::sync::oneshot::Sender<bool>,
}

#[derive(Clone)]
struct Accept {
    tx: tokio::sync::mpsc::Sender<Delivery>,
    secret: Arc<secrecy::SecretString>,
}

async fn accept(State(accept): State<Accept>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !constant_time_eq(given, accept.secret.expose_secret().as_bytes()) {
        tracing::warn!("webhook request without the right secret token refused");
        return StatusCode::UNAUTHORIZED;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(err) => {
            // Telegram would resend it forever; it will not parse any better next time.
            tracing::warn!(error = %err, "malformed update dropped");
            return StatusCode::OK;
        }
    };
    let (done, stored) = tokio::sync::oneshot::channel();
    if accept.tx.send(Delivery { update, done }).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match stored.await {
        Ok(true) => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Compares without an early exit, so response timing says nothing about the secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn secret_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
