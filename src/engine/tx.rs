//! The effects of one engine transition: the messages it causes (keyed, split to fit the
//! channel, marked as answers to the event that caused them) and its audit events, to be
//! committed together with the plan change.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::channel::{SharedChannel, split_message_by};
use crate::clock::Timestamp;
use crate::domain::{
    ApprovalPrompt, Capabilities, ConversationRef, MessageRole, Outbound, OutboundBody, Replaces,
};
use crate::store::Effects;

/// The inbound event being answered: replies go to its conversation, marked as answers to
/// it, so a channel can answer a button press with a notice rather than a chat message.
#[derive(Debug, Clone)]
pub(crate) struct Asker {
    pub(crate) conversation: ConversationRef,
    pub(crate) event_id: String,
}

/// The engine's channels, by name: what each can do, and how it measures text.
pub(crate) type Channels = Arc<BTreeMap<String, SharedChannel>>;

/// Collects the effects of one transition, giving each message an idempotency key that is
/// stable for it.
pub(crate) struct Tx {
    pub(super) effects: Effects,
    pub(super) key_prefix: String,
    pub(super) now: Timestamp,
    channels: Channels,
}

impl Tx {
    pub(super) fn new(key_prefix: String, now: Timestamp, channels: Channels) -> Self {
        Tx {
            effects: Effects::none(),
            key_prefix,
            now,
            channels,
        }
    }

    /// The key the next message would get.
    pub(super) fn next_key(&self) -> String {
        format!("{}:{}", self.key_prefix, self.effects.outbox.len())
    }

    fn capabilities(&self, conversation: &ConversationRef) -> Capabilities {
        self.channels
            .get(&conversation.channel)
            .map(|c| c.capabilities())
            .unwrap_or_default()
    }

    /// Whether messages in `conversation` can be edited in place.
    pub(crate) fn can_edit(&self, conversation: &ConversationRef) -> bool {
        self.capabilities(conversation).edit
    }

    /// Queues a message.
    pub(crate) fn say(&mut self, conversation: &ConversationRef, text: impl Into<String>) {
        let key = self.next_key();
        self.push(Outbound::text(conversation.clone(), key, text));
    }

    /// Queues a plan's status under `key`, replacing the status keyed `target` if given
    /// (which happens only where the channel can edit).
    pub(crate) fn status(
        &mut self,
        conversation: &ConversationRef,
        key: String,
        target: Option<String>,
        text: impl Into<String>,
    ) {
        if target.is_some() && !self.can_edit(conversation) {
            return;
        }
        let mut message = Outbound::text(conversation.clone(), key, text);
        message.role = MessageRole::Status;
        message.replaces = target.map(|key| Replaces {
            key,
            message_id: None,
        });
        self.push(message);
    }

    /// Answers the event `asker` describes.
    pub(crate) fn reply(&mut self, asker: &Asker, text: impl Into<String>) {
        let mut message = Outbound::text(asker.conversation.clone(), self.next_key(), text);
        message.in_reply_to = Some(asker.event_id.clone());
        self.push(message);
    }

    /// Replaces the message keyed `target` with `text`, on channels that can edit; does
    /// nothing elsewhere.
    pub(crate) fn edit(
        &mut self,
        conversation: &ConversationRef,
        key: String,
        target: String,
        text: impl Into<String>,
    ) {
        if !self.can_edit(conversation) {
            return;
        }
        let mut message = Outbound::text(conversation.clone(), key, text);
        message.replaces = Some(Replaces {
            key: target,
            message_id: None,
        });
        self.push(message);
    }

    /// Queues an approval request under `key`.
    pub(crate) fn prompt(
        &mut self,
        conversation: &ConversationRef,
        key: String,
        prompt: ApprovalPrompt,
    ) {
        let mut message = Outbound::text(conversation.clone(), key, "");
        message.body = OutboundBody::ApprovalRequest(prompt);
        self.push(message);
    }

    /// Records an audit event.
    pub(crate) fn audit(&mut self, event: AuditEvent) {
        self.effects.audit(event);
    }

    /// Queues `message`, split into several if its text is longer than the channel allows:
    /// the first part keeps the key, the rest get `#2`, `#3`, … A long edit is sent as new
    /// messages instead, since an edit cannot grow into several, and the parts are plain
    /// messages whatever the role.
    fn push(&mut self, message: Outbound) {
        let max = self.capabilities(&message.conversation).max_message_chars;
        let chunks = match (
            &message.body,
            self.channels.get(&message.conversation.channel),
        ) {
            (OutboundBody::Text { text }, Some(channel)) => {
                split_message_by(text, max, &|part| channel.measure(part))
            }
            _ => Vec::new(),
        };
        if chunks.len() <= 1 {
            self.effects.send(message);
            return;
        }
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut part = Outbound::text(
                message.conversation.clone(),
                if i == 0 {
                    message.idempotency_key.clone()
                } else {
                    format!("{}#{}", message.idempotency_key, i + 1)
                },
                chunk,
            );
            if i == 0 {
                part.in_reply_to = message.in_reply_to.clone();
            }
            self.effects.send(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(max_message_chars: usize, edit: bool) -> Tx {
        let (channel, _) = crate::channel::MemoryChannel::with_capabilities(
            "chat",
            Capabilities {
                edit,
                buttons: false,
                max_message_chars,
                decisions_need_proof: false,
            },
        );
        let mut channels: BTreeMap<String, SharedChannel> = BTreeMap::new();
        channels.insert("chat".to_owned(), Arc::new(channel));
        Tx::new("p:r1".to_owned(), Timestamp(0), Arc::new(channels))
    }

    fn texts(tx: &Tx) -> Vec<(String, String)> {
        tx.effects
            .outbox
            .iter()
            .map(|m| (m.idempotency_key.clone(), m.body.plain_text()))
            .collect()
    }

    #[test]
    fn long_text_becomes_several_keyed_messages() {
        let here = ConversationRef::new("chat", "c");
        let mut tx = tx(12, true);
        tx.reply(
            &Asker {
                conversation: here.clone(),
                event_id: "e1".to_owned(),
            },
            "first part\n\nsecond part",
        );
        tx.say(&here, "short");
        assert_eq!(
            texts(&tx),
            [
                ("p:r1:0".to_owned(), "first part".to_owned()),
                ("p:r1:0#2".to_owned(), "second part".to_owned()),
                ("p:r1:2".to_owned(), "short".to_owned()),
            ]
        );
        assert_eq!(tx.effects.outbox[0].in_reply_to.as_deref(), Some("e1"));
        assert_eq!(tx.effects.outbox[1].in_reply_to, None);
    }

    #[test]
    fn edits_only_where_the_channel_can_and_long_edits_become_messages() {
        let here = ConversationRef::new("chat", "c");
        let mut plain = tx(0, false);
        plain.edit(&here, "k".into(), "target".into(), "new");
        assert!(plain.effects.outbox.is_empty());

        let mut editing = tx(12, true);
        editing.edit(&here, "k".into(), "target".into(), "new");
        editing.edit(&here, "k2".into(), "target".into(), "far too long for one");
        let replaces: Vec<Option<&str>> = editing
            .effects
            .outbox
            .iter()
            .map(|m| m.replaces.as_ref().map(|r| r.key.as_str()))
            .collect();
        assert_eq!(replaces, [Some("target"), None, None]);
    }
}
