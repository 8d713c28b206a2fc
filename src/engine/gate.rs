//! The inbound gate: what every event passes before anyone reads it — its size, the
//! sender's and the conversation's rates, and what an unknown sender gets (nothing, an
//! answer, or a pairing code), each answer itself rate-limited.

use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::channel::TokioClock;
use crate::config::{InboundLimits, Rate, UnknownSenders};
use crate::domain::{Inbound, InboundKind};

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, TokioClock, NoOpMiddleware<Duration>>;

/// The count of a rate as a burst that refills steadily: `count` events at once, then one
/// every `per / count`.
fn bursting(rate: Rate) -> Quota {
    Quota::with_period(rate.interval().max(Duration::from_nanos(1)))
        .expect("a non-zero period")
        .allow_burst(rate.count)
}

/// One notice per window: how often someone who is being dropped is told so.
fn once_per(rate: Rate) -> Quota {
    Quota::with_period(rate.per.max(Duration::from_nanos(1))).expect("a non-zero period")
}

/// Why an event is turned away at the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Turned {
    /// Its text is longer than `limits.inbound.max_text_bytes`.
    TooLong { bytes: usize, max: usize },
    /// Its sender, or its conversation, is over the rate; `tell` is set for the first
    /// drop of a window, so a flood gets one notice and one audit record, not one each.
    Limited { scope: &'static str, tell: bool },
}

/// The inbound limiters of one engine (per process).
pub(super) struct Gate {
    limits: InboundLimits,
    per_sender: Keyed,
    per_conversation: Keyed,
    limited_notices: Keyed,
    unknown_answers: Keyed,
}

impl Gate {
    pub(super) fn new(limits: &InboundLimits, unknown: &UnknownSenders) -> Self {
        let clock = TokioClock::default();
        let keyed = |quota| RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock);
        Gate {
            limits: limits.clone(),
            per_sender: keyed(bursting(limits.per_sender)),
            per_conversation: keyed(bursting(limits.per_conversation)),
            limited_notices: keyed(once_per(limits.per_sender)),
            unknown_answers: keyed(bursting(unknown.answers)),
        }
    }

    /// Checks `event`'s size and rates. Events the engine made itself (timers) pass.
    pub(super) fn check(&self, event: &Inbound) -> Result<(), Turned> {
        let text = match &event.kind {
            InboundKind::Scheduled { .. } => return Ok(()),
            InboundKind::Message { text } => Some(text.as_str()),
            InboundKind::Decision { comment, .. } => comment.as_deref(),
            InboundKind::Refused { .. } => None,
        };
        if let Some(text) = text
            && text.len() > self.limits.max_text_bytes
        {
            return Err(Turned::TooLong {
                bytes: text.len(),
                max: self.limits.max_text_bytes,
            });
        }
        let sender = sender_key(event);
        let scope = if self.per_sender.check_key(&sender).is_err() {
            "sender"
        } else if self
            .per_conversation
            .check_key(&event.conversation.to_string())
            .is_err()
        {
            "conversation"
        } else {
            return Ok(());
        };
        let tell = self.limited_notices.check_key(&sender).is_ok();
        Err(Turned::Limited { scope, tell })
    }

    /// Whether an unknown sender may be answered now.
    pub(super) fn may_answer_unknown(&self, event: &Inbound) -> bool {
        self.unknown_answers.check_key(&sender_key(event)).is_ok()
    }

    /// Forgets senders idle long enough to have their whole budget back.
    pub(super) fn forget_idle(&self) {
        self.per_sender.retain_recent();
        self.per_conversation.retain_recent();
        self.limited_notices.retain_recent();
        self.unknown_answers.retain_recent();
    }
}

fn sender_key(event: &Inbound) -> String {
    format!(
        "{}\u{0}{}",
        event.conversation.channel, event.sender.user_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationRef, Sender};

    fn message(user: &str, chat: &str, text: &str) -> Inbound {
        Inbound {
            conversation: ConversationRef::new("tg", chat),
            sender: Sender {
                user_id: user.into(),
                display_name: user.into(),
            },
            event_id: format!("{user}-{chat}-{text}"),
            kind: InboundKind::Message { text: text.into() },
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_over_the_rate_is_turned_away_and_told_once_per_window() {
        let limits = InboundLimits {
            per_sender: Rate::parse("3/min").unwrap(),
            per_conversation: Rate::parse("100/min").unwrap(),
            max_text_bytes: 10,
        };
        let gate = Gate::new(&limits, &UnknownSenders::default());
        for _ in 0..3 {
            assert_eq!(gate.check(&message("u", "c", "hi")), Ok(()));
        }
        assert_eq!(
            gate.check(&message("u", "c", "hi")),
            Err(Turned::Limited {
                scope: "sender",
                tell: true
            })
        );
        assert_eq!(
            gate.check(&message("u", "c", "hi")),
            Err(Turned::Limited {
                scope: "sender",
                tell: false
            })
        );
        // Someone else in the same chat is not held back by the first sender.
        assert_eq!(gate.check(&message("v", "c", "hi")), Ok(()));
        // The budget refills: one event per 20 s.
        tokio::time::advance(Duration::from_secs(21)).await;
        assert_eq!(gate.check(&message("u", "c", "hi")), Ok(()));
        assert_eq!(
            gate.check(&message("u", "c", "far too long")),
            Err(Turned::TooLong { bytes: 12, max: 10 })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_conversation_over_its_rate_is_turned_away_whoever_writes() {
        let limits = InboundLimits {
            per_sender: Rate::parse("100/min").unwrap(),
            per_conversation: Rate::parse("2/min").unwrap(),
            max_text_bytes: 100,
        };
        let gate = Gate::new(&limits, &UnknownSenders::default());
        assert_eq!(gate.check(&message("a", "c", "1")), Ok(()));
        assert_eq!(gate.check(&message("b", "c", "2")), Ok(()));
        assert!(matches!(
            gate.check(&message("d", "c", "3")),
            Err(Turned::Limited {
                scope: "conversation",
                ..
            })
        ));
        assert_eq!(gate.check(&message("d", "other", "3")), Ok(()));
    }
}
