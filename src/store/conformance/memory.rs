//! Conformance: notes are kept once and found by every word; timers fire once, in order,
//! and a repeating one moves on only from where it was.

use super::WIDE;
use crate::clock::Timestamp;
use crate::domain::{ContactId, ConversationRef, Note, PlanId, Timer, new_short_id};
use crate::store::Store;

/// Notes: kept once per id, found by all their words ignoring case, newest first; `%` and
/// `_` in a word are literal.
pub async fn notes_are_kept_once_and_found_by_words(store: &dyn Store) {
    let tag = format!("tag{}", new_short_id(6));
    let note = |id: &str, text: &str, at: i64| Note {
        id: format!("{tag}-{id}"),
        text: format!("{text} {tag}"),
        author: ContactId("alice".into()),
        plan: PlanId::from("p-conf"),
        created_at: Timestamp(at),
    };
    store
        .note_put(&note("a", "The API key rotates on Mondays", 1))
        .await
        .expect("put");
    store
        .note_put(&note("b", "The database backup runs at 02:00", 2))
        .await
        .expect("put");
    store
        .note_put(&note("c", "100% of api calls are logged", 3))
        .await
        .expect("put");
    // A retried step writes the same note again: still one.
    store
        .note_put(&note("a", "changed text", 9))
        .await
        .expect("put again");

    let search = |words: &[&str]| {
        let mut words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        words.push(tag.clone());
        async move { store.notes_search(&words, WIDE).await.expect("search") }
    };
    let ids = |notes: Vec<Note>| notes.into_iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(
        ids(search(&["api"]).await),
        [format!("{tag}-c"), format!("{tag}-a")]
    );
    assert_eq!(ids(search(&["API", "mondays"]).await), [format!("{tag}-a")]);
    assert_eq!(ids(search(&["100%"]).await), [format!("{tag}-c")]);
    assert!(search(&["1_0"]).await.is_empty(), "`_` is not a wildcard");
    assert!(search(&["backup", "api"]).await.is_empty());
    assert_eq!(search(&[]).await.len(), 3);
    let first = search(&["rotates"]).await;
    assert_eq!(
        first[0].text,
        format!("The API key rotates on Mondays {tag}")
    );
    assert_eq!(
        store
            .notes_search(std::slice::from_ref(&tag), 1)
            .await
            .expect("search")
            .len(),
        1
    );
}

/// Timers: set once per id; due ones come earliest first; advancing is a compare-and-set
/// on the due time, so two instances cannot both fire one slot.
pub async fn timers_fire_once_in_order(store: &dyn Store) {
    let tag = new_short_id(6);
    // Other checks' timers may share the store: only this check's (by tag) are looked at.
    let base = Timestamp(1_000);
    let timer = |id: &str, due: i64, every_ms: Option<u64>| Timer {
        id: format!("{tag}-{id}"),
        due_at: Timestamp(base.0 + due),
        every_ms,
        request: format!("do {id}"),
        conversation: ConversationRef::new("conf", "room"),
        requester: ContactId("alice".into()),
        plan: PlanId::from("p-conf"),
    };
    store
        .timer_put(&timer("later", 20, None))
        .await
        .expect("put");
    store
        .timer_put(&timer("sooner", 10, Some(100)))
        .await
        .expect("put");
    store
        .timer_put(&timer("sooner", 99, None))
        .await
        .expect("put again is ignored");
    let mine = |timers: Vec<Timer>| -> Vec<Timer> {
        timers
            .into_iter()
            .filter(|t| t.id.starts_with(&tag))
            .collect()
    };

    assert!(
        mine(
            store
                .timers_due(Timestamp(base.0 + 5), WIDE)
                .await
                .expect("due")
        )
        .is_empty()
    );
    let due = mine(
        store
            .timers_due(Timestamp(base.0 + 30), WIDE)
            .await
            .expect("due"),
    );
    assert_eq!(due.len(), 2);
    assert_eq!(due[0], timer("sooner", 10, Some(100)));
    assert_eq!(due[1].id, format!("{tag}-later"));

    let sooner = &due[0];
    let next = Timestamp(base.0 + 110);
    assert!(
        store
            .timer_advance(&sooner.id, sooner.due_at, Some(next))
            .await
            .expect("advance")
    );
    assert!(
        !store
            .timer_advance(&sooner.id, sooner.due_at, Some(next))
            .await
            .expect("again"),
        "a slot fires once"
    );
    assert!(
        store
            .timer_advance(&due[1].id, due[1].due_at, None)
            .await
            .expect("done")
    );
    assert!(
        !store
            .timer_advance(&due[1].id, due[1].due_at, None)
            .await
            .expect("gone")
    );

    let due = mine(
        store
            .timers_due(Timestamp(base.0 + 200), WIDE)
            .await
            .expect("due"),
    );
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due_at, next);
    assert_eq!(due[0].request, "do sooner");
    assert!(
        store
            .timer_advance(&due[0].id, next, None)
            .await
            .expect("remove")
    );

    // Listing shows every timer, due or not; cancelling removes one, once.
    store
        .timer_put(&timer("far", 1_000_000, Some(60_000)))
        .await
        .expect("put");
    let listed = mine(store.timers(WIDE).await.expect("list"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, format!("{tag}-far"));
    assert!(store.timer_cancel(&listed[0].id).await.expect("cancel"));
    assert!(
        !store
            .timer_cancel(&listed[0].id)
            .await
            .expect("cancel again")
    );
    assert!(mine(store.timers(WIDE).await.expect("list")).is_empty());
}
