//! How Telegram places map to the core's opaque ids: a conversation is a chat, or a forum
//! topic of one (`<chat_id>/<thread_id>`); an event is a message (`msg:<chat>:<id>`) or a
//! button press (`cbq:<callback id>`).

use std::fmt;

/// A chat, or one topic of a forum supergroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The chat id (negative for groups).
    pub chat: i64,
    /// The forum topic, if any.
    pub thread: Option<i32>,
}

impl Place {
    /// Parses a conversation id.
    pub fn parse(id: &str) -> Option<Place> {
        let (chat, thread) = match id.split_once('/') {
            Some((chat, thread)) => (chat, Some(thread.parse().ok()?)),
            None => (id, None),
        };
        Some(Place {
            chat: chat.parse().ok()?,
            thread,
        })
    }

    /// Whether this is a group (or supergroup, or channel) chat rather than a private one.
    pub fn is_group(&self) -> bool {
        self.chat < 0
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.thread {
            Some(thread) => write!(f, "{}/{thread}", self.chat),
            None => write!(f, "{}", self.chat),
        }
    }
}

/// The inbound event an outbound message answers, parsed from its event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// A message: answer with a threaded reply.
    Message {
        /// Its chat.
        chat: i64,
        /// Its id.
        id: i32,
    },
    /// A button press: answer with a callback notice.
    Press(String),
}

/// The event id of a message.
pub fn message_event(chat: i64, id: i32) -> String {
    format!("msg:{chat}:{id}")
}

/// The event id of a button press.
pub fn press_event(callback_id: &str) -> String {
    format!("cbq:{callback_id}")
}

impl Answered {
    /// Parses an event id made by this adapter.
    pub fn parse(event: &str) -> Option<Answered> {
        if let Some(id) = event.strip_prefix("cbq:") {
            return Some(Answered::Press(id.to_owned()));
        }
        let (chat, id) = event.strip_prefix("msg:")?.split_once(':')?;
        Some(Answered::Message {
            chat: chat.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_and_events_round_trip() {
        for id in ["42", "-1001234", "-1001234/7"] {
            assert_eq!(Place::parse(id).unwrap().to_string(), id);
        }
        assert!(Place::parse("-100/x").is_none());
        assert!(Place::parse("general").is_none());
        assert!(Place::parse("-5").unwrap().is_group());
        assert_eq!(
            Answered::parse(&message_event(-5, 9)),
            Some(Answered::Message { chat: -5, id: 9 })
        );
        assert_eq!(
            Answered::parse(&press_event("abc:1")),
            Some(Answered::Press("abc:1".to_owned()))
        );
        assert_eq!(Answered::parse("other"), None);
    }
}
