//! What outlives a plan: notes the agent keeps (`memory.remember`) and durable timers that
//! ask for a plan later (`schedule.at`, `schedule.every`).

use serde::{Deserialize, Serialize};

use super::{ContactId, ConversationRef, PlanId};
use crate::clock::Timestamp;

/// A durable note, found again by its words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Derived from the step that wrote it, so a retried step does not write it twice.
    pub id: String,
    /// The note (data: it is shown to planners as data, never obeyed).
    pub text: String,
    /// Whom the plan that wrote it acted for.
    pub author: ContactId,
    /// The plan that wrote it.
    pub plan: PlanId,
    /// When.
    pub created_at: Timestamp,
}

/// A durable timer: when due, `request` is asked in `conversation` on behalf of
/// `requester`, and planned like any request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Derived from the step that set it, so a retried step does not set it twice.
    pub id: String,
    /// When it next fires.
    pub due_at: Timestamp,
    /// For a repeating timer, the period in milliseconds.
    pub every_ms: Option<u64>,
    /// What is asked when it fires.
    pub request: String,
    /// Where.
    pub conversation: ConversationRef,
    /// On whose behalf.
    pub requester: ContactId,
    /// The plan that set it.
    pub plan: PlanId,
}

impl Timer {
    /// When it fires after firing at `fired` (`None`: it is done), skipping slots missed
    /// while nothing ran (`now`), so a long outage fires it once, not once per slot.
    pub fn next_after(&self, fired: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let every = self.every_ms.filter(|ms| *ms > 0)?;
        let every = i64::try_from(every).unwrap_or(i64::MAX);
        let behind = now.0.saturating_sub(fired.0).max(0);
        let slots = behind / every + 1;
        Some(Timestamp(
            fired.0.saturating_add(slots.saturating_mul(every)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(every_ms: Option<u64>) -> Timer {
        Timer {
            id: "t".into(),
            due_at: Timestamp(1_000),
            every_ms,
            request: "check".into(),
            conversation: ConversationRef::new("test", "room"),
            requester: ContactId("alice".into()),
            plan: PlanId::from("p-x"),
        }
    }

    #[test]
    fn a_repeating_timer_skips_the_slots_it_missed() {
        assert_eq!(
            timer(None).next_after(Timestamp(1_000), Timestamp(1_000)),
            None
        );
        let every = timer(Some(100));
        assert_eq!(
            every.next_after(Timestamp(1_000), Timestamp(1_000)),
            Some(Timestamp(1_100))
        );
        assert_eq!(
            every.next_after(Timestamp(1_000), Timestamp(1_050)),
            Some(Timestamp(1_100))
        );
        // Down for 3.5 periods: fired once now, next in the future.
        assert_eq!(
            every.next_after(Timestamp(1_000), Timestamp(1_350)),
            Some(Timestamp(1_400))
        );
    }
}
