//! Pairing: an unknown sender gets a one-time code; an owner who knows them confirms it
//! with `openmog contacts pair CODE --as CONTACT`, which binds that platform account to the
//! contact. Codes and bindings live in the store as the channel's own state, so any
//! process sharing the store (the CLI, other instances) sees them.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::AuditEvent;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::domain::{ContactId, ConversationRef, Outbound};
use crate::store::{Effects, Store};
use crate::{Error, Result};

/// Letters and digits a person reads off a phone without confusing any two.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;

fn code_key(code: &str) -> String {
    format!("openmog.pairing.code.{code}")
}
fn user_key(user_id: &str) -> String {
    format!("openmog.pairing.user.{user_id}")
}
fn paired_key(user_id: &str) -> String {
    format!("openmog.paired.{user_id}")
}

/// A code waiting for an owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    user_id: String,
    display_name: String,
    conversation: ConversationRef,
    expires_at: Timestamp,
    /// Set once confirmed: a code pairs once.
    #[serde(default)]
    used: bool,
}

/// The contact a platform account was paired with, if any.
pub async fn paired_contact(
    store: &dyn Store,
    channel: &str,
    user_id: &str,
) -> Result<Option<ContactId>> {
    Ok(store
        .channel_state(channel, &paired_key(user_id))
        .await?
        .filter(|id| !id.is_empty())
        .map(ContactId))
}

/// The code for the sender of a message on `conversation`: their open code if it is still
/// valid (`false`), or a new one valid for `ttl` (`true`).
pub(crate) async fn request(
    store: &dyn Store,
    conversation: &ConversationRef,
    user_id: &str,
    display_name: &str,
    ttl: std::time::Duration,
    now: Timestamp,
) -> Result<(String, bool)> {
    let channel = &conversation.channel;
    if let Some(code) = store.channel_state(channel, &user_key(user_id)).await?
        && let Some(pending) = pending(store, channel, &code).await?
        && !pending.used
        && pending.expires_at > now
    {
        return Ok((code, false));
    }
    let code = new_code();
    let pending = Pending {
        user_id: user_id.to_owned(),
        display_name: display_name.to_owned(),
        conversation: conversation.clone(),
        expires_at: now.after(ttl),
        used: false,
    };
    store
        .set_channel_state(channel, &code_key(&code), &serde_json::to_string(&pending)?)
        .await?;
    store
        .set_channel_state(channel, &user_key(user_id), &code)
        .await?;
    Ok((code, true))
}

async fn pending(store: &dyn Store, channel: &str, code: &str) -> Result<Option<Pending>> {
    match store.channel_state(channel, &code_key(code)).await? {
        Some(json) => Ok(Some(serde_json::from_str(&json)?)),
        None => Ok(None),
    }
}

fn new_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// What [`confirm`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    /// The channel the account is on.
    pub channel: String,
    /// The platform user id now bound to the contact.
    pub user_id: String,
    /// The name the account gave itself when it asked (for the operator to check).
    pub display_name: String,
    /// The contact it is bound to.
    pub contact: ContactId,
}

/// Confirms pairing `code` (case does not matter) as contact `contact`, which `config` must
/// have: binds the account, audits `contact.paired`, and queues a message telling them. A
/// code pairs once, and only before it expires.
pub async fn confirm(
    store: &dyn Store,
    config: &Config,
    code: &str,
    contact: &str,
    now: Timestamp,
) -> Result<Paired> {
    let code = code.trim().to_ascii_uppercase();
    let Some(known) = config.contacts.iter().find(|c| c.id == contact) else {
        return Err(Error::NotFound(format!(
            "contact `{contact}`: add them to the configuration's contacts first"
        )));
    };
    for channel in config.channels.keys() {
        let Some(mut pending) = pending(store, channel, &code).await? else {
            continue;
        };
        if pending.used {
            return Err(Error::Config(format!(
                "pairing code {code} was already used"
            )));
        }
        if pending.expires_at <= now {
            return Err(Error::Config(format!(
                "pairing code {code} has expired; they get a new one when they write again"
            )));
        }
        pending.used = true;
        store
            .set_channel_state(channel, &code_key(&code), &serde_json::to_string(&pending)?)
            .await?;
        store
            .set_channel_state(channel, &paired_key(&pending.user_id), &known.id)
            .await?;
        let mut effects = Effects::none();
        effects.audit(AuditEvent::new(
            "contact.paired",
            "operator",
            known.id.clone(),
            json!({"channel": channel, "user_id": pending.user_id, "display_name": pending.display_name}),
        ));
        let name = if known.name.is_empty() {
            &known.id
        } else {
            &known.name
        };
        effects.send(Outbound::text(
            pending.conversation.clone(),
            format!("pairing:{channel}:{code}"),
            format!("You are paired as {name}. Type `help` to see what I can do."),
        ));
        store.apply(&effects, now).await?;
        return Ok(Paired {
            channel: channel.clone(),
            user_id: pending.user_id,
            display_name: pending.display_name,
            contact: ContactId(known.id.clone()),
        });
    }
    Err(Error::NotFound(format!("pairing code {code}")))
}

/// Removes the binding of `user_id` on `channel` made by pairing; false if there was none.
pub async fn unpair(
    store: &dyn Store,
    channel: &str,
    user_id: &str,
    now: Timestamp,
) -> Result<bool> {
    let Some(contact) = paired_contact(store, channel, user_id).await? else {
        return Ok(false);
    };
    store
        .set_channel_state(channel, &paired_key(user_id), "")
        .await?;
    let mut effects = Effects::none();
    effects.audit(AuditEvent::new(
        "contact.unpaired",
        "operator",
        contact.0,
        json!({"channel": channel, "user_id": user_id}),
    ));
    store.apply(&effects, now).await?;
    Ok(true)
}
