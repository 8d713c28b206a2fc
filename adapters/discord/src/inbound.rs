//! Discord events as the core's inbound events: who is addressed in servers, what a slash
//! command or a reply to an approval request means, and which button was clicked. Text is
//! data: a reply can only name the approval its request showed, and a decision is bound to
//! the Discord user id of whoever sent it.

use openmog::domain::{ConversationRef, Inbound, InboundKind, Sender};
use serenity::model::application::{
    CommandDataOptionValue, CommandInteraction, ComponentInteraction,
};
use serenity::model::channel::Message;
use serenity::model::user::User;

use openmog::channel::decisions::{find_approval_id, parse_decision_data, reply_decision};

/// The event id of a message.
pub fn message_event(id: u64) -> String {
    format!("msg:{id}")
}

/// The event id of an interaction (a click or a slash command).
pub fn interaction_event(id: u64) -> String {
    format!("int:{id}")
}

/// The interaction id in an event id made by [`interaction_event`].
pub fn interaction_of(event: &str) -> Option<u64> {
    event.strip_prefix("int:")?.parse().ok()
}

/// The message id in an event id made by [`message_event`].
pub fn message_of(event: &str) -> Option<u64> {
    event.strip_prefix("msg:")?.parse().ok()
}

fn sender(user: &User) -> Sender {
    Sender {
        user_id: user.id.get().to_string(),
        display_name: user
            .global_name
            .clone()
            .unwrap_or_else(|| user.name.clone()),
    }
}

/// What a message means to the bot: `None` if it is not addressed to it.
pub struct Addressed {
    /// The text, with the bot's mention removed and replies to requests turned into
    /// decisions.
    pub text: String,
    /// Whether it arrived in a server channel (rather than a DM).
    pub in_guild: bool,
}

/// Reads a message: in DMs everything is addressed; in servers a mention of the bot or a
/// reply to one of its messages.
pub fn addressed(bot: u64, message: &Message) -> Option<Addressed> {
    if message.author.bot {
        return None;
    }
    let in_guild = message.guild_id.is_some();
    let mentioned = message.mentions.iter().any(|u| u.id.get() == bot)
        || message.content.contains(&format!("<@{bot}>"))
        || message.content.contains(&format!("<@!{bot}>"));
    let replied = message
        .referenced_message
        .as_ref()
        .filter(|r| r.author.id.get() == bot);
    if in_guild && !mentioned && replied.is_none() {
        return None;
    }
    let mut text = message
        .content
        .replace(&format!("<@{bot}>"), "")
        .replace(&format!("<@!{bot}>"), "");
    text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        // With the message-content intent off, Discord sends servers' messages that do not
        // mention the bot without content; there is nothing to read.
        return None;
    }
    if let Some(request) = replied
        && let Some(decision) = reply_decision(&text)
        && let Some(approval) = find_approval_id(&request.content)
    {
        text = format!("{decision} {approval}");
    }
    Some(Addressed { text, in_guild })
}

/// The inbound event of an addressed message in conversation `conversation`.
pub fn message_inbound(
    channel: &str,
    conversation: u64,
    message: &Message,
    text: String,
) -> Inbound {
    Inbound {
        conversation: ConversationRef::new(channel, conversation.to_string()),
        sender: sender(&message.author),
        event_id: message_event(message.id.get()),
        kind: InboundKind::Message { text },
    }
}

/// A button click as a decision; `None` if the button is not one of ours.
pub fn click_inbound(channel: &str, click: &ComponentInteraction) -> Option<Inbound> {
    let (verdict, scope, approval) = parse_decision_data(&click.data.custom_id)?;
    Some(Inbound {
        conversation: ConversationRef::new(channel, click.channel_id.get().to_string()),
        sender: sender(&click.user),
        event_id: interaction_event(click.id.get()),
        kind: InboundKind::Decision {
            nonce: None,
            comment: None,
            approval,
            verdict,
            scope,
        },
    })
}

/// A slash command as the text the core reads: `/task deploy api` is `deploy api`,
/// `/approve a-7hq4rt` is `approve a-7hq4rt`. `None` for commands that are not ours.
pub fn command_inbound(channel: &str, command: &CommandInteraction) -> Option<Inbound> {
    let argument = |name: &str| {
        command
            .data
            .options
            .iter()
            .find_map(|o| match (&o.value, o.name == name) {
                (CommandDataOptionValue::String(value), true) => Some(value.clone()),
                _ => None,
            })
    };
    let text = match command.data.name.as_str() {
        "task" => argument("request")?,
        verb @ ("approve" | "deny") => {
            let id = argument("id")?;
            match argument("scope").as_deref() {
                Some("plan") if verb == "approve" => format!("approve plan {id}"),
                _ => format!("{verb} {id}"),
            }
        }
        _ => return None,
    };
    Some(Inbound {
        conversation: ConversationRef::new(channel, command.channel_id.get().to_string()),
        sender: sender(&command.user),
        event_id: interaction_event(command.id.get()),
        kind: InboundKind::Message { text },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOT: u64 = 900;

    fn message(extra: serde_json::Value) -> Message {
        let mut m = json!({
            "id": "5", "channel_id": "10", "content": "", "timestamp": "2026-11-24T00:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
            "author": {"id": "42", "username": "ann", "discriminator": "0", "global_name": "Ann", "avatar": null},
        });
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_str(&m.to_string()).expect("a valid message")
    }

    #[test]
    fn dms_are_addressed_servers_need_a_mention_or_a_reply() {
        let dm = message(json!({"content": "deploy api"}));
        assert_eq!(addressed(BOT, &dm).unwrap().text, "deploy api");

        let plain = message(json!({"content": "deploy api", "guild_id": "1"}));
        assert!(addressed(BOT, &plain).is_none());

        let mention = message(json!({"content": "<@900> deploy api", "guild_id": "1",
            "mentions": [{"id": "900", "username": "openmog", "discriminator": "0", "avatar": null, "bot": true}]}));
        let read = addressed(BOT, &mention).unwrap();
        assert_eq!(read.text, "deploy api");
        assert!(read.in_guild);
    }

    #[test]
    fn a_reply_to_a_request_decides_the_approval_it_shows() {
        let request = json!({
            "id": "3", "channel_id": "10", "content": "Approval needed · a-7hq4rt", "timestamp": "2026-11-24T00:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
            "author": {"id": "900", "username": "openmog", "discriminator": "0", "avatar": null, "bot": true},
        });
        let reply = message(
            json!({"content": "Approve!", "guild_id": "1", "referenced_message": request, "type": 19}),
        );
        assert_eq!(addressed(BOT, &reply).unwrap().text, "approve a-7hq4rt");
    }

    #[test]
    fn event_ids_round_trip() {
        assert_eq!(interaction_of(&interaction_event(7)), Some(7));
        assert_eq!(message_of(&message_event(8)), Some(8));
        assert_eq!(interaction_of("msg:8"), None);
    }
}
