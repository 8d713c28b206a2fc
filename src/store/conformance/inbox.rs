//! Conformance checks of the inbox.

use super::*;

/// The inbox drops a second event with the same channel and event id (but not the same event
/// id on another channel), lists pending events oldest first, and forgets processed ones.
pub async fn inbox_dedupe_and_order(store: &dyn Store) {
    let channel = fresh_channel();
    let other = fresh_channel();
    let now = now();
    let first = sample_inbound(&channel, "evt-1");
    let first_id = store
        .inbox_put(&first, now)
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");
    let again = store
        .inbox_put(&first, now.after(millis(1)))
        .await
        .expect("Store::inbox_put failed");
    assert_eq!(
        again, None,
        "a second event with the same channel and event id must be dropped"
    );
    let elsewhere = sample_inbound(&other, "evt-1");
    let elsewhere_id = store
        .inbox_put(&elsewhere, now.after(millis(2)))
        .await
        .expect("Store::inbox_put failed")
        .expect("the same event id on another channel is another event and must be stored");
    let second = sample_inbound(&channel, "evt-2");
    let second_id = store
        .inbox_put(&second, now.after(millis(3)))
        .await
        .expect("Store::inbox_put failed")
        .expect("a new event must be stored");

    let pending = pending_on(store, &[channel.as_str(), other.as_str()]).await;
    let ids: Vec<_> = pending.iter().map(|item| &item.id).collect();
    assert_eq!(
        ids,
        [&first_id, &elsewhere_id, &second_id],
        "pending events must come oldest first"
    );
    assert_eq!(
        pending[0].event, first,
        "a stored event must read back unchanged"
    );
    assert_eq!(
        pending[0].received_at, now,
        "a stored event keeps the time it was received"
    );

    let done = Effects {
        inbox_done: Some(first_id.clone()),
        ..Effects::none()
    };
    store.apply(&done, now).await.expect("Store::apply failed");
    let pending = pending_on(store, &[channel.as_str(), other.as_str()]).await;
    let ids: Vec<_> = pending.iter().map(|item| &item.id).collect();
    assert_eq!(
        ids,
        [&elsewhere_id, &second_id],
        "a processed event must no longer be pending"
    );
    let again = store
        .inbox_put(&first, now.after(millis(4)))
        .await
        .expect("Store::inbox_put failed");
    assert_eq!(again, None, "a processed event must still count as seen");
}
