//! Telegram updates as the core's inbound events: who is addressed in groups, what a
//! command or a reply to an approval request means, and which button was pressed. Text
//! stays data: a reply can only name the approval its request showed, and the decision is
//! bound to the Telegram user id of whoever sent it.

use openmog::domain::{ConversationRef, Inbound, InboundKind, Sender};
use teloxide::types::{
    CallbackQuery, MaybeInaccessibleMessage, Message, MessageEntityKind, Update, UpdateKind, User,
};

use crate::address::{Place, message_event, press_event};
use openmog::channel::decisions::{find_approval_id, parse_decision_data, reply_decision};

/// Who the bot is, as `getMe` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The bot's user id.
    pub id: u64,
    /// The bot's username, without `@`.
    pub username: String,
}

/// What to do with one update.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// Store it in the inbox.
    Deliver(Inbound),
    /// Answer a button press that is not ours right away; nothing reaches the engine.
    Dismiss {
        /// The callback query to answer.
        callback_id: String,
        /// The notice shown.
        notice: String,
    },
    /// Not for the bot (a group message not addressed to it, a service message, …).
    Ignore(&'static str),
}

/// Converts one update for channel `channel`.
pub fn convert(channel: &str, me: &Identity, update: &Update) -> Incoming {
    match &update.kind {
        UpdateKind::Message(message) => convert_message(channel, me, message),
        UpdateKind::CallbackQuery(query) => convert_press(channel, query),
        _ => Incoming::Ignore("not a message or a button press"),
    }
}

fn sender(user: &User) -> Sender {
    Sender {
        user_id: user.id.0.to_string(),
        display_name: match &user.username {
            Some(username) => format!("{} (@{username})", user.full_name()),
            None => user.full_name(),
        },
    }
}

fn place_of(message: &Message) -> Place {
    Place {
        chat: message.chat.id.0,
        thread: message
            .thread_id
            .filter(|_| message.is_topic_message)
            .map(|thread| thread.0.0),
    }
}

fn convert_message(channel: &str, me: &Identity, message: &Message) -> Incoming {
    let Some(from) = message.from.as_ref() else {
        return Incoming::Ignore("no sender");
    };
    if from.is_bot {
        return Incoming::Ignore("sent by a bot");
    }
    let Some(text) = message.text() else {
        return Incoming::Ignore("not text");
    };
    let place = place_of(message);
    let replied_to_bot = message
        .reply_to_message()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id.0 == me.id);
    let mention = format!("@{}", me.username);
    let mentioned = message.parse_entities().is_some_and(|entities| {
        entities.iter().any(|e| match e.kind() {
            MessageEntityKind::Mention => e.text().eq_ignore_ascii_case(&mention),
            MessageEntityKind::TextMention { user } => user.id.0 == me.id,
            _ => false,
        })
    });
    let command =
        command_addressee(text).map(|to| to.is_none_or(|to| to.eq_ignore_ascii_case(&me.username)));
    if command == Some(false) {
        return Incoming::Ignore("a command for another bot");
    }
    let addressed = !place.is_group() || mentioned || replied_to_bot || command == Some(true);
    if !addressed {
        return Incoming::Ignore("a group message not addressed to the bot");
    }
    let mut text = command_as_text(&strip_mention(text, &mention));
    if replied_to_bot
        && let Some(decision) = reply_decision(&text)
        && let Some(approval) = message
            .reply_to_message()
            .and_then(Message::text)
            .and_then(find_approval_id)
    {
        text = format!("{decision} {approval}");
    }
    Incoming::Deliver(Inbound {
        conversation: ConversationRef::new(channel, place.to_string()),
        sender: sender(from),
        event_id: message_event(place.chat, message.id.0),
        kind: InboundKind::Message { text },
    })
}

/// For `/cmd@bot args`, `Some(Some("bot"))`; for `/cmd args`, `Some(None)`; else `None`.
fn command_addressee(text: &str) -> Option<Option<&str>> {
    let word = text.strip_prefix('/')?.split_whitespace().next()?;
    Some(word.split_once('@').map(|(_, bot)| bot))
}

/// A command as the core reads text: `/deploy@bot api` is `deploy api`, `/start` is `help`.
fn command_as_text(text: &str) -> String {
    let Some(command) = text.strip_prefix('/') else {
        return text.to_owned();
    };
    let (word, rest) = command.split_once(' ').unwrap_or((command, ""));
    let word = word.split_once('@').map_or(word, |(word, _)| word);
    let word = if word.eq_ignore_ascii_case("start") {
        "help"
    } else {
        word
    };
    format!("{word} {rest}").trim().to_owned()
}

/// The text without the bot's `@username` (wherever it is), trimmed.
fn strip_mention(text: &str, mention: &str) -> String {
    let lower = text.to_lowercase();
    let needle = mention.to_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    // Lowercasing keeps byte offsets for the ASCII usernames Telegram allows.
    if lower.len() == text.len() {
        while let Some(at) = lower[rest..].find(&needle) {
            out.push_str(&text[rest..rest + at]);
            rest += at + needle.len();
        }
    }
    out.push_str(&text[rest..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn convert_press(channel: &str, query: &CallbackQuery) -> Incoming {
    let callback_id = query.id.0.clone();
    let Some((verdict, scope, approval)) = query.data.as_deref().and_then(parse_decision_data)
    else {
        return Incoming::Dismiss {
            callback_id,
            notice: "This button is not one of mine.".to_owned(),
        };
    };
    let place = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => place_of(message),
        Some(MaybeInaccessibleMessage::Inaccessible(message)) => Place {
            chat: message.chat.id.0,
            thread: None,
        },
        None => Place {
            chat: i64::try_from(query.from.id.0).unwrap_or(i64::MAX),
            thread: None,
        },
    };
    Incoming::Deliver(Inbound {
        conversation: ConversationRef::new(channel, place.to_string()),
        sender: sender(&query.from),
        event_id: press_event(&callback_id),
        kind: InboundKind::Decision {
            nonce: None,
            comment: None,
            approval,
            verdict,
            scope,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ME: &str = "openmog_bot";

    fn me() -> Identity {
        Identity {
            id: 7,
            username: ME.to_owned(),
        }
    }

    fn update(value: serde_json::Value) -> Update {
        serde_json::from_str(&value.to_string()).expect("a valid update")
    }

    fn message(chat: serde_json::Value, text: &str, extra: serde_json::Value) -> Update {
        let mut m = json!({
            "message_id": 5, "date": 0, "chat": chat, "text": text,
            "from": {"id": 42, "is_bot": false, "first_name": "Ann", "username": "ann"},
        });
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        update(json!({"update_id": 1, "message": m}))
    }

    fn text_of(incoming: Incoming) -> (String, String) {
        match incoming {
            Incoming::Deliver(Inbound {
                conversation,
                kind: InboundKind::Message { text },
                ..
            }) => (conversation.id, text),
            other => panic!("not a delivered message: {other:?}"),
        }
    }

    fn group() -> serde_json::Value {
        json!({"id": -100, "type": "supergroup", "title": "ops"})
    }

    #[test]
    fn private_chats_are_always_addressed() {
        let u = message(
            json!({"id": 42, "type": "private", "first_name": "Ann"}),
            "deploy api",
            json!({}),
        );
        assert_eq!(
            text_of(convert("tg", &me(), &u)),
            ("42".to_owned(), "deploy api".to_owned())
        );
    }

    #[test]
    fn groups_need_a_mention_a_reply_or_a_command() {
        let plain = message(group(), "deploy api", json!({}));
        assert!(matches!(convert("tg", &me(), &plain), Incoming::Ignore(_)));

        let mention = message(
            group(),
            "@OpenMog_Bot deploy api",
            json!({"entities": [{"type": "mention", "offset": 0, "length": 12}]}),
        );
        assert_eq!(text_of(convert("tg", &me(), &mention)).1, "deploy api");

        let command = message(group(), "/status@openmog_bot", json!({}));
        assert_eq!(text_of(convert("tg", &me(), &command)).1, "status");
        let start = message(group(), "/start", json!({}));
        assert_eq!(text_of(convert("tg", &me(), &start)).1, "help");
        let other_bot = message(group(), "/status@other_bot", json!({}));
        assert!(matches!(
            convert("tg", &me(), &other_bot),
            Incoming::Ignore(_)
        ));
    }

    #[test]
    fn a_reply_to_a_request_decides_the_approval_it_shows() {
        let request = json!({
            "message_id": 3, "date": 0, "chat": group(), "text": "Approval needed · a-7hq4rt\nrestart",
            "from": {"id": 7, "is_bot": true, "first_name": "openmog", "username": ME},
        });
        let reply = message(group(), "Approve.", json!({"reply_to_message": request}));
        assert_eq!(text_of(convert("tg", &me(), &reply)).1, "approve a-7hq4rt");
        let chatter = message(group(), "why?", json!({"reply_to_message": request}));
        assert_eq!(text_of(convert("tg", &me(), &chatter)).1, "why?");
    }

    #[test]
    fn forum_topics_are_part_of_the_conversation() {
        let u = message(
            json!({"id": -100, "type": "supergroup", "title": "ops", "is_forum": true}),
            "/status",
            json!({"message_thread_id": 9, "is_topic_message": true}),
        );
        assert_eq!(text_of(convert("tg", &me(), &u)).0, "-100/9");
    }

    #[test]
    fn presses_become_decisions_and_strangers_are_dismissed() {
        let press = |data: &str| {
            update(json!({"update_id": 2, "callback_query": {
                "id": "cb1", "chat_instance": "x", "data": data,
                "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
                "message": {"message_id": 3, "date": 0, "chat": group(), "text": "Approval needed",
                            "from": {"id": 7, "is_bot": true, "first_name": "openmog"}},
            }}))
        };
        match convert("tg", &me(), &press("om:p:a-7hq4rt")) {
            Incoming::Deliver(Inbound {
                conversation,
                sender,
                event_id,
                kind,
            }) => {
                assert_eq!(conversation.id, "-100");
                assert_eq!(sender.user_id, "42");
                assert_eq!(event_id, "cbq:cb1");
                assert!(matches!(
                    kind,
                    InboundKind::Decision {
                        scope: openmog::domain::DecisionScope::Plan,
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            convert("tg", &me(), &press("evil")),
            Incoming::Dismiss { .. }
        ));
    }
}
