//! Sub-goals handed to child plans (`subagent` steps), planned here by the rule planner:
//! children run in parallel within `limits.max_subagents` and report back to the parent;
//! their budgets (steps, time) hold; cancelling the parent cancels the child; and an
//! executor that reclaims the step after a crash finds the child it left.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::rendezvous::Rendezvous;
use common::{CONFIG, Harness, config};
use openmog::clock::{ManualClock, SharedClock};
use openmog::domain::{PlanId, PlanRecord, Verdict};
use openmog::store::{MemoryStore, SharedStore};
use serde_json::{Value, json};

const RULES: &str = r#"
[[planner.rules]]
name = "research"
pattern = 'research (?P<a>\w+) and (?P<b>\w+)'
title = "Research ${a} and ${b}"
steps = [
  { key = "a", skill = "subagent", args = { goal = "meet ${a}" } },
  { key = "b", skill = "subagent", args = { goal = "meet ${b}" } },
  { key = "sum", skill = "count", args = { label = "${steps.a.output.state} and ${steps.b.output.state}" }, depends_on = ["a", "b"] },
]

[[planner.rules]]
name = "meet"
pattern = 'meet (?P<x>\w+)'
title = "Meet ${x}"
steps = [{ key = "go", skill = "meet", args = { label = "${x}" } }]

[[planner.rules]]
name = "delegate-within"
pattern = 'delegate (?P<goal>.+) within (?P<timeout>\w+)'
title = "Delegate"
steps = [{ key = "sub", skill = "subagent", args = { goal = "${goal}", timeout = "${timeout}" } }]

[[planner.rules]]
name = "delegate-small"
pattern = 'delegate (?P<goal>.+) in two steps'
title = "Delegate"
steps = [{ key = "sub", skill = "subagent", args = { goal = "${goal}", max_steps = 2 } }]

[[planner.rules]]
name = "delegate"
pattern = 'delegate (?P<goal>.+)'
title = "Delegate"
steps = [{ key = "sub", skill = "subagent", args = { goal = "${goal}" } }]
"#;

fn test_config(tweak: &str) -> openmog::config::Config {
    config(&format!("{CONFIG}\n{RULES}\n{tweak}"))
}

async fn start(
    config: openmog::config::Config,
    store: SharedStore,
    clock: Option<SharedClock>,
    meet: &Rendezvous,
) -> Harness {
    Harness::start_with_skill(config, store, clock, meet.clone()).await
}

/// The plan whose title is `title`.
async fn plan_titled(h: &Harness, title: &str) -> PlanRecord {
    let store = h.engine.store();
    for _ in 0..500 {
        for summary in store.plans(false, 100).await.unwrap() {
            if summary.title == title {
                return store.plan(&summary.id).await.unwrap().unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no plan titled {title:?}");
}

#[tokio::test]
async fn children_run_in_parallel_and_report_back_to_the_parent() {
    let meet = Rendezvous::new(2, Duration::from_secs(10));
    let h = start(test_config(""), Arc::new(MemoryStore::new()), None, &meet).await;

    h.say("u-alice", "research north and south");
    h.expect("succeeded (3/3 steps done): Research north and south")
        .await;

    // Both children were inside their step at the same time.
    assert_eq!(meet.most.load(Ordering::SeqCst), 2);
    let parent = plan_titled(&h, "Research north and south").await;
    let a = parent.step(&"a".into()).unwrap().output.clone().unwrap();
    assert_eq!(a["plan"], json!(format!("{}.a", parent.id)));
    assert_eq!(a["state"], "succeeded");
    assert_eq!(a["outputs"]["go"]["met"], "north");
    assert!(a["report"].as_str().unwrap().contains("Meet north"));
    // The parent's last step read both children's outcomes.
    assert_eq!(
        h.counter.runs().get("succeeded and succeeded"),
        Some(&1),
        "{:?}",
        h.counter.runs()
    );
    // Each child was announced as the parent's sub-goal, and is on record as its child.
    h.expect(&format!(
        "Plan {}, step `b`, hands a sub-goal to plan {}.b",
        parent.id, parent.id
    ))
    .await;
    let children: Vec<Value> = h
        .audit_of("plan.created")
        .await
        .into_iter()
        .filter_map(|(_, _, data)| data["notes"].get("parent").cloned())
        .collect();
    assert_eq!(children.len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn no_more_children_run_at_once_than_max_subagents() {
    let meet = Rendezvous::new(2, Duration::from_millis(300));
    let h = start(
        test_config("[limits]\nmax_subagents = 1"),
        Arc::new(MemoryStore::new()),
        None,
        &meet,
    )
    .await;

    h.say("u-alice", "research east and west");
    h.expect("succeeded (3/3 steps done): Research east and west")
        .await;
    assert_eq!(meet.most.load(Ordering::SeqCst), 1, "one child at a time");
    assert_eq!(meet.met.lock().unwrap().len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn a_child_over_its_time_or_step_budget_fails_the_parent_step() {
    let meet = Rendezvous::new(1, Duration::ZERO);
    let h = start(test_config(""), Arc::new(MemoryStore::new()), None, &meet).await;

    h.say("u-alice", "delegate slow 5000 within 300ms");
    h.expect("cancelled (0/1 steps done): Slow").await;
    h.expect("sub failed: sub-plan").await;
    let parent = plan_titled(&h, "Delegate").await;
    let sub = parent.step(&"sub".into()).unwrap();
    assert_eq!(
        sub.error.as_deref(),
        Some(format!("sub-plan {}.sub cancelled", parent.id).as_str())
    );
    let child = h
        .engine
        .store()
        .plan(&PlanId(format!("{}.sub", parent.id)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        child.steps[0].error.as_deref(),
        Some("the sub-goal ran out of time")
    );

    // "deploy x" is three steps: over a budget of two, so the child is never made.
    h.say("u-alice", "delegate deploy api in two steps");
    h.expect("the sub-goal's plan is invalid").await;
    assert_eq!(h.counter.total(), 0, "nothing of the child ran");
    h.stop().await;
}

#[tokio::test]
async fn cancelling_the_parent_cancels_its_child() {
    let meet = Rendezvous::new(1, Duration::ZERO);
    let h = start(test_config(""), Arc::new(MemoryStore::new()), None, &meet).await;

    h.say("u-alice", "delegate deploy api");
    h.approval_for("restart").await;
    let parent = plan_titled(&h, "Delegate").await;
    h.say("u-alice", &format!("cancel {}", parent.id));
    h.expect(&format!("Plan {}.sub cancelled", parent.id)).await;
    h.expect(&format!("Plan {} cancelled", parent.id)).await;
    assert_eq!(h.counter.runs().get("restart api"), None);
    h.stop().await;
}

#[tokio::test]
async fn after_a_crash_the_reclaimed_step_waits_for_the_child_it_left() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = ManualClock::new();
    let meet = Rendezvous::new(1, Duration::ZERO);
    let mut first = start(
        test_config(""),
        Arc::clone(&store),
        Some(Arc::new(clock.clone())),
        &meet,
    )
    .await;
    first.say("u-alice", "delegate deploy api");
    first.approval_for("restart").await;
    let parent = plan_titled(&first, "Delegate").await;
    // A crash: every task aborted, no graceful stop; the step's lease is left to expire.
    drop(first.running.take());

    clock.advance(Duration::from_secs(600));
    let second = start(
        test_config(""),
        Arc::clone(&store),
        Some(Arc::new(clock.clone())),
        &meet,
    )
    .await;
    let child_id = PlanId(format!("{}.sub", parent.id));
    let approval = loop {
        let child = store.plan(&child_id).await.unwrap().unwrap();
        if let Some(a) = child.approvals.first() {
            break a.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    second.press("u-bob", &approval, Verdict::Approve);
    second
        .expect(&format!("Plan {} succeeded (1/1 steps done)", parent.id))
        .await;
    assert_eq!(second.counter.runs().get("restart api"), Some(&1));
    let reclaimed = second.audit_of("step.reclaimed").await;
    assert_eq!(reclaimed.len(), 1, "{reclaimed:?}");
    let children = second
        .audit_of("plan.created")
        .await
        .into_iter()
        .filter(|(_, subject, _)| subject == child_id.as_str())
        .count();
    assert_eq!(children, 1, "the child was made once");
    second.stop().await;
}
