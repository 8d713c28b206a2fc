//! Conformance checks of the outbox: head-of-line order, retries, duplicates, failures.

use super::*;

/// Only the oldest unsent message of each conversation is due, in queueing order; a retried
/// head blocks its conversation until its new `not_before`; a sent message makes way for
/// the next.
pub async fn outbox_head_of_line_retry_and_sent(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let first = ConversationRef::new(channel.as_str(), "c1");
    let second = ConversationRef::new(channel.as_str(), "c2");
    let m1 = sample_message(&first, "one");
    let m2 = sample_message(&first, "two");
    let m3 = sample_message(&second, "three");
    let depth_before = depth(store).await;
    let mut effects = Effects::none();
    effects.send(m1.clone()).send(m2.clone()).send(m3.clone());
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");
    assert_eq!(
        depth(store).await,
        depth_before + 3,
        "queued messages count in the outbox depth"
    );

    let queued = due(store, &channel, now).await;
    assert_eq!(
        keys(&queued),
        [m1.idempotency_key.as_str(), m3.idempotency_key.as_str()],
        "only the oldest unsent message of each conversation is due, in queueing order"
    );
    let limited = store
        .outbox_due(&channel, now, 1)
        .await
        .expect("Store::outbox_due failed");
    assert_eq!(
        keys(&limited),
        [m1.idempotency_key.as_str()],
        "outbox_due must honour its limit"
    );
    assert!(
        due(store, &channel, Timestamp(now.0 - 1)).await.is_empty(),
        "nothing is due before it was queued"
    );
    assert!(
        due(store, &fresh_channel(), now).await.is_empty(),
        "another channel's messages are not due here"
    );
    assert_eq!(
        store
            .outbox_next_due(&channel)
            .await
            .expect("Store::outbox_next_due failed"),
        Some(now),
        "the next due time is the earliest not_before"
    );
    let m1_id = queued[0].id.clone();
    let m3_id = queued[1].id.clone();

    let later = now.after(millis(60_000));
    store
        .outbox_retry(&m1_id, later, "timed out")
        .await
        .expect("Store::outbox_retry failed");
    assert_eq!(
        keys(&due(store, &channel, now).await),
        [m3.idempotency_key.as_str()],
        "a retried head must block its conversation until its not_before"
    );
    let queued = due(store, &channel, later).await;
    assert_eq!(
        keys(&queued),
        [m1.idempotency_key.as_str(), m3.idempotency_key.as_str()],
        "a retried head is due again at its not_before, still in queueing order"
    );
    assert_eq!(
        (queued[0].attempts, queued[0].not_before),
        (1, later),
        "a retry counts an attempt and reschedules"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 3,
        "a retried message stays in the outbox"
    );

    let sent = SentRef {
        message_id: Some("42".to_owned()),
    };
    let audit_event = AuditEvent::new(
        "outbound.sent",
        "openmog",
        m3_id.as_str(),
        json!({ "attempts": 1 }),
    );
    store
        .outbox_sent(&m3_id, &sent, audit_event, now)
        .await
        .expect("Store::outbox_sent failed");
    assert!(
        due(store, &channel, now).await.is_empty(),
        "a sent message is no longer due"
    );
    assert_eq!(
        store
            .outbox_sent_ref(&m3.idempotency_key)
            .await
            .expect("Store::outbox_sent_ref failed"),
        Some(sent.clone()),
        "a sent message's platform reference is kept, so a later message can edit it"
    );
    assert_eq!(
        store
            .outbox_sent_ref(&m2.idempotency_key)
            .await
            .expect("Store::outbox_sent_ref failed"),
        None,
        "an unsent message has no platform reference"
    );
    assert_eq!(
        store
            .outbox_next_due(&channel)
            .await
            .expect("Store::outbox_next_due failed"),
        Some(later),
        "the next due time follows the retried head"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 2,
        "a sent message leaves the outbox depth"
    );

    let audit_event = AuditEvent::new("outbound.sent", "openmog", m1_id.as_str(), Value::Null);
    store
        .outbox_sent(&m1_id, &SentRef::default(), audit_event, later)
        .await
        .expect("Store::outbox_sent failed");
    assert_eq!(
        keys(&due(store, &channel, now).await),
        [m2.idempotency_key.as_str()],
        "once the head is sent, the conversation's next message is due"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 1,
        "a sent message leaves the outbox depth"
    );
}

/// A message whose idempotency key was already queued (in the same or an earlier mutation,
/// sent or not) is ignored.
pub async fn outbox_duplicate_key_ignored(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let conversation = ConversationRef::new(channel.as_str(), "c1");
    let original = sample_message(&conversation, "first");
    let duplicate = Outbound {
        body: OutboundBody::Text {
            text: "second".to_owned(),
        },
        ..original.clone()
    };
    let depth_before = depth(store).await;
    let mut effects = Effects::none();
    effects.send(original.clone()).send(duplicate.clone());
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");
    let mut again = Effects::none();
    again.send(duplicate.clone());
    store.apply(&again, now).await.expect("Store::apply failed");

    let queued = due(store, &channel, now).await;
    assert_eq!(
        queued.len(),
        1,
        "a duplicate idempotency key must be ignored"
    );
    assert_eq!(
        queued[0].message, original,
        "the first message with a key wins"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 1,
        "a duplicate must not count in the outbox depth"
    );

    let audit_event = AuditEvent::new(
        "outbound.sent",
        "openmog",
        queued[0].id.as_str(),
        Value::Null,
    );
    store
        .outbox_sent(&queued[0].id, &SentRef::default(), audit_event, now)
        .await
        .expect("Store::outbox_sent failed");
    store.apply(&again, now).await.expect("Store::apply failed");
    assert!(
        due(store, &channel, now).await.is_empty(),
        "the key of a sent message stays taken"
    );
}

/// A failed message is no longer due and makes way for the next one.
pub async fn outbox_failed_leaves_due(store: &dyn Store) {
    let channel = fresh_channel();
    let now = now();
    let conversation = ConversationRef::new(channel.as_str(), "c1");
    let doomed = sample_message(&conversation, "doomed");
    let next = sample_message(&conversation, "next");
    let depth_before = depth(store).await;
    let audit_before = audit_len(store).await;
    let mut effects = Effects::none();
    effects.send(doomed.clone()).send(next.clone());
    store
        .apply(&effects, now)
        .await
        .expect("Store::apply failed");

    let queued = due(store, &channel, now).await;
    assert_eq!(
        keys(&queued),
        [doomed.idempotency_key.as_str()],
        "only the head is due"
    );
    let doomed_id = queued[0].id.clone();
    let audit_event = AuditEvent::new(
        "outbound.failed",
        "openmog",
        doomed_id.as_str(),
        json!({ "error": "chat not found" }),
    );
    store
        .outbox_failed(&doomed_id, audit_event, now)
        .await
        .expect("Store::outbox_failed failed");
    assert_eq!(
        keys(&due(store, &channel, now).await),
        [next.idempotency_key.as_str()],
        "a failed message is no longer due; the next one is"
    );
    assert_eq!(
        depth(store).await,
        depth_before + 1,
        "a failed message leaves the outbox depth"
    );
    let recorded = audit_about(store, audit_before + 1, doomed_id.as_str()).await;
    assert_eq!(recorded.len(), 1, "giving up on a message must be audited");
    assert_eq!(
        recorded[0].event.kind, "outbound.failed",
        "the audit event must read back unchanged"
    );
}
