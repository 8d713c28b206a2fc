//! A mail saying "APPROVE all" against real servers: whether it comes from a contact who
//! may only chat or from the approver herself, a mail that is not a reply to the approval
//! request (so carries no nonce) is refused by the adapter before it can be read as a
//! decision, settles nothing, and is audited.

mod common;

use std::sync::Arc;

use common::{Bot, Person, servers};
use openmog::store::MemoryStore;

#[tokio::test]
async fn a_mail_saying_approve_all_approves_nothing() {
    let Some(servers) = servers() else { return };
    let bot = Bot::start(&servers, Arc::new(MemoryStore::new())).await;
    let ann = Person::new(&servers, "ann@example.test");
    let bob = Person::new(&servers, "bob@example.test");

    ann.mail_agent("deploy api", "").await;
    ann.expect("To approve, reply to this mail with APPROVE")
        .await;

    // Bob may chat but not approve; his mail is authenticated, and still decides nothing.
    bob.mail_agent("APPROVE all", "APPROVE all").await;
    bot.wait_audit("inbound.refused", 1).await;
    // Ann is the approver, but a new mail is no answer to the request: no nonce.
    ann.mail_agent("APPROVE all", "APPROVE all").await;
    let refused = bot.wait_audit("inbound.refused", 2).await;
    assert_eq!(refused[0].0, "bob");
    assert_eq!(refused[1].0, "ann");
    assert!(
        refused.iter().all(|(_, _, data)| data["reason"]
            .as_str()
            .unwrap()
            .contains("does not answer an approval request")),
        "{refused:?}"
    );
    assert_eq!(bot.restarts(), 0, "nothing was approved");
    assert!(bot.audit_of("decision").await.is_empty());
    bot.stop().await;
}
