//! The outbox sender with the pacing layer, on tokio's paused clock: exact spacing per
//! conversation and per channel, order kept through rate limits and failures, nothing lost
//! or duplicated.

use std::sync::Arc;
use std::time::Duration;

use openmog::channel::{Channel, MemoryChannel, MemoryChannelHandle, Paced, SendError};
use openmog::clock::{Clock, TokioTime};
use openmog::config::{Pacing, Rate};
use openmog::domain::{ConversationRef, Outbound};
use openmog::outbox::{OutboxSender, RetryPolicy};
use openmog::store::{Effects, MemoryStore, SharedStore};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn message(conversation: &str, n: usize) -> Outbound {
    Outbound::text(
        ConversationRef::new("test", conversation),
        format!("{conversation}-{n}"),
        format!("{conversation} message {n}"),
    )
}

async fn start(
    pacing: Pacing,
    messages: Vec<Outbound>,
) -> (
    MemoryChannelHandle,
    SharedStore,
    CancellationToken,
    tokio::time::Instant,
) {
    let (channel, handle) = MemoryChannel::new("test");
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = Arc::new(TokioTime::new());
    store
        .apply(
            &Effects {
                outbox: messages,
                ..Effects::default()
            },
            clock.now(),
        )
        .await
        .unwrap();
    let paced: Arc<dyn Channel> = Arc::new(Paced::new(channel, pacing));
    let sender = OutboxSender::new(
        paced,
        store.clone(),
        clock,
        Arc::new(Notify::new()),
        RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
        },
        Duration::from_secs(1),
    );
    let stop = CancellationToken::new();
    let started = tokio::time::Instant::now();
    tokio::spawn(sender.run(stop.clone()));
    (handle, store, stop, started)
}

async fn wait_delivered(handle: &MemoryChannelHandle, n: usize) {
    let handle = handle.clone();
    tokio::time::timeout(Duration::from_secs(600), async move {
        while handle.delivered().len() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("all messages delivered");
}

#[tokio::test(start_paused = true)]
async fn messages_are_spaced_per_conversation_and_per_channel_in_order() {
    let pacing = Pacing {
        per_conversation: Rate::per_second(1),
        per_channel: Rate::per_second(10),
        per_group: None,
        cap: None,
    };
    let messages: Vec<Outbound> = (0..5)
        .flat_map(|n| [message("a", n), message("b", n)])
        .collect();
    let (handle, store, stop, _) = start(pacing, messages).await;
    wait_delivered(&handle, 10).await;
    stop.cancel();

    for conversation in ["a", "b"] {
        let mine: Vec<_> = handle
            .delivered()
            .into_iter()
            .filter(|d| d.message.conversation.id == conversation)
            .collect();
        let keys: Vec<String> = mine
            .iter()
            .map(|d| d.message.idempotency_key.clone())
            .collect();
        assert_eq!(
            keys,
            (0..5)
                .map(|n| format!("{conversation}-{n}"))
                .collect::<Vec<_>>(),
            "order kept"
        );
        for pair in mine.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(
                gap >= Duration::from_millis(999),
                "conversation {conversation}: gap {gap:?} under 1/s"
            );
        }
    }
    let all = handle.delivered();
    for pair in all.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_millis(99),
            "channel-wide gap under 10/s"
        );
    }
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
    assert!(handle.duplicate_keys().is_empty());
}

#[tokio::test(start_paused = true)]
async fn retry_after_and_transient_failures_delay_but_never_drop_or_reorder() {
    let pacing = Pacing {
        per_conversation: Rate::per_second(50),
        per_channel: Rate::per_second(50),
        per_group: None,
        cap: None,
    };
    let (handle, store, stop, started) =
        start(pacing, (0..4).map(|n| message("a", n)).collect()).await;
    handle.fail_next_sends([
        SendError::RetryAfter(Duration::from_secs(5)),
        SendError::Transient("HTTP 502".into()),
        SendError::Transient("connection reset".into()),
    ]);
    wait_delivered(&handle, 4).await;
    stop.cancel();

    let delivered = handle.delivered();
    let keys: Vec<&str> = delivered
        .iter()
        .map(|d| d.message.idempotency_key.as_str())
        .collect();
    assert_eq!(keys, ["a-0", "a-1", "a-2", "a-3"]);
    assert!(
        delivered[0].at - started >= Duration::from_secs(5),
        "retry_after was honoured"
    );
    assert_eq!(
        handle.send_attempts(),
        7,
        "three failed tries, then four sends"
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_recorded_told_and_the_conversation_moves_on() {
    let pacing = Pacing {
        per_conversation: Rate::per_second(50),
        per_channel: Rate::per_second(50),
        per_group: None,
        cap: None,
    };
    let (handle, store, stop, _) = start(pacing, (0..2).map(|n| message("a", n)).collect()).await;
    handle.fail_next_sends([SendError::Permanent("chat not found".into())]);
    wait_delivered(&handle, 2).await;
    stop.cancel();
    let delivered: Vec<(String, String)> = handle
        .delivered()
        .iter()
        .map(|d| {
            (
                d.message.idempotency_key.clone(),
                d.message.body.plain_text(),
            )
        })
        .collect();
    assert_eq!(delivered[0].0, "a-1");
    assert_eq!(
        delivered[1],
        (
            "a-0:undeliverable".to_owned(),
            "I could not deliver a message here, and will not retry it: chat not found".to_owned()
        ),
        "the conversation is told, once"
    );
    let audit = store.audit_records(1, 100).await.unwrap();
    assert!(audit.iter().any(|r| r.event.kind == "outbound.failed" && r.event.data["error"] == "chat not found"));
}

#[tokio::test(start_paused = true)]
async fn a_cap_holds_in_every_window_of_its_length() {
    let pacing = Pacing {
        per_conversation: Rate::per_second(100),
        per_channel: Rate::per_second(100),
        per_group: None,
        cap: Some(Rate::parse("6/1min").unwrap()),
    };
    let messages: Vec<Outbound> = (0..12).map(|n| message(&format!("c{n}"), n)).collect();
    let (handle, _store, stop, started) = start(pacing, messages).await;
    wait_delivered(&handle, 12).await;
    stop.cancel();

    let at: Vec<Duration> = handle.delivered().iter().map(|d| d.at - started).collect();
    for (i, first) in at.iter().enumerate() {
        let in_window = at[i..]
            .iter()
            .filter(|t| **t < *first + Duration::from_secs(60))
            .count();
        assert!(
            in_window <= 6,
            "{in_window} sends in the minute from {first:?}: {at:?}"
        );
    }
    assert!(
        at[2] < Duration::from_secs(1),
        "half the cap goes at once: {at:?}"
    );
}
