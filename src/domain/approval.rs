//! Approvals: durable requests for a human decision, settled exactly once.

use serde::{Deserialize, Serialize};

use super::{ApprovalId, ContactId, PlanId, StepKey};
use crate::clock::Timestamp;

/// Approve or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Let it run.
    Approve,
    /// Do not run it.
    Deny,
}

/// What a decision covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionScope {
    /// The one step the approval guards.
    #[default]
    Step,
    /// Every step of the plan that policy lets a whole-plan approval cover.
    Plan,
}

/// What happens when an approval times out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// The step is denied and the plan stops.
    #[default]
    Deny,
    /// The plan is parked; the approval stays answerable.
    Park,
}

/// Lifecycle of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for decisions.
    Pending,
    /// Timed out under `on_timeout = park`: still answerable.
    Parked,
    /// Quorum reached.
    Approved,
    /// Denied by an approver.
    Denied,
    /// Timed out under `on_timeout = deny`.
    Expired,
    /// The plan was cancelled or replanned before a decision.
    Superseded,
}

impl ApprovalState {
    /// Still accepts decisions.
    pub fn is_open(self) -> bool {
        matches!(self, ApprovalState::Pending | ApprovalState::Parked)
    }

    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Parked => "parked",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Superseded => "superseded",
        }
    }
}

/// One approver's recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// Who.
    pub contact: ContactId,
    /// What.
    pub verdict: Verdict,
    /// When.
    pub at: Timestamp,
    /// Through which channel and platform user id (evidence for the audit).
    pub evidence: String,
}

/// A durable request for a human decision on one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Its id, shown to humans.
    pub id: ApprovalId,
    /// The plan.
    pub plan: PlanId,
    /// The plan version it was asked in.
    pub plan_version: u32,
    /// The step it guards.
    pub step: StepKey,
    /// Principals allowed to decide (`role:NAME` or contact ids).
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Where it is.
    pub state: ApprovalState,
    /// Decisions so far.
    pub votes: Vec<Vote>,
    /// When it was asked.
    pub created_at: Timestamp,
    /// When it times out.
    pub expires_at: Timestamp,
    /// What a timeout does.
    pub on_timeout: OnTimeout,
    /// Whether a whole-plan decision may be offered.
    pub whole_plan: bool,
    /// When it was settled.
    pub settled_at: Option<Timestamp>,
    /// What is being approved, one line, as the request showed it.
    #[serde(default)]
    pub summary: String,
    /// The conversations the request was sent to, in order: the `n`th request's
    /// idempotency key is [`Approval::prompt_key`]`(n)`, so it can be edited to show the
    /// outcome.
    #[serde(default)]
    pub prompted_in: Vec<super::ConversationRef>,
    /// A random secret sent with the request on channels whose decisions need proof
    /// ([`super::Capabilities::decisions_need_proof`]); a decision naming another nonce is
    /// refused. Empty for approvals stored before nonces existed: those match no nonce.
    #[serde(default)]
    pub nonce: String,
}

impl Approval {
    /// The idempotency key of the request sent to `prompted_in[n]`.
    pub fn prompt_key(&self, n: usize) -> String {
        format!("{}:prompt:{n}", self.id)
    }

    /// A fresh nonce: 20 characters of a cryptographic random generator (about 99 bits).
    pub fn new_nonce() -> String {
        super::new_short_id(20)
    }

    /// Whether `nonce` is this approval's, compared in constant time.
    pub fn nonce_matches(&self, nonce: &str) -> bool {
        let (a, b) = (self.nonce.as_bytes(), nonce.as_bytes());
        !a.is_empty()
            && a.len() == b.len()
            && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A decision as the engine receives it, already bound to a contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The approval decided on.
    pub approval: ApprovalId,
    /// Approve or deny.
    pub verdict: Verdict,
    /// Step or whole plan.
    pub scope: DecisionScope,
    /// The nonce the decision carried, if any ([`Approval::nonce`]).
    pub nonce: Option<String>,
    /// What the decider wrote with it, if anything.
    pub comment: Option<String>,
}
