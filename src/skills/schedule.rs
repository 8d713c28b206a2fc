//! `schedule.at` and `schedule.every`: durable timers that ask for a plan later, on behalf
//! of whoever asked for the plan that set them, in the same conversation. Timers live in
//! the store, so they fire after a restart; the engine's timer loop fires them.
//! `schedule.list` and `schedule.cancel` see and stop the timers of their own conversation.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Risk, Skill, SkillContext, SkillError};
use crate::clock::{SharedClock, Timestamp};
use crate::config::ConfigDuration;
use crate::domain::Timer;
use crate::store::SharedStore;

/// The shortest period of a repeating timer: a typo must not make a plan a second.
const MIN_PERIOD: Duration = Duration::from_secs(60);
/// The longest request a timer keeps, in characters.
const MAX_REQUEST_CHARS: usize = 2_000;

/// Sets a timer that fires once.
#[derive(Clone)]
pub struct ScheduleAt {
    store: SharedStore,
    clock: SharedClock,
}

/// Sets a timer that fires every period.
#[derive(Clone)]
pub struct ScheduleEvery {
    store: SharedStore,
    clock: SharedClock,
}

impl ScheduleAt {
    /// Sets timers in `store`, timed by `clock`.
    pub fn new(store: SharedStore, clock: SharedClock) -> Self {
        ScheduleAt { store, clock }
    }
}

impl ScheduleEvery {
    /// Sets timers in `store`, timed by `clock`.
    pub fn new(store: SharedStore, clock: SharedClock) -> Self {
        ScheduleEvery { store, clock }
    }
}

#[async_trait]
impl Skill for ScheduleAt {
    fn risk(&self) -> Risk {
        Risk::Medium
    }

    fn name(&self) -> &str {
        "schedule.at"
    }

    fn description(&self) -> &str {
        "Asks for a plan once, later, in this conversation, on behalf of the requester. Arguments: request, and either at (RFC 3339 time) or in (a duration like 30m, 2h, 1d)."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "request": {"type": "string", "description": "what to ask for when it fires"},
                "at": {"type": "string", "description": "when, e.g. 2026-12-01T09:00:00Z"},
                "in": {"type": "string", "description": "or how long from now, e.g. 30m"}
            },
            "required": ["request"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        let now = self.clock.now();
        let due = match (
            args.get("at").and_then(Value::as_str),
            args.get("in").and_then(Value::as_str),
        ) {
            (Some(at), None) => parse_time(at)?,
            (None, Some(after)) => now.after(parse_duration("in", after)?),
            _ => {
                return Err(SkillError::InvalidArgs(
                    "give exactly one of `at` and `in`".into(),
                ));
            }
        };
        if due < now {
            return Err(SkillError::InvalidArgs(format!(
                "`at` is in the past ({})",
                format_time(due)
            )));
        }
        set(&self.store, &args, &ctx, due, None).await
    }
}

#[async_trait]
impl Skill for ScheduleEvery {
    fn risk(&self) -> Risk {
        Risk::Medium
    }

    fn name(&self) -> &str {
        "schedule.every"
    }

    fn description(&self) -> &str {
        "Asks for a plan every period (at least 1m), in this conversation, on behalf of the requester; the first time after one period, or after `start_in`. Arguments: request, every, start_in."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "request": {"type": "string", "description": "what to ask for each time"},
                "every": {"type": "string", "description": "the period, e.g. 1d"},
                "start_in": {"type": "string", "description": "when first, e.g. 5m (default: one period)"}
            },
            "required": ["request", "every"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        let every = parse_duration("every", args["every"].as_str().unwrap_or_default())?;
        if every < MIN_PERIOD {
            return Err(SkillError::InvalidArgs(format!(
                "`every` is at least {}",
                ConfigDuration(MIN_PERIOD)
            )));
        }
        let first = match args.get("start_in").and_then(Value::as_str) {
            Some(start) => parse_duration("start_in", start)?,
            None => every,
        };
        let due = self.clock.now().after(first);
        let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        set(&self.store, &args, &ctx, due, Some(every_ms)).await
    }
}

/// Lists this conversation's timers.
#[derive(Clone)]
pub struct ScheduleList {
    store: SharedStore,
}

/// Cancels one of this conversation's timers.
#[derive(Clone)]
pub struct ScheduleCancel {
    store: SharedStore,
}

impl ScheduleList {
    /// Lists timers in `store`.
    pub fn new(store: SharedStore) -> Self {
        ScheduleList { store }
    }
}

impl ScheduleCancel {
    /// Cancels timers in `store`.
    pub fn new(store: SharedStore) -> Self {
        ScheduleCancel { store }
    }
}

/// The most timers one listing shows.
const MAX_LISTED: usize = 200;

/// The timers set in `conversation`: a conversation sees and cancels only its own.
async fn timers_of(
    store: &SharedStore,
    conversation: &crate::domain::ConversationRef,
) -> Result<Vec<Timer>, SkillError> {
    let all = store
        .timers(usize::MAX)
        .await
        .map_err(|err| SkillError::Failed(format!("cannot list the timers: {err}")))?;
    Ok(all
        .into_iter()
        .filter(|t| &t.conversation == conversation)
        .collect())
}

#[async_trait]
impl Skill for ScheduleList {
    fn name(&self) -> &str {
        "schedule.list"
    }

    fn description(&self) -> &str {
        "Lists the timers set in this conversation, soonest first. No arguments."
    }

    fn risk(&self) -> Risk {
        Risk::Low
    }

    fn args_schema(&self) -> Value {
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    }

    async fn run(&self, _args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        let timers: Vec<Value> = timers_of(&self.store, &ctx.conversation)
            .await?
            .into_iter()
            .take(MAX_LISTED)
            .map(|t| {
                json!({
                    "timer": t.id,
                    "request": t.request,
                    "due_at": format_time(t.due_at),
                    "every": t.every_ms.map(|ms| ConfigDuration(Duration::from_millis(ms)).to_string()),
                    "requester": t.requester,
                })
            })
            .collect();
        Ok(json!({"timers": timers}))
    }
}

#[async_trait]
impl Skill for ScheduleCancel {
    fn name(&self) -> &str {
        "schedule.cancel"
    }

    fn description(&self) -> &str {
        "Cancels a timer set in this conversation (its id as schedule.list shows it). Arguments: timer."
    }

    fn risk(&self) -> Risk {
        Risk::Medium
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"timer": {"type": "string", "description": "the timer's id"}},
            "required": ["timer"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, ctx: SkillContext) -> Result<Value, SkillError> {
        let id = args["timer"]
            .as_str()
            .ok_or_else(|| SkillError::InvalidArgs("`timer` must be a string".into()))?;
        if !timers_of(&self.store, &ctx.conversation)
            .await?
            .iter()
            .any(|t| t.id == id)
        {
            return Err(SkillError::Refused(format!(
                "there is no timer `{id}` in this conversation"
            )));
        }
        let cancelled = self
            .store
            .timer_cancel(id)
            .await
            .map_err(|err| SkillError::Failed(format!("cannot cancel the timer: {err}")))?;
        Ok(json!({"timer": id, "cancelled": cancelled}))
    }
}

/// Stores the timer (one per step: a retried step finds it set) and says when it fires.
async fn set(
    store: &SharedStore,
    args: &Value,
    ctx: &SkillContext,
    due: Timestamp,
    every_ms: Option<u64>,
) -> Result<Value, SkillError> {
    let request = args["request"]
        .as_str()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| SkillError::InvalidArgs("`request` must be a non-empty string".into()))?;
    if request.chars().count() > MAX_REQUEST_CHARS {
        return Err(SkillError::InvalidArgs(format!(
            "`request` is longer than {MAX_REQUEST_CHARS} characters"
        )));
    }
    let timer = Timer {
        id: format!("{}/{}", ctx.plan, ctx.step),
        due_at: due,
        every_ms,
        request: request.to_owned(),
        conversation: ctx.conversation.clone(),
        requester: ctx.requester.clone(),
        plan: ctx.plan.clone(),
    };
    store
        .timer_put(&timer)
        .await
        .map_err(|err| SkillError::Failed(format!("cannot set the timer: {err}")))?;
    Ok(json!({
        "timer": timer.id,
        "due_at": format_time(due),
        "every": every_ms.map(|ms| ConfigDuration(Duration::from_millis(ms)).to_string()),
    }))
}

fn parse_duration(key: &str, text: &str) -> Result<Duration, SkillError> {
    ConfigDuration::parse(text)
        .map(|d| d.0)
        .map_err(|why| SkillError::InvalidArgs(format!("`{key}`: {why}")))
}

fn parse_time(text: &str) -> Result<Timestamp, SkillError> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Timestamp(t.timestamp_millis()))
        .map_err(|err| {
            SkillError::InvalidArgs(format!(
                "`at` is not an RFC 3339 time like 2026-12-01T09:00:00Z: {err}"
            ))
        })
}

fn format_time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.0).map_or_else(
        || t.0.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_and_written_in_rfc_3339() {
        let t = parse_time("2026-12-01T09:00:00+01:00").unwrap();
        assert_eq!(format_time(t), "2026-12-01T08:00:00Z");
        assert!(parse_time("tomorrow").is_err());
        assert!(parse_duration("in", "30m").is_ok());
        assert!(parse_duration("in", "soon").is_err());
    }
}
