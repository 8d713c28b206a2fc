//! Running `message.send` and `email.send` steps: the recipient and text are checked when
//! the step runs, and the message is queued when the step's completion is recorded — in the
//! same plan transaction — so a step that is retried or fenced never sends twice.

use serde_json::{Value, json};

use super::executor::{Claimed, Outcome};
use super::{Inner, Tx};
use crate::domain::{ContactId, ConversationRef};
use crate::skills::{EMAIL_SEND, MESSAGE_SEND};

/// The longest message a step may send, in characters.
const MAX_TEXT_CHARS: usize = 10_000;

/// Whether `skill` is one of the message steps.
pub(super) fn is_message(skill: &str) -> bool {
    skill == MESSAGE_SEND || skill == EMAIL_SEND
}

/// Checks a message step's arguments and names the conversation it goes to; the output is
/// what [`queue`] sends.
pub(super) fn prepare(inner: &Inner, claimed: &Claimed) -> Outcome {
    let args = match &claimed.args {
        Ok(args) => args,
        Err(why) => return Outcome::failed(format!("cannot resolve arguments: {why}")),
    };
    let text = args["text"].as_str().unwrap_or_default().trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Outcome::failed(format!(
            "`text` must be between 1 and {MAX_TEXT_CHARS} characters"
        ));
    }
    let to = args["to"].as_str().unwrap_or_default().trim();
    let (conversation, text) = if claimed.skill == EMAIL_SEND {
        let subject = args["subject"].as_str().unwrap_or_default().trim();
        if subject.is_empty() || subject.contains(['\r', '\n']) || subject.chars().count() > 200 {
            return Outcome::failed("`subject` must be one line of 1 to 200 characters".into());
        }
        if !is_plain_address(to) {
            return Outcome::failed(format!("`{to}` is not an email address"));
        }
        let Some(channel) = email_channel(inner) else {
            return Outcome::failed("no email channel is configured".into());
        };
        // The email channel takes a new thread's subject from the first line.
        (
            ConversationRef::new(channel, to),
            format!("{subject}\n\n{text}"),
        )
    } else {
        let contact = ContactId(to.to_owned());
        let Some(conversation) = direct_conversation(inner, &contact) else {
            return Outcome::failed(format!(
                "`{to}` is not a contact with an address on a configured channel"
            ));
        };
        let from = inner.policy.directory().display_name(&claimed.requester);
        (
            conversation,
            format!("From plan {} (for {from}):\n{text}", claimed.plan),
        )
    };
    Outcome::Succeeded(json!({
        "to": to,
        "channel": conversation.channel,
        "conversation": conversation.id,
        "text": text,
    }))
}

/// Queues the message a succeeded message step prepared.
pub(super) fn queue(output: &Value, tx: &mut Tx) {
    let (Some(channel), Some(id), Some(text)) = (
        output["channel"].as_str(),
        output["conversation"].as_str(),
        output["text"].as_str(),
    ) else {
        return;
    };
    tx.say(&ConversationRef::new(channel, id), text);
}

/// A contact's preferred channel, or the first of their addresses on a channel this engine
/// has.
pub(super) fn direct_conversation(inner: &Inner, contact: &ContactId) -> Option<ConversationRef> {
    let contact = inner.policy.directory().get(contact)?;
    let on = |channel: &String| {
        contact
            .addresses
            .get(channel)
            .filter(|_| inner.has_channel(channel))
            .map(|address| ConversationRef::new(channel.clone(), address.clone()))
    };
    contact
        .preferred
        .as_ref()
        .and_then(on)
        .or_else(|| contact.addresses.keys().find_map(on))
}

/// The first configured email channel this engine has.
pub(super) fn email_channel(inner: &Inner) -> Option<String> {
    inner
        .config
        .channels
        .iter()
        .find(|(name, c)| c.kind == "email" && inner.has_channel(name))
        .map(|(name, _)| name.clone())
}

/// `local@domain` with nothing a header could be smuggled in with.
fn is_plain_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !address.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
}

#[cfg(test)]
mod tests {
    use super::is_plain_address;

    #[test]
    fn only_plain_addresses_are_mailed() {
        assert!(is_plain_address("bob@example.com"));
        for bad in [
            "bob",
            "@example.com",
            "bob@localhost",
            "bob@example.com\r\nBcc: x@y.z",
            "a@b.c, d@e.f",
            "<bob@example.com>",
        ] {
            assert!(!is_plain_address(bad), "{bad}");
        }
    }
}
