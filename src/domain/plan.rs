//! Plans: a versioned graph of steps, each a call of a skill, with post-conditions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApprovalId, ContactId, ConversationRef, PlanId, StepKey};
use crate::clock::Timestamp;

/// A plan as a planner proposes it, before policy and persistence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDraft {
    /// One line saying what the plan achieves.
    pub title: String,
    /// The steps, in the order they are shown.
    pub steps: Vec<StepDraft>,
    /// Language-model tokens spent producing this draft (0 for the rule planner); they
    /// count against the plan's budget.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tokens: u64,
    /// What producing this draft cost, in millionths of the configured currency (0 without
    /// prices); it counts against the plan's budget.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cost_micros: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One step of a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDraft {
    /// Unique within the plan.
    pub key: StepKey,
    /// The skill to call.
    pub skill: String,
    /// The skill's arguments. An object `{"$from": "<step>.output[.path]"}` anywhere inside is
    /// replaced, when the step runs, by that part of an earlier step's output; an object
    /// `{"$concat": [..]}` joins its parts as text.
    pub args: Value,
    /// Steps that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<StepKey>,
    /// Checked against the output before the step counts as done.
    #[serde(default)]
    pub post: Vec<PostCondition>,
}

/// A check on a step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum PostCondition {
    /// The output's `exit_code` equals this.
    ExitStatus {
        /// Expected exit code.
        equals: i64,
    },
    /// The output's `status` (HTTP) equals this.
    HttpStatus {
        /// Expected status.
        equals: u16,
    },
    /// The JSON value at `path` (dot-separated, in the output) equals `value`.
    JsonEquals {
        /// Dot-separated path into the output, e.g. `body.status`.
        path: String,
        /// Expected value.
        value: Value,
    },
    /// The value at `path` contains `value`: a substring of a string, an element of an array,
    /// or a key of an object.
    JsonContains {
        /// Dot-separated path into the output.
        path: String,
        /// What it must contain.
        value: Value,
    },
}

/// A reference from a step's arguments to an earlier step's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgRef {
    /// The step whose output is read.
    pub step: StepKey,
    /// Dot-separated path inside that output (empty: the whole output).
    pub path: String,
}

/// How policy judged a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum StepVerdict {
    /// Runs on its own.
    Auto,
    /// Waits for a human decision.
    Approve {
        /// Principals (`role:NAME` or a contact id) allowed to decide.
        approvers: Vec<String>,
        /// Distinct approvals needed.
        quorum: u32,
        /// How long the request stays open (milliseconds).
        timeout_ms: u64,
        /// What happens when it times out.
        on_timeout: super::OnTimeout,
        /// Whether a whole-plan approval may cover this step.
        whole_plan: bool,
        /// Index of the authorization rule that matched; none when the engine itself asks
        /// (a proposal from a purpose review needs its owner's approval).
        rule: Option<usize>,
    },
    /// Never runs.
    Forbid {
        /// Why, from configuration.
        reason: String,
    },
}

/// Lifecycle of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Dependencies not done yet.
    Waiting,
    /// Dependencies done; a human decision is pending.
    AwaitingApproval,
    /// May run now.
    Ready,
    /// Claimed by an executor holding a lease.
    Running,
    /// Ran and met its post-conditions.
    Succeeded,
    /// Ran and failed, timed out, or missed a post-condition.
    Failed,
    /// Its approval was denied or expired.
    Denied,
    /// A dependency failed or was denied.
    Skipped,
    /// The plan was cancelled or superseded before it ran.
    Cancelled,
}

impl StepState {
    /// No further transition will happen.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepState::Succeeded
                | StepState::Failed
                | StepState::Denied
                | StepState::Skipped
                | StepState::Cancelled
        )
    }

    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Waiting => "waiting",
            StepState::AwaitingApproval => "awaiting_approval",
            StepState::Ready => "ready",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Denied => "denied",
            StepState::Skipped => "skipped",
            StepState::Cancelled => "cancelled",
        }
    }
}

/// A step as stored: its draft, its verdict and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// What the planner asked for.
    pub draft: StepDraft,
    /// What policy said.
    pub verdict: StepVerdict,
    /// Where it is.
    pub state: StepState,
    /// The plan version that last changed this step's definition.
    pub since_version: u32,
    /// The approval guarding it, once asked.
    pub approval: Option<ApprovalId>,
    /// Number of times it was claimed; fences completions.
    pub attempt: u32,
    /// The executor holding it while running.
    pub lease_owner: Option<String>,
    /// When that lease runs out.
    pub lease_until: Option<Timestamp>,
    /// Output of a successful (or post-condition-failing) run.
    pub output: Option<Value>,
    /// Why it failed, was denied or skipped.
    pub error: Option<String>,
    /// When it started running.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal state.
    pub finished_at: Option<Timestamp>,
}

impl StepRecord {
    /// A fresh step record.
    pub fn new(draft: StepDraft, verdict: StepVerdict, version: u32) -> Self {
        StepRecord {
            draft,
            verdict,
            state: StepState::Waiting,
            since_version: version,
            approval: None,
            attempt: 0,
            lease_owner: None,
            lease_until: None,
            output: None,
            error: None,
            started_at: None,
            finished_at: None,
        }
    }

    /// The step's key.
    pub fn key(&self) -> &StepKey {
        &self.draft.key
    }
}

/// Lifecycle of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    /// Steps are running or waiting.
    Active,
    /// An approval timed out with `on_timeout = park`: waiting until someone answers.
    Parked,
    /// Every step succeeded.
    Succeeded,
    /// A step failed.
    Failed,
    /// An approval was denied or expired.
    Denied,
    /// Cancelled by a user.
    Cancelled,
    /// Policy forbids one of its steps; nothing ran.
    Rejected,
}

impl PlanState {
    /// No further transition will happen.
    pub fn is_terminal(self) -> bool {
        !matches!(self, PlanState::Active | PlanState::Parked)
    }

    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Active => "active",
            PlanState::Parked => "parked",
            PlanState::Succeeded => "succeeded",
            PlanState::Failed => "failed",
            PlanState::Denied => "denied",
            PlanState::Cancelled => "cancelled",
            PlanState::Rejected => "rejected",
        }
    }
}

/// A plan as stored: the aggregate that every change rewrites as a whole, guarded by
/// `revision` (optimistic concurrency: a save with a stale revision is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// The plan's id.
    pub id: PlanId,
    /// Bumped on every save; the store refuses a save whose expected revision is stale.
    pub revision: u64,
    /// Bumped when the steps are replaced by a replan.
    pub version: u32,
    /// The inbox event that asked for it: a second plan for the same request is refused.
    pub request_id: String,
    /// The request's text.
    pub request_text: String,
    /// Where it was asked, and where progress goes.
    pub conversation: ConversationRef,
    /// Who asked.
    pub requester: ContactId,
    /// The plan's title.
    pub title: String,
    /// Where it is.
    pub state: PlanState,
    /// Steps by key, in display order.
    pub steps: Vec<StepRecord>,
    /// Every approval ever asked for this plan, including settled ones.
    pub approvals: Vec<super::Approval>,
    /// Contacts who approved the whole plan (in this version).
    pub plan_grants: Vec<ContactId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Free-form notes (e.g. why it was rejected).
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
}

impl PlanRecord {
    /// The note holding the language-model tokens spent planning this plan.
    pub const TOKENS_NOTE: &'static str = "tokens";

    /// The note naming the step (`plan/step`) whose sub-goal this plan is.
    pub const PARENT_NOTE: &'static str = "parent";

    /// The note holding the time (milliseconds since the epoch) by which this plan must be
    /// done, when it has a time budget of its own (a sub-goal's).
    pub const DEADLINE_NOTE: &'static str = "deadline";

    /// The note holding a tighter limit on the tokens its planning may spend (a sub-goal's).
    pub const TOKEN_LIMIT_NOTE: &'static str = "max_tokens";

    /// The limit on tokens its planning may spend beyond the planner's own, if it has one.
    pub fn token_limit(&self) -> Option<u64> {
        self.notes
            .get(Self::TOKEN_LIMIT_NOTE)
            .and_then(|n| n.parse().ok())
    }

    /// The note holding what planning and replanning this plan has cost, in millionths of
    /// the configured currency.
    pub const COST_NOTE: &'static str = "cost_micros";

    /// What planning and replanning this plan has cost so far, in millionths of the
    /// configured currency.
    pub fn cost_spent_micros(&self) -> u64 {
        self.notes
            .get(Self::COST_NOTE)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Language-model tokens spent planning and replanning this plan so far.
    pub fn tokens_spent(&self) -> u64 {
        self.notes
            .get(Self::TOKENS_NOTE)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The step with this key.
    pub fn step(&self, key: &StepKey) -> Option<&StepRecord> {
        self.steps.iter().find(|s| &s.draft.key == key)
    }

    /// The step with this key, mutably.
    pub fn step_mut(&mut self, key: &StepKey) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| &s.draft.key == key)
    }

    /// The outputs of the steps that have one, by step key.
    pub fn outputs(&self) -> BTreeMap<StepKey, Value> {
        self.steps
            .iter()
            .filter_map(|s| s.output.clone().map(|o| (s.key().clone(), o)))
            .collect()
    }

    /// The approval with this id.
    pub fn approval(&self, id: &ApprovalId) -> Option<&super::Approval> {
        self.approvals.iter().find(|a| &a.id == id)
    }

    /// The approval with this id, mutably.
    pub fn approval_mut(&mut self, id: &ApprovalId) -> Option<&mut super::Approval> {
        self.approvals.iter_mut().find(|a| &a.id == id)
    }
}
