//! How the engine uses what a channel can do: status edits, approval requests edited to
//! show their outcome, answers marked as answers, long text split to the channel's limit;
//! and the in-memory channel passing the shared adapter conformance suite.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{CONFIG, CONV, Counter, Harness, config};
use openmog::channel::conformance::{self, Peer};
use openmog::channel::{MemoryChannel, MemoryChannelHandle, message_units};
use openmog::domain::{ApprovalId, Capabilities, ConversationRef, DecisionScope, Verdict};
use openmog::store::MemoryStore;

async fn editing_harness(max_message_chars: usize) -> Harness {
    let (channel, chat) = MemoryChannel::with_capabilities(
        "test",
        Capabilities {
            edit: true,
            buttons: true,
            max_message_chars,
            decisions_need_proof: false,
        },
    );
    Harness::start_with(
        config(CONFIG),
        Arc::new(MemoryStore::new()),
        None,
        channel,
        chat,
        Counter::default(),
    )
    .await
}

#[tokio::test]
async fn progress_edits_one_status_message_and_requests_show_their_outcome() {
    let h = editing_harness(0).await;
    h.say("u-alice", "deploy api");
    let approval = h.approval_for("restart").await;
    h.press("u-bob", &approval, Verdict::Approve);
    h.expect("Plan").await;
    h.chat.wait_for_text(CONV, "succeeded (3/3").await;

    let visible = h.chat.visible(CONV);
    let statuses: Vec<&String> = visible
        .iter()
        .filter(|t| t.contains("Deploy api —"))
        .collect();
    assert_eq!(
        statuses.len(),
        1,
        "one status message, edited in place: {visible:#?}"
    );
    assert!(statuses[0].contains("3/3 steps done"), "{}", statuses[0]);
    assert!(
        !visible.iter().any(|t| t.starts_with("✓ check")),
        "no line per step where the status message can be edited: {visible:#?}"
    );
    let request = visible
        .iter()
        .find(|t| t.contains(&approval.to_string()) && t.contains("restart · gated"))
        .expect("the approval request is still shown");
    assert!(
        request.starts_with("✓ Approved by Bob"),
        "the request shows who decided: {request}"
    );

    // Bob's answer is marked as an answer to his press.
    let answer = h
        .chat
        .delivered()
        .into_iter()
        .find(|d| d.message.body.plain_text().contains("approved by Bob"))
        .expect("an answer to the press");
    assert!(
        answer.message.in_reply_to.is_some(),
        "answers name the event they answer"
    );
    h.stop().await;
}

#[tokio::test]
async fn superseded_and_denied_requests_are_edited_too() {
    let h = editing_harness(0).await;
    h.say("u-alice", "deploy api");
    let approval = h.approval_for("restart").await;
    h.say("u-alice", "cancel");
    h.chat.wait_for_text(CONV, "cancelled").await;
    h.chat
        .wait_for(std::time::Duration::from_secs(10), |d| {
            d.message
                .body
                .plain_text()
                .starts_with("– No longer needed")
        })
        .await;

    h.say("u-alice", "deploy web");
    let second = h.approval_for_except("restart", Some(&approval)).await;
    h.chat
        .press(CONV, "u-bob", &second, Verdict::Deny, DecisionScope::Step);
    h.chat
        .wait_for(std::time::Duration::from_secs(10), |d| {
            d.message.body.plain_text().starts_with("⊘ Denied by Bob")
        })
        .await;
    h.stop().await;
}

#[tokio::test]
async fn long_replies_are_split_to_the_channel_limit_and_nothing_is_lost() {
    let h = editing_harness(120).await;
    h.say("u-alice", "help");
    h.expect("Commands:").await;
    let texts = h.chat.texts(CONV);
    assert!(
        texts.len() > 1,
        "the help text is longer than 120 units: {texts:#?}"
    );
    assert!(texts.iter().all(|t| message_units(t) <= 120));
    let joined: String = texts.concat().split_whitespace().collect();
    for word in ["Commands:", "approve", "cancel", "status"] {
        assert!(joined.contains(word), "{word} is in the split help text");
    }
    h.stop().await;
}

#[tokio::test]
async fn steps_show_a_typing_indicator_in_the_plan_conversation() {
    let h = editing_harness(0).await;
    h.say("u-alice", "slow 300");
    h.expect("succeeded").await;
    let working = h.chat.working_in();
    assert!(
        working.contains(&ConversationRef::new("test", CONV)),
        "the step ran with a typing indicator: {working:?}"
    );
    h.stop().await;
}

/// The in-memory channel's handle plays the person on the other side.
struct MemoryPeer(MemoryChannelHandle);

#[async_trait]
impl Peer for MemoryPeer {
    fn conversation(&self) -> ConversationRef {
        self.0.conversation("peer-room")
    }

    fn user_id(&self) -> String {
        "u-peer".to_owned()
    }

    async fn say(&self, text: &str) {
        self.0.say("peer-room", "u-peer", text);
    }

    async fn press_approve(&self, approval: &ApprovalId) {
        self.0.press(
            "peer-room",
            "u-peer",
            approval,
            Verdict::Approve,
            DecisionScope::Step,
        );
    }

    async fn visible(&self) -> Vec<String> {
        self.0.visible("peer-room")
    }
}

#[tokio::test]
async fn the_memory_channel_passes_the_adapter_conformance_suite() {
    for capabilities in [
        Capabilities {
            edit: true,
            buttons: true,
            max_message_chars: 4096,
            decisions_need_proof: false,
        },
        Capabilities::default(),
    ] {
        let (_, handle) = MemoryChannel::with_capabilities("memory", capabilities);
        let peer = MemoryPeer(handle.clone());
        conformance::run_all(|| handle.channel(), &peer).await;
    }
}
