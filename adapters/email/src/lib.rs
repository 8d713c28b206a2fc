//! Email for openmog: requests by mail, answers in the thread, approvals by reply, and
//! only from senders their mail provider authenticated.
//!
//! [`EmailChannel`] implements the core's [`openmog::channel::Channel`] with async-imap
//! (IDLE, or polling) for incoming mail and lettre (SMTP with implicit TLS or STARTTLS, and
//! AUTH) for outgoing mail. A new mail is a request and its thread is the conversation.
//! Approval requests carry a per-approval nonce in a plus-addressed Reply-To and in their
//! Message-ID; a reply whose first unquoted line says APPROVE or DENY decides only if it
//! carries that nonce and the receiving server's `Authentication-Results` (from a trusted
//! `authserv-id`) show DMARC pass for the sender. Automatic mail (vacation replies,
//! bounces, lists) is audited and never answered. Pacing (per minute and a daily cap) and
//! retries are the core's layers.
//!
//! With the `testkit` feature, [`testkit`] starts a real Dovecot and an SMTP server on
//! loopback for tests.

mod attachments;
pub mod auth_results;
mod automatic;
mod channel;
mod compose;
mod error;
mod imap;
mod inbound;
mod mail;
mod probe;
pub mod reply;
mod settings;
mod smtp;
mod thread;
mod tls;
mod token;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use channel::EmailChannel;
pub use compose::approval_text;
pub use error::Error;
pub use settings::{EmailSettings, Security, Server};

/// Reads `data` as an incoming mail the way the receive loop does (MIME, character sets,
/// quoting, the reply grammar, nonces, automatic-mail and authentication checks), for the
/// `email_mail` fuzz target. Panics only on a bug.
#[doc(hidden)]
pub fn fuzz_mail(data: &[u8]) {
    let settings = EmailSettings::for_fuzzing();
    if let Some(parsed) = mail::IncomingMail::parse(data, 1 << 16) {
        let _ = inbound::convert("mail", &settings, &parsed);
        let _ = reply::strip_quoted(&parsed.text);
    }
}
