//! The words of openmog as types: conversation, contact, request, plan, step, approval,
//! decision, outbound message, note, timer.

mod approval;
mod ids;
mod memory;
mod message;
mod plan;
mod post;
pub mod provenance;
pub mod refs;

pub use approval::{Approval, ApprovalState, Decision, DecisionScope, OnTimeout, Verdict, Vote};
pub use ids::{ApprovalId, ContactId, InboxId, OutboxId, PlanId, StepKey, new_short_id};
pub use memory::{Note, Timer};
pub use message::{
    ApprovalPrompt, Capabilities, ConversationRef, Inbound, InboundKind, MessageRole, Outbound,
    OutboundBody, Replaces, Sender, SentRef,
};
pub use plan::{
    ArgRef, PlanDraft, PlanRecord, PlanState, PostCondition, StepDraft, StepRecord, StepState,
    StepVerdict,
};
pub use provenance::{Finding, Provenance};
