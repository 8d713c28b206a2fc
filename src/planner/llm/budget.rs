//! Token budgets for planning: per plan (kept on the plan) and per UTC day. The day's count
//! is kept in the store where there is one (as the `planner` state), so a restart does not
//! hand out a fresh allowance.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;

use crate::channel::ChannelState;

/// The day's spending.
#[derive(Debug)]
pub(super) struct DailyBudget {
    limit: u64,
    store: Option<ChannelState>,
    /// The day the count is for, and the count; `None` until read from the store.
    spent: Mutex<Option<(u64, u64)>>,
}

impl DailyBudget {
    /// A budget of `limit` tokens a day, counted in `store` if given.
    pub(super) fn new(limit: u64, store: Option<ChannelState>) -> Self {
        DailyBudget {
            limit,
            store,
            spent: Mutex::new(None),
        }
    }

    /// Tokens left today.
    pub(super) async fn left(&self) -> u64 {
        let mut spent = self.spent.lock().await;
        let today = self.current(&mut spent).await;
        self.limit.saturating_sub(today)
    }

    /// Records `tokens` spent.
    pub(super) async fn spend(&self, tokens: u64) {
        let mut spent = self.spent.lock().await;
        let total = self.current(&mut spent).await.saturating_add(tokens);
        let day = today();
        *spent = Some((day, total));
        if let Some(store) = &self.store
            && let Err(err) = store.put(&key(day), &total).await
        {
            // The count in memory still holds until a restart.
            tracing::warn!(error = %err, "cannot record the day's planning tokens");
        }
    }

    /// The daily limit.
    pub(super) fn limit(&self) -> u64 {
        self.limit
    }

    /// Today's count: from memory, or from the store the first time today.
    async fn current(&self, spent: &mut Option<(u64, u64)>) -> u64 {
        let day = today();
        if let Some((known, count)) = *spent
            && known == day
        {
            return count;
        }
        let stored = match &self.store {
            Some(store) => store.get::<u64>(&key(day)).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot read the day's planning tokens");
                None
            }),
            None => None,
        };
        let count = stored.unwrap_or(0);
        *spent = Some((day, count));
        count
    }
}

fn key(day: u64) -> String {
    format!("llm.tokens:{day}")
}

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}
