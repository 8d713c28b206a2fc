//! Every store passes the conformance suite (Postgres against the real server on this
//! machine); the SQLite store also survives a restart and its audit chain exposes
//! tampering done behind its back.

mod common;

use openmog::audit::{self, AuditEvent, Verification};
use openmog::clock::{Clock, SystemClock};
use openmog::store::{Effects, MemoryStore, SaveOutcome, SqliteStore, Store, conformance};
use serde_json::json;

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run_all(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_store_conforms() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A directory that does not exist yet: `open` creates it.
    let store = SqliteStore::open(&dir.path().join("state").join("openmog.db")).await?;
    conformance::run_all(&store).await;
    Ok(())
}

#[tokio::test]
async fn postgres_store_conforms() {
    let Some(store) = common::postgres::store().await else {
        return;
    };
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn postgres_audit_appends_from_many_writers_form_one_chain() {
    let Some(options) = common::postgres::fresh_schema().await else {
        return;
    };
    // Two "instances" on one database, appending at once.
    let a = openmog::store::PostgresStore::open_with(options.clone())
        .await
        .unwrap();
    let b = openmog::store::PostgresStore::open_with(options)
        .await
        .unwrap();
    let now = SystemClock.now();
    let mut writers = tokio::task::JoinSet::new();
    for (n, store) in [a.clone(), b.clone(), a, b].into_iter().enumerate() {
        writers.spawn(async move {
            for i in 0..25 {
                let mut effects = Effects::none();
                effects.audit(AuditEvent::new(
                    "test",
                    format!("w{n}"),
                    format!("{i}"),
                    json!({}),
                ));
                store.apply(&effects, now).await.unwrap();
            }
            store
        });
    }
    let stores = writers.join_all().await;
    match audit::verify(&stores[0]).await.unwrap() {
        Verification::Intact { records, .. } => assert_eq!(records, 100),
        broken => panic!("concurrent appends broke the chain: {broken:?}"),
    }
}

#[tokio::test]
async fn postgres_wakes_other_instances_when_work_arrives() {
    let Some(options) = common::postgres::fresh_schema().await else {
        return;
    };
    let a = openmog::store::PostgresStore::open_with(options.clone())
        .await
        .unwrap();
    let b = openmog::store::PostgresStore::open_with(options)
        .await
        .unwrap();
    let mut wakeups = a.wakeups().expect("Postgres has wake-ups");
    // The first wake-up says "listening; look once".
    tokio::time::timeout(std::time::Duration::from_secs(10), wakeups.recv())
        .await
        .expect("listening")
        .unwrap();
    let event = conformance::sample_inbound(&conformance::fresh_channel(), "e-1");
    b.inbox_put(&event, SystemClock.now()).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), wakeups.recv())
        .await
        .expect("a NOTIFY from the other instance wakes this one")
        .unwrap();
}

#[tokio::test]
async fn sqlite_survives_reopen() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("openmog.db");
    let now = SystemClock.now();
    let channel = conformance::fresh_channel();
    let plan = conformance::sample_plan(&channel, now);
    let message = conformance::sample_message(&plan.conversation, "Plan created");
    {
        let store = SqliteStore::open(&path).await?;
        let mut effects = Effects::none();
        effects.send(message.clone()).audit(AuditEvent::new(
            "plan.created",
            "alice",
            plan.id.as_str(),
            json!({}),
        ));
        assert_eq!(
            store.save_plan(&plan, None, &effects, now).await?,
            SaveOutcome::Saved
        );
        store.pool().close().await;
    }

    let store = SqliteStore::open(&path).await?;
    let stored = store
        .plan(&plan.id)
        .await?
        .expect("the plan survives a restart");
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.title, plan.title);
    assert_eq!(stored.steps, plan.steps);
    let due = store.outbox_due(&channel, now, 10).await?;
    assert_eq!(due.len(), 1, "the pending message survives a restart");
    assert_eq!(due[0].message, message);
    assert_eq!(store.outbox_depth().await?, 1);
    assert!(matches!(
        audit::verify(&store).await?,
        Verification::Intact { records: 1, .. }
    ));

    // Reopening does not re-run migrations, and the store keeps working.
    let update = openmog::domain::PlanRecord {
        title: "after restart".to_owned(),
        ..stored
    };
    assert_eq!(
        store
            .save_plan(&update, Some(1), &Effects::none(), now)
            .await?,
        SaveOutcome::Saved
    );
    assert_eq!(store.plan(&plan.id).await?.map(|p| p.revision), Some(2));
    Ok(())
}

/// A store at `dir/name` holding five audit records.
async fn store_with_audit(dir: &std::path::Path, name: &str) -> anyhow::Result<SqliteStore> {
    let store = SqliteStore::open(&dir.join(name)).await?;
    let now = SystemClock.now();
    for n in 1..=5 {
        let mut effects = Effects::none();
        effects.audit(AuditEvent::new(
            "test.event",
            "alice",
            format!("subject-{n}"),
            json!({ "n": n }),
        ));
        store.apply(&effects, now).await?;
    }
    assert_eq!(
        audit::verify(&store).await?,
        Verification::Intact {
            records: 5,
            head: store
                .audit_records(5, 1)
                .await?
                .pop()
                .expect("record 5 exists")
                .hash,
        }
    );
    Ok(store)
}

#[tokio::test]
async fn sqlite_audit_tamper_is_detected() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;

    let altered = store_with_audit(dir.path(), "altered.db").await?;
    sqlx::query("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
        .execute(altered.pool())
        .await?;
    let found = audit::verify(&altered).await?;
    assert!(
        matches!(found, Verification::Broken { seq: 2, .. }),
        "an altered record is detected: {found:?}"
    );

    let deleted = store_with_audit(dir.path(), "deleted.db").await?;
    sqlx::query("DELETE FROM audit WHERE seq = 2")
        .execute(deleted.pool())
        .await?;
    let found = audit::verify(&deleted).await?;
    assert!(
        matches!(found, Verification::Broken { seq: 2, .. }),
        "a deleted record is detected: {found:?}"
    );

    let relinked = store_with_audit(dir.path(), "relinked.db").await?;
    sqlx::query(
        "UPDATE audit SET prev_hash = (SELECT hash FROM audit WHERE seq = 1) WHERE seq = 3",
    )
    .execute(relinked.pool())
    .await?;
    let found = audit::verify(&relinked).await?;
    assert!(
        matches!(found, Verification::Broken { seq: 3, .. }),
        "a relinked record is detected: {found:?}"
    );
    Ok(())
}
