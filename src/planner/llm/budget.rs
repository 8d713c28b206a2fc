//! Token budgets for planning: per request (over all its tries) and per UTC day. Kept in
//! memory: a restart starts the day's count afresh.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The day's spending.
#[derive(Debug)]
pub(super) struct DailyBudget {
    limit: u64,
    spent: Mutex<(u64, u64)>,
}

impl DailyBudget {
    /// A budget of `limit` tokens a day.
    pub(super) fn new(limit: u64) -> Self {
        DailyBudget {
            limit,
            spent: Mutex::new((today(), 0)),
        }
    }

    /// Tokens left today.
    pub(super) fn left(&self) -> u64 {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        roll(&mut spent);
        self.limit.saturating_sub(spent.1)
    }

    /// Records `tokens` spent.
    pub(super) fn spend(&self, tokens: u64) {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        roll(&mut spent);
        spent.1 = spent.1.saturating_add(tokens);
    }

    /// The daily limit.
    pub(super) fn limit(&self) -> u64 {
        self.limit
    }
}

/// Starts a new count when the day changed.
fn roll(spent: &mut (u64, u64)) {
    let day = today();
    if spent.0 != day {
        *spent = (day, 0);
    }
}

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}
