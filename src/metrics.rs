//! The metrics openmog records, through the `metrics` facade: the library only records;
//! whoever runs it installs an exporter (the `openmog` binary serves Prometheus text at
//! `/metrics`, see [`crate::ops`]). Every name is here, so docs and dashboards have one
//! list.

use std::time::Duration;

/// Inbound events stored in the inbox, by `channel`.
pub const INBOUND: &str = "openmog_inbound_events_total";
/// Outbound sends, by `channel` and `outcome` (`sent`, `retry`, `rate_limited`, `failed`).
pub const OUTBOUND: &str = "openmog_outbound_messages_total";
/// Time messages waited for their turn in the pacing layer, by `channel`.
pub const PACING_WAIT: &str = "openmog_pacing_wait_seconds";
/// Messages waiting in the outbox (set when `/metrics` is scraped).
pub const OUTBOX_DEPTH: &str = "openmog_outbox_depth";
/// Plans with an open (pending or parked) approval (set when scraped).
pub const OPEN_APPROVALS: &str = "openmog_open_approvals";
/// Age of the oldest open approval, in seconds (set when scraped; 0 without any).
pub const OLDEST_APPROVAL_AGE: &str = "openmog_oldest_open_approval_age_seconds";
/// Steps ready to run or reclaimable (set when scraped).
pub const STEP_QUEUE: &str = "openmog_step_queue_depth";
/// How long steps ran, by `skill` and `outcome` (`succeeded`, `failed`).
pub const STEP_DURATION: &str = "openmog_step_duration_seconds";
/// How long the planner took to answer a request, by `outcome` (`plan`, `reply`, `error`).
pub const PLANNER_LATENCY: &str = "openmog_planner_latency_seconds";
/// Whether a channel is connected to its platform (1) or not (0), by `channel`.
pub const CHANNEL_CONNECTED: &str = "openmog_channel_connected";
/// How long a store round trip took when probed.
pub const STORE_LATENCY: &str = "openmog_store_latency_seconds";

pub(crate) fn inbound(channel: &str) {
    metrics::counter!(INBOUND, "channel" => channel.to_owned()).increment(1);
}

pub(crate) fn outbound(channel: &str, outcome: &'static str) {
    metrics::counter!(OUTBOUND, "channel" => channel.to_owned(), "outcome" => outcome).increment(1);
}

pub(crate) fn pacing_wait(channel: &str, waited: Duration) {
    metrics::histogram!(PACING_WAIT, "channel" => channel.to_owned()).record(waited.as_secs_f64());
}

pub(crate) fn step(skill: &str, outcome: &'static str, took: Duration) {
    metrics::histogram!(STEP_DURATION, "skill" => skill.to_owned(), "outcome" => outcome)
        .record(took.as_secs_f64());
}

pub(crate) fn planner(outcome: &'static str, took: Duration) {
    metrics::histogram!(PLANNER_LATENCY, "outcome" => outcome).record(took.as_secs_f64());
}
