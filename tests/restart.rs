//! Durability: an engine dropped without shutdown while an approval is pending, and a new
//! engine on the same SQLite file — the approval is still pending and answerable, no step
//! runs twice, no message is sent twice; and the audit chain proves it untouched.

mod common;

use std::time::Duration;

use common::{CONFIG, CONV, Counter, Harness, config, sqlite};
use openmog::audit::{Verification, verify};
use openmog::channel::MemoryChannel;
use openmog::domain::Verdict;

#[tokio::test]
async fn a_pending_approval_survives_a_crash_and_resumes_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let (channel, chat) = MemoryChannel::new("test");
    let counter = Counter::default();

    let first = Harness::start_with(
        config(CONFIG),
        sqlite(dir.path()).await,
        None,
        channel,
        chat.clone(),
        counter.clone(),
    )
    .await;
    first.say("u-alice", "deploy api");
    let approval = first.approval_for("restart").await;
    // Let the outbox record what it sent: a crash between a platform accepting a message
    // and the store recording it is the one window where a message may be sent again
    // (carrying the same idempotency key; docs/ARCHITECTURE.md).
    while first.engine.store().outbox_depth().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent_before = chat.delivered().len();
    // A crash: tasks aborted, nothing flushed, the store simply closed.
    drop(first);

    let second = Harness::start_with(
        config(CONFIG),
        sqlite(dir.path()).await,
        None,
        chat.channel(),
        chat.clone(),
        counter.clone(),
    )
    .await;
    let pending = second
        .engine
        .store()
        .plans_with_open_approvals()
        .await
        .unwrap();
    assert_eq!(
        pending.len(),
        1,
        "the approval is still pending after the restart"
    );

    second.press("u-bob", &approval, Verdict::Approve);
    second.expect("succeeded (3/3 steps done)").await;

    let runs = counter.runs();
    assert_eq!(
        runs.get("check api"),
        Some(&1),
        "the step done before the crash did not run again"
    );
    assert_eq!(runs.get("restart api"), Some(&1));
    assert_eq!(runs.get("restart api verified"), Some(&1));
    assert!(
        chat.duplicate_keys().is_empty(),
        "a message was sent twice: {:?}",
        chat.duplicate_keys()
    );
    assert_eq!(
        chat.texts(CONV)
            .iter()
            .filter(|t| t.starts_with("Approval needed"))
            .count(),
        1,
        "the approval request was not sent again"
    );
    assert!(chat.delivered().len() > sent_before);

    let store = second.engine.store().clone();
    second.stop().await;
    assert!(matches!(
        verify(store.as_ref()).await.unwrap(),
        Verification::Intact { .. }
    ));
}

#[tokio::test]
async fn messages_queued_before_a_crash_are_sent_after_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let (channel, chat) = MemoryChannel::new("test");
    // The platform is down: every send fails for now.
    chat.fail_next_sends(
        (0..1000).map(|_| openmog::channel::SendError::Transient("connection refused".into())),
    );
    let first = Harness::start_with(
        config(CONFIG),
        sqlite(dir.path()).await,
        None,
        channel,
        chat.clone(),
        Counter::default(),
    )
    .await;
    first.say("u-alice", "help");
    first.say("u-alice", "plans");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(chat.delivered().is_empty());
    assert!(first.engine.store().outbox_depth().await.unwrap() >= 2);
    drop(first);

    // The platform is back.
    chat.clear_failures();
    let second = Harness::start_with(
        config(CONFIG),
        sqlite(dir.path()).await,
        None,
        chat.channel(),
        chat.clone(),
        Counter::default(),
    )
    .await;
    second.expect("Commands: help").await;
    second.expect("No plans yet.").await;
    let texts = chat.texts(CONV);
    assert!(
        texts[0].contains("Commands: help") && texts[1].contains("No plans yet."),
        "order kept: {texts:?}"
    );
    assert!(chat.duplicate_keys().is_empty());
    second.stop().await;
}

#[tokio::test]
async fn audit_verify_fails_after_a_record_is_altered() {
    let dir = tempfile::tempdir().unwrap();
    let store = openmog::store::SqliteStore::open(&dir.path().join("openmog.db"))
        .await
        .unwrap();
    let shared: openmog::store::SharedStore = std::sync::Arc::new(store);
    let h = Harness::start(config(CONFIG), shared.clone(), None).await;
    h.say("u-alice", "deploy api");
    let approval = h.approval_for("restart").await;
    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("succeeded").await;
    h.stop().await;
    assert!(
        matches!(verify(shared.as_ref()).await.unwrap(), Verification::Intact { records, .. } if records > 10)
    );

    let sqlite = openmog::store::SqliteStore::open(&dir.path().join("openmog.db"))
        .await
        .unwrap();
    sqlx::query("UPDATE audit SET actor = 'alice' WHERE kind = 'decision'")
        .execute(sqlite.pool())
        .await
        .unwrap();
    match verify(&sqlite).await.unwrap() {
        Verification::Broken { reason, .. } => assert!(reason.contains("altered"), "{reason}"),
        other => panic!("tampering went unnoticed: {other:?}"),
    }
}
