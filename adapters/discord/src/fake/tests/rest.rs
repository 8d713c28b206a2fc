//! Unit tests of the REST side: bot messages, validation, rate limits, threads, DMs and
//! interaction responses, checked against serenity's models.

use std::time::Duration;

use serde_json::json;
use serenity::model::application::{
    Command, CommandDataOptionValue, ComponentInteractionDataKind, Interaction,
};
use serenity::model::channel::{Channel, ChannelType, GuildChannel, Message, PrivateChannel};
use serenity::model::event::Event;
use serenity::model::id::ChannelId;

use super::super::state::State;
use super::super::{APPLICATION_ID, BOT_ID, GENERAL, GUILD_ID, Limits, Place};
use super::{ann, buttons_body, dispatches, id_of, identified};

#[test]
fn bot_messages_parse_and_edits_apply() {
    let mut s = State::new_for_tests();
    let (sent, headers) = s
        .create_message(GENERAL, &buttons_body("Approve?"))
        .expect("create");
    let m: Message = serde_json::from_value(sent.clone()).expect("message");
    assert!(m.author.bot && m.author.id.get() == BOT_ID);
    assert_eq!(m.components[0].components.len(), 2);
    assert_eq!(m.embeds[0].description.as_deref(), Some("the plan"));
    assert!(
        headers
            .iter()
            .any(|(name, _)| *name == "x-ratelimit-bucket")
    );
    let id = id_of(&sent);
    let listed = s.bot_messages(Some(GENERAL), false);
    assert_eq!(
        listed[0].buttons,
        vec![
            ("Approve".to_owned(), "approve:1".to_owned()),
            ("Deny".to_owned(), "deny:1".to_owned())
        ]
    );
    let (edited, _) = s
        .edit_message(GENERAL, id, &json!({ "components": [] }))
        .expect("edit");
    let edited: Message = serde_json::from_value(edited).expect("edited message");
    assert!(edited.components.is_empty() && edited.edited_timestamp.is_some());
    let listed = s.bot_messages(Some(GENERAL), false);
    assert_eq!(
        (listed[0].content.as_str(), listed[0].edits),
        ("Approve?", 1)
    );
    assert!(listed[0].buttons.is_empty());
    assert_eq!(
        s.edit_message(GENERAL, 1, &json!({})).unwrap_err().body["code"],
        10008
    );
}

#[test]
fn invalid_messages_get_discord_errors() {
    let mut s = State::new_for_tests();
    let long = "x".repeat(2001);
    let err = s
        .create_message(GENERAL, &json!({ "content": long }))
        .unwrap_err();
    assert_eq!((err.status, err.body["code"].as_u64()), (400, Some(50_035)));
    let parsed: serenity::http::DiscordJsonError =
        serde_json::from_value(err.body).expect("error body");
    assert_eq!(parsed.errors[0].path, "content");
    let err = s
        .create_message(GENERAL, &json!({ "content": "", "embeds": [] }))
        .unwrap_err();
    assert_eq!((err.status, err.body["code"].as_u64()), (400, Some(50_006)));
    let err = s
        .create_message(7, &json!({ "content": "hi" }))
        .unwrap_err();
    assert_eq!((err.status, err.body["code"].as_u64()), (404, Some(10_003)));
    let mut twice = buttons_body("x");
    twice["components"][0]["components"][1]["custom_id"] = json!("approve:1");
    let err = s.create_message(GENERAL, &twice).unwrap_err();
    let parsed: serenity::http::DiscordJsonError =
        serde_json::from_value(err.body).expect("error body");
    assert_eq!(parsed.errors[0].path, "components.0.components.1.custom_id");
    assert!(
        s.create_message(GENERAL, &json!({ "content": "x".repeat(2000) }))
            .is_ok()
    );
}

#[test]
fn rate_limits_answer_429() {
    let mut s = State::new_for_tests();
    s.limits = Limits {
        per_channel: Some((1, Duration::from_secs(2))),
        global: None,
    };
    assert!(
        s.create_message(GENERAL, &json!({ "content": "one" }))
            .is_ok()
    );
    let err = s
        .create_message(GENERAL, &json!({ "content": "two" }))
        .unwrap_err();
    assert_eq!(err.status, 429);
    assert_eq!(err.body["global"].as_bool(), Some(false));
    assert!(
        err.body["retry_after"]
            .as_f64()
            .is_some_and(|r| r > 1.0 && r <= 2.0)
    );
    assert!(err.headers.contains(&("retry-after", "2".to_owned())));
    assert!(
        err.headers
            .contains(&("x-ratelimit-scope", "user".to_owned()))
    );
    assert_eq!(s.rate_limited, 1);
    assert_eq!(s.bot_messages(None, false).len(), 1);
}

#[test]
fn threads_and_dms_parse_as_channels() {
    let mut s = State::new_for_tests();
    let (sent, _) = s
        .create_message(GENERAL, &json!({ "content": "plan" }))
        .expect("create");
    let body = json!({ "name": "Plan 1", "auto_archive_duration": 1440 });
    let thread = s
        .create_thread(GENERAL, Some(id_of(&sent)), &body)
        .expect("thread");
    let parsed: GuildChannel = serde_json::from_value(thread.clone()).expect("thread channel");
    assert_eq!(parsed.kind, ChannelType::PublicThread);
    assert_eq!(parsed.parent_id, Some(ChannelId::new(GENERAL)));
    assert!(parsed.thread_metadata.is_some());
    assert!(matches!(
        serde_json::from_value::<Channel>(thread),
        Ok(Channel::Guild(_))
    ));
    let again = s
        .create_thread(GENERAL, Some(id_of(&sent)), &body)
        .unwrap_err();
    assert_eq!(again.body["code"], 160_004);
    let thread_id = parsed.id.get();
    assert_eq!(s.threads(), vec![(thread_id, GENERAL, "Plan 1".to_owned())]);
    let general: GuildChannel =
        serde_json::from_value(s.channel_json(GENERAL).expect("general")).expect("general");
    assert_eq!(
        (general.kind, general.name.as_str()),
        (ChannelType::Text, "general")
    );
    let dm = s.create_dm(&json!({ "recipient_id": "42" })).expect("dm");
    let parsed: PrivateChannel = serde_json::from_value(dm.clone()).expect("private channel");
    assert_eq!(parsed.recipient.id.get(), 42);
    assert!(matches!(
        serde_json::from_value::<Channel>(dm),
        Ok(Channel::Private(_))
    ));
    assert_eq!(s.dms.get(&42).copied(), Some(parsed.id.get()));
}

#[test]
fn button_click_parses_and_update_removes_buttons() {
    let (mut s, _, mut rx) = identified();
    let (sent, _) = s
        .create_message(GENERAL, &buttons_body("Approve?"))
        .expect("create");
    let message = id_of(&sent);
    let interaction = s.click(Place::Guild(GENERAL), &ann(), message, "approve:1");
    let events = dispatches(&mut rx);
    let Some((_, Event::InteractionCreate(created))) = events.last() else {
        panic!("expected INTERACTION_CREATE, got {events:?}");
    };
    let Interaction::Component(click) = &created.interaction else {
        panic!(
            "expected a component interaction, got {:?}",
            created.interaction
        );
    };
    assert_eq!(click.id.get(), interaction);
    assert_eq!(click.data.custom_id, "approve:1");
    assert!(matches!(
        click.data.kind,
        ComponentInteractionDataKind::Button
    ));
    assert_eq!(click.user.id.get(), 42);
    assert_eq!(click.guild_id.map(|g| g.get()), Some(GUILD_ID));
    assert_eq!(click.message.id.get(), message);
    let token = format!("itok-{interaction}");
    assert_eq!(click.token, token);
    let update = json!({ "type": 7, "data": { "content": "Approved", "components": [] } });
    s.interaction_callback(interaction, &token, &update)
        .expect("callback");
    let listed = s.bot_messages(Some(GENERAL), false);
    assert_eq!(
        (listed[0].content.as_str(), listed[0].edits),
        ("Approved", 1)
    );
    assert!(listed[0].buttons.is_empty());
    let reply = &s.replies[0];
    assert_eq!(
        (reply.kind, reply.components_removed, reply.ephemeral),
        (7, true, false)
    );
    let again = s
        .interaction_callback(interaction, &token, &update)
        .unwrap_err();
    assert_eq!(
        (again.status, again.body["code"].as_u64()),
        (400, Some(40_060))
    );
    let unknown = s.interaction_callback(5, "itok-5", &update).unwrap_err();
    assert_eq!(
        (unknown.status, unknown.body["code"].as_u64()),
        (404, Some(10_062))
    );
}

#[test]
fn slash_command_parses_and_deferred_reply_is_ephemeral() {
    let (mut s, _, mut rx) = identified();
    let register = json!([{
        "name": "plan", "name_localizations": {}, "description": "Make a plan",
        "description_localizations": {}, "type": 1, "nsfw": false,
        "options": [{ "type": 3, "name": "goal", "description": "What", "required": true }],
    }]);
    let registered = s.overwrite_commands(None, &register).expect("register");
    let registered: Vec<Command> = serde_json::from_value(registered).expect("commands");
    assert_eq!(registered[0].name, "plan");
    assert_eq!(s.command_names(), vec!["plan".to_owned()]);
    let bad = json!([{ "name": "Plan", "description": "x" }]);
    assert_eq!(s.overwrite_commands(None, &bad).unwrap_err().status, 400);
    let interaction = s.slash(Place::Dm(42), &ann(), "plan", &[("goal", "ship it")]);
    let events = dispatches(&mut rx);
    let Some((_, Event::InteractionCreate(created))) = events.last() else {
        panic!("expected INTERACTION_CREATE, got {events:?}");
    };
    let Interaction::Command(command) = &created.interaction else {
        panic!(
            "expected a command interaction, got {:?}",
            created.interaction
        );
    };
    assert_eq!(command.data.name, "plan");
    assert_eq!(command.data.id, registered[0].id);
    assert_eq!(
        command.data.options[0].value,
        CommandDataOptionValue::String("ship it".to_owned())
    );
    assert_eq!(command.user.id.get(), 42);
    assert!(command.guild_id.is_none());
    let token = format!("itok-{interaction}");
    let early = s
        .followup(APPLICATION_ID, &token, &json!({ "content": "x" }))
        .unwrap_err();
    assert_eq!(early.body["code"], 10_015);
    let defer = json!({ "type": 5, "data": { "flags": 64 } });
    s.interaction_callback(interaction, &token, &defer)
        .expect("defer");
    let original = s
        .edit_original(APPLICATION_ID, &token, &json!({ "content": "done" }))
        .expect("edit original");
    let original: Message = serde_json::from_value(original).expect("original");
    assert_eq!(original.content, "done");
    let dm = s.dms[&42];
    assert_eq!(s.bot_messages(Some(dm), true).len(), 1);
    assert!(s.bot_messages(Some(dm), false).is_empty());
    let more = s
        .followup(APPLICATION_ID, &token, &json!({ "content": "more" }))
        .expect("follow-up");
    assert!(serde_json::from_value::<Message>(more).is_ok());
    assert_eq!(s.bot_messages(Some(dm), false)[0].content, "more");
}
