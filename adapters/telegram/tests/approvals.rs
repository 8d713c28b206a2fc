//! The whole loop through the real teloxide client and the fake Bot API: a request, a plan,
//! approval buttons, a press, execution and the report — in a private chat and in a forum
//! topic — and presses that must change nothing.

mod common;

use std::time::Duration;

use common::*;
use openmog_telegram::fake::{ChatRef, FakeTelegram};

#[tokio::test]
async fn a_private_chat_request_is_approved_with_a_tap_and_runs() {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    let here = ChatRef::private(ALICE);
    fake.user_says(here, &alice(), "deploy api");

    let status = expect(&fake, here, "Deploy api").await;
    let request = request(&fake, here).await;
    assert!(
        request.text.contains("restart · restart"),
        "{}",
        request.text
    );
    let labels: Vec<&str> = request.buttons.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(labels.len(), 3, "approve, deny and whole plan: {labels:?}");

    // Bob approves from his own private chat is not possible here: the request went to
    // Alice's chat, where Bob presses (Telegram binds the press to Bob's user id).
    let press = fake.press(
        here,
        &bob(),
        request.message_id,
        &button(&request, "✅ Approve"),
    );
    let answer = notice(&fake, &press).await;
    assert!(
        answer.contains("approved by Bob"),
        "the press is answered with a notice: {answer}"
    );

    expect(&fake, here, "succeeded").await;
    let edited = fake
        .messages(here)
        .into_iter()
        .find(|m| m.message_id == request.message_id)
        .unwrap();
    assert!(
        edited.text.starts_with("✓ Approved by Bob"),
        "the request shows the outcome: {}",
        edited.text
    );
    assert!(edited.buttons.is_empty(), "and loses its buttons");
    let status = fake
        .messages(here)
        .into_iter()
        .find(|m| m.message_id == status.message_id)
        .unwrap();
    assert!(
        status.text.contains("2/2 steps done"),
        "one status message, edited: {}",
        status.text
    );
    assert!(status.text.contains("restarted api"), "{}", status.text);
    assert!(
        fake.chat_actions()
            .iter()
            .any(|(chat, action)| chat.chat_id == ALICE && action == "typing"),
        "a typing indicator while steps ran"
    );
    let decisions = bot.audit_of("decision").await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].0, "bob");
    assert!(
        decisions[0].2["evidence"]
            .as_str()
            .unwrap()
            .contains("telegram user 1002")
    );
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_forum_topic_keeps_the_conversation_in_its_topic() {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    let topic = ChatRef::topic(GROUP, TOPIC);

    // Not addressed: ignored in a group.
    fake.user_says(topic, &alice(), "deploy api");
    // Addressed by mention.
    fake.user_says(topic, &alice(), "@openmog_bot deploy web");
    let request = request(&fake, topic).await;
    assert!(request.text.contains("web"), "{}", request.text);
    assert_eq!(
        request.thread_id,
        Some(TOPIC),
        "the request is posted in the topic"
    );
    assert!(
        !fake
            .all_messages()
            .iter()
            .any(|m| m.text.contains("Deploy api")),
        "an unaddressed group message gets no answer"
    );

    let press = fake.press(
        topic,
        &bob(),
        request.message_id,
        &button(&request, "✅ Approve"),
    );
    assert!(notice(&fake, &press).await.contains("approved by Bob"));
    let report = expect(&fake, topic, "succeeded").await;
    assert_eq!(report.thread_id, Some(TOPIC));
    assert!(
        fake.messages(ChatRef::group(GROUP))
            .iter()
            .all(|m| m.thread_id == Some(TOPIC)),
        "everything stays in the topic"
    );
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn presses_that_may_not_decide_get_a_notice_and_change_nothing() {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    let group = ChatRef::group(GROUP);
    fake.user_says(group, &alice(), "/deploy@openmog_bot api");
    let request = request(&fake, group).await;
    let approve = button(&request, "✅ Approve");

    // Carol is a member but not an approver.
    let press = fake.press(group, &carol(), request.message_id, &approve);
    let answer = notice(&fake, &press).await;
    assert!(answer.contains("not one of the approvers"), "{answer}");

    // A stranger.
    let press = fake.press(
        group,
        &openmog_telegram::fake::TgUser::new(9999, "Mallory"),
        request.message_id,
        &approve,
    );
    let answer = notice(&fake, &press).await;
    assert!(answer.contains("don't know you"), "{answer}");

    // Bob approves; a second press is stale.
    let press = fake.press(group, &bob(), request.message_id, &approve);
    notice(&fake, &press).await;
    expect(&fake, group, "succeeded").await;
    let press = fake.press(group, &bob(), request.message_id, &approve);
    let answer = notice(&fake, &press).await;
    assert!(answer.contains("already approved"), "{answer}");

    let refused: Vec<String> = bot
        .audit_of("decision.refused")
        .await
        .into_iter()
        .map(|(_, _, data)| data["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        refused.contains(&"not an approver".to_owned()),
        "{refused:?}"
    );
    assert!(
        refused.contains(&"already settled".to_owned()),
        "{refused:?}"
    );
    assert_eq!(
        bot.audit_of("inbound.refused").await.len(),
        1,
        "the stranger is audited"
    );
    assert_eq!(
        bot.audit_of("decision").await.len(),
        1,
        "one decision took effect"
    );
    assert!(
        !fake
            .messages(group)
            .iter()
            .any(|m| m.text.contains("not one of the approvers")),
        "refusals are notices, not group messages"
    );
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_press_on_a_superseded_plan_changes_nothing() {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    let here = ChatRef::private(ALICE);
    fake.user_says(here, &alice(), "deploy api");
    let request = request(&fake, here).await;
    fake.user_says(here, &alice(), "/cancel");
    expect(&fake, here, "cancelled").await;
    fake.wait_until(
        "the request shows it is no longer needed",
        Duration::from_secs(10),
        |f| {
            f.messages(here).iter().any(|m| {
                m.message_id == request.message_id && m.text.starts_with("– No longer needed")
            })
        },
    )
    .await;

    // An old client still shows the button; the press reaches the engine.
    let press = fake.press(
        here,
        &bob(),
        request.message_id,
        &button(&request, "✅ Approve"),
    );
    let answer = notice(&fake, &press).await;
    assert!(answer.contains("no longer applies"), "{answer}");
    let refused = bot.audit_of("decision.refused").await;
    assert_eq!(refused[0].2["reason"], "superseded");
    assert!(bot.audit_of("decision").await.is_empty());
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_foreign_button_is_dismissed_without_reaching_the_engine() {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    let here = ChatRef::private(ALICE);
    fake.user_says(here, &alice(), "deploy api");
    let request = request(&fake, here).await;
    let press = fake.press(here, &alice(), request.message_id, "not-ours");
    let answer = notice(&fake, &press).await;
    assert!(answer.contains("not one of mine"), "{answer}");
    assert!(bot.audit_of("decision.refused").await.is_empty());
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn text_approvals_by_command_and_by_reply() {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    let group = ChatRef::group(GROUP);

    fake.user_says(group, &alice(), "/deploy@openmog_bot api");
    let first = request(&fake, group).await;
    fake.user_says(
        group,
        &bob(),
        &format!("/deny@openmog_bot {}", approval_id(&first)),
    );
    expect(&fake, group, "denied by Bob").await;

    fake.user_says(group, &alice(), "@openmog_bot deploy web");
    fake.wait_until("a second request", Duration::from_secs(10), |f| {
        f.messages(group)
            .iter()
            .any(|m| m.text.contains("Approval needed") && m.text.contains("web"))
    })
    .await;
    let second = fake
        .messages(group)
        .into_iter()
        .find(|m| m.text.contains("Approval needed") && m.text.contains("web"))
        .unwrap();
    let reply = fake.user_replies(group, &bob(), "approve", second.message_id);
    let answer = expect(&fake, group, "approved by Bob").await;
    assert_eq!(
        answer.reply_to,
        Some(reply),
        "the answer is a threaded reply"
    );
    expect(&fake, group, "Plan").await;
    fake.wait_until("the second plan to succeed", Duration::from_secs(10), |f| {
        f.messages(group)
            .iter()
            .any(|m| m.text.contains("succeeded") && m.text.contains("web"))
    })
    .await;
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn long_text_is_split_at_telegrams_limit_escaped_and_complete() {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    let here = ChatRef::private(ALICE);
    // The plan title repeats the request: the summary is over 4096 units.
    let words: Vec<String> = (0..700).map(|i| format!("<w{i}>&")).collect();
    let request = format!("shout {}", words.join(" "));
    fake.user_says(here, &alice(), &request);
    fake.wait_until("the long summary", Duration::from_secs(10), |f| {
        f.messages(here).iter().any(|m| m.text.contains("<w699>&"))
    })
    .await;
    let texts: Vec<String> = fake.messages(here).into_iter().map(|m| m.text).collect();
    assert!(
        texts.len() >= 2,
        "split into several messages: {}",
        texts.len()
    );
    for text in &texts {
        assert!(text.encode_utf16().count() <= 4096, "each part fits");
    }
    let all = texts.concat();
    for word in &words {
        assert!(
            all.contains(word.as_str()),
            "{word} arrived, unescaped as the user wrote it"
        );
    }
    bot.stop().await;
    fake.stop().await;
}
