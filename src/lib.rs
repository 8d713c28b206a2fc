//! openmog: turn conversations into supervised plans — steps that run skills, with human
//! approvals that travel back over the same channel, rate-limited, durable and audited.
//!
//! The core is platform-neutral: it defines the [`channel::Channel`] trait that adapter crates
//! implement, the [`store::Store`] trait with SQLite and in-memory implementations, the
//! [`planner::Planner`] trait with the deterministic [`planner::RulePlanner`], the
//! [`skills::Skill`] trait with a few built-ins, and the [`engine::Engine`] that ties them
//! together. See `docs/ARCHITECTURE.md` for the bird's-eye view.

pub mod audit;
pub mod channel;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod engine;
mod error;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod outbox;
pub mod pairing;
pub mod planner;
pub mod policy;
pub mod skills;
pub mod status;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vault;

pub use error::{Error, Result};
