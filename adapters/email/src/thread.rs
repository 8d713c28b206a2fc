//! Email threads as conversations. A thread's conversation id is its root Message-ID in
//! angle brackets (`<root@host>`); a bare address (`ann@example.com`) is a conversation
//! with one person outside any thread (where approvals go to an approver directly). What
//! a reply needs (who is in the thread, its subject, the ids to cite) is kept as channel
//! state, so a step that finishes after a restart still answers in the thread.

use serde::{Deserialize, Serialize};

use crate::mail::IncomingMail;

/// How many Message-IDs a References header carries at most: the root and the latest ones.
const MAX_REFERENCES: usize = 20;

/// What continuing a thread takes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct ThreadState {
    /// The subject as first written, without `Re:`.
    pub subject: String,
    /// Everyone the thread started with, except the agent: who replies go to.
    pub participants: Vec<String>,
    /// Message-IDs to cite, oldest first (the last one is what a reply answers).
    pub references: Vec<String>,
}

impl ThreadState {
    /// The state of a thread that `mail` starts (or that we first hear of through it).
    pub(crate) fn started_by(mail: &IncomingMail, agent: &str) -> ThreadState {
        let mut participants: Vec<String> = Vec::new();
        for address in mail.from.iter().chain(&mail.recipients) {
            if !is_agent(address, agent) && !participants.contains(address) {
                participants.push(address.clone());
            }
        }
        let mut state = ThreadState {
            subject: strip_reply_prefixes(&mail.subject).to_owned(),
            participants,
            references: mail.references.clone(),
        };
        state.cite(&mail.id);
        state
    }

    /// Records `id` as the latest message of the thread.
    pub(crate) fn cite(&mut self, id: &str) {
        if self.references.last().map(String::as_str) != Some(id) {
            self.references.push(id.to_owned());
        }
        if self.references.len() > MAX_REFERENCES {
            // Keep the root: it names the thread for every client.
            self.references
                .drain(1..self.references.len() - (MAX_REFERENCES - 1));
        }
    }

    /// The subject a reply carries.
    pub(crate) fn reply_subject(&self) -> String {
        if self.subject.is_empty() {
            "Re: your request".to_owned()
        } else {
            format!("Re: {}", self.subject)
        }
    }
}

/// The conversation id of the thread `mail` belongs to.
pub(crate) fn conversation_of(mail: &IncomingMail) -> String {
    let root = mail
        .references
        .first()
        .or(mail.in_reply_to.first())
        .unwrap_or(&mail.id);
    format!("<{root}>")
}

/// Whether a conversation id is a bare address rather than a thread.
pub(crate) fn is_direct(conversation: &str) -> bool {
    !conversation.starts_with('<')
}

/// Whether `address` is the agent's, plus-addressed or not.
pub(crate) fn is_agent(address: &str, agent: &str) -> bool {
    if address.eq_ignore_ascii_case(agent) {
        return true;
    }
    let (Some((local, domain)), Some((agent_local, agent_domain))) =
        (address.rsplit_once('@'), agent.rsplit_once('@'))
    else {
        return false;
    };
    domain.eq_ignore_ascii_case(agent_domain)
        && local
            .split_once('+')
            .is_some_and(|(base, _)| base.eq_ignore_ascii_case(agent_local))
}

/// `Re: Fwd: AW: subject` → `subject`.
fn strip_reply_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        let Some(len) = ["re:", "fwd:", "fw:", "aw:", "wg:", "sv:", "tr:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len())
        else {
            return rest;
        };
        rest = rest[len..].trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> IncomingMail {
        IncomingMail {
            id: "m2@x".to_owned(),
            from: Some("ann@example.test".to_owned()),
            recipients: vec![
                "agent+a-1.n@example.test".to_owned(),
                "bob@example.test".to_owned(),
                "ann@example.test".to_owned(),
            ],
            subject: "RE: Fwd: deploy api".to_owned(),
            references: vec!["root@x".to_owned(), "m1@x".to_owned()],
            in_reply_to: vec!["m1@x".to_owned()],
            ..IncomingMail::default()
        }
    }

    #[test]
    fn a_thread_is_named_by_its_root_and_remembers_who_and_what() {
        let mail = mail();
        assert_eq!(conversation_of(&mail), "<root@x>");
        let state = ThreadState::started_by(&mail, "agent@example.test");
        assert_eq!(state.participants, ["ann@example.test", "bob@example.test"]);
        assert_eq!(state.subject, "deploy api");
        assert_eq!(state.reply_subject(), "Re: deploy api");
        assert_eq!(state.references, ["root@x", "m1@x", "m2@x"]);
        assert!(is_direct("ann@example.test"));
        assert!(!is_direct("<root@x>"));
    }

    #[test]
    fn references_keep_the_root_and_the_latest() {
        let mut state = ThreadState::default();
        for n in 0..50 {
            state.cite(&format!("m{n}@x"));
        }
        assert_eq!(state.references.len(), MAX_REFERENCES);
        assert_eq!(state.references[0], "m0@x");
        assert_eq!(state.references.last().map(String::as_str), Some("m49@x"));
    }

    #[test]
    fn the_agent_is_recognised_with_and_without_a_plus_tag() {
        assert!(is_agent("Agent@Example.test", "agent@example.test"));
        assert!(is_agent("agent+a-7.x@example.test", "agent@example.test"));
        assert!(!is_agent("agent+x@other.test", "agent@example.test"));
        assert!(!is_agent("agentx@example.test", "agent@example.test"));
    }
}
