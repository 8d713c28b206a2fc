//! Messages in and out of a channel, in platform-neutral form.

use serde::{Deserialize, Serialize};

use super::{ApprovalId, DecisionScope, PlanId, Verdict};

/// Where a conversation happens: a channel's name and the platform's id for the chat, thread,
/// topic or email thread.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConversationRef {
    /// The channel's configured name (e.g. `terminal`, `telegram`).
    pub channel: String,
    /// The platform's id for the conversation, opaque to the core.
    pub id: String,
}

impl ConversationRef {
    /// A conversation on `channel` with platform id `id`.
    pub fn new(channel: impl Into<String>, id: impl Into<String>) -> Self {
        ConversationRef {
            channel: channel.into(),
            id: id.into(),
        }
    }
}

impl std::fmt::Display for ConversationRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.channel, self.id)
    }
}

/// Who sent an inbound event, as the platform authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The platform's stable user id (never a display name): what contacts are bound to.
    pub user_id: String,
    /// A display name, for messages only; never used for authorization.
    pub display_name: String,
}

/// Something that arrived on a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The conversation it arrived in.
    pub conversation: ConversationRef,
    /// Who sent it.
    pub sender: Sender,
    /// The platform's id for this event (message id, update id, callback id): the inbox
    /// drops a second event with the same id on the same channel.
    pub event_id: String,
    /// What it is.
    pub kind: InboundKind,
}

/// What an inbound event is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundKind {
    /// Text written by the sender.
    Message {
        /// The text, untrusted.
        text: String,
    },
    /// A decision made through the platform's own UI (a button press), bound by the platform
    /// to the sender's user id.
    Decision {
        /// The approval decided on.
        approval: ApprovalId,
        /// Approve or deny.
        verdict: Verdict,
        /// This step only, or the whole plan.
        scope: DecisionScope,
        /// The approval's nonce as the decision carried it (an email reply's plus address
        /// or In-Reply-To). When present it must equal the approval's own nonce; on channels
        /// whose [`Capabilities::decisions_need_proof`] is set it must be present.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
        /// What the decider wrote with it (`DENY not during the release`), for the record.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// A request a durable timer asks on behalf of the contact who set it (`sender.user_id`
    /// is that contact's id, not a platform id). Only the engine makes these; it plans
    /// them like a message, but never reads them as a command or a decision.
    Scheduled {
        /// The request.
        text: String,
        /// The timer that fired.
        timer: String,
    },
    /// Something the channel refused before it could become a request or a decision (a
    /// mail whose sender is not authenticated, an automatic reply). Never acted on: the
    /// engine audits it and, if `answer` is set and the sender is a known contact, tells
    /// them why.
    Refused {
        /// Why, in words fit for the sender and the audit log.
        reason: String,
        /// Whether the sender should be told (never for automatic mail: no loops).
        answer: bool,
    },
}

/// What a channel can do beyond sending text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// Sent messages can be edited in place.
    pub edit: bool,
    /// Approval requests can carry buttons whose presses arrive as decisions.
    pub buttons: bool,
    /// The longest message the platform accepts, in UTF-16 code units (0: no limit); the
    /// engine splits longer text into several messages
    /// ([`crate::channel::split_message`]).
    pub max_message_chars: usize,
    /// Anyone can forge what this channel says a sender wrote (mail): decisions count only
    /// as [`InboundKind::Decision`] events that carry the approval's nonce, and typed
    /// commands like `approve a-7hq4rt` are refused.
    pub decisions_need_proof: bool,
}

/// A message to send, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// Where it goes.
    pub conversation: ConversationRef,
    /// Stable across resends after a crash, so a channel (or its platform) can recognise a
    /// duplicate.
    pub idempotency_key: String,
    /// What it says.
    pub body: OutboundBody,
    /// The inbound event this answers (its `event_id`), so a channel can answer in kind: a
    /// button press with a short notice, a message with a threaded reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// An earlier message in the same conversation that this one replaces, on channels
    /// that can edit (a status line kept current, an approval request showing its outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaces>,
    /// What the message is for, so a channel can present it accordingly.
    #[serde(default, skip_serializing_if = "MessageRole::is_say")]
    pub role: MessageRole,
}

/// What a message is for. Channels may present roles differently (Discord shows a plan's
/// status as an embed); the text is the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    /// Anything said in the conversation.
    #[default]
    Say,
    /// A plan's status: its first line is a headline, the rest one line per step.
    Status,
}

impl MessageRole {
    fn is_say(&self) -> bool {
        *self == MessageRole::Say
    }
}

impl Outbound {
    /// A plain message to `conversation`.
    pub fn text(
        conversation: ConversationRef,
        idempotency_key: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Outbound {
            conversation,
            idempotency_key: idempotency_key.into(),
            body: OutboundBody::Text { text: text.into() },
            in_reply_to: None,
            replaces: None,
            role: MessageRole::Say,
        }
    }
}

/// The message an edit replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaces {
    /// The idempotency key of the earlier message.
    pub key: String,
    /// The platform's id for it, filled in by the outbox from the earlier message's
    /// [`SentRef`] just before sending; `None` if it was never delivered, and then the
    /// channel sends a new message instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// The content of an outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundBody {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// A request for a decision, rendered by each channel its own way.
    ApprovalRequest(ApprovalPrompt),
}

impl OutboundBody {
    /// The body as plain text, whatever its kind.
    pub fn plain_text(&self) -> String {
        match self {
            OutboundBody::Text { text } => text.clone(),
            OutboundBody::ApprovalRequest(prompt) => prompt.plain_text(),
        }
    }
}

/// An approval request as channels render it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalPrompt {
    /// The approval to decide.
    pub approval: ApprovalId,
    /// Its plan.
    pub plan: PlanId,
    /// What is being asked, one line (e.g.
    /// `restart: shell.run {"command":"systemctl restart api"}`).
    pub summary: String,
    /// Who may decide, by name.
    pub approvers: Vec<String>,
    /// Approvals still needed.
    pub quorum: u32,
    /// Whether "approve the whole plan" may be offered.
    pub whole_plan: bool,
    /// A secret of this approval, for channels that must prove a decision answers this very
    /// request (mail carries it in a plus-addressed Reply-To); never shown as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
}

impl ApprovalPrompt {
    /// The text rendering used by channels without buttons.
    pub fn plain_text(&self) -> String {
        let mut text = format!(
            "Approval needed [{}] for plan {}: {}\nApprovers: {}{}\nReply `approve {}` or `deny {}`",
            self.approval,
            self.plan,
            self.summary,
            self.approvers.join(", "),
            if self.quorum > 1 {
                format!(" ({} needed)", self.quorum)
            } else {
                String::new()
            },
            self.approval,
            self.approval,
        );
        if self.whole_plan {
            text.push_str(&format!(
                ", or `approve plan {}` for the whole plan",
                self.approval
            ));
        }
        text.push('.');
        text
    }
}

/// The platform's handle on a delivered message (for edits and threading).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SentRef {
    /// The platform's message id, if it has one.
    pub message_id: Option<String>,
}
