//! Outbound pacing as a layer around any channel: per chat, per group chat and per channel,
//! with governor, on tokio's clock (so tests can pause time and see exact spacing). This is
//! the one limiter that decides the pace; adapters must not add another.

use std::time::Duration;

use async_trait::async_trait;
use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use super::{Channel, InboundSink, PaceScope, ReceiveError, SendError};
use crate::config::{Pacing, Rate};
use crate::domain::{Capabilities, ConversationRef, Outbound, SentRef};

/// Tokio's monotonic clock for governor: paused tokio time pauses pacing too.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl GovernorClock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, TokioClock, NoOpMiddleware<Duration>>;
/// A limiter with one budget, on tokio's clock.
pub(crate) type Direct = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// Spaces messages: at most `per_conversation` to one chat, `per_group` to one group chat,
/// `per_channel` through the channel, and never more than `cap` in its window. Bursts are
/// one message (except under `cap`): steady spacing never trips a platform's short-window
/// limits. Typing indicators take a channel-wide turn.
pub struct Paced<C> {
    inner: C,
    pacing: Pacing,
    per_conversation: Keyed,
    per_group: Option<Keyed>,
    per_channel: Direct,
    cap: Option<Direct>,
    clock: TokioClock,
}

pub(crate) fn quota(rate: Rate) -> Quota {
    Quota::with_period(rate.interval().max(Duration::from_nanos(1)))
        .expect("a non-zero period")
        .allow_burst(std::num::NonZeroU32::MIN)
}

/// A cap of `count` per window as a cell rate: a burst of `b` and a steady `r` per window
/// admit at most `b + r` in any window, so `b = r = count / 2` never exceeds the count.
fn cap_quota(rate: Rate) -> Quota {
    let half = std::num::NonZeroU32::new(rate.count.get() / 2).unwrap_or(std::num::NonZeroU32::MIN);
    Quota::with_period((rate.per / half.get()).max(Duration::from_nanos(1)))
        .expect("a non-zero period")
        .allow_burst(half)
}

impl<C: Channel> Paced<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, pacing: Pacing) -> Self {
        let clock = TokioClock::default();
        Paced {
            inner,
            pacing,
            per_conversation: RateLimiter::new(
                quota(pacing.per_conversation),
                DefaultKeyedStateStore::default(),
                clock,
            ),
            per_group: pacing.per_group.map(|rate| {
                RateLimiter::new(quota(rate), DefaultKeyedStateStore::default(), clock)
            }),
            per_channel: RateLimiter::new(
                quota(pacing.per_channel),
                InMemoryState::default(),
                clock,
            ),
            cap: pacing
                .cap
                .map(|rate| RateLimiter::new(cap_quota(rate), InMemoryState::default(), clock)),
            clock,
        }
    }

    /// The pacing in force.
    pub fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// Waits until every limiter that applies allows one more message to `conversation`.
    async fn wait_turn(&self, conversation: &ConversationRef) -> Duration {
        let scope = self.inner.pace_scope(conversation);
        let mut waited = self.wait_keyed(&self.per_conversation, &scope.chat).await;
        if scope.group
            && let Some(per_group) = &self.per_group
        {
            waited += self.wait_keyed(per_group, &scope.chat).await;
        }
        waited += self.wait_channel().await;
        if !waited.is_zero() {
            tracing::debug!(
                channel = self.inner.name(),
                conversation = %conversation.id,
                group = scope.group,
                waited_ms = waited.as_millis() as u64,
                "paced"
            );
        }
        waited
    }

    async fn wait_keyed(&self, limiter: &Keyed, key: &String) -> Duration {
        let mut waited = Duration::ZERO;
        while let Err(not_until) = limiter.check_key(key) {
            let wait = not_until.wait_time_from(self.clock.now());
            waited += wait;
            tokio::time::sleep(wait).await;
        }
        waited
    }

    async fn wait_channel(&self) -> Duration {
        let mut waited = self.wait_direct(&self.per_channel).await;
        if let Some(cap) = &self.cap {
            waited += self.wait_direct(cap).await;
        }
        waited
    }

    async fn wait_direct(&self, limiter: &Direct) -> Duration {
        let mut waited = Duration::ZERO;
        while let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(self.clock.now());
            waited += wait;
            tokio::time::sleep(wait).await;
        }
        waited
    }
}

#[async_trait]
impl<C: Channel> Channel for Paced<C> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        self.inner.receive(sink, shutdown).await
    }

    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        let waited = self.wait_turn(&message.conversation).await;
        crate::metrics::pacing_wait(self.inner.name(), waited);
        self.inner.send(message).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn measure(&self, text: &str) -> usize {
        self.inner.measure(text)
    }

    fn pace_scope(&self, conversation: &ConversationRef) -> PaceScope {
        self.inner.pace_scope(conversation)
    }

    /// A typing indicator waits for a channel-wide turn; the executor drops the wait if
    /// the step ends first.
    async fn working(&self, conversation: &ConversationRef) -> Result<(), SendError> {
        self.wait_channel().await;
        self.inner.working(conversation).await
    }

    async fn probe(&self) -> Result<String, super::ProbeFailure> {
        self.inner.probe().await
    }

    fn receives_everywhere(&self) -> bool {
        self.inner.receives_everywhere()
    }
}
