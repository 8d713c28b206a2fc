//! From an outbound message to a mail: recipients and threading headers from the thread's
//! state, a Message-ID that is stable across resends (so a resent mail is recognisably the
//! same one), approval requests with their nonce and plain instructions, and
//! `Auto-Submitted: auto-replied` on everything, so that vacation responders stay quiet.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use openmog::channel::SendError;
use openmog::domain::{ApprovalPrompt, Outbound, OutboundBody};

use crate::mail::digest;
use crate::settings::EmailSettings;
use crate::thread::{self, ThreadState};
use crate::token;

/// A mail ready to send.
#[derive(Debug)]
pub(crate) struct Composed {
    /// The mail.
    pub mail: Message,
    /// Its Message-ID, without brackets.
    pub message_id: String,
}

/// Builds the mail for `outbound`; `thread` is the state of its thread (`None` for a
/// conversation with one address).
pub(crate) fn compose(
    settings: &EmailSettings,
    outbound: &Outbound,
    thread: Option<&ThreadState>,
) -> Result<Composed, SendError> {
    let conversation = &outbound.conversation.id;
    let recipients: Vec<String> = match thread {
        Some(state) => state.participants.clone(),
        None if thread::is_direct(conversation) => vec![conversation.clone()],
        None => {
            return Err(SendError::Permanent(format!(
                "no state for thread {conversation}: cannot tell whom to write to"
            )));
        }
    };
    if recipients.is_empty() {
        return Err(SendError::Permanent(format!(
            "thread {conversation} has no one to write to"
        )));
    }
    let key_digest = digest(outbound.idempotency_key.as_bytes());
    let prompt = match &outbound.body {
        OutboundBody::ApprovalRequest(prompt) if !prompt.nonce.is_empty() => Some(prompt),
        _ => None,
    };
    let message_id = match prompt {
        Some(p) => token::message_id(&p.approval, &p.nonce, &key_digest, settings.domain()),
        None => format!("om-{key_digest}@{}", settings.domain()),
    };
    let from = mailbox(&settings.address, Some(&settings.display_name))?;
    let mut builder = Message::builder()
        .from(from)
        .message_id(Some(format!("<{message_id}>")))
        .subject(subject(outbound, thread))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-replied".to_owned(),
        ));
    for recipient in &recipients {
        builder = builder.to(mailbox(recipient, None)?);
    }
    if let Some(p) = prompt {
        let reply_to = token::reply_to(&settings.address, &p.approval, &p.nonce);
        builder = builder.reply_to(mailbox(&reply_to, Some(&settings.display_name))?);
    }
    if let Some(state) = thread {
        if let Some(last) = state.references.last() {
            builder = builder.in_reply_to(format!("<{last}>"));
        }
        let cited: Vec<String> = state
            .references
            .iter()
            .map(|id| format!("<{id}>"))
            .collect();
        if !cited.is_empty() {
            builder = builder.references(cited.join(" "));
        }
    }
    let body = match &outbound.body {
        OutboundBody::Text { text } => text.clone(),
        OutboundBody::ApprovalRequest(prompt) => approval_text(prompt),
    };
    let mail = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|err| SendError::Permanent(format!("cannot build the mail: {err}")))?;
    Ok(Composed { mail, message_id })
}

fn mailbox(address: &str, name: Option<&str>) -> Result<Mailbox, SendError> {
    let parsed = address
        .parse()
        .map_err(|err| SendError::Permanent(format!("`{address}` is not an address: {err}")))?;
    Ok(Mailbox::new(name.map(str::to_owned), parsed))
}

fn subject(outbound: &Outbound, thread: Option<&ThreadState>) -> String {
    if let Some(state) = thread {
        return state.reply_subject();
    }
    let line = match &outbound.body {
        OutboundBody::ApprovalRequest(prompt) => format!("Approval needed: {}", prompt.summary),
        OutboundBody::Text { text } => text.lines().next().unwrap_or_default().to_owned(),
    };
    shorten(&line, 90)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// An approval request in words, with what to reply.
pub fn approval_text(prompt: &ApprovalPrompt) -> String {
    let mut text = format!(
        "Approval needed for plan {}:\n\n    {}\n\nApprovers: {}{}\n\n\
         To approve, reply to this mail with APPROVE as the first line.\n\
         To deny, reply with DENY as the first line.\n\
         You may add a comment after the word, e.g. \"DENY not during the release\".\n",
        prompt.plan,
        prompt.summary,
        prompt.approvers.join(", "),
        if prompt.quorum > 1 {
            format!(" ({} needed)", prompt.quorum)
        } else {
            String::new()
        },
    );
    if prompt.whole_plan {
        text.push_str(
            "To approve this and every later step of the plan that allows it, reply \
             APPROVE PLAN.\n",
        );
    }
    text.push_str(&format!(
        "\nOnly a reply from an approver's own address that their mail provider \
         authenticates (DMARC) counts; keep this mail's Reply-To.\n(approval {})\n",
        prompt.approval
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmog::domain::{ApprovalId, ConversationRef, PlanId};

    fn settings() -> EmailSettings {
        EmailSettings::for_fuzzing()
    }

    fn formatted(composed: &Composed) -> String {
        String::from_utf8(composed.mail.formatted()).unwrap()
    }

    #[test]
    fn replies_thread_and_carry_a_stable_id() {
        let thread = ThreadState {
            subject: "deploy api".to_owned(),
            participants: vec!["ann@example.test".to_owned()],
            references: vec!["root@x".to_owned(), "m1@x".to_owned()],
        };
        let outbound = Outbound::text(ConversationRef::new("mail", "<root@x>"), "k1", "done");
        let one = compose(&settings(), &outbound, Some(&thread)).unwrap();
        let two = compose(&settings(), &outbound, Some(&thread)).unwrap();
        assert_eq!(one.message_id, two.message_id, "stable across resends");
        let text = formatted(&one);
        for header in [
            "To: ann@example.test",
            "Subject: Re: deploy api",
            "In-Reply-To: <m1@x>",
            "References: <root@x> <m1@x>",
            "Auto-Submitted: auto-replied",
        ] {
            assert!(text.contains(header), "{header} missing in\n{text}");
        }
    }

    #[test]
    fn an_approval_request_carries_its_nonce_twice_and_plain_instructions() {
        let prompt = ApprovalPrompt {
            approval: ApprovalId::from("a-7hq4rt"),
            plan: PlanId::from("p-abcdef"),
            summary: "restart · shell.run".to_owned(),
            approvers: vec!["Ann".to_owned()],
            quorum: 1,
            whole_plan: true,
            nonce: "k3m9x2p8q1w4e5r6t7y8".to_owned(),
        };
        let mut outbound =
            Outbound::text(ConversationRef::new("mail", "ann@example.test"), "k", "");
        outbound.body = OutboundBody::ApprovalRequest(prompt);
        let composed = compose(&settings(), &outbound, None).unwrap();
        let text = formatted(&composed);
        assert!(
            composed
                .message_id
                .starts_with("om-a-7hq4rt-k3m9x2p8q1w4e5r6t7y8-")
        );
        assert!(
            text.contains("agent+a-7hq4rt.k3m9x2p8q1w4e5r6t7y8@example.test"),
            "{text}"
        );
        assert!(text.contains("APPROVE as the first line"));
        assert!(text.contains("To: ann@example.test"));
    }

    #[test]
    fn a_thread_without_state_is_a_permanent_failure() {
        let outbound = Outbound::text(ConversationRef::new("mail", "<gone@x>"), "k", "hi");
        assert!(matches!(
            compose(&settings(), &outbound, None),
            Err(SendError::Permanent(_))
        ));
    }
}
