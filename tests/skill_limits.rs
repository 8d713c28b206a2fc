//! Per-skill limits: a rate spaces runs evenly (on tokio's paused clock, exactly), a
//! concurrency limit holds however many plans run the skill, and limits are found by exact
//! name or by a pattern.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::rendezvous::Rendezvous;
use openmog::config::{Rate, SkillLimits};
use openmog::skills::{Echo, Skill, SkillContext, SkillError, SkillRegistry};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// Records when each run started (tokio time).
#[derive(Clone, Default)]
struct Stamp {
    starts: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

#[async_trait]
impl Skill for Stamp {
    fn name(&self) -> &str {
        "api.call"
    }
    fn description(&self) -> &str {
        "stamps"
    }
    fn args_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn run(&self, _args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        self.starts
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        Ok(json!({}))
    }
}

fn limits(name: &str, limit: SkillLimits) -> BTreeMap<String, SkillLimits> {
    BTreeMap::from([(name.to_owned(), limit)])
}

#[tokio::test(start_paused = true)]
async fn a_rate_spaces_runs_evenly() {
    let stamp = Stamp::default();
    let mut skills = SkillRegistry::new();
    skills.register(stamp.clone()).register(Echo);
    skills.limit(&limits(
        "api.*",
        SkillLimits {
            rate: Some(Rate::parse("2/s").unwrap()),
            concurrency: None,
        },
    ));
    let skill = Arc::clone(skills.get("api.call").unwrap());
    let runs = (0..4).map(|i| {
        let skill = Arc::clone(&skill);
        tokio::spawn(async move {
            skill
                .run(json!({}), SkillContext::detached(format!("p/s/{i}")))
                .await
        })
    });
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let starts = stamp.starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 4);
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(500),
            "{starts:?}"
        );
    }
    // Echo matches no entry: not wrapped, not slowed.
    assert_eq!(skills.get("echo").unwrap().name(), "echo");
}

#[tokio::test]
async fn a_concurrency_limit_holds_across_runs() {
    let meet = Rendezvous::new(3, Duration::from_millis(200));
    let mut skills = SkillRegistry::new();
    skills.register(meet.clone());
    skills.limit(&limits(
        "meet",
        SkillLimits {
            rate: None,
            concurrency: Some(2),
        },
    ));
    let skill = Arc::clone(skills.get("meet").unwrap());
    let runs: Vec<_> = (0..3)
        .map(|i| {
            let skill = Arc::clone(&skill);
            tokio::spawn(async move {
                skill
                    .run(
                        json!({"label": format!("{i}")}),
                        SkillContext::detached(format!("p/s/{i}")),
                    )
                    .await
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    assert_eq!(meet.most.load(Ordering::SeqCst), 2, "never three at once");
    assert_eq!(meet.met.lock().unwrap().len(), 3, "all ran");
}
