//! Identifiers: short, random, typeable by a human on a phone.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Lower-case letters and digits without the easily confused `0 o 1 l i`.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// A random identifier of `len` characters (about 4.95 bits each).
pub fn new_short_id(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $len:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random identifier.
            pub fn new() -> Self {
                Self(format!(concat!($prefix, "{}"), new_short_id($len)))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// A plan, e.g. `p-k3m9x2`.
    PlanId, "p-", 6
);
string_id!(
    /// An approval request, e.g. `a-7hq4rt`: what a human types to approve it.
    ApprovalId, "a-", 6
);
string_id!(
    /// A stored inbound event.
    InboxId, "in-", 12
);
string_id!(
    /// A stored outbound message.
    OutboxId, "out-", 12
);

/// A contact's id from configuration (e.g. `alice`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContactId(pub String);

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A step's key, unique within its plan (e.g. `check`, `restart`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepKey(pub String);

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for StepKey {
    fn from(s: &str) -> Self {
        StepKey(s.to_owned())
    }
}
