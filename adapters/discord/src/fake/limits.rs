//! Rate limits of the fake Discord: sliding windows of message creates and edits.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::Limits;

/// Requests older than `period - RATE_TOLERANCE` no longer count against a window. The slack
/// absorbs loopback scheduling jitter: a client that waits exactly one period between requests may
/// arrive a few milliseconds "early" as measured here.
pub(super) const RATE_TOLERANCE: Duration = Duration::from_millis(25);

/// What a request that passed the limits is told about its bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Admitted {
    /// Requests allowed per period in the reported bucket.
    pub(super) limit: u32,
    /// Requests left in the current window of the reported bucket.
    pub(super) remaining: u32,
    /// Time until the window of the reported bucket has room again.
    pub(super) reset_after: Duration,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Blocked {
    /// How long until the request would be allowed.
    pub(super) wait: Duration,
    /// Whether the global limit (rather than the channel's) is the one that blocks longest.
    pub(super) global: bool,
}

/// The per-channel and global windows.
#[derive(Default)]
pub(super) struct RateWindows {
    channel: HashMap<u64, VecDeque<Instant>>,
    global: VecDeque<Instant>,
}

impl RateWindows {
    /// Records a request for `channel` at `now` if every applicable limit allows it; otherwise
    /// returns how long until it would be allowed (and records nothing).
    pub(super) fn admit(
        &mut self,
        limits: &Limits,
        channel: u64,
        now: Instant,
    ) -> Result<Admitted, Blocked> {
        let channel_window = self.channel.entry(channel).or_default();
        let channel_wait = match limits.per_channel {
            Some((count, period)) => window_wait(channel_window, count, period, now),
            None => None,
        };
        let global_wait = match limits.global {
            Some((count, period)) => window_wait(&mut self.global, count, period, now),
            None => None,
        };
        if channel_wait.is_some() || global_wait.is_some() {
            let global = global_wait.is_some() && global_wait >= channel_wait;
            let wait = channel_wait.max(global_wait).unwrap_or_default();
            return Err(Blocked { wait, global });
        }
        if limits.per_channel.is_some() {
            channel_window.push_back(now);
        }
        if limits.global.is_some() {
            self.global.push_back(now);
        }
        let reported = match (limits.per_channel, limits.global) {
            (Some(limit), _) => Some((channel_window, limit)),
            (None, Some(limit)) => Some((&mut self.global, limit)),
            (None, None) => None,
        };
        Ok(match reported {
            Some((window, (count, period))) => {
                let span = period.saturating_sub(RATE_TOLERANCE);
                let used = u32::try_from(window.len()).unwrap_or(u32::MAX);
                let reset_after = window.front().map_or(Duration::ZERO, |&first| {
                    span.saturating_sub(now.saturating_duration_since(first))
                });
                Admitted {
                    limit: count,
                    remaining: count.saturating_sub(used),
                    reset_after,
                }
            }
            None => Admitted {
                limit: 1000,
                remaining: 999,
                reset_after: Duration::from_secs(1),
            },
        })
    }
}

/// Drops expired requests from `window`; if it already holds `count` requests within `period`
/// (minus [`RATE_TOLERANCE`]), returns how long until one more would fit.
pub(super) fn window_wait(
    window: &mut VecDeque<Instant>,
    count: u32,
    period: Duration,
    now: Instant,
) -> Option<Duration> {
    let span = period.saturating_sub(RATE_TOLERANCE);
    while window
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= span)
    {
        window.pop_front();
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX).max(1);
    if window.len() < count {
        return None;
    }
    let pivot = window[window.len() - count];
    Some(
        span.saturating_sub(now.saturating_duration_since(pivot))
            .max(Duration::from_millis(1)),
    )
}

/// `retry_after` in seconds, rounded up to the millisecond.
pub(super) fn retry_secs(wait: Duration) -> f64 {
    let millis = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX).max(1);
    f64::from(millis) / 1000.0
}

/// The `Retry-After` header value for a wait of `secs`: whole seconds, rounded up.
pub(super) fn retry_header(secs: f64) -> String {
    secs.max(0.0).ceil().to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};

    use super::super::Limits;
    use super::{RATE_TOLERANCE, RateWindows, retry_header, retry_secs, window_wait};

    #[test]
    fn window_allows_count_then_waits_with_tolerance() {
        let t0 = Instant::now();
        let period = Duration::from_secs(1);
        let mut window = VecDeque::new();
        assert_eq!(window_wait(&mut window, 2, period, t0), None);
        window.push_back(t0);
        assert_eq!(window_wait(&mut window, 2, period, t0), None);
        window.push_back(t0 + Duration::from_millis(100));
        let at = t0 + Duration::from_millis(200);
        assert_eq!(
            window_wait(&mut window, 2, period, at),
            Some(period - RATE_TOLERANCE - Duration::from_millis(200))
        );
        let later = t0 + period - RATE_TOLERANCE;
        assert_eq!(window_wait(&mut window, 2, period, later), None);
        assert_eq!(window.len(), 1);
    }

    #[test]
    fn channel_and_global_limits_apply_separately() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let limits = Limits {
            per_channel: Some((2, Duration::from_secs(1))),
            global: Some((3, Duration::from_secs(1))),
        };
        let mut windows = RateWindows::default();
        let first = windows.admit(&limits, 1, t0).expect("first send");
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert!(windows.admit(&limits, 1, t0 + ms(1)).is_ok());
        let blocked = windows
            .admit(&limits, 1, t0 + ms(2))
            .expect_err("third in a channel");
        assert!(!blocked.global);
        assert!(blocked.wait > ms(900));
        assert!(windows.admit(&limits, 2, t0 + ms(3)).is_ok());
        let blocked = windows
            .admit(&limits, 3, t0 + ms(4))
            .expect_err("fourth overall");
        assert!(blocked.global);
        assert!(windows.admit(&limits, 3, t0 + ms(1000)).is_ok());
    }

    #[test]
    fn no_limits_never_block() {
        let t0 = Instant::now();
        let mut windows = RateWindows::default();
        for _ in 0..100 {
            assert!(windows.admit(&Limits::none(), 7, t0).is_ok());
        }
    }

    #[test]
    fn retry_values_round_up() {
        assert!((retry_secs(Duration::from_micros(1500)) - 0.001).abs() < 1e-9);
        assert!((retry_secs(Duration::from_millis(250)) - 0.25).abs() < 1e-9);
        assert_eq!(retry_header(0.25), "1");
        assert_eq!(retry_header(2.0), "2");
        assert_eq!(retry_header(2.001), "3");
    }
}
