//! From a parsed mail to what the engine receives. A reply whose first unquoted line says
//! APPROVE or DENY becomes a decision only if its sender is authenticated by a trusted
//! receiving server and it carries an approval's nonce; any other mail from an
//! authenticated sender is a request. Everything else is refused, and automatic mail is
//! never answered.

use openmog::domain::{ConversationRef, Inbound, InboundKind, Sender};

use crate::auth_results::{self, Verification};
use crate::mail::IncomingMail;
use crate::settings::EmailSettings;
use crate::{automatic, reply, thread, token};

/// What to do with one mail.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Hand this to the engine.
    Deliver(Inbound),
    /// Nothing to hand on (the agent's own mail); why, for the log.
    Skip(&'static str),
}

/// Converts `mail`, received on channel `channel`.
pub(crate) fn convert(channel: &str, settings: &EmailSettings, mail: &IncomingMail) -> Incoming {
    let sender = mail.from.clone().unwrap_or_default();
    if thread::is_agent(&sender, &settings.address) {
        return Incoming::Skip("the agent's own mail");
    }
    let event = |kind| {
        Incoming::Deliver(Inbound {
            conversation: ConversationRef::new(channel, thread::conversation_of(mail)),
            sender: Sender {
                user_id: sender.clone(),
                display_name: if mail.from_name.is_empty() {
                    sender.clone()
                } else {
                    mail.from_name.clone()
                },
            },
            event_id: mail.id.clone(),
            kind,
        })
    };
    let refuse = |reason: String, answer: bool| event(InboundKind::Refused { reason, answer });

    if let Some(why) = automatic::automatic_reason(&mail.headers_for_checks(), mail.from.as_deref())
    {
        return refuse(format!("automatic mail ({why})"), false);
    }
    if sender.is_empty() {
        return refuse("a mail without a From address".to_owned(), false);
    }
    if let Verification::Fail { reason } = authenticate(settings, mail, &sender) {
        return refuse(
            format!("the mail's sender is not authenticated: {reason}"),
            true,
        );
    }
    let new_part = reply::strip_quoted(&mail.text);
    match reply::parse_decision(&new_part) {
        Some(decision) => match token::find(mail, &settings.address) {
            Some((approval, nonce)) => event(InboundKind::Decision {
                approval,
                verdict: decision.verdict,
                scope: decision.scope,
                nonce: Some(nonce),
                comment: Some(decision.comment).filter(|c| !c.is_empty()),
            }),
            None => refuse(
                "this reply does not answer an approval request; reply to the request mail \
                 itself, keeping its Reply-To"
                    .to_owned(),
                true,
            ),
        },
        None => event(InboundKind::Message {
            text: request_text(mail, &new_part),
        }),
    }
}

fn authenticate(settings: &EmailSettings, mail: &IncomingMail, sender: &str) -> Verification {
    let headers: Vec<&str> = mail.auth_results.iter().map(String::as_str).collect();
    let domain = auth_results::from_domain(sender).unwrap_or_default();
    auth_results::verify(
        &headers,
        &settings.trusted_authserv_ids,
        &domain,
        settings.accept,
    )
}

/// What the planner reads: the subject of a new thread, the new part of the body (quoted
/// history and signature removed), and a list of the attachments.
fn request_text(mail: &IncomingMail, body: &str) -> String {
    let mut parts = Vec::new();
    let is_reply = !mail.in_reply_to.is_empty() || !mail.references.is_empty();
    if !is_reply && !mail.subject.is_empty() {
        parts.push(mail.subject.clone());
    }
    if !body.trim().is_empty() {
        parts.push(body.trim().to_owned());
    }
    if !mail.attachments.is_empty() {
        let listed: Vec<String> = mail
            .attachments
            .iter()
            .map(|a| {
                let kept = match (&a.saved, &a.content) {
                    (Some(path), _) => format!(", kept at {}", path.display()),
                    (None, Some(_)) => String::new(),
                    (None, None) if a.size > 0 => ", not kept".to_owned(),
                    (None, None) => String::new(),
                };
                format!("- {} ({}, {} bytes{kept})", a.name, a.content_type, a.size)
            })
            .collect();
        parts.push(format!("Attachments:\n{}", listed.join("\n")));
    }
    parts.join("\n\n")
}
