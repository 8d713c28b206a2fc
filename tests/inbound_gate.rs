//! What every inbound event passes first: unknown senders (ignored, answered within a
//! rate, or offered a pairing code an owner confirms), per-sender and per-conversation
//! rates, and the size of a message — each turned-away event audited.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CONFIG, CONV, Harness, config};
use openmog::clock::{Clock, ManualClock};
use openmog::pairing;
use openmog::store::MemoryStore;

async fn harness(extra: &str) -> Harness {
    Harness::start(
        config(&format!("{CONFIG}\n{extra}")),
        Arc::new(MemoryStore::new()),
        None,
    )
    .await
}

/// Lets the inbox drain, then proves it did: `alice`'s `plans` is answered after
/// everything sent before it (in tests that plan nothing).
async fn settle(h: &Harness) {
    h.say("u-alice", "plans");
    h.expect("No plans yet.").await;
}

fn count(h: &Harness, needle: &str) -> usize {
    h.chat
        .texts(CONV)
        .iter()
        .filter(|t| t.contains(needle))
        .count()
}

#[tokio::test]
async fn ignored_unknown_senders_are_audited_and_never_answered() {
    let h = harness("[authorizations.unknown_senders]\npolicy = \"ignore\"").await;
    h.say("u-mallory", "deploy api");
    settle(&h).await;
    assert_eq!(count(&h, "know you"), 0, "{:?}", h.chat.texts(CONV));
    let refused = h.audit_of("inbound.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "unknown:test:u-mallory");
    assert_eq!(h.counter.total(), 0);
    h.stop().await;
}

#[tokio::test]
async fn answers_to_an_unknown_sender_are_rate_limited_but_every_message_is_audited() {
    let h =
        harness("[authorizations.unknown_senders]\npolicy = \"answer\"\nanswers = \"1/h\"").await;
    for n in 0..3 {
        h.say("u-mallory", &format!("hello {n}"));
    }
    settle(&h).await;
    assert_eq!(
        count(&h, "I don't know you yet"),
        1,
        "{:?}",
        h.chat.texts(CONV)
    );
    assert!(h.chat.texts(CONV).iter().any(|t| t.contains("`u-mallory`")));
    assert_eq!(h.audit_of("inbound.refused").await.len(), 3);
    h.stop().await;
}

/// An engine whose unknown senders get pairing codes valid for ten minutes, on a clock
/// the test moves.
async fn pairing_harness() -> (Harness, openmog::config::Config, ManualClock) {
    let clock = ManualClock::new();
    let cfg = config(&format!(
        "{CONFIG}\n[authorizations.unknown_senders]\npolicy = \"pair\"\npairing_ttl = \"10m\""
    ));
    let h = Harness::start(
        cfg.clone(),
        Arc::new(MemoryStore::new()),
        Some(Arc::new(clock.clone())),
    )
    .await;
    (h, cfg, clock)
}

#[tokio::test]
async fn pairing_binds_an_account_to_a_contact_once_an_owner_confirms_the_code() {
    let (h, cfg, clock) = pairing_harness().await;
    h.say("u-carol-phone", "deploy api");
    let offer = h.expect("Your pairing code is").await;
    let text = offer.message.body.plain_text();
    let code = text
        .split("Your pairing code is ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .expect("a code")
        .to_owned();
    assert_eq!(code.len(), 8, "{text}");
    // Nothing ran for the stranger, and asking again gives the same code.
    assert_eq!(h.counter.total(), 0);
    h.say("u-carol-phone", "deploy api");
    h.expect(&format!("code is {code}. Give")).await;
    assert_eq!(h.audit_of("pairing.requested").await.len(), 1);

    let store = h.engine.store().clone();
    let err = pairing::confirm(store.as_ref(), &cfg, &code, "nobody", clock.now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("contact `nobody`"), "{err}");
    let paired = pairing::confirm(
        store.as_ref(),
        &cfg,
        &code.to_lowercase(),
        "carol",
        clock.now(),
    )
    .await
    .expect("the code pairs");
    assert_eq!(paired.user_id, "u-carol-phone");
    h.expect("You are paired as Carol").await;
    let again = pairing::confirm(store.as_ref(), &cfg, &code, "carol", clock.now())
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already used"), "{again}");
    let audited = h.audit_of("contact.paired").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].1, "carol");

    // The account now speaks as Carol, with Carol's rights (and nothing more).
    h.say("u-carol-phone", "deploy web");
    let approval = h.approval_for("restart").await;
    h.press(
        "u-carol-phone",
        &approval,
        openmog::domain::Verdict::Approve,
    );
    h.expect("Sorry Carol, you are not one of the approvers")
        .await;

    // Unpairing makes it a stranger again.
    assert!(
        pairing::unpair(store.as_ref(), "test", "u-carol-phone", clock.now())
            .await
            .unwrap()
    );
    h.say("u-carol-phone", "deploy db");
    h.expect("Your pairing code is").await;
    h.stop().await;
}

#[tokio::test]
async fn a_pairing_code_expires() {
    let (h, cfg, clock) = pairing_harness().await;
    h.say("u-stranger", "hi");
    let text = h
        .expect("Your pairing code is")
        .await
        .message
        .body
        .plain_text();
    let code = &text["I don't know you yet. Your pairing code is ".len()..][..8];
    clock.advance(Duration::from_secs(11 * 60));
    let err = pairing::confirm(h.engine.store().as_ref(), &cfg, code, "carol", clock.now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(h.audit_of("contact.paired").await.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_sender_over_the_rate_is_told_once_and_audited_once_per_window() {
    let h = harness("[limits.inbound]\nper_sender = \"3/min\"").await;
    for _ in 0..6 {
        h.say("u-carol", "help");
    }
    h.expect("Too many messages from this sender").await;
    // Others are not held back by Carol's flood.
    settle(&h).await;
    assert_eq!(
        count(&h, "Too many messages"),
        1,
        "{:?}",
        h.chat.texts(CONV)
    );
    // Carol's three within the rate.
    assert_eq!(count(&h, "Commands:"), 3);
    let limited = h.audit_of("inbound.limited").await;
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].0, "test:u-carol");
    assert_eq!(limited[0].2["scope"], "sender");
    h.stop().await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_refused_and_nothing_is_planned() {
    let h = harness("[limits.inbound]\nmax_text_bytes = 64").await;
    let long = format!("deploy {}", "x".repeat(100));
    h.say("u-alice", &long);
    h.expect("Your message is too long (107 bytes; at most 64)")
        .await;
    settle(&h).await;
    assert_eq!(h.counter.total(), 0);
    let refused = h.audit_of("inbound.refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].2["reason"], "too long");
    h.stop().await;
}
