//! Tampering with the audit log in SQLite, each way an intruder with the database file
//! might: altering a record, deleting one, reordering two, and rewriting or deleting the
//! newest ones (which only an earlier export, kept elsewhere, can reveal).

mod common;

use std::path::Path;

use common::{CONFIG, Harness, config, sqlite};
use openmog::audit::{self, Verification};
use openmog::clock::Timestamp;
use openmog::domain::Verdict;
use openmog::store::SqliteStore;

/// A database with a finished plan's worth of audit records; returns how many.
async fn audited_run(dir: &Path) -> u64 {
    let h = Harness::start(config(CONFIG), sqlite(dir).await, None).await;
    h.say("u-alice", "deploy api");
    let approval = h.approval_for("restart").await;
    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("succeeded").await;
    let store = h.engine.store().clone();
    h.stop().await;
    match audit::verify(store.as_ref()).await.unwrap() {
        Verification::Intact { records, .. } => records,
        broken => panic!("a fresh log is broken: {broken:?}"),
    }
}

async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("openmog.db")).await.unwrap()
}

async fn exec(store: &SqliteStore, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(store.pool())
        .await
        .unwrap();
}

async fn broken_reason(store: &SqliteStore) -> (u64, String) {
    match audit::verify(store).await.unwrap() {
        Verification::Broken { seq, reason } => (seq, reason),
        intact => panic!("tampering went unnoticed: {intact:?}"),
    }
}

async fn export(store: &SqliteStore) -> Vec<audit::AuditRecord> {
    let mut out = Vec::new();
    audit::export(store, Timestamp(i64::MIN), &mut out)
        .await
        .unwrap();
    audit::read_export(&out[..]).unwrap()
}

#[tokio::test]
async fn a_deleted_record_in_the_middle_is_found() {
    let dir = tempfile::tempdir().unwrap();
    audited_run(dir.path()).await;
    let store = open(dir.path()).await;
    exec(&store, "DELETE FROM audit WHERE seq = 5").await;
    let (seq, reason) = broken_reason(&store).await;
    assert_eq!(seq, 5);
    assert!(reason.contains("missing"), "{reason}");
}

#[tokio::test]
async fn two_reordered_records_are_found() {
    let dir = tempfile::tempdir().unwrap();
    audited_run(dir.path()).await;
    let store = open(dir.path()).await;
    // Swap the contents of records 3 and 4 while keeping their positions.
    exec(&store, "UPDATE audit SET seq = -3 WHERE seq = 3").await;
    exec(&store, "UPDATE audit SET seq = 3 WHERE seq = 4").await;
    exec(&store, "UPDATE audit SET seq = 4 WHERE seq = -3").await;
    let (seq, reason) = broken_reason(&store).await;
    assert_eq!(seq, 3);
    assert!(
        reason.contains("link") || reason.contains("altered"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_rewritten_or_deleted_tail_is_found_against_an_earlier_export() {
    let dir = tempfile::tempdir().unwrap();
    let records = audited_run(dir.path()).await;
    let store = open(dir.path()).await;
    let anchor = export(&store).await;
    assert_eq!(anchor.len() as u64, records);
    assert!(matches!(
        audit::verify_export(&anchor),
        Verification::Intact { .. }
    ));
    assert!(matches!(
        audit::verify_against(&store, &anchor).await.unwrap(),
        Verification::Intact { .. }
    ));

    // Deleting the newest records leaves a chain that is intact on its own...
    exec(
        &store,
        &format!("DELETE FROM audit WHERE seq > {}", records - 2),
    )
    .await;
    assert!(matches!(
        audit::verify(&store).await.unwrap(),
        Verification::Intact { .. }
    ));
    // ...but not what was exported.
    match audit::verify_against(&store, &anchor).await.unwrap() {
        Verification::Broken { seq, reason } => {
            assert_eq!(seq, records - 1);
            assert!(reason.contains("deleted"), "{reason}");
        }
        intact => panic!("a deleted tail went unnoticed: {intact:?}"),
    }

    // An export edited to hide a change is itself broken.
    let mut edited = anchor.clone();
    edited[2].event.actor = "mallory".into();
    assert!(matches!(
        audit::verify_export(&edited),
        Verification::Broken { seq: 3, .. }
    ));
    let mut gap = anchor.clone();
    gap.remove(4);
    assert!(matches!(
        audit::verify_export(&gap),
        Verification::Broken { seq: 6, .. }
    ));
}

#[tokio::test]
async fn a_partial_export_is_checked_from_where_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    audited_run(dir.path()).await;
    let store = open(dir.path()).await;
    let all = export(&store).await;
    let since = all[4].at;
    let mut out = Vec::new();
    audit::export(&store, since, &mut out).await.unwrap();
    let partial = audit::read_export(&out[..]).unwrap();
    assert!(partial.len() < all.len() || all[0].at == since);
    assert!(partial.iter().all(|r| r.at >= since));
    assert!(matches!(
        audit::verify_export(&partial),
        Verification::Intact { .. }
    ));
    assert!(matches!(
        audit::verify_against(&store, &partial).await.unwrap(),
        Verification::Intact { .. }
    ));
}
