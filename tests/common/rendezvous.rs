//! A skill that shows whether steps ran at the same time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use openmog::skills::{Skill, SkillContext, SkillError};
use serde_json::{Value, json};

/// A skill that waits (up to `patience`) until `expected` runs are inside it at once, and
/// records the most that ever were.
#[derive(Clone)]
pub struct Rendezvous {
    expected: usize,
    patience: Duration,
    inside: Arc<AtomicUsize>,
    /// The most runs that were ever inside at once.
    pub most: Arc<AtomicUsize>,
    /// The labels of the runs that finished.
    pub met: Arc<Mutex<Vec<String>>>,
}

impl Rendezvous {
    pub fn new(expected: usize, patience: Duration) -> Self {
        Rendezvous {
            expected,
            patience,
            inside: Arc::default(),
            most: Arc::default(),
            met: Arc::default(),
        }
    }
}

#[async_trait]
impl Skill for Rendezvous {
    fn name(&self) -> &str {
        "meet"
    }

    fn description(&self) -> &str {
        "waits for company"
    }

    fn args_schema(&self) -> Value {
        json!({"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]})
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let now_inside = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now_inside, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + self.patience;
        while self.most.load(Ordering::SeqCst) < self.expected
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.inside.fetch_sub(1, Ordering::SeqCst);
        let label = args["label"].as_str().unwrap_or_default().to_owned();
        self.met.lock().unwrap().push(label.clone());
        Ok(json!({"met": label, "company": self.most.load(Ordering::SeqCst)}))
    }
}
