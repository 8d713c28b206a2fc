//! Rate limits of the fake Bot API: sliding windows of sends per chat, per group and overall.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::Limits;

/// Sends older than `period - RATE_TOLERANCE` no longer count against a window. The slack absorbs
/// loopback scheduling jitter: a client that waits exactly one period between sends may arrive a
/// few milliseconds "early" as measured here.
pub(super) const RATE_TOLERANCE: Duration = Duration::from_millis(25);

/// The per-chat, per-group and global send windows.
#[derive(Default)]
pub(super) struct RateWindows {
    chat: HashMap<i64, VecDeque<Instant>>,
    group: HashMap<i64, VecDeque<Instant>>,
    global: VecDeque<Instant>,
}

impl RateWindows {
    /// Records a send to `chat_id` at `now` if every applicable limit allows it; otherwise
    /// returns how long until it would be allowed (and records nothing).
    pub(super) fn admit(
        &mut self,
        limits: &Limits,
        chat_id: i64,
        now: Instant,
    ) -> Result<(), Duration> {
        let mut windows: Vec<(&mut VecDeque<Instant>, (u32, Duration))> = Vec::with_capacity(3);
        if let Some(limit) = limits.per_chat {
            windows.push((self.chat.entry(chat_id).or_default(), limit));
        }
        if chat_id < 0
            && let Some(limit) = limits.per_group
        {
            windows.push((self.group.entry(chat_id).or_default(), limit));
        }
        if let Some(limit) = limits.global {
            windows.push((&mut self.global, limit));
        }
        let wait = windows
            .iter_mut()
            .filter_map(|(window, (count, period))| window_wait(window, *count, *period, now))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (window, _) in windows {
            window.push_back(now);
        }
        Ok(())
    }
}

/// Drops expired sends from `window`; if it already holds `count` sends within `period` (minus
/// [`RATE_TOLERANCE`]), returns how long until one more would fit.
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
    Some(span.saturating_sub(now.saturating_duration_since(pivot)))
}

/// `retry_after` for a wait: whole seconds, rounded up, at least 1.
pub(super) fn retry_secs(wait: Duration) -> u32 {
    u32::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u32::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};

    use super::super::Limits;
    use super::{RATE_TOLERANCE, RateWindows, retry_secs, window_wait};

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
    fn windows_apply_per_chat_and_global_limits() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let limits = Limits::telegram();
        let mut windows = RateWindows::default();
        assert!(windows.admit(&limits, 5, t0).is_ok());
        let wait = windows.admit(&limits, 5, t0 + ms(10));
        assert_eq!(
            retry_secs(wait.expect_err("second send within a second")),
            1
        );
        assert!(windows.admit(&limits, 5, t0 + ms(980)).is_ok());
        for chat in 100..129 {
            assert!(windows.admit(&limits, chat, t0 + ms(990)).is_ok());
        }
        assert!(windows.admit(&limits, 200, t0 + ms(990)).is_err());
        assert_eq!(retry_secs(ms(1001)), 2);
    }

    #[test]
    fn groups_share_a_window_across_topics() {
        let t0 = Instant::now();
        let limits = Limits {
            per_group: Some((2, Duration::from_secs(60))),
            ..Limits::none()
        };
        let mut windows = RateWindows::default();
        assert!(windows.admit(&limits, -100, t0).is_ok());
        assert!(windows.admit(&limits, -100, t0).is_ok());
        assert!(windows.admit(&limits, -100, t0).is_err());
        assert!(windows.admit(&limits, -200, t0).is_ok());
        assert!(windows.admit(&limits, 7, t0).is_ok());
    }
}
