//! The conformance suite every channel adapter runs: it drives the adapter through the
//! platform (via a [`Peer`] that plays the person on the other side) and checks what the
//! core relies on: events arrive once, with the sender's platform id; a restarted receive
//! loop does not deliver again what it already delivered; sends show up, however long up to
//! the advertised limit; buttons become decisions bound to whoever pressed; edits replace;
//! the platform takes the credentials (`probe`) and the receive loop says it is connected.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Channel, InboundSink, Link, Links};
use crate::clock::SystemClock;
use crate::domain::{
    ApprovalId, ApprovalPrompt, ConversationRef, Inbound, InboundKind, Outbound, OutboundBody,
    PlanId, Replaces, Verdict,
};
use crate::store::{MemoryStore, SharedStore};

/// How long the suite waits for something to happen on the platform.
const PATIENCE: Duration = Duration::from_secs(10);

/// The person on the other side of a channel, as a test drives them through the platform
/// (a fake platform server, a real mail server, or the in-memory channel's handle).
#[async_trait]
pub trait Peer: Send + Sync {
    /// The conversation the peer writes in and watches.
    fn conversation(&self) -> ConversationRef;
    /// The platform user id the peer writes as (what the adapter must report as sender).
    fn user_id(&self) -> String;
    /// The peer writes `text` in the conversation.
    async fn say(&self, text: &str);
    /// The peer presses the "approve" button of the request for `approval`.
    async fn press_approve(&self, approval: &ApprovalId);
    /// What the conversation shows now, message by message, edits applied.
    async fn visible(&self) -> Vec<String>;
}

/// Runs every check. `channel` builds a fresh adapter instance, as a restarted process
/// would; `peer` drives the platform behind it.
pub async fn run_all<C: Channel>(channel: impl Fn() -> C, peer: &dyn Peer) {
    let first = channel();
    probes_and_reports_connected(&first).await;
    receives_once_across_restarts(&first, &channel(), peer).await;
    sends_show_up(&first, peer).await;
    approval_requests_and_presses(&first, peer).await;
    edits_replace(&first, peer).await;
    first
        .working(&peer.conversation())
        .await
        .expect("Channel::working failed");
}

/// The probe passes against the platform, and once receiving, the adapter reports itself
/// connected (what `/readyz` waits for).
pub async fn probes_and_reports_connected(channel: &dyn Channel) {
    if let Err(failure) = channel.probe().await {
        panic!("the probe failed: {failure} (fix: {})", failure.hint);
    }
    let links = Links::new();
    let sink = InboundSink::new(
        channel.name(),
        Arc::new(MemoryStore::new()),
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
    )
    .reporting_to(links.clone());
    let shutdown = CancellationToken::new();
    let watch = async {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let link = links.snapshot().remove(channel.name());
            if link == Some(Link::Connected) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not reported connected within {PATIENCE:?}; last report: {link:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
    };
    let (received, ()) = tokio::join!(channel.receive(sink, shutdown.clone()), watch);
    received.expect("the receive loop failed");
}

/// A message arrives once, from the peer's user id, in the peer's conversation; a new
/// adapter instance (a restart) does not deliver it again, but delivers what comes next.
pub async fn receives_once_across_restarts(
    first: &dyn Channel,
    second: &dyn Channel,
    peer: &dyn Peer,
) {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let hello = format!("conformance hello {}", crate::domain::new_short_id(6));
    let received = receiving(first, Arc::clone(&store), async {
        peer.say(&hello).await;
        wait_for_inbound(&store, 1).await
    })
    .await;
    let event = &received[0];
    assert_eq!(
        event.conversation,
        peer.conversation(),
        "the event names the peer's conversation"
    );
    assert_eq!(
        event.sender.user_id,
        peer.user_id(),
        "the sender is the platform user id"
    );
    assert!(
        matches!(&event.kind, InboundKind::Message { text } if text.contains(&hello)),
        "the text arrives as a message: {:?}",
        event.kind
    );

    // A fresh inbox: anything delivered again by the restarted adapter would show here.
    let fresh: SharedStore = Arc::new(MemoryStore::new());
    let next = format!("conformance next {}", crate::domain::new_short_id(6));
    let received = receiving(second, Arc::clone(&fresh), async {
        peer.say(&next).await;
        wait_for_inbound(&fresh, 1).await
    })
    .await;
    let texts: Vec<String> = received.iter().map(|e| format!("{:?}", e.kind)).collect();
    assert_eq!(
        received.len(),
        1,
        "after a restart only the new message arrives: {texts:?}"
    );
    assert!(
        texts[0].contains(&next),
        "after a restart the new message arrives: {texts:?}"
    );
}

/// Plain text shows up, also at exactly the advertised length limit.
pub async fn sends_show_up(channel: &dyn Channel, peer: &dyn Peer) {
    let conversation = peer.conversation();
    let text = format!(
        "conformance says <b>hi</b> & *bye* {}",
        crate::domain::new_short_id(6)
    );
    channel
        .send(&Outbound::text(conversation.clone(), key(), text.clone()))
        .await
        .expect("Channel::send failed");
    wait_visible(peer, |shown| shown.iter().any(|m| m.contains(&text))).await;

    let max = channel.capabilities().max_message_chars;
    if max > 0 {
        // Mixed widths: one two-unit character, the rest plain, exactly at the limit.
        let longest = format!("😀{}", "x".repeat(max - 2));
        channel
            .send(&Outbound::text(conversation, key(), longest.clone()))
            .await
            .expect("a message at the advertised limit must be accepted");
        wait_visible(peer, |shown| shown.iter().any(|m| m == &longest)).await;
    }
}

/// An approval request shows its id; where the channel has buttons, a press comes back as
/// a decision on that approval by the presser.
pub async fn approval_requests_and_presses(channel: &dyn Channel, peer: &dyn Peer) {
    let approval = ApprovalId::new();
    let prompt = ApprovalPrompt {
        approval: approval.clone(),
        plan: PlanId::new(),
        summary: "restart · shell.run {\"command\":\"systemctl restart api\"}".to_owned(),
        approvers: vec!["Ann".to_owned()],
        quorum: 1,
        whole_plan: true,
        nonce: crate::domain::Approval::new_nonce(),
    };
    let mut request = Outbound::text(peer.conversation(), key(), "");
    request.body = OutboundBody::ApprovalRequest(prompt);
    channel.send(&request).await.expect("Channel::send failed");
    let id = approval.to_string();
    wait_visible(peer, |shown| shown.iter().any(|m| m.contains(&id))).await;
    if !channel.capabilities().buttons {
        return;
    }
    let store: SharedStore = Arc::new(MemoryStore::new());
    let received = receiving(channel, Arc::clone(&store), async {
        peer.press_approve(&approval).await;
        wait_for_inbound(&store, 1).await
    })
    .await;
    let event = &received[0];
    assert_eq!(
        event.sender.user_id,
        peer.user_id(),
        "a press is bound to the presser"
    );
    assert!(
        matches!(&event.kind, InboundKind::Decision { approval: a, verdict: Verdict::Approve, .. } if a == &approval),
        "a press on approve is a decision to approve that approval: {:?}",
        event.kind
    );
}

/// Where the channel can edit, a message naming an earlier one replaces it.
pub async fn edits_replace(channel: &dyn Channel, peer: &dyn Peer) {
    if !channel.capabilities().edit {
        return;
    }
    let conversation = peer.conversation();
    let before = format!("conformance status 1/2 {}", crate::domain::new_short_id(6));
    let original = Outbound::text(conversation.clone(), key(), before.clone());
    let sent = channel.send(&original).await.expect("Channel::send failed");
    assert!(
        sent.message_id.is_some(),
        "a channel that edits must name what it sent"
    );
    let after = before.replace("1/2", "2/2");
    let mut edit = Outbound::text(conversation, key(), after.clone());
    edit.replaces = Some(Replaces {
        key: original.idempotency_key.clone(),
        message_id: sent.message_id.clone(),
    });
    channel.send(&edit).await.expect("an edit must succeed");
    wait_visible(peer, |shown| {
        shown.iter().any(|m| m.contains(&after)) && !shown.iter().any(|m| m.contains(&before))
    })
    .await;
}

fn key() -> String {
    format!("conformance-{}", crate::domain::new_short_id(10))
}

/// Runs `channel`'s receive loop, delivering into `store`, while `check` runs.
async fn receiving<T>(
    channel: &dyn Channel,
    store: SharedStore,
    check: impl Future<Output = T>,
) -> T {
    let sink = InboundSink::new(
        channel.name(),
        store,
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
    );
    let shutdown = CancellationToken::new();
    let receive = channel.receive(sink, shutdown.clone());
    let check = async {
        let out = check.await;
        shutdown.cancel();
        out
    };
    let (received, out) = tokio::join!(receive, check);
    received.expect("the receive loop failed");
    out
}

/// Waits until the inbox holds at least `n` events, then a moment longer (to catch
/// duplicates), and returns them.
async fn wait_for_inbound(store: &SharedStore, n: usize) -> Vec<Inbound> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let pending = store.inbox_pending(100).await.expect("inbox");
        if pending.len() >= n {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let pending = store.inbox_pending(100).await.expect("inbox");
            return pending.into_iter().map(|item| item.event).collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} inbound event(s) within {PATIENCE:?}, got {}",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_visible(peer: &dyn Peer, check: impl Fn(&[String]) -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let shown = peer.visible().await;
        if check(&shown) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the conversation does not show what was sent; it shows:\n{}",
            shown.join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
