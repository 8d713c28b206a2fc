//! Discord for openmog: chat in server channels, threads and DMs, and approve with buttons.
//!
//! [`DiscordChannel`] implements the core's [`openmog::channel::Channel`] on serenity. The
//! gateway client receives messages that mention the bot (or reply to it, or arrive in a
//! DM) and interactions (button clicks, `/task`, `/approve`, `/deny`); a request in a
//! server channel opens a thread that the plan lives in. Approval requests carry buttons
//! whose clicks become decisions bound to the clicker's Discord user id; answers to
//! interactions are ephemeral; requests and status messages are edited in place. Pacing
//! and retries are the core's layers.
//!
//! With the `fake` feature, [`fake`] provides a fake Discord (REST and gateway) for tests.

#![recursion_limit = "256"]
mod channel;
mod error;
mod gateway;
mod inbound;
mod probe;
mod render;
mod settings;

#[cfg(feature = "fake")]
pub mod fake;

pub use channel::DiscordChannel;
pub use error::Error;
pub use gateway::commands;
pub use inbound::{interaction_event, message_event};
pub use render::{MAX_MESSAGE_CHARS, approval_text, escape_markdown};
pub use settings::DiscordSettings;
