//! `memory.remember` and `memory.recall`: durable notes in the store, found again by their
//! words. A note is data: whoever reads it back (a person, a planner) reads it as data.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Risk, Skill, SkillContext, SkillError};
use crate::clock::SharedClock;
use crate::domain::Note;
use crate::store::SharedStore;

/// The longest note kept, in characters.
const MAX_NOTE_CHARS: usize = 4_000;
/// The most notes one recall returns.
const MAX_RECALL: usize = 50;

/// Keeps a note.
#[derive(Clone)]
pub struct Remember {
    store: SharedStore,
    clock: SharedClock,
}

impl Remember {
    /// Keeps notes in `store`, timed by `clock`.
    pub fn new(store: SharedStore, clock: SharedClock) -> Self {
        Remember { store, clock }
    }
}

#[async_trait]
impl Skill for Remember {
    fn risk(&self) -> Risk {
        Risk::Medium
    }

    fn name(&self) -> &str {
        "memory.remember"
    }

    fn description(&self) -> &str {
        "Keeps a note that later plans can find by its words (at most 4000 characters). Arguments: text."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"text": {"type": "string", "description": "the note"}},
            "required": ["text"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        let text = args["text"]
            .as_str()
            .ok_or_else(|| SkillError::InvalidArgs("`text` must be a string".into()))?
            .trim();
        if text.is_empty() {
            return Err(SkillError::InvalidArgs("`text` is empty".into()));
        }
        if text.chars().count() > MAX_NOTE_CHARS {
            return Err(SkillError::InvalidArgs(format!(
                "`text` is longer than {MAX_NOTE_CHARS} characters"
            )));
        }
        // One note per step: a retried step finds its note already kept.
        let note = Note {
            id: format!("{}/{}", ctx.plan, ctx.step),
            text: text.to_owned(),
            author: ctx.requester,
            plan: ctx.plan,
            created_at: self.clock.now(),
        };
        self.store
            .note_put(&note)
            .await
            .map_err(|err| SkillError::Failed(format!("cannot keep the note: {err}")))?;
        Ok(json!({"note": note.id}))
    }
}

/// Finds notes by their words.
#[derive(Clone)]
pub struct Recall {
    store: SharedStore,
}

impl Recall {
    /// Finds notes in `store`.
    pub fn new(store: SharedStore) -> Self {
        Recall { store }
    }
}

#[async_trait]
impl Skill for Recall {
    fn risk(&self) -> Risk {
        Risk::Low
    }

    fn name(&self) -> &str {
        "memory.recall"
    }

    fn description(&self) -> &str {
        "Finds kept notes containing every word of the query, newest first. Arguments: query, limit (default 10, at most 50)."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "words the notes must all contain"},
                "limit": {"type": "integer", "description": "the most notes returned"}
            },
            "required": ["query"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let query = args["query"]
            .as_str()
            .ok_or_else(|| SkillError::InvalidArgs("`query` must be a string".into()))?;
        let words: Vec<String> = query.split_whitespace().map(str::to_owned).collect();
        let limit = args
            .get("limit")
            .and_then(Value::as_u64)
            .map_or(10, |n| usize::try_from(n).unwrap_or(MAX_RECALL))
            .clamp(1, MAX_RECALL);
        let notes = self
            .store
            .notes_search(&words, limit)
            .await
            .map_err(|err| SkillError::Failed(format!("cannot search the notes: {err}")))?;
        let notes: Vec<Value> = notes
            .into_iter()
            .map(|n| json!({"text": n.text, "author": n.author, "plan": n.plan, "created_at": n.created_at.0}))
            .collect();
        Ok(json!({"notes": notes}))
    }
}
