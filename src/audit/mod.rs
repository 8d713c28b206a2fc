//! The audit log: append-only records, each holding the hash of the one before, so that
//! altering, deleting or reordering any record breaks the chain that [`verify`] walks.

mod export;

pub use export::{export, read_export, verify_against, verify_export};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Result;
use crate::clock::Timestamp;
use crate::store::Store;

/// The hash that stands before the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something worth recording, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What happened, e.g. `request`, `plan.created`, `policy.verdict`, `approval.requested`,
    /// `decision`, `decision.refused`, `step.started`, `step.finished`, `outbound.sent`.
    pub kind: String,
    /// Who caused it: a contact id, `unknown:<channel>:<user id>`, or `openmog`.
    pub actor: String,
    /// What it is about: a plan, approval, step or message id.
    pub subject: String,
    /// Details.
    pub data: Value,
}

impl AuditEvent {
    /// A new event.
    pub fn new(
        kind: &str,
        actor: impl Into<String>,
        subject: impl Into<String>,
        data: Value,
    ) -> Self {
        AuditEvent {
            kind: kind.to_owned(),
            actor: actor.into(),
            subject: subject.into(),
            data,
        }
    }
}

/// A sealed audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When it was appended.
    pub at: Timestamp,
    /// The event.
    pub event: AuditEvent,
    /// Hash of the previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 over `seq`, `at`, the event and `prev_hash`.
    pub hash: String,
}

impl AuditRecord {
    /// Seals `event` as the record after `prev` (or the first record if `None`).
    pub fn seal(prev: Option<(u64, &str)>, at: Timestamp, event: AuditEvent) -> AuditRecord {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let hash = digest(seq, at, &event, &prev_hash);
        AuditRecord {
            seq,
            at,
            event,
            prev_hash,
            hash,
        }
    }

    /// Whether the stored hash matches the record's content.
    pub fn is_intact(&self) -> bool {
        digest(self.seq, self.at, &self.event, &self.prev_hash) == self.hash
    }
}

fn digest(seq: u64, at: Timestamp, event: &AuditEvent, prev_hash: &str) -> String {
    let event = Canonical {
        kind: &event.kind,
        actor: &event.actor,
        subject: &event.subject,
        data: Sorted(&event.data),
    };
    let canonical = serde_json::to_string(&(seq, at.0, event, prev_hash)).expect("serializable");
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// An [`AuditEvent`] as it is hashed: its fields in declaration order, its data with every
/// object's keys sorted.
#[derive(Serialize)]
struct Canonical<'a> {
    kind: &'a str,
    actor: &'a str,
    subject: &'a str,
    data: Sorted<'a>,
}

/// A JSON value written with sorted object keys, whatever order the map keeps: a
/// dependency may turn on serde_json's `preserve_order` (genai does), and a record must
/// hash the same in every build that reads it.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    out.serialize_entry(key, &Sorted(&map[key]))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every record is intact and linked to the one before.
    Intact {
        /// Number of records checked.
        records: u64,
        /// Hash of the last record (publish it elsewhere to detect truncation).
        head: String,
    },
    /// The chain is broken at `seq`.
    Broken {
        /// The first record that does not fit.
        seq: u64,
        /// How.
        reason: String,
    },
}

/// Walks the whole chain in the store.
pub async fn verify(store: &dyn Store) -> Result<Verification> {
    const PAGE: usize = 1000;
    let mut expected_seq = 1u64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    loop {
        let page = store.audit_records(expected_seq, PAGE).await?;
        if page.is_empty() {
            return Ok(Verification::Intact {
                records: expected_seq - 1,
                head: prev_hash,
            });
        }
        for record in &page {
            if record.seq != expected_seq {
                return Ok(Verification::Broken {
                    seq: expected_seq,
                    reason: format!(
                        "record {} is missing or out of order (found {})",
                        expected_seq, record.seq
                    ),
                });
            }
            if record.prev_hash != prev_hash {
                return Ok(Verification::Broken {
                    seq: record.seq,
                    reason: "does not link to the previous record".to_owned(),
                });
            }
            if !record.is_intact() {
                return Ok(Verification::Broken {
                    seq: record.seq,
                    reason: "content does not match its hash (altered)".to_owned(),
                });
            }
            prev_hash = record.hash.clone();
            expected_seq += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_links_records_and_detects_changes() {
        let first = AuditRecord::seal(
            None,
            Timestamp(1),
            AuditEvent::new("a", "x", "s", Value::Null),
        );
        let second = AuditRecord::seal(
            Some((first.seq, &first.hash)),
            Timestamp(2),
            AuditEvent::new("b", "y", "s", Value::Null),
        );
        assert_eq!(second.seq, 2);
        // The hash of a stored record: it must never change, or old logs would read as
        // tampered (key order in `data` must not matter either).
        let known = AuditRecord::seal(
            None,
            Timestamp(7),
            AuditEvent::new(
                "k",
                "a",
                "s",
                serde_json::json!({"b": 1, "a": [{"d": 2, "c": 3}]}),
            ),
        );
        assert_eq!(
            known.hash,
            "d8b7129c2fcdd4f42e36790f56dddd9f8d2e4925978fea8c7c7e03f2cb036827"
        );
        assert_eq!(second.prev_hash, first.hash);
        assert!(second.is_intact());
        let mut altered = second.clone();
        altered.event.actor = "mallory".into();
        assert!(!altered.is_intact());
    }
}
