//! Where an approval's nonce travels: in the plus-addressed Reply-To of the request
//! (`agent+a-7hq4rt.<nonce>@example.com`) and in its Message-ID
//! (`<om-a-7hq4rt-<nonce>-<digest>@example.com>`), so that a reply proves it answers that
//! very request through either its recipient or its In-Reply-To.

use openmog::domain::ApprovalId;

use crate::mail::IncomingMail;

/// An approval id is `a-` and six characters.
const APPROVAL_LEN: usize = 8;

/// The Reply-To address of a request for `approval`.
pub(crate) fn reply_to(agent: &str, approval: &ApprovalId, nonce: &str) -> String {
    match agent.rsplit_once('@') {
        Some((local, domain)) => format!("{local}+{approval}.{nonce}@{domain}"),
        None => agent.to_owned(),
    }
}

/// The Message-ID (without brackets) of a request for `approval`; `digest` makes each
/// request's id unique and stable across resends.
pub(crate) fn message_id(approval: &ApprovalId, nonce: &str, digest: &str, domain: &str) -> String {
    format!("om-{approval}-{nonce}-{digest}@{domain}")
}

/// The approval and nonce a reply carries, if any: first what it answers (In-Reply-To),
/// then where it was sent (a plus address of the agent's).
pub(crate) fn find(mail: &IncomingMail, agent: &str) -> Option<(ApprovalId, String)> {
    let from_ids = mail.in_reply_to.iter().find_map(|id| from_message_id(id));
    from_ids.or_else(|| {
        mail.recipients
            .iter()
            .chain(&mail.delivered_to)
            .find_map(|address| from_address(address, agent))
    })
}

fn from_message_id(id: &str) -> Option<(ApprovalId, String)> {
    let (local, _) = id.rsplit_once('@')?;
    let rest = local.strip_prefix("om-")?;
    let (approval, rest) = split_approval(rest)?;
    let (nonce, _digest) = rest.strip_prefix('-')?.split_once('-')?;
    valid_nonce(nonce).then(|| (approval, nonce.to_owned()))
}

fn from_address(address: &str, agent: &str) -> Option<(ApprovalId, String)> {
    let (agent_local, agent_domain) = agent.rsplit_once('@')?;
    let (local, domain) = address.rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(agent_domain) {
        return None;
    }
    let (base, tag) = local.split_once('+')?;
    if !base.eq_ignore_ascii_case(agent_local) {
        return None;
    }
    let (approval, rest) = split_approval(tag)?;
    let nonce = rest.strip_prefix('.')?;
    valid_nonce(nonce).then(|| (approval, nonce.to_owned()))
}

fn split_approval(text: &str) -> Option<(ApprovalId, &str)> {
    let approval = text.get(..APPROVAL_LEN)?;
    let valid = approval.starts_with("a-")
        && approval[2..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    valid.then(|| (ApprovalId::from(approval), &text[APPROVAL_LEN..]))
}

fn valid_nonce(nonce: &str) -> bool {
    (8..=64).contains(&nonce.len()) && nonce.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_reply_to_and_message_id() {
        let approval = ApprovalId::from("a-7hq4rt");
        let nonce = "k3m9x2p8q1w4e5r6t7y8";
        let agent = "agent@example.test";
        let by_address = IncomingMail {
            recipients: vec![reply_to(agent, &approval, nonce)],
            ..IncomingMail::default()
        };
        assert_eq!(
            find(&by_address, agent),
            Some((approval.clone(), nonce.to_owned()))
        );
        let by_id = IncomingMail {
            in_reply_to: vec![message_id(&approval, nonce, "abc", "example.test")],
            ..IncomingMail::default()
        };
        assert_eq!(find(&by_id, agent), Some((approval, nonce.to_owned())));
    }

    #[test]
    fn strangers_and_other_domains_carry_nothing() {
        let agent = "agent@example.test";
        for address in [
            "agent@example.test",
            "agent+a-7hq4rt.k3m9x2p8q1w4@other.test",
            "bob+a-7hq4rt.k3m9x2p8q1w4@example.test",
            "agent+a-7HQ4RT.k3m9x2p8q1w4@example.test",
            "agent+a-7hq4rt.short@example.test",
            "agent+a-7hq4rt.k3m9x2p8-1w4@example.test",
        ] {
            let mail = IncomingMail {
                recipients: vec![address.to_owned()],
                ..IncomingMail::default()
            };
            assert_eq!(find(&mail, agent), None, "{address}");
        }
        let mail = IncomingMail {
            in_reply_to: vec!["om-a-7h-x@y".to_owned(), "plain@x".to_owned()],
            ..IncomingMail::default()
        };
        assert_eq!(find(&mail, agent), None);
    }
}
