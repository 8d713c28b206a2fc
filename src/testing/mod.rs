//! Helpers for tests and benchmarks of anything built on openmog (feature `testing`):
//! catching every log line, and timing how fast a channel drains an outbox.

mod logs;
mod send_rate;

pub use logs::LogCapture;
pub use send_rate::{Drained, drain_outbox};
