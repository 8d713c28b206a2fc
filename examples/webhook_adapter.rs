//! A custom adapter for an in-house chat reached through a plain HTTP webhook, and the
//! engine embedded in an axum application that serves the chat's webhook next to
//! `/healthz`, `/readyz` and `/metrics`.
//!
//! The in-house chat POSTs each message to `/chat/inbound` as JSON (`id`, `room`, `user`,
//! `name`, `text`) and gets openmog's answers as JSON POSTs on its own callback URL. A
//! small stand-in for that chat runs in this process: it asks for a restart, approves the
//! approval request by writing `approve <id>`, and prints every answer.
//!
//! Run with: `cargo run --example webhook_adapter`

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use openmog::channel::{Channel, InboundSink, ReceiveError, SendError};
use openmog::config::{self, ConfigSource};
use openmog::domain::{
    ConversationRef, Inbound, InboundKind, Outbound, OutboundBody, Sender, SentRef,
};
use openmog::engine::Engine;
use openmog::store::MemoryStore;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the in-house chat posts to us.
#[derive(Debug, Deserialize, Serialize)]
struct ChatMessage {
    id: String,
    room: String,
    user: String,
    name: String,
    text: String,
}

/// What we post to the in-house chat.
#[derive(Debug, Deserialize, Serialize)]
struct Answer {
    room: String,
    key: String,
    text: String,
    /// Set on approval requests: the id to approve or deny.
    approval: Option<String>,
}

/// The adapter: inbound arrives through the application's webhook route (which stores it
/// with the engine's sink), so `receive` only waits; `send` posts to the chat's callback.
struct InHouseChat {
    callback: String,
    http: reqwest::Client,
}

#[async_trait]
impl Channel for InHouseChat {
    fn name(&self) -> &str {
        "inhouse"
    }

    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        // Nothing to connect to: the webhook route is served as soon as the app is.
        sink.connected();
        shutdown.cancelled().await;
        Ok(())
    }

    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        let approval = match &message.body {
            OutboundBody::ApprovalRequest(prompt) => Some(prompt.approval.to_string()),
            _ => None,
        };
        let answer = Answer {
            room: message.conversation.id.clone(),
            key: message.idempotency_key.clone(),
            text: message.body.plain_text(),
            approval,
        };
        let response = self
            .http
            .post(&self.callback)
            .json(&answer)
            .send()
            .await
            .map_err(|err| SendError::Transient(err.without_url().to_string()))?;
        match response.status() {
            status if status.is_success() => Ok(SentRef { message_id: None }),
            StatusCode::TOO_MANY_REQUESTS => Err(SendError::RetryAfter(Duration::from_secs(1))),
            status if status.is_server_error() => Err(SendError::Transient(status.to_string())),
            status => Err(SendError::Permanent(status.to_string())),
        }
    }
}

/// The webhook route: an event is acknowledged only once it is stored, so the chat
/// retries anything we did not keep.
async fn inbound(State(sink): State<InboundSink>, Json(message): Json<ChatMessage>) -> StatusCode {
    let event = Inbound {
        conversation: ConversationRef::new("inhouse", message.room),
        sender: Sender {
            user_id: message.user,
            display_name: message.name,
        },
        event_id: message.id,
        kind: InboundKind::Message { text: message.text },
    };
    match sink.deliver(event).await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

const CONFIG: &str = r#"
[[contacts]]
id = "dev"
name = "Dev"
roles = ["member", "oncall"]
addresses = { inhouse = "user-42" }

[[authorizations.rules]]
skill = "shell.run"
decision = "approve"
approvers = ["role:oncall"]

[[planner.rules]]
name = "restart"
pattern = 'restart (?P<svc>[a-z-]+)'
title = "Restart ${svc}"
steps = [{ key = "restart", skill = "shell.run", args = { command = "echo restarting ${svc}" } }]
"#;

async fn serve(router: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    // The stand-in chat: collects what openmog posts to its callback.
    let (answers, mut received) = mpsc::unbounded_channel::<Answer>();
    let chat = serve(Router::new().route(
        "/callback",
        post(move |Json(answer): Json<Answer>| {
            let answers = answers.clone();
            async move {
                let _ = answers.send(answer);
                StatusCode::OK
            }
        }),
    ))
    .await?;

    // The application: openmog's engine, the chat's webhook and the ops endpoints.
    let config = config::load(&[ConfigSource::Text {
        format: "toml".into(),
        text: CONFIG.into(),
    }])?;
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder(config)
        .store(store.clone())
        .channel(InHouseChat {
            callback: format!("{chat}/callback"),
            http: http.clone(),
        })
        .build()
        .await?;
    let running = engine.start();
    let app = Router::new()
        .route("/chat/inbound", post(inbound))
        .with_state(engine.sink("inhouse"))
        .merge(openmog::ops::router(
            store,
            engine.links().clone(),
            Arc::new(openmog::clock::SystemClock),
            Arc::new(|| "# no metrics exporter in this example\n".to_owned()),
        ));
    let app = serve(app).await?;

    let say = |id: &str, text: &str| {
        http.post(format!("{app}/chat/inbound")).json(&ChatMessage {
            id: id.into(),
            room: "ops-room".into(),
            user: "user-42".into(),
            name: "Dev".into(),
            text: text.into(),
        })
    };
    say("m1", "restart billing-api")
        .send()
        .await?
        .error_for_status()?;
    let ready = http
        .get(format!("{app}/readyz"))
        .send()
        .await?
        .text()
        .await?;
    println!("readyz: {ready}");
    loop {
        let answer = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the chat stopped"))?;
        println!("[{}] {}\n", answer.room, answer.text);
        if let Some(approval) = answer.approval {
            say("m2", &format!("approve {approval}"))
                .send()
                .await?
                .error_for_status()?;
        }
        if answer.text.contains("succeeded") {
            break;
        }
    }
    running.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
