//! [`DiscordChannel`]: the core's adapter trait on serenity. Requests are built by serenity
//! (routes, builders, models) and executed by the adapter on serenity's own HTTP client, so
//! a 429's `retry_after` can be read (serenity's error drops it when its own limiter is off,
//! and its limiter would bypass a test proxy); pacing is the core's `Paced` layer alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openmog::channel::{Channel, InboundSink, PaceScope, ProbeFailure, ReceiveError, SendError};
use openmog::domain::{
    Capabilities, ConversationRef, MessageRole, Outbound, OutboundBody, SentRef,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use serenity::builder::{
    CreateAllowedMentions, CreateEmbed, CreateInteractionResponseFollowup, CreateMessage,
    EditMessage,
};
use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};
use serenity::model::channel::Message;
use serenity::model::id::{ApplicationId, ChannelId, MessageId};
use tokio_util::sync::CancellationToken;

use crate::inbound::{interaction_of, message_of};
use crate::render::{MAX_MESSAGE_CHARS, approval_buttons, approval_text, escape_markdown};
use crate::settings::DiscordSettings;
use crate::{Error, gateway};

/// How long Discord accepts follow-ups to an interaction.
const INTERACTION_TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);

/// A Discord bot as an openmog channel.
#[derive(Clone)]
pub struct DiscordChannel {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) settings: DiscordSettings,
    /// serenity's HTTP client, shared with the gateway client's `Http`.
    client: reqwest::Client,
    /// For building requests (token, proxy); serenity's limiter is off.
    pub(crate) http: Arc<Http>,
    /// Tokens of recent interactions, by interaction id, for ephemeral answers. Kept in
    /// memory only: they are credentials, and expire within 15 minutes anyway.
    tokens: Mutex<HashMap<u64, (ApplicationId, String, Instant)>>,
}

impl std::fmt::Debug for DiscordChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordChannel")
            .field("name", &self.inner.name)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl DiscordChannel {
    /// A channel named `name` with `settings`.
    pub fn new(name: impl Into<String>, settings: DiscordSettings) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .build()
            .map_err(|err| Error::Client(err.to_string()))?;
        let inner = Inner {
            name: name.into(),
            http: Arc::new(build_http(&settings, &client)),
            client,
            settings,
            tokens: Mutex::new(HashMap::new()),
        };
        Ok(DiscordChannel {
            inner: Arc::new(inner),
        })
    }

    /// The channel named `name` as configured under `[channels.<name>]`.
    pub fn from_config(name: &str, config: &openmog::config::ChannelConfig) -> Result<Self, Error> {
        Self::new(name, DiscordSettings::from_config(name, config)?)
    }
}

/// serenity's `Http` on `client`, pointed at `api_url` when set. serenity's own rate
/// limiter is off: the core's pacing decides, and 429s are read by [`Inner::execute`].
fn build_http(settings: &DiscordSettings, client: &reqwest::Client) -> Http {
    let mut builder = HttpBuilder::new(settings.token.expose_secret())
        .client(client.clone())
        .ratelimiter_disabled(true);
    if let Some(url) = &settings.api_url {
        builder = builder.proxy(url);
    }
    builder.build()
}

impl Inner {
    /// A fresh `Http` for the gateway client (serenity takes ownership of one).
    pub(crate) fn gateway_http(&self) -> Http {
        build_http(&self.settings, &self.client)
    }

    /// Remembers an interaction's token, for answering it later.
    pub(crate) fn remember(&self, interaction: u64, application: ApplicationId, token: &str) {
        let mut tokens = self.tokens.lock().expect("tokens lock");
        tokens.retain(|_, (_, _, at)| at.elapsed() < INTERACTION_TOKEN_LIFETIME);
        tokens.insert(interaction, (application, token.to_owned(), Instant::now()));
    }

    fn token_of(&self, interaction: u64) -> Option<(ApplicationId, String)> {
        let tokens = self.tokens.lock().expect("tokens lock");
        tokens
            .get(&interaction)
            .filter(|(_, _, at)| at.elapsed() < INTERACTION_TOKEN_LIFETIME)
            .map(|(app, token, _)| (*app, token.clone()))
    }

    /// Executes a serenity-built request; a failure says what the outbox should do.
    pub(crate) async fn execute(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response, Failure> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|err| Failure::permanent(0, format!("cannot encode the request: {err}")))?;
        let request = Request::new(route, method)
            .body(body)
            .build(&self.client, self.http.token(), self.http.proxy.as_deref())
            .map_err(|err| Failure::permanent(0, self.redact(&err.to_string())))?;
        let response = request
            .send()
            .await
            .map_err(|err| Failure::transient(self.redact(&err.without_url().to_string())))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let code = body["code"].as_i64().unwrap_or(0);
        let message = body["message"].as_str().unwrap_or("").to_owned();
        Err(match status {
            429 => {
                let secs = body["retry_after"].as_f64().or(header_wait).unwrap_or(1.0);
                Failure {
                    status,
                    code,
                    error: SendError::RetryAfter(Duration::from_secs_f64(secs.clamp(0.0, 3600.0))),
                }
            }
            500..=599 => Failure {
                status,
                code,
                error: SendError::Transient(format!("Discord answered {status}: {message}")),
            },
            _ => Failure {
                status,
                code,
                error: SendError::Permanent(format!(
                    "Discord answered {status} (code {code}): {message}"
                )),
            },
        })
    }

    /// Error text with the token cut out, whatever produced it.
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(self.settings.token.expose_secret(), "[token]")
    }

    async fn post_message(
        &self,
        channel: ChannelId,
        message: &CreateMessage,
    ) -> Result<SentRef, Failure> {
        let response = self
            .execute(
                Route::ChannelMessages {
                    channel_id: channel,
                },
                LightMethod::Post,
                Some(message),
            )
            .await?;
        sent(response).await
    }

    async fn send_text(
        &self,
        channel: ChannelId,
        message: &Outbound,
        text: &str,
    ) -> Result<SentRef, Failure> {
        let content = escape_markdown(text);
        let status = message.role == MessageRole::Status;
        if let Some(id) = message
            .replaces
            .as_ref()
            .and_then(|r| r.message_id.as_deref())
        {
            let id: u64 = id.parse().map_err(|_| {
                Failure::permanent(0, format!("`{id}` is not a Discord message id"))
            })?;
            let edit = if status {
                EditMessage::new().content("").embed(status_embed(text))
            } else {
                EditMessage::new().content(content.clone())
            }
            .components(Vec::new())
            .allowed_mentions(CreateAllowedMentions::new());
            let route = Route::ChannelMessage {
                channel_id: channel,
                message_id: MessageId::new(id),
            };
            match self.execute(route, LightMethod::Patch, Some(&edit)).await {
                Ok(response) => return sent(response).await,
                // The message is gone: say it anew.
                Err(failure) if failure.code == 10008 => {}
                Err(failure) => return Err(failure),
            }
        }
        let mut create = if status {
            CreateMessage::new().embed(status_embed(text))
        } else {
            CreateMessage::new().content(content)
        }
        .allowed_mentions(CreateAllowedMentions::new());
        if let Some(id) = message.in_reply_to.as_deref().and_then(message_of) {
            create = create.reference_message(
                serenity::model::channel::MessageReference::from((channel, MessageId::new(id)))
                    .fail_if_not_exists(false),
            );
        }
        self.post_message(channel, &create).await
    }

    /// Answers an interaction with an ephemeral follow-up, if its token is still known.
    async fn answer_interaction(
        &self,
        interaction: u64,
        text: &str,
    ) -> Option<Result<SentRef, Failure>> {
        let (application_id, token) = self.token_of(interaction)?;
        let followup = CreateInteractionResponseFollowup::new()
            .content(escape_markdown(text))
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new());
        let route = Route::WebhookFollowupMessages {
            application_id,
            token: &token,
        };
        Some(
            match self
                .execute(route, LightMethod::Post, Some(&followup))
                .await
            {
                Ok(response) => sent(response).await,
                Err(failure) => Err(failure),
            },
        )
    }
}

/// A plan's status as an embed: the headline as title, one line per step below.
fn status_embed(text: &str) -> CreateEmbed {
    let (headline, steps) = text.split_once('\n').unwrap_or((text, ""));
    if headline.chars().count() <= 256 {
        CreateEmbed::new()
            .title(headline)
            .description(escape_markdown(steps))
    } else {
        CreateEmbed::new().description(escape_markdown(text))
    }
}

async fn sent(response: reqwest::Response) -> Result<SentRef, Failure> {
    let message: Message = response
        .json()
        .await
        .map_err(|err| Failure::transient(format!("unreadable answer: {err}")))?;
    Ok(SentRef {
        message_id: Some(message.id.get().to_string()),
    })
}

/// A failed request: the HTTP status, Discord's error code, and what the outbox should do.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) error: SendError,
}

impl Failure {
    fn permanent(code: i64, why: String) -> Failure {
        Failure {
            status: 400,
            code,
            error: SendError::Permanent(why),
        }
    }

    fn transient(why: String) -> Failure {
        Failure {
            status: 0,
            code: 0,
            error: SendError::Transient(why),
        }
    }
}

fn channel_of(conversation: &ConversationRef) -> Result<ChannelId, SendError> {
    conversation
        .id
        .parse::<u64>()
        .ok()
        .filter(|id| *id != 0)
        .map(ChannelId::new)
        .ok_or_else(|| {
            SendError::Permanent(format!("`{}` is not a Discord channel", conversation.id))
        })
}

#[async_trait]
impl Channel for DiscordChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        gateway::run(Arc::clone(&self.inner), sink, shutdown).await
    }

    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        let channel = channel_of(&message.conversation)?;
        let inner = &self.inner;
        let text = message.body.plain_text();
        if let Some(interaction) = message.in_reply_to.as_deref().and_then(interaction_of)
            && let Some(answered) = inner.answer_interaction(interaction, &text).await
        {
            match answered {
                Ok(sent) => return Ok(sent),
                // The interaction is gone (expired, or unknown after a restart): say it in
                // the channel instead, so nothing is lost.
                Err(failure) if failure.status == 404 || failure.code == 10015 => {}
                Err(failure) => return Err(failure.error),
            }
        }
        let result = match &message.body {
            OutboundBody::Text { text } => inner.send_text(channel, message, text).await,
            OutboundBody::ApprovalRequest(prompt) => {
                let create = CreateMessage::new()
                    .content(approval_text(prompt))
                    .components(approval_buttons(prompt))
                    .allowed_mentions(CreateAllowedMentions::new());
                inner.post_message(channel, &create).await
            }
        };
        result.map_err(|failure| failure.error)
    }

    /// One `GET /users/@me`: reachable, and the token is taken.
    async fn probe(&self) -> Result<String, ProbeFailure> {
        crate::probe::probe(&self.inner).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            edit: true,
            buttons: true,
            max_message_chars: MAX_MESSAGE_CHARS,
            decisions_need_proof: false,
        }
    }

    /// Discord counts the characters of the content as sent, escapes included.
    fn measure(&self, text: &str) -> usize {
        escape_markdown(text).chars().count()
    }

    fn pace_scope(&self, conversation: &ConversationRef) -> PaceScope {
        PaceScope {
            chat: conversation.id.clone(),
            group: false,
        }
    }

    async fn working(&self, conversation: &ConversationRef) -> Result<(), SendError> {
        let channel = channel_of(conversation)?;
        self.inner
            .execute(
                Route::ChannelTyping {
                    channel_id: channel,
                },
                LightMethod::Post,
                None::<&()>,
            )
            .await
            .map(|_| ())
            .map_err(|failure| failure.error)
    }
}
