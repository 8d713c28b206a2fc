//! The whole loop through the real serenity client and the fake Discord: a request, a
//! plan, buttons, a click, execution and the report — in a thread a server request opens,
//! and in a DM — and clicks that must change nothing.

mod common;

use std::time::Duration;

use common::*;
use openmog_discord::fake::{BOT_ID, DcUser, FakeDiscord, GENERAL, Place};

#[tokio::test]
async fn a_server_request_opens_a_thread_and_a_click_approves() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;

    // Not addressed: ignored.
    fake.user_says(Place::Guild(GENERAL), &alice(), "deploy nothing");
    let asked = fake.user_says(
        Place::Guild(GENERAL),
        &alice(),
        &format!("<@{BOT_ID}> deploy api"),
    );
    fake.wait_until("a thread on the request", Duration::from_secs(10), |f| {
        f.threads()
            .iter()
            .any(|(id, parent, _)| *id == asked && *parent == GENERAL)
    })
    .await;
    let thread = asked;
    let request = request(&fake, thread).await;
    assert!(
        shown(&request.content).contains("restart · restart"),
        "{}",
        request.content
    );
    assert_eq!(request.buttons.len(), 3, "approve, deny, whole plan");
    assert!(
        fake.messages(GENERAL).is_empty(),
        "the plan lives in the thread"
    );

    let click = fake.click(
        Place::Guild(thread),
        &bob(),
        request.id,
        &button(&request, "Approve"),
    );
    let answer = ephemeral(&fake, click).await;
    assert!(answer.contains("approved by Bob"), "{answer}");
    expect(&fake, thread, "succeeded").await;
    let edited = fake
        .messages(thread)
        .into_iter()
        .find(|m| m.id == request.id)
        .unwrap();
    assert!(
        shown(&edited.content).starts_with("✓ Approved by Bob"),
        "{}",
        edited.content
    );
    assert!(edited.buttons.is_empty(), "buttons removed");
    assert!(fake.typing().contains(&thread), "typing while the step ran");
    let statuses: Vec<_> = fake
        .messages(thread)
        .into_iter()
        .filter(|m| !m.embeds.is_empty())
        .collect();
    assert_eq!(statuses.len(), 1, "one status embed, edited in place");
    let embed = &statuses[0].embeds[0];
    assert!(
        embed["title"]
            .as_str()
            .unwrap()
            .contains("Deploy api — 2/2 steps done"),
        "{embed}"
    );
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .contains("restarted api"),
        "{embed}"
    );
    assert!(
        !fake
            .messages(GENERAL)
            .iter()
            .any(|m| m.content.contains("nothing")),
        "an unaddressed message got no answer"
    );
    assert_eq!(bot.audit_of("decision").await[0].0, "bob");
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_dm_request_is_approved_by_a_click_and_by_slash_commands() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    fake.user_says(Place::Dm(ALICE), &alice(), "deploy api");
    let dm = fake.dm_channel(ALICE).expect("a DM channel");
    let request = request(&fake, dm).await;
    let click = fake.click(
        Place::Dm(ALICE),
        &bob(),
        request.id,
        &button(&request, "Approve"),
    );
    ephemeral(&fake, click).await;
    expect(&fake, dm, "succeeded").await;

    // The same by slash command: /task, then /deny.
    let task = fake.slash(
        Place::Dm(ALICE),
        &alice(),
        "task",
        &[("request", "deploy web")],
    );
    fake.wait_until("a second request", Duration::from_secs(10), |f| {
        f.messages(dm)
            .iter()
            .filter(|m| m.content.contains("Approval needed"))
            .count()
            == 1
            && f.messages(dm).iter().any(|m| m.content.contains("web"))
    })
    .await;
    let _ = task;
    let second = fake
        .messages(dm)
        .into_iter()
        .find(|m| m.content.contains("Approval needed"))
        .unwrap();
    let deny = fake.slash(
        Place::Dm(ALICE),
        &bob(),
        "deny",
        &[("id", &approval_id(&second))],
    );
    let answer = ephemeral(&fake, deny).await;
    assert!(answer.contains("denied by Bob"), "{answer}");
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn clicks_that_may_not_decide_get_an_ephemeral_notice_and_change_nothing() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    fake.user_says(Place::Dm(ALICE), &alice(), "deploy api");
    let dm = fake.dm_channel(ALICE).unwrap();
    let request = request(&fake, dm).await;
    let approve = button(&request, "Approve");

    let click = fake.click(Place::Dm(ALICE), &carol(), request.id, &approve);
    assert!(
        ephemeral(&fake, click)
            .await
            .contains("not one of the approvers")
    );
    let click = fake.click(
        Place::Dm(ALICE),
        &DcUser::new(42, "Mallory"),
        request.id,
        &approve,
    );
    assert!(ephemeral(&fake, click).await.contains("don't know you"));
    let click = fake.click(Place::Dm(ALICE), &bob(), request.id, &approve);
    ephemeral(&fake, click).await;
    expect(&fake, dm, "succeeded").await;
    let click = fake.click(Place::Dm(ALICE), &bob(), request.id, &approve);
    assert!(ephemeral(&fake, click).await.contains("already approved"));

    let reasons: Vec<String> = bot
        .audit_of("decision.refused")
        .await
        .into_iter()
        .map(|(_, _, d)| d["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        reasons.contains(&"not an approver".to_owned()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"already settled".to_owned()),
        "{reasons:?}"
    );
    assert_eq!(bot.audit_of("decision").await.len(), 1);
    assert!(
        !fake
            .messages(dm)
            .iter()
            .any(|m| m.content.contains("not one of the approvers")),
        "refusals are ephemeral"
    );
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_click_on_a_superseded_plan_changes_nothing() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    fake.user_says(Place::Dm(ALICE), &alice(), "deploy api");
    let dm = fake.dm_channel(ALICE).unwrap();
    let request = request(&fake, dm).await;
    fake.user_says(Place::Dm(ALICE), &alice(), "cancel");
    expect(&fake, dm, "cancelled").await;
    let click = fake.click(
        Place::Dm(ALICE),
        &bob(),
        request.id,
        &button(&request, "Approve"),
    );
    assert!(ephemeral(&fake, click).await.contains("no longer applies"));
    assert_eq!(
        bot.audit_of("decision.refused").await[0].2["reason"],
        "superseded"
    );
    bot.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn long_text_is_split_at_2000_and_markdown_in_data_is_escaped() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = Bot::in_memory(&fake).await;
    // The plan title repeats the request, so its summary is over 2000 characters.
    let words: Vec<String> = (0..400).map(|i| format!("*w{i}*")).collect();
    fake.user_says(
        Place::Dm(ALICE),
        &alice(),
        &format!("shout {}", words.join(" ")),
    );
    let dm = fake.dm_channel(ALICE).unwrap();
    expect(&fake, dm, "runs on its own").await;
    let parts: Vec<String> = fake.messages(dm).into_iter().map(|m| m.content).collect();
    assert!(parts.len() >= 2, "split: {parts:#?}");
    assert!(
        parts.iter().all(|p| p.chars().count() <= 2000),
        "each part fits"
    );
    let shown_text: String = parts.iter().map(|p| shown(p)).collect();
    for word in &words {
        assert!(
            shown_text.contains(word.as_str()),
            "{word} shows as written"
        );
    }
    assert!(
        !parts.concat().contains(" *w1* "),
        "markdown in data is escaped, not rendered"
    );
    bot.stop().await;
    fake.stop().await;
}
