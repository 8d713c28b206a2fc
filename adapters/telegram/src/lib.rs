//! Telegram for openmog: chat with the agent in private chats, groups and forum topics, and
//! approve with a tap.
//!
//! [`TelegramChannel`] implements the core's [`openmog::channel::Channel`] on teloxide's
//! Bot API client. Updates arrive by long polling (the offset moves only after an update is
//! stored) or by webhook (answered only once stored). Approval requests carry inline
//! buttons whose presses become decisions bound to the presser's Telegram user id; answers
//! to presses are callback notices; approval requests and the plan's status message are
//! edited in place. Pacing and retries are the core's layers.
//!
//! With the `fake` feature, [`fake`] provides a fake Bot API server for tests.

mod address;
mod channel;
mod error;
mod inbound;
mod poll;
mod probe;
mod render;
mod settings;
mod webhook;

#[cfg(feature = "fake")]
pub mod fake;

pub use address::{Answered, Place};
pub use channel::{MAX_MESSAGE_UNITS, TelegramChannel};
pub use error::Error;
pub use inbound::{Identity, Incoming, convert};
pub use render::{approval_keyboard, approval_text, escape, html};
pub use settings::{Mode, TelegramSettings, WebhookSettings};
pub use webhook::SECRET_HEADER;
