//! Per-skill rate and concurrency limits, as a layer around a skill (configured in
//! `[skills.limits]`): a run waits for its turn — the step's own timeout still bounds the
//! whole wait — rather than failing, so a burst of plans is spread out, not refused.

use std::sync::Arc;

use async_trait::async_trait;
use governor::RateLimiter;
use governor::clock::Clock as _;
use governor::state::InMemoryState;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::{Skill, SkillContext, SkillError};
use crate::channel::TokioClock;
use crate::channel::paced::{Direct, quota};
use crate::config::SkillLimits;

/// A skill with limits.
pub struct Limited {
    inner: Arc<dyn Skill>,
    rate: Option<Direct>,
    slots: Option<Arc<Semaphore>>,
    clock: TokioClock,
}

impl Limited {
    /// `inner`, limited by `limits`.
    pub fn new(inner: Arc<dyn Skill>, limits: SkillLimits) -> Self {
        let clock = TokioClock::default();
        Limited {
            inner,
            rate: limits
                .rate
                .map(|rate| RateLimiter::new(quota(rate), InMemoryState::default(), clock)),
            slots: limits
                .concurrency
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            clock,
        }
    }
}

#[async_trait]
impl Skill for Limited {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn description(&self) -> &str {
        self.inner.description()
    }

    fn args_schema(&self) -> Value {
        self.inner.args_schema()
    }

    fn risk(&self) -> super::Risk {
        self.inner.risk()
    }

    fn validate(&self, args: &Value) -> Result<(), SkillError> {
        self.inner.validate(args)
    }

    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        // A slot first: a run waiting for a slot must not use up a rate turn meanwhile.
        let _slot = match &self.slots {
            Some(slots) => Some(
                Arc::clone(slots)
                    .acquire_owned()
                    .await
                    .map_err(|_| SkillError::Failed("the skill is shutting down".into()))?,
            ),
            None => None,
        };
        if let Some(rate) = &self.rate {
            while let Err(not_until) = rate.check() {
                tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
            }
        }
        self.inner.run(args, ctx).await
    }
}
