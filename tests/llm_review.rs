//! Purpose review through the language-model planner (real genai client, fake
//! OpenAI-compatible server): an idle agent makes no model calls; after some work, the
//! review proposes a plan to the owner, and nothing of it runs until the owner approves.

#![cfg(feature = "llm")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_llm::{FakeLlm, Flavor, Scripted};
use common::llm::llm_config;
use common::{CONV, Harness};
use openmog::clock::{Clock, ManualClock};
use openmog::config::{ConfigDuration, LlmProvider, ReviewConfig};
use openmog::domain::{DecisionScope, OutboundBody, Verdict};
use openmog::store::MemoryStore;
use serde_json::json;

/// Alice's direct conversation on the test channel: where proposals to her go.
const ALICE: &str = "u-alice";

/// An engine on `clock` whose purpose is reviewed hourly, with proposals to Alice.
async fn reviewing(fake: &FakeLlm, clock: &ManualClock) -> Harness {
    let mut config = llm_config(fake, LlmProvider::Openai, |_| {});
    config.purpose = "Keep the API healthy".to_owned();
    config.planner.review = Some(ReviewConfig {
        every: ConfigDuration::secs(3_600),
        owner: "alice".to_owned(),
        proposal_timeout: ConfigDuration::secs(86_400),
    });
    let store = Arc::new(MemoryStore::new());
    Harness::start(config, store, Some(Arc::new(clock.clone()))).await
}

/// Waits until the review loop has recorded a review at or after `since` (ms).
async fn reviewed_since(h: &Harness, since: i64) {
    for _ in 0..1_000 {
        let last = h
            .engine
            .store()
            .channel_state("planner", "review.last")
            .await
            .unwrap()
            .and_then(|v| v.parse::<i64>().ok());
        if last.is_some_and(|last| last >= since) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no review was recorded");
}

#[tokio::test]
async fn a_review_proposes_a_plan_to_the_owner_and_nothing_runs_until_they_approve() {
    let fake = FakeLlm::start(Flavor::OpenAi).await;
    let clock = ManualClock::new();
    let h = reviewing(&fake, &clock).await;

    // Idle: the review comes due, finds nothing new, and asks no one.
    clock.advance(Duration::from_secs(2 * 3_600));
    reviewed_since(&h, clock.now().0).await;
    assert!(
        fake.requests().is_empty(),
        "an idle agent made a model call"
    );

    // Some work, then the next review proposes a follow-up.
    fake.script([Scripted::ToolCall {
        name: "submit_plan".to_owned(),
        arguments: json!({"title": "Check the API", "steps": [{"key": "check", "skill": "count", "args": {"label": "check api"}}]}),
    }]);
    h.say("u-alice", "check the api please");
    h.expect("succeeded (1/1 steps done): Check the API").await;
    fake.script([Scripted::ToolCall {
        name: "submit_plan".to_owned(),
        arguments: json!({"title": "Rotate the API logs", "steps": [{"key": "rotate", "skill": "count", "args": {"label": "rotate logs"}}]}),
    }]);
    clock.advance(Duration::from_secs(2 * 3_600));
    h.chat
        .wait_for_text(ALICE, "From a review of the purpose, I propose this plan")
        .await;
    let review = fake.requests()[1].to_string();
    for expected in [
        "Keep the API healthy",
        "check the api please",
        "Check the API",
    ] {
        assert!(
            review.contains(expected),
            "the review was not shown {expected:?}: {review}"
        );
    }

    // `count` runs on its own by policy; as a proposal it waits for Alice.
    let approval = h
        .chat
        .wait_for(Duration::from_secs(10), |d| {
            d.message.conversation.id == ALICE
                && matches!(&d.message.body, OutboundBody::ApprovalRequest(p) if p.summary.starts_with("rotate · "))
        })
        .await;
    let OutboundBody::ApprovalRequest(prompt) = approval.message.body else {
        unreachable!()
    };
    assert!(
        prompt.approvers.iter().any(|a| a.contains("Alice")),
        "{:?}",
        prompt.approvers
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.counter.runs().get("rotate logs"),
        None,
        "a proposal ran unapproved"
    );

    // Bob is an approver of many things, but not of Alice's proposals.
    h.chat.press(
        ALICE,
        "u-bob",
        &prompt.approval,
        Verdict::Approve,
        DecisionScope::Step,
    );
    h.chat.press(
        ALICE,
        "u-alice",
        &prompt.approval,
        Verdict::Approve,
        DecisionScope::Step,
    );
    h.chat
        .wait_for_text(ALICE, "succeeded (1/1 steps done): Rotate the API logs")
        .await;
    assert_eq!(h.counter.runs().get("rotate logs"), Some(&1));
    let refused = h.audit_of("decision.refused").await;
    assert!(
        refused
            .iter()
            .any(|(actor, subject, _)| actor == "bob" && subject == prompt.approval.as_str()),
        "Bob's press was refused and audited: {refused:?}"
    );

    // Only the proposal's own progress since: no new review, no model call.
    let calls = fake.requests().len();
    clock.advance(Duration::from_secs(2 * 3_600));
    reviewed_since(&h, clock.now().0).await;
    assert_eq!(fake.requests().len(), calls);
    assert!(h.chat.texts(CONV).iter().all(|t| !t.contains("I propose")));
    h.stop().await;
}

#[tokio::test]
async fn a_review_the_model_cannot_answer_is_audited_and_waits_for_the_next_period() {
    let fake = FakeLlm::start(Flavor::OpenAi).await;
    let clock = ManualClock::new();
    let h = reviewing(&fake, &clock).await;
    fake.script([Scripted::ToolCall {
        name: "submit_plan".to_owned(),
        arguments: json!({"title": "Check the API", "steps": [{"key": "check", "skill": "count", "args": {"label": "check api"}}]}),
    }]);
    h.say("u-alice", "check the api please");
    h.expect("succeeded (1/1 steps done): Check the API").await;

    // The fake has no more answers: it answers HTTP 500.
    clock.advance(Duration::from_secs(2 * 3_600));
    reviewed_since(&h, clock.now().0).await;
    let failed = h.audit_of("review.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].2["error"].as_str().unwrap().contains("HTTP 500"),
        "{failed:?}"
    );
    let calls = fake.requests().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.requests().len(),
        calls,
        "not retried before the next period"
    );
    assert!(h.chat.texts(ALICE).is_empty(), "nothing was proposed");
    h.stop().await;
}
