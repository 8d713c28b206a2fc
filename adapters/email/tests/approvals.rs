//! The whole loop by mail against real servers: a request by mail, the plan and the
//! approval request in the same thread, approval by reply, the report in the thread; and
//! every way a reply must not settle anything (forged sender, wrong nonce, replay, a
//! contact who may only chat, an out-of-office reply), each audited, none looping.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{AGENT, Bot, Person, raw_mail, servers};
use openmog::store::MemoryStore;

#[tokio::test]
async fn request_plan_approval_by_reply_and_report_all_in_one_thread() {
    let Some(servers) = servers() else { return };
    let bot = Bot::start(&servers, Arc::new(MemoryStore::new())).await;
    let ann = Person::new(&servers, "ann@example.test");

    let request = ann
        .mail_agent("deploy api", "-- \nAnn Example\nOps lead")
        .await;
    let ask = ann
        .expect("To approve, reply to this mail with APPROVE")
        .await;
    assert_eq!(ask.subject, "Re: deploy api");
    assert!(
        ask.references.contains(&request),
        "the request is in the thread: {ask:?}"
    );
    assert!(
        ask.reply_to
            .as_deref()
            .is_some_and(|r| r.starts_with("agent+a-")),
        "the nonce travels in a plus-addressed Reply-To: {:?}",
        ask.reply_to
    );
    assert_eq!(ask.auto_submitted.as_deref(), Some("auto-replied"));
    assert_eq!(bot.restarts(), 0, "nothing runs before the approval");

    ann.reply(&ask, "Approve — go ahead").await;
    ann.expect("approved by Ann. They wrote: go ahead").await;
    let report = ann.expect("restarted api").await;
    assert_eq!(report.subject, "Re: deploy api");
    assert!(
        report.references.contains(&request),
        "the report is in the thread"
    );
    assert_eq!(bot.restarts(), 1);
    let decisions = bot.audit_of("decision").await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].0, "ann");
    assert_eq!(
        decisions[0].2["comment"], "go ahead",
        "the comment is on record"
    );
    bot.stop().await;
}

#[tokio::test]
async fn forged_wrong_replayed_unauthorised_and_automatic_replies_settle_nothing() {
    let Some(servers) = servers() else { return };
    let bot = Bot::start(&servers, Arc::new(MemoryStore::new())).await;
    let ann = Person::new(&servers, "ann@example.test");
    let bob = Person::new(&servers, "bob@example.test");
    let eve = Person::new(&servers, openmog_email::testkit::OUTSIDER);

    ann.mail_agent("deploy api", "").await;
    let ask = ann
        .expect("To approve, reply to this mail with APPROVE")
        .await;
    let reply_to = ask.reply_to.clone().expect("a Reply-To");

    // Eve, from another domain, writes as Ann: the receiving server stamps dmarc=fail.
    eve.send_as(
        &ann.address,
        &reply_to,
        "Re: deploy api",
        "APPROVE",
        Some(&ask),
        None,
    )
    .await;
    bot.wait_audit("inbound.refused", 1).await;

    // Ann herself, but to a made-up nonce, not answering the request.
    let (approval, _) = reply_to
        .trim_start_matches("agent+")
        .split_once('.')
        .expect("agent+<approval>.<nonce>@");
    let forged = format!("agent+{approval}.wrongwrongwrongwrong@example.test");
    ann.send_as(
        &ann.address,
        &forged,
        "Re: deploy api",
        "APPROVE",
        None,
        None,
    )
    .await;
    bot.wait_audit("decision.refused", 1).await;

    // Bob may chat but not approve.
    bob.send_as(
        &bob.address,
        &reply_to,
        "Re: deploy api",
        "approve",
        Some(&ask),
        None,
    )
    .await;
    bot.wait_audit("decision.refused", 2).await;

    // An out-of-office answer to the request, straight into the agent's mailbox.
    servers.deliver_raw(
        AGENT,
        &raw_mail(
            &[
                ("From", "Ann <ann@example.test>"),
                ("To", &reply_to),
                ("Subject", "Automatic reply: deploy api"),
                ("Message-ID", "<ooo-1@example.test>"),
                ("In-Reply-To", &format!("<{}>", ask.message_id)),
                ("Auto-Submitted", "auto-replied"),
                (
                    "Authentication-Results",
                    &format!(
                        "{}; dmarc=pass header.from=example.test",
                        servers.authserv_id
                    ),
                ),
            ],
            "APPROVE\nI am out of the office until Monday.",
        ),
    );
    bot.wait_audit("inbound.refused", 2).await;
    assert_eq!(bot.restarts(), 0, "nothing was approved");

    // The real approval, then the same reply replayed as a new mail.
    let approval_reply = ann.reply(&ask, "APPROVE").await;
    ann.expect("restarted api").await;
    ann.send_as(
        &ann.address,
        &reply_to,
        "Re: deploy api",
        "APPROVE",
        Some(&ask),
        None,
    )
    .await;
    // And once more with the very same Message-ID: the inbox drops it as a duplicate.
    ann.send_as(
        &ann.address,
        &reply_to,
        "Re: deploy api",
        "APPROVE",
        Some(&ask),
        Some(&approval_reply),
    )
    .await;
    let refused = bot.wait_audit("decision.refused", 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(bot.restarts(), 1, "the step ran once");

    let reasons: Vec<String> = bot
        .audit_of("decision.refused")
        .await
        .iter()
        .map(|(actor, _, data)| format!("{actor}: {}", data["reason"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        reasons,
        [
            "ann: wrong nonce",
            "bob: not an approver",
            "ann: already settled"
        ],
        "{refused:?}"
    );
    let inbound: Vec<String> = bot
        .audit_of("inbound.refused")
        .await
        .iter()
        .map(|(actor, _, data)| format!("{actor}: {}", data["reason"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(inbound.len(), 2, "{inbound:?}");
    assert!(
        inbound[0].starts_with("ann: the mail's sender is not authenticated"),
        "{inbound:?}"
    );
    assert!(inbound[1].starts_with("ann: automatic mail"), "{inbound:?}");

    // The forged mail was answered to Ann (who should know); the automatic one never.
    ann.expect("Refused: the mail's sender is not authenticated")
        .await;
    assert_eq!(
        ann.count("automatic mail"),
        0,
        "no answer to an automatic reply"
    );
    assert!(
        eve.inbox().is_empty(),
        "nothing goes to the forger: {:?}",
        eve.inbox()
    );
    bot.stop().await;
}
