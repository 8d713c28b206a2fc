//! Planners turn a request into a plan draft. The trait is small; the deterministic
//! [`RulePlanner`] is the embedded default, and with the `llm` feature [`LlmPlanner`] asks a
//! language model (with the rules as its fallback).

#[cfg(feature = "llm")]
mod llm;
mod rules;
mod template;
mod validate;

use async_trait::async_trait;

use crate::Result;
use crate::domain::{ContactId, ConversationRef, PlanDraft, PlanRecord, StepKey};
use crate::skills::SkillRegistry;

#[cfg(feature = "llm")]
pub use llm::LlmPlanner;
pub use rules::RulePlanner;
pub use validate::validate_draft;

/// What a planner is given.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    /// The request's text (untrusted).
    pub text: &'a str,
    /// Who asked.
    pub requester: &'a ContactId,
    /// Where.
    pub conversation: &'a ConversationRef,
    /// The skills available.
    pub skills: &'a SkillRegistry,
    /// Earlier plans of this conversation, oldest first (at most [`Planner::memory`]).
    pub history: &'a [PlanRecord],
    /// What policy does with each skill, one line per rule (for planners that explain
    /// themselves; policy is applied to the plan afterwards whatever they say).
    pub policy: &'a [String],
    /// The most steps a plan may have.
    pub max_steps: usize,
    /// A tighter limit than the planner's own on the tokens planning may spend (a
    /// sub-goal's budget).
    pub max_tokens: Option<u64>,
    /// The plan whose step handed this request over as a sub-goal, if it is one.
    pub sub_goal_of: Option<&'a PlanRecord>,
}

/// What a purpose review is given.
#[derive(Debug, Clone)]
pub struct ReviewRequest<'a> {
    /// Whom a proposal would go to.
    pub owner: &'a ContactId,
    /// The most recently changed plans, newest first.
    pub recent: &'a [PlanRecord],
    /// Plans still open (active or parked).
    pub open: &'a [PlanRecord],
    /// The skills available.
    pub skills: &'a SkillRegistry,
    /// What policy does with each skill, one line per rule.
    pub policy: &'a [String],
    /// The most steps a plan may have.
    pub max_steps: usize,
}

/// A planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanOutcome {
    /// A plan to validate, judge and run.
    Plan(PlanDraft),
    /// No plan: reply this instead (e.g. what the planner can do).
    Reply(String),
    /// Another planner stood in (the model was unreachable, or over its budget): the
    /// requester is told `notice`, then `outcome` goes on as usual.
    Fallback {
        /// Why, for the requester.
        notice: String,
        /// The stand-in's answer.
        outcome: Box<PlanOutcome>,
    },
}

/// Why a replan was asked for.
#[derive(Debug, Clone)]
pub struct ReplanRequest<'a> {
    /// The plan as it stands.
    pub plan: &'a PlanRecord,
    /// The step that failed.
    pub failed_step: &'a StepKey,
    /// Why.
    pub error: &'a str,
    /// The skills available.
    pub skills: &'a SkillRegistry,
    /// What policy does with each skill, one line per rule.
    pub policy: &'a [String],
    /// The most steps a plan may have.
    pub max_steps: usize,
}

/// A planner's answer to a failed step.
#[derive(Debug, Clone, PartialEq)]
pub enum Replan {
    /// The plan's next version.
    Revised(PlanDraft),
    /// No revision; the plan fails. The reason, if any, is told to the conversation (e.g.
    /// the plan's token budget is spent).
    Declined(Option<String>),
}

/// Turns requests into plans.
#[async_trait]
pub trait Planner: Send + Sync + 'static {
    /// Plans a request.
    async fn plan(&self, request: PlanRequest<'_>) -> Result<PlanOutcome>;

    /// Proposes a revised plan after a failure, or declines (the plan then fails).
    async fn replan(&self, _request: ReplanRequest<'_>) -> Result<Replan> {
        Ok(Replan::Declined(None))
    }

    /// Reviews the purpose against recent and open work and proposes the next plan, if
    /// any. The default proposes nothing: only planners that can reason about a purpose
    /// review it.
    async fn review(&self, _request: ReviewRequest<'_>) -> Result<Option<PlanDraft>> {
        Ok(None)
    }

    /// Lines for `help`: what this planner understands, with examples.
    fn capabilities(&self) -> Vec<String> {
        Vec::new()
    }

    /// How many earlier plans of the conversation it wants to see in
    /// [`PlanRequest::history`] (none by default).
    fn memory(&self) -> usize {
        0
    }
}

// The trait must stay object-safe: engines hold `Arc<dyn Planner>`.
const _: Option<&dyn Planner> = None;
