//! Channels whose senders can be forged (mail): a decision counts only with the approval's
//! nonce, typed commands cannot decide, and what the channel refused is audited and
//! answered to contacts only.

mod common;

use std::sync::Arc;

use common::{CONFIG, CONV, Counter, Harness, config};
use openmog::channel::MemoryChannel;
use openmog::domain::{
    ApprovalId, Capabilities, DecisionScope, Inbound, InboundKind, OutboundBody, Sender, Verdict,
};
use openmog::store::MemoryStore;

async fn harness() -> Harness {
    let capabilities = Capabilities {
        decisions_need_proof: true,
        ..Capabilities::default()
    };
    let (channel, chat) = MemoryChannel::with_capabilities("test", capabilities);
    let store = Arc::new(MemoryStore::new());
    Harness::start_with(
        config(CONFIG),
        store,
        None,
        channel,
        chat,
        Counter::default(),
    )
    .await
}

fn event(h: &Harness, user: &str, kind: InboundKind) -> Inbound {
    Inbound {
        conversation: h.chat.conversation(CONV),
        sender: Sender {
            user_id: user.to_owned(),
            display_name: user.to_owned(),
        },
        event_id: openmog::domain::new_short_id(10),
        kind,
    }
}

fn decision(approval: &ApprovalId, nonce: Option<&str>) -> InboundKind {
    InboundKind::Decision {
        approval: approval.clone(),
        verdict: Verdict::Approve,
        scope: DecisionScope::Step,
        nonce: nonce.map(str::to_owned),
        comment: None,
    }
}

async fn nonce_of(h: &Harness, approval: &ApprovalId) -> String {
    let request = h
        .chat
        .wait_for(std::time::Duration::from_secs(10), |d| {
            matches!(&d.message.body, OutboundBody::ApprovalRequest(p) if &p.approval == approval)
        })
        .await;
    match request.message.body {
        OutboundBody::ApprovalRequest(prompt) => prompt.nonce,
        _ => unreachable!("matched above"),
    }
}

#[tokio::test]
async fn only_the_right_nonce_settles_and_typed_commands_are_refused() {
    let h = harness().await;
    h.say("u-alice", "deploy api");
    let approval = h.approval_for("restart").await;
    let nonce = nonce_of(&h, &approval).await;
    assert_eq!(nonce.len(), 20, "every request carries a fresh nonce");

    h.say("u-bob", &format!("approve {approval}"));
    h.expect("(no nonce)").await;
    h.chat.push(event(&h, "u-bob", decision(&approval, None)));
    h.chat.push(event(
        &h,
        "u-bob",
        decision(&approval, Some("x".repeat(20).as_str())),
    ));
    h.expect("(wrong nonce)").await;
    assert_eq!(h.counter.runs().get("restart api"), None, "nothing settled");

    h.chat
        .push(event(&h, "u-bob", decision(&approval, Some(&nonce))));
    h.expect("succeeded (3/3 steps done)").await;
    let refused: Vec<String> = h
        .audit_of("decision.refused")
        .await
        .into_iter()
        .map(|(_, _, data)| data["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(refused, ["no nonce", "no nonce", "wrong nonce"]);
    h.stop().await;
}

#[tokio::test]
async fn refusals_are_audited_and_answered_to_contacts_only() {
    let h = harness().await;
    let refused = |answer| InboundKind::Refused {
        reason: "the mail did not pass DMARC".to_owned(),
        answer,
    };
    h.chat.push(event(&h, "u-alice", refused(false)));
    h.chat.push(event(&h, "u-stranger", refused(true)));
    h.chat.push(event(&h, "u-carol", refused(true)));
    h.expect("Refused: the mail did not pass DMARC. Nothing was done.")
        .await;
    let audited = h.audit_of("inbound.refused").await;
    let actors: Vec<&str> = audited.iter().map(|(actor, _, _)| actor.as_str()).collect();
    assert_eq!(actors, ["alice", "unknown:test:u-stranger", "carol"]);
    assert_eq!(
        h.chat.texts(CONV).len(),
        1,
        "only Carol, a contact who asked for an answer, is answered"
    );
    h.stop().await;
}
