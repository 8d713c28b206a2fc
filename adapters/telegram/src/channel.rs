//! [`TelegramChannel`]: the core's adapter trait on teloxide's Bot API client. Sending maps
//! each outbound message to one API call (a callback notice, an edit, or a message) and each
//! failure to what the outbox should do; pacing is the core's `Paced` layer, never
//! teloxide's `Throttle`, so one limiter decides.

use async_trait::async_trait;
use openmog::channel::{Channel, InboundSink, PaceScope, ProbeFailure, ReceiveError, SendError};
use openmog::domain::{Capabilities, ConversationRef, Outbound, OutboundBody, SentRef};
use secrecy::ExposeSecret;
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, ChatAction, MessageId, ParseMode, ReplyParameters, ThreadId,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::address::{Answered, Place};
use crate::inbound::Identity;
use crate::render::{approval_keyboard, approval_text, html};
use crate::settings::{Mode, TelegramSettings};
use crate::{Error, poll, webhook};

/// Telegram's limit on a message's text, in UTF-16 code units after entity parsing.
pub const MAX_MESSAGE_UNITS: usize = 4096;

/// Telegram's limit on a callback notice, in characters.
const MAX_NOTICE_CHARS: usize = 200;

/// A Telegram bot as an openmog channel.
pub struct TelegramChannel {
    name: String,
    settings: TelegramSettings,
    /// For sends: requests time out after `request_timeout`.
    pub(crate) bot: Bot,
    /// For long polls: their timeout is the poll timeout plus `request_timeout`.
    pub(crate) poller: Bot,
    identity: OnceCell<Identity>,
}

impl std::fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramChannel")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TelegramChannel {
    /// A channel named `name` with `settings`.
    pub fn new(name: impl Into<String>, settings: TelegramSettings) -> Result<Self, Error> {
        let name = name.into();
        let api_url = url::Url::parse(&settings.api_url).map_err(|err| Error::Config {
            key: format!("channels.{name}.settings.api_url"),
            reason: err.to_string(),
        })?;
        let bot = |timeout| -> Result<Bot, Error> {
            let client = teloxide::net::default_reqwest_settings()
                .timeout(timeout)
                .build()
                .map_err(|err| Error::Client(err.to_string()))?;
            Ok(Bot::with_client(settings.token.expose_secret(), client)
                .set_api_url(api_url.clone()))
        };
        Ok(TelegramChannel {
            name,
            bot: bot(settings.request_timeout)?,
            poller: bot(settings.poll_timeout + settings.request_timeout)?,
            settings,
            identity: OnceCell::new(),
        })
    }

    /// The channel named `name` as configured under `[channels.<name>]`.
    pub fn from_config(name: &str, config: &openmog::config::ChannelConfig) -> Result<Self, Error> {
        Self::new(name, TelegramSettings::from_config(name, config)?)
    }

    /// The settings in force.
    pub fn settings(&self) -> &TelegramSettings {
        &self.settings
    }

    /// Who the bot is (asked once with `getMe`).
    pub(crate) async fn identity(&self) -> Result<&Identity, RequestError> {
        self.identity
            .get_or_try_init(|| async {
                let me = self.bot.get_me().await?;
                Ok(Identity {
                    id: me.user.id.0,
                    username: me.user.username.clone().unwrap_or_default(),
                })
            })
            .await
    }

    /// An error as text with the bot token cut out: reqwest puts request URLs, which carry
    /// the token, into its messages.
    pub(crate) fn describe(&self, err: &RequestError) -> String {
        err.to_string()
            .replace(self.settings.token.expose_secret(), "[token]")
    }

    /// What the outbox should do about a failed request.
    fn classify(&self, err: RequestError) -> SendError {
        match err {
            RequestError::RetryAfter(wait) => SendError::RetryAfter(wait.duration()),
            RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
                SendError::Transient(self.describe(&err))
            }
            RequestError::Api(ApiError::Unknown(ref description))
                if looks_transient(description) =>
            {
                SendError::Transient(self.describe(&err))
            }
            RequestError::MigrateToChatId(to) => SendError::Permanent(format!(
                "the group became supergroup {to}; update the contacts and conversations that name it"
            )),
            RequestError::Api(_) => SendError::Permanent(self.describe(&err)),
        }
    }

    async fn send_text(
        &self,
        place: Place,
        message: &Outbound,
        text: &str,
        answered: Option<&Answered>,
    ) -> Result<SentRef, SendError> {
        let chat = ChatId(place.chat);
        if let Some(id) = message
            .replaces
            .as_ref()
            .and_then(|r| r.message_id.as_deref())
        {
            let id: i32 = id.parse().map_err(|_| {
                SendError::Permanent(format!("`{id}` is not a Telegram message id"))
            })?;
            match self
                .bot
                .edit_message_text(chat, MessageId(id), html(text))
                .parse_mode(ParseMode::Html)
                .await
            {
                Ok(edited) => return Ok(sent(edited.id)),
                Err(RequestError::Api(ApiError::MessageNotModified)) => {
                    return Ok(sent(MessageId(id)));
                }
                Err(RequestError::Api(
                    ApiError::MessageToEditNotFound | ApiError::MessageCantBeEdited,
                )) => {
                    tracing::info!(
                        message_id = id,
                        "message to edit is gone; sending a new one"
                    );
                }
                Err(err) => return Err(self.classify(err)),
            }
        }
        let mut request = self
            .bot
            .send_message(chat, html(text))
            .parse_mode(ParseMode::Html);
        if let Some(thread) = place.thread {
            request = request.message_thread_id(ThreadId(MessageId(thread)));
        }
        if let Some(Answered::Message { chat, id }) = answered
            && *chat == place.chat
        {
            request = request.reply_parameters(
                ReplyParameters::new(MessageId(*id)).allow_sending_without_reply(),
            );
        }
        request
            .await
            .map(|m| sent(m.id))
            .map_err(|err| self.classify(err))
    }
}

impl TelegramChannel {
    /// One outbound message as one API call: a callback notice, an edit or a message.
    async fn deliver(&self, message: &Outbound) -> Result<SentRef, SendError> {
        let place = Place::parse(&message.conversation.id).ok_or_else(|| {
            SendError::Permanent(format!(
                "`{}` is not a Telegram chat",
                message.conversation.id
            ))
        })?;
        let answered = message.in_reply_to.as_deref().and_then(Answered::parse);
        if let Some(Answered::Press(callback)) = &answered {
            let text = notice(&message.body.plain_text());
            match self
                .bot
                .answer_callback_query(CallbackQueryId(callback.clone()))
                .text(text)
                .await
            {
                Ok(_) => return Ok(SentRef::default()),
                // Too late for a notice: say it in the chat instead, so nothing is lost.
                Err(RequestError::Api(ApiError::InvalidQueryId)) => {
                    tracing::info!("button press too old to answer; answering in the chat");
                }
                Err(err) => return Err(self.classify(err)),
            }
        }
        match &message.body {
            OutboundBody::Text { text } => {
                self.send_text(place, message, text, answered.as_ref())
                    .await
            }
            OutboundBody::ApprovalRequest(prompt) => {
                let mut request = self
                    .bot
                    .send_message(ChatId(place.chat), approval_text(prompt))
                    .parse_mode(ParseMode::Html)
                    .reply_markup(approval_keyboard(prompt));
                if let Some(thread) = place.thread {
                    request = request.message_thread_id(ThreadId(MessageId(thread)));
                }
                request
                    .await
                    .map(|m| sent(m.id))
                    .map_err(|err| self.classify(err))
            }
        }
    }
}

fn sent(id: MessageId) -> SentRef {
    SentRef {
        message_id: Some(id.0.to_string()),
    }
}

/// Telegram's own 5xx answers arrive as JSON errors that teloxide cannot name.
fn looks_transient(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "timeout",
        "try again",
    ]
    .iter()
    .any(|needle| d.contains(needle))
}

fn notice(text: &str) -> String {
    if text.chars().count() <= MAX_NOTICE_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_NOTICE_CHARS - 1).collect();
    short.push('…');
    short
}

#[async_trait]
impl Channel for TelegramChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        match self.settings.mode {
            Mode::Polling => poll::run(self, sink, shutdown).await,
            Mode::Webhook => webhook::run(self, sink, shutdown).await,
        }
    }

    /// One `getMe`: reachable, and the token is taken.
    async fn probe(&self) -> Result<String, ProbeFailure> {
        crate::probe::probe(self).await
    }

    /// With a webhook, every instance behind the load balancer serves it (the inbox drops
    /// an `update_id` it already has); long polling is one poller per token.
    fn receives_everywhere(&self) -> bool {
        self.settings.mode == Mode::Webhook
    }

    /// Sends within `request_timeout`, however the client behaves: teloxide waits ten
    /// seconds after any 5xx before it even reports it.
    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        tokio::time::timeout(self.settings.request_timeout, self.deliver(message))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(format!(
                    "no answer within {:?}",
                    self.settings.request_timeout
                )))
            })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            edit: true,
            buttons: true,
            max_message_chars: MAX_MESSAGE_UNITS,
            decisions_need_proof: false,
        }
    }

    fn pace_scope(&self, conversation: &ConversationRef) -> PaceScope {
        match Place::parse(&conversation.id) {
            Some(place) => PaceScope {
                chat: place.chat.to_string(),
                group: place.is_group(),
            },
            None => PaceScope {
                chat: conversation.id.clone(),
                group: false,
            },
        }
    }

    async fn working(&self, conversation: &ConversationRef) -> Result<(), SendError> {
        let place = Place::parse(&conversation.id).ok_or_else(|| {
            SendError::Permanent(format!("`{}` is not a Telegram chat", conversation.id))
        })?;
        let mut request = self
            .bot
            .send_chat_action(ChatId(place.chat), ChatAction::Typing);
        if let Some(thread) = place.thread {
            request = request.message_thread_id(ThreadId(MessageId(thread)));
        }
        request.await.map(|_| ()).map_err(|err| self.classify(err))
    }
}
