//! The adapter trait every channel implements, and the layers that wrap it.
//!
//! A channel has three required methods: its name, a receive loop that hands inbound events
//! to an [`InboundSink`], and `send`. `capabilities` has a default. Approval requests arrive
//! as [`crate::domain::OutboundBody::ApprovalRequest`], which each channel renders its own
//! way ([`crate::domain::ApprovalPrompt::plain_text`] for text-only channels). Pacing is a
//! layer ([`Paced`]) and retries belong to the outbox, so adapters stay small.

mod chunk;
pub mod conformance;
pub mod decisions;
mod link;
mod memory;
pub(crate) mod paced;
mod sink;
mod state;
mod terminal;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::domain::{Capabilities, ConversationRef, Outbound, SentRef};

pub use chunk::{message_units, split_message, split_message_by};
pub use link::{Link, Links};
pub use memory::{Delivered, MemoryChannel, MemoryChannelHandle};
pub use paced::{Paced, TokioClock};
pub use sink::InboundSink;
pub use state::ChannelState;
pub use terminal::{TERMINAL_CONVERSATION, TERMINAL_USER, TerminalChannel};

/// Why a send failed, as the outbox needs to know it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The platform said to wait (e.g. HTTP 429 with `retry_after`).
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    /// A failure that may pass (timeout, 5xx, connection reset).
    #[error("transient failure: {0}")]
    Transient(String),
    /// A failure that will not pass (chat not found, bot blocked, invalid request).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// What a channel's self-check ([`Channel::probe`]) found wrong, and what to do about it.
/// Neither part may hold a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{problem}")]
pub struct ProbeFailure {
    /// What is wrong, e.g. "the bot token was refused (401 Unauthorized)".
    pub problem: String,
    /// What the operator can do about it, e.g. where to get a new token.
    pub hint: String,
}

impl ProbeFailure {
    /// A failure and its fix.
    pub fn new(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        ProbeFailure {
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

/// A receive loop that ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ReceiveError(pub String);

/// A chat platform (or any other conversation medium) as the core sees it.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The channel's configured name; [`crate::domain::ConversationRef::channel`] refers to it.
    fn name(&self) -> &str;

    /// Receives events until `shutdown` fires, handing each to `sink`. An adapter commits
    /// its platform position (update offset, IMAP UID) only after `sink.deliver` returned.
    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError>;

    /// Sends one message. The idempotency key is stable across resends.
    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError>;

    /// What the channel can do beyond text.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// How long `text` is by the platform's measure once this channel has rendered it
    /// (escaping included); the engine splits text so that each part measures at most
    /// `capabilities().max_message_chars`. Default: UTF-16 code units of the text as is.
    fn measure(&self, text: &str) -> usize {
        message_units(text)
    }

    /// Which pacing buckets a conversation shares: platforms limit per chat (so every
    /// topic of one group shares the group's budget) and more strictly in groups.
    fn pace_scope(&self, conversation: &ConversationRef) -> PaceScope {
        PaceScope {
            chat: conversation.id.clone(),
            group: false,
        }
    }

    /// Shows that work is under way in `conversation` (a typing indicator), best effort.
    /// Called every few seconds while a step of a plan from that conversation runs.
    async fn working(&self, _conversation: &ConversationRef) -> Result<(), SendError> {
        Ok(())
    }

    /// Checks, once and without receiving or sending anything, that the platform is
    /// reachable and takes this channel's credentials (`openmog doctor`). Returns what it
    /// found, e.g. the bot's name. Default: nothing to check.
    async fn probe(&self) -> Result<String, ProbeFailure> {
        Ok("nothing to check".to_owned())
    }

    /// Whether every instance sharing a store may run this channel's receive loop at once
    /// (a webhook behind a load balancer: the inbox drops an event id it already has).
    /// Default: no, one instance at a time holds the connection, by lease (one long poller
    /// per bot token, one gateway session, one IMAP watcher).
    fn receives_everywhere(&self) -> bool {
        false
    }
}

/// The pacing buckets one conversation belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaceScope {
    /// The platform chat the conversation lives in (topics and threads share it).
    pub chat: String,
    /// Whether the chat is a group, paced by [`crate::config::Pacing::per_group`] too.
    pub group: bool,
}

#[async_trait]
impl<C: Channel + ?Sized> Channel for Arc<C> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        (**self).receive(sink, shutdown).await
    }

    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        (**self).send(message).await
    }

    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }

    fn measure(&self, text: &str) -> usize {
        (**self).measure(text)
    }

    fn pace_scope(&self, conversation: &ConversationRef) -> PaceScope {
        (**self).pace_scope(conversation)
    }

    async fn working(&self, conversation: &ConversationRef) -> Result<(), SendError> {
        (**self).working(conversation).await
    }

    async fn probe(&self) -> Result<String, ProbeFailure> {
        (**self).probe().await
    }

    fn receives_everywhere(&self) -> bool {
        (**self).receives_everywhere()
    }
}

/// A shared channel.
pub type SharedChannel = Arc<dyn Channel>;

// The trait must stay object-safe: engines hold `Arc<dyn Channel>`.
const _: Option<&dyn Channel> = None;
