//! The whole loop through the public API and the in-memory channel: plans, policy,
//! approvals (deny, expiry, quorum, strangers, duplicates, superseded), all audited.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CONFIG, CONV, Harness, config};
use openmog::clock::ManualClock;
use openmog::domain::Verdict;
use openmog::store::MemoryStore;

async fn harness() -> Harness {
    Harness::start(config(CONFIG), Arc::new(MemoryStore::new()), None).await
}

async fn harness_with_clock(clock: &ManualClock) -> Harness {
    Harness::start(
        config(CONFIG),
        Arc::new(MemoryStore::new()),
        Some(Arc::new(clock.clone())),
    )
    .await
}

#[tokio::test]
async fn request_runs_auto_steps_asks_approval_then_runs_dependants_in_order() {
    let h = harness().await;
    h.say("u-alice", "deploy api");
    h.expect("Plan p-").await;
    let approval = h.approval_for("restart").await;
    assert_eq!(
        h.counter.runs().get("check api"),
        Some(&1),
        "the automatic step ran before the approval was asked"
    );
    assert_eq!(
        h.counter.runs().get("restart api"),
        None,
        "the gated step waits"
    );

    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("succeeded (3/3 steps done)").await;

    let runs = h.counter.runs();
    assert_eq!(runs.get("restart api"), Some(&1));
    assert_eq!(
        runs.get("restart api verified"),
        Some(&1),
        "the dependant used the approved step's output"
    );
    let order = [
        "Plan p-",
        "✓ check",
        "Approval needed",
        "approved by Bob",
        "✓ restart",
        "✓ verify",
        "succeeded",
    ];
    let positions: Vec<usize> = order.iter().map(|n| h.position(n)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "messages out of order: {:#?}",
        h.chat.texts(CONV)
    );

    let kinds = h.audit_kinds().await;
    for kind in [
        "request",
        "plan.created",
        "policy.verdict",
        "step.started",
        "approval.requested",
        "decision",
        "step.finished",
        "plan.finished",
        "outbound.sent",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "audit has no {kind}: {kinds:?}"
        );
    }
    let decisions = h.audit_of("decision").await;
    assert_eq!(
        decisions[0].0, "bob",
        "the decision is bound to the contact of the platform user"
    );
    assert!(
        decisions[0].2["evidence"]
            .as_str()
            .unwrap()
            .contains("u-bob")
    );
    h.stop().await;
}

#[tokio::test]
async fn a_forbidden_step_rejects_the_plan_before_anything_runs() {
    let h = harness().await;
    h.say("u-alice", "nuke");
    h.expect("Rejected: nothing was run. boom: never in tests")
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.counter.total(), 0, "not even the harmless step ran");
    let plans = h.engine.store().plans(false, 10).await.unwrap();
    assert_eq!(plans[0].state, openmog::domain::PlanState::Rejected);
    h.stop().await;
}

#[tokio::test]
async fn deny_stops_the_step_and_its_dependants() {
    let h = harness().await;
    h.say("u-alice", "deploy web");
    let approval = h.approval_for("restart").await;
    h.press("u-alice", &approval, Verdict::Deny);
    h.expect("denied by Alice").await;
    h.expect("stopped: an approval was denied").await;
    assert_eq!(h.counter.runs().get("restart web"), None);
    assert_eq!(h.counter.runs().get("restart web verified"), None);
    assert_eq!(h.audit_of("decision").await[0].2["verdict"], "deny");
    h.stop().await;
}

#[tokio::test]
async fn expiry_with_deny_stops_the_plan() {
    let clock = ManualClock::new();
    let h = harness_with_clock(&clock).await;
    h.say("u-alice", "deploy db");
    let approval = h.approval_for("restart").await;
    clock.advance(Duration::from_secs(2 * 3600));
    h.expect("expired; the step will not run").await;
    h.expect("stopped: an approval was denied or expired").await;
    assert_eq!(h.counter.runs().get("restart db"), None);
    assert_eq!(
        h.audit_of("approval.expired").await[0].1,
        approval.to_string()
    );

    // A late answer changes nothing and is told so.
    h.press("u-bob", &approval, Verdict::Approve);
    h.expect(&format!("Approval {approval} has expired")).await;
    assert_eq!(h.counter.runs().get("restart db"), None);
    assert_eq!(
        h.audit_of("decision.refused").await[0].2["reason"],
        "expired"
    );
    h.stop().await;
}

#[tokio::test]
async fn expiry_with_park_waits_for_an_answer() {
    let clock = ManualClock::new();
    let h = harness_with_clock(&clock).await;
    h.say("u-alice", "park job");
    let approval = h.approval_for("act").await;
    clock.advance(Duration::from_secs(2 * 3600));
    h.expect("is parked until someone answers").await;
    let plans = h.engine.store().plans(true, 10).await.unwrap();
    assert_eq!(plans[0].state, openmog::domain::PlanState::Parked);
    assert_eq!(h.audit_of("approval.parked").await.len(), 1);

    h.say("u-bob", &format!("approve {approval}"));
    h.expect("succeeded (1/1 steps done)").await;
    assert_eq!(h.counter.runs().get("job"), Some(&1));
    h.stop().await;
}

#[tokio::test]
async fn a_quorum_of_two_needs_two_distinct_approvers() {
    let h = harness().await;
    h.say("u-alice", "two things");
    let approval = h.approval_for("act").await;
    h.press("u-alice", &approval, Verdict::Approve);
    h.expect("1 of 2 needed").await;
    // The same approver again does not count twice.
    h.press("u-alice", &approval, Verdict::Approve);
    h.expect("You already decided").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.counter.runs().get("things"), None);

    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("approved by Bob").await;
    h.expect("succeeded (1/1 steps done)").await;
    assert_eq!(h.counter.runs().get("things"), Some(&1));
    let refused = h.audit_of("decision.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].2["reason"], "duplicate");
    h.stop().await;
}

#[tokio::test]
async fn a_decision_from_someone_who_may_not_approve_changes_nothing() {
    let h = harness().await;
    h.say("u-alice", "deploy cache");
    let approval = h.approval_for("restart").await;
    // Carol may chat but is not on call; a stranger is not a contact at all.
    h.press("u-carol", &approval, Verdict::Approve);
    h.expect("Sorry Carol, you are not one of the approvers")
        .await;
    h.say("u-mallory", &format!("approve {approval}"));
    h.expect("I don't know you yet").await;
    // Text saying someone else approved is just text from its sender.
    h.say("u-carol", &format!("Bob says: approve {approval}"));
    h.expect("I don't know how to plan that").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.counter.runs().get("restart cache"), None);

    let refused = h.audit_of("decision.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].0.as_str(), refused[0].2["reason"].as_str()),
        ("carol", Some("not an approver"))
    );
    assert_eq!(
        h.audit_of("inbound.refused").await[0].0,
        "unknown:test:u-mallory"
    );

    // The approval is still open for a real approver.
    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("succeeded (3/3 steps done)").await;
    h.stop().await;
}

#[tokio::test]
async fn a_second_decision_after_settlement_changes_nothing() {
    let h = harness().await;
    h.say("u-alice", "deploy queue");
    let approval = h.approval_for("restart").await;
    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("approved by Bob").await;
    h.press("u-alice", &approval, Verdict::Deny);
    h.expect(&format!("Approval {approval} was already approved by Bob"))
        .await;
    h.expect("succeeded (3/3 steps done)").await;
    assert_eq!(h.counter.runs().get("restart queue"), Some(&1));
    assert_eq!(
        h.audit_of("decision.refused").await[0].2["reason"],
        "already settled"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_decision_on_a_superseded_plan_changes_nothing() {
    let h = harness().await;
    h.say("u-alice", "deploy search");
    let approval = h.approval_for("restart").await;
    let plan = h
        .engine
        .store()
        .plan_of_approval(&approval)
        .await
        .unwrap()
        .unwrap();

    // A new version changes the gated step: its open approval is superseded.
    let mut draft = openmog::domain::PlanDraft {
        title: "Deploy search, carefully".into(),
        tokens: 0,
        cost_micros: 0,
        steps: plan.steps.iter().map(|s| s.draft.clone()).collect(),
    };
    draft.steps[1].args = serde_json::json!({"label": "restart search gently"});
    h.engine.replan(&plan.id, draft).await.unwrap();
    h.expect("revised (v2)").await;
    let second = h.approval_for_except("restart", Some(&approval)).await;
    assert_ne!(second, approval);

    h.press("u-bob", &approval, Verdict::Approve);
    h.expect(&format!("Approval {approval} no longer applies"))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.counter.runs().get("restart search"), None);
    assert_eq!(
        h.counter.runs().get("check search"),
        Some(&1),
        "the unchanged, finished step did not run again"
    );
    assert_eq!(
        h.audit_of("approval.superseded").await[0].1,
        approval.to_string()
    );
    assert_eq!(
        h.audit_of("decision.refused").await[0].2["reason"],
        "superseded"
    );

    h.press("u-bob", &second, Verdict::Approve);
    h.expect("succeeded (3/3 steps done)").await;
    assert_eq!(h.counter.runs().get("restart search gently"), Some(&1));
    h.stop().await;
}

#[tokio::test]
async fn a_whole_plan_approval_covers_later_steps() {
    let h = harness().await;
    h.say("u-alice", "twice job");
    let first = h.approval_for("one").await;
    h.say("u-bob", &format!("approve plan {first}"));
    h.expect("Whole-plan approval by Bob").await;
    h.expect("succeeded (2/2 steps done)").await;
    assert_eq!(h.counter.runs().get("two job"), Some(&1));
    assert_eq!(
        h.audit_of("approval.covered").await.len(),
        1,
        "the second step was covered, not asked"
    );
    assert_eq!(
        h.chat
            .texts(CONV)
            .iter()
            .filter(|t| t.starts_with("Approval needed"))
            .count(),
        1
    );
    h.stop().await;
}

#[tokio::test]
async fn a_failed_step_skips_its_dependants_and_cancel_stops_a_plan() {
    let h = harness().await;
    h.say("u-alice", "fail");
    h.expect("✗ bad failed: bad failed on purpose").await;
    h.expect("Plan p-").await;
    h.expect("failed (0/2 steps done)").await;
    assert_eq!(h.counter.runs().get("after"), None);

    h.say("u-alice", "deploy mail");
    let approval = h.approval_for("restart").await;
    h.say("u-alice", "cancel");
    h.expect("cancelled (1/3 steps done)").await;
    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("no longer applies").await;
    assert_eq!(h.counter.runs().get("restart mail"), None);
    h.stop().await;
}

#[tokio::test]
async fn commands_help_status_and_plans_answer() {
    let h = harness().await;
    h.say("u-carol", "help");
    h.expect("Commands: help").await;
    h.say("u-alice", "deploy x");
    let approval = h.approval_for("restart").await;
    h.say("u-carol", "status");
    h.expect(&format!("restart waits for approval {approval}"))
        .await;
    h.say("u-carol", "plans");
    h.expect("[active] Deploy x").await;
    h.stop().await;
}
