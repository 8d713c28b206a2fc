//! The skills that keep state in the store, through the engine on SQLite: notes kept by
//! `memory.remember` are found by `memory.recall` after a restart; timers set by
//! `schedule.at` and `schedule.every` fire after a restart, once per slot, as requests of
//! whoever set them — and a timer's text is never read as a decision.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CONFIG, Harness, config, sqlite};
use openmog::clock::{ManualClock, SharedClock};
use openmog::domain::ApprovalState;

const RULES: &str = r#"
[[planner.rules]]
name = "remember"
pattern = 'remember (?P<x>.+)'
title = "Remember"
steps = [{ key = "keep", skill = "memory.remember", args = { text = "${x}" } }]

[[planner.rules]]
name = "recall"
pattern = 'recall (?P<q>.+)'
title = "Recall"
steps = [{ key = "find", skill = "memory.recall", args = { query = "${q}" } }]

[[planner.rules]]
name = "tick"
pattern = 'tick (?P<x>\w+)'
title = "Tick ${x}"
steps = [{ key = "tick", skill = "count", args = { label = "tick ${x}" } }]

[[planner.rules]]
name = "later"
pattern = 'in (?P<after>\w+) ask (?P<request>.+)'
title = "Later"
steps = [{ key = "set", skill = "schedule.at", args = { request = "${request}", in = "${after}" } }]

[[planner.rules]]
name = "every"
pattern = 'every (?P<period>\w+) ask (?P<request>.+)'
title = "Every"
steps = [{ key = "set", skill = "schedule.every", args = { request = "${request}", every = "${period}" } }]

[[planner.rules]]
name = "timers"
pattern = 'timers'
title = "Timers"
steps = [{ key = "list", skill = "schedule.list", args = {} }]

[[planner.rules]]
name = "stop"
pattern = 'stop timer (?P<id>\S+)'
title = "Stop timer"
steps = [{ key = "stop", skill = "schedule.cancel", args = { timer = "${id}" } }]
"#;

async fn start(dir: &std::path::Path, clock: &ManualClock) -> Harness {
    let clock: SharedClock = Arc::new(clock.clone());
    Harness::start(
        config(&format!("{CONFIG}\n{RULES}")),
        sqlite(dir).await,
        Some(clock),
    )
    .await
}

#[tokio::test]
async fn notes_are_found_by_their_words_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let first = start(dir.path(), &clock).await;
    first.say("u-alice", "remember the backup runs at 02:00 from db-2");
    first.expect("succeeded (1/1 steps done): Remember").await;
    first.say("u-alice", "remember the api key rotates on mondays");
    first.expect("Plan").await;
    first.stop().await;

    let second = start(dir.path(), &clock).await;
    second.say("u-bob", "recall BACKUP db-2");
    let report = second.expect("succeeded (1/1 steps done): Recall").await;
    let text = format!("{:?}", report.message.body);
    assert!(
        text.contains("the backup runs at 02:00 from db-2"),
        "{text}"
    );
    assert!(
        !text.contains("mondays"),
        "only notes with every word: {text}"
    );
    second.stop().await;
}

#[tokio::test]
async fn a_timer_fires_after_a_restart_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let first = start(dir.path(), &clock).await;
    first.say("u-alice", "in 10m ask tick north");
    first.expect("succeeded (1/1 steps done): Later").await;
    first.stop().await;

    clock.advance(Duration::from_secs(11 * 60));
    let second = start(dir.path(), &clock).await;
    second
        .expect("succeeded (1/1 steps done): Tick north")
        .await;
    assert_eq!(second.counter.runs().get("tick north"), Some(&1));
    let requests = second.audit_of("request").await;
    assert!(
        requests
            .iter()
            .any(|(actor, _, data)| actor == "alice" && data["text"] == "tick north"),
        "asked on Alice's behalf: {requests:?}"
    );

    clock.advance(Duration::from_secs(3_600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(second.counter.runs().get("tick north"), Some(&1), "once");
    second.stop().await;
}

#[tokio::test]
async fn a_repeating_timer_fires_each_period_and_once_after_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let h = start(dir.path(), &clock).await;
    h.say("u-alice", "every 1h ask tick south");
    h.expect("succeeded (1/1 steps done): Every").await;

    for expected in 1..=2 {
        clock.advance(Duration::from_secs(3_600));
        wait_for_runs(&h, "tick south", expected).await;
    }
    h.stop().await;

    // Five periods pass while nothing runs: one run for all of them, not five.
    clock.advance(Duration::from_secs(5 * 3_600 + 60));
    let h = start(dir.path(), &clock).await;
    wait_for_runs(&h, "tick south", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.counter.runs().get("tick south"), Some(&1));
    h.stop().await;
}

#[tokio::test]
async fn a_timers_text_is_never_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let h = start(dir.path(), &clock).await;
    h.say("u-bob", "deploy api");
    let approval = h.approval_for("restart").await;
    // Bob is an approver; a timer he sets says "approve" when it fires.
    h.say("u-bob", &format!("in 1m ask approve {approval}"));
    h.expect("succeeded (1/1 steps done): Later").await;
    clock.advance(Duration::from_secs(120));
    h.expect("I don't know how to").await;
    let plan = h
        .engine
        .store()
        .plan_of_approval(&approval)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        plan.approval(&approval).unwrap().state,
        ApprovalState::Pending
    );
    assert_eq!(h.counter.runs().get("restart api"), None);
    h.stop().await;
}

#[tokio::test]
async fn a_repeating_timer_is_listed_and_stopped_from_its_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let h = start(dir.path(), &clock).await;
    h.say("u-alice", "every 1h ask tick west");
    h.expect("succeeded (1/1 steps done): Every").await;
    h.say("u-alice", "timers");
    let listed = h.expect("succeeded (1/1 steps done): Timers").await;
    let text = format!("{:?}", listed.message.body);
    assert!(text.contains("tick west") && text.contains("1h"), "{text}");
    let plan = h
        .engine
        .store()
        .plans(false, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.title == "Every")
        .unwrap();
    h.say("u-bob", &format!("stop timer {}/set", plan.id));
    h.expect("succeeded (1/1 steps done): Stop timer").await;
    // A timer this conversation does not have cannot be stopped from it.
    h.say("u-bob", "stop timer p-nothing/set");
    h.expect("there is no timer `p-nothing/set` in this conversation")
        .await;

    clock.advance(Duration::from_secs(3 * 3_600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.counter.runs().get("tick west"),
        None,
        "stopped before it fired"
    );
    h.stop().await;
}

async fn wait_for_runs(h: &Harness, label: &str, n: usize) {
    for _ in 0..500 {
        if h.counter.runs().get(label) == Some(&n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{label} ran {:?} times, not {n}",
        h.counter.runs().get(label)
    );
}
