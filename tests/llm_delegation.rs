//! Sub-goals through the language-model planner, with the real genai client against a fake
//! OpenAI-compatible server: the model hands two sub-goals to child plans, which the model
//! plans too, run in parallel and report back to the parent; a child's token budget holds.

#![cfg(feature = "llm")]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::Harness;
use common::fake_llm::{FakeLlm, Flavor, Scripted};
use common::llm::llm_config;
use common::rendezvous::Rendezvous;
use openmog::config::LlmProvider;
use openmog::store::MemoryStore;
use serde_json::{Value, json};

fn submit(plan: Value) -> Scripted {
    Scripted::ToolCall {
        name: "submit_plan".to_owned(),
        arguments: plan,
    }
}

/// The names the `submit_plan` tool offered as skills in a request.
fn offered_skills(request: &Value) -> Vec<String> {
    let tools = request["tools"].as_array().expect("tools offered");
    let submit = tools
        .iter()
        .find(|t| t["function"]["name"] == "submit_plan")
        .expect("submit_plan offered");
    submit["function"]["parameters"]["properties"]["steps"]["items"]["properties"]["skill"]["enum"]
        .as_array()
        .expect("skill names")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_models_sub_goals_run_as_child_plans_in_parallel_and_report_back() {
    let fake = FakeLlm::start(Flavor::OpenAi).await;
    let child = submit(json!({
        "title": "Survey a region",
        "steps": [{"key": "look", "skill": "meet", "args": {"label": "survey"}}]
    }));
    fake.script([
        submit(json!({
            "title": "Survey both regions",
            "steps": [
                {"key": "north", "skill": "subagent", "args": {"goal": "survey the north region"}},
                {"key": "south", "skill": "subagent", "args": {"goal": "survey the south region", "max_steps": 2}},
                {"key": "merge", "skill": "count", "depends_on": ["north", "south"],
                 "args": {"label": {"$concat": ["north ", {"$from": "north.output.state"}, ", south ", {"$from": "south.output.state"}]}}}
            ]
        })),
        child.clone(),
        child,
    ]);
    let meet = Rendezvous::new(2, Duration::from_secs(10));
    let h = Harness::start_with_skill(
        llm_config(&fake, LlmProvider::Openai, |_| {}),
        Arc::new(MemoryStore::new()),
        None,
        meet.clone(),
    )
    .await;

    h.say("u-alice", "survey both regions and tell me");
    h.expect("succeeded (3/3 steps done): Survey both regions")
        .await;
    assert_eq!(
        meet.most.load(Ordering::SeqCst),
        2,
        "both children were running at once"
    );
    assert_eq!(
        h.counter.runs().get("north succeeded, south succeeded"),
        Some(&1),
        "{:?}",
        h.counter.runs()
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert!(offered_skills(&requests[0]).contains(&"subagent".to_owned()));
    for child in &requests[1..] {
        let text = child.to_string();
        assert!(
            text.contains("sub-goal handed over by another plan")
                && text.contains("Survey both regions"),
            "the child's model call knows its parent: {text}"
        );
        assert!(
            !offered_skills(child).contains(&"subagent".to_owned()),
            "children cannot delegate further"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn a_child_plans_within_its_own_token_budget() {
    let fake = FakeLlm::start(Flavor::OpenAi).await;
    fake.set_usage(100, 20);
    fake.script([
        submit(json!({
            "title": "Delegate cheaply",
            "steps": [{"key": "sub", "skill": "subagent", "args": {"goal": "do it", "max_tokens": 100}}]
        })),
        // The child's first draft is invalid; its 120 tokens already pass its budget of 100.
        submit(json!({"title": "Nothing", "steps": []})),
    ]);
    let h = Harness::start(
        llm_config(&fake, LlmProvider::Openai, |_| {}),
        Arc::new(MemoryStore::new()),
        None,
    )
    .await;

    h.say("u-alice", "delegate it cheaply");
    h.expect("planning used up its budget (120 of 100 tokens) after 1 tries")
        .await;
    h.expect("failed (0/1 steps done): Delegate cheaply").await;
    // The child's planning stopped at its budget; what follows is the parent's replan
    // (which the fake, out of answers, refuses).
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests[2].to_string().contains("Step `sub` failed"));
    h.stop().await;
}
