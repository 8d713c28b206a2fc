//! Budgets for planning, in tokens and in money: per plan (kept on the plan) and per UTC
//! day. The day's spending is kept in the store where there is one (as the `planner`
//! state), so a restart does not hand out a fresh allowance.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::channel::ChannelState;
use crate::config::LlmPrice;

/// What planning spends: tokens, and money in millionths of the configured currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Spend {
    pub(super) tokens: u64,
    pub(super) micros: u64,
}

impl Spend {
    /// What a call with these token counts costs at `price`.
    pub(super) fn of_call(input: u64, output: u64, price: Option<&LlmPrice>) -> Spend {
        // A price per million tokens is a price in millionths per token.
        let micros = price.map_or(0.0, |p| {
            input as f64 * p.input_per_million + output as f64 * p.output_per_million
        });
        Spend {
            tokens: input.saturating_add(output),
            micros: micros.ceil() as u64,
        }
    }

    /// Both measures added.
    pub(super) fn plus(self, other: Spend) -> Spend {
        Spend {
            tokens: self.tokens.saturating_add(other.tokens),
            micros: self.micros.saturating_add(other.micros),
        }
    }

    /// What is left of `self` as a limit after `spent`.
    pub(super) fn minus(self, spent: Spend) -> Spend {
        Spend {
            tokens: self.tokens.saturating_sub(spent.tokens),
            micros: self.micros.saturating_sub(spent.micros),
        }
    }

    /// Why `self`, as what was spent, leaves nothing of `limit`: which measure ran out,
    /// in words; `None` while both have some left.
    pub(super) fn exhausts(self, limit: Spend) -> Option<String> {
        if self.tokens >= limit.tokens {
            Some(format!("{} of {} tokens", self.tokens, limit.tokens))
        } else if self.micros >= limit.micros {
            Some(format!(
                "{} of {} in cost",
                money(self.micros),
                money(limit.micros)
            ))
        } else {
            None
        }
    }
}

/// Millionths of the currency as a decimal amount, e.g. `0.0125`.
pub(super) fn money(micros: u64) -> String {
    let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    let trimmed = text.trim_end_matches('0');
    match trimmed.strip_suffix('.') {
        Some(whole) => format!("{whole}.00"),
        None if trimmed.len() - trimmed.find('.').unwrap_or(0) < 3 => format!("{trimmed}0"),
        None => trimmed.to_owned(),
    }
}

/// An amount of the currency in millionths, for a configured limit.
pub(super) fn micros(amount: Option<f64>) -> u64 {
    amount.map_or(u64::MAX, |a| (a * 1_000_000.0).round() as u64)
}

/// The day's spending.
#[derive(Debug)]
pub(super) struct DailyBudget {
    limit: Spend,
    store: Option<ChannelState>,
    /// The day the spending is for, and the spending; `None` until read from the store.
    spent: Mutex<Option<(u64, Spend)>>,
}

impl DailyBudget {
    /// A budget of `limit` a day, counted in `store` if given.
    pub(super) fn new(limit: Spend, store: Option<ChannelState>) -> Self {
        DailyBudget {
            limit,
            store,
            spent: Mutex::new(None),
        }
    }

    /// Why today's budget is used up (e.g. `300 of 300 tokens`), or `None` while some is
    /// left.
    pub(super) async fn exhausted(&self) -> Option<String> {
        let mut spent = self.spent.lock().await;
        self.current(&mut spent).await.exhausts(self.limit)
    }

    /// Records `spend`.
    pub(super) async fn spend(&self, spend: Spend) {
        let mut spent = self.spent.lock().await;
        let total = self.current(&mut spent).await.plus(spend);
        let day = today();
        *spent = Some((day, total));
        if let Some(store) = &self.store
            && let Err(err) = store.put(&key(day), &total).await
        {
            // The count in memory still holds until a restart.
            tracing::warn!(error = %err, "cannot record the day's planning spending");
        }
    }

    /// Today's spending: from memory, or from the store the first time today.
    async fn current(&self, spent: &mut Option<(u64, Spend)>) -> Spend {
        let day = today();
        if let Some((known, count)) = *spent
            && known == day
        {
            return count;
        }
        let stored = match &self.store {
            Some(store) => store.get::<Spend>(&key(day)).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot read the day's planning spending");
                None
            }),
            None => None,
        };
        let count = stored.unwrap_or_default();
        *spent = Some((day, count));
        count
    }
}

fn key(day: u64) -> String {
    format!("llm.spend:{day}")
}

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_costs_its_tokens_at_the_configured_price() {
        let price = LlmPrice {
            input_per_million: 3.0,
            output_per_million: 15.0,
        };
        let spend = Spend::of_call(1_000, 200, Some(&price));
        assert_eq!(spend.tokens, 1_200);
        // 1000 × 3 + 200 × 15 millionths.
        assert_eq!(spend.micros, 6_000);
        assert_eq!(Spend::of_call(1_000, 200, None).micros, 0);
    }

    #[test]
    fn the_first_measure_that_runs_out_is_named() {
        let limit = Spend {
            tokens: 1_000,
            micros: micros(Some(0.01)),
        };
        let some = Spend {
            tokens: 500,
            micros: 5_000,
        };
        assert_eq!(some.exhausts(limit), None);
        assert_eq!(
            some.plus(some).exhausts(limit).as_deref(),
            Some("1000 of 1000 tokens")
        );
        let dear = Spend {
            tokens: 10,
            micros: 12_500,
        };
        assert_eq!(
            dear.exhausts(limit).as_deref(),
            Some("0.0125 of 0.01 in cost")
        );
        assert_eq!(limit.minus(some).tokens, 500);
        assert_eq!(money(2_000_000), "2.00");
        assert_eq!(money(250_000), "0.25");
        assert_eq!(money(100_000), "0.10");
    }
}
