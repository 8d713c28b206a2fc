//! What openmog says: plan summaries, step outcomes, final reports — as plain text that
//! every channel can show.

use serde_json::Value;

use crate::domain::{PlanRecord, PlanState, StepRecord, StepState, StepVerdict};
use crate::policy::Directory;

/// The plan as proposed: each step with what policy decided for it.
pub(super) fn plan_summary(plan: &PlanRecord, directory: &Directory) -> String {
    let mut text = headline(plan, "");
    for (i, step) in plan.steps.iter().enumerate() {
        text.push_str(&format!(
            "\n  {}. {} · {} — {}",
            i + 1,
            step.draft.key,
            step.draft.skill,
            verdict_text(step, directory)
        ));
        if !step.draft.depends_on.is_empty() {
            let deps: Vec<String> = step
                .draft
                .depends_on
                .iter()
                .map(ToString::to_string)
                .collect();
            text.push_str(&format!(", after {}", deps.join(", ")));
        }
    }
    text
}

/// The plan as it stands, each step with its outcome so far: the text of the status
/// message on channels that can edit.
pub(super) fn plan_status(plan: &PlanRecord, directory: &Directory) -> String {
    let done = plan.steps.iter().filter(|s| s.state.is_terminal()).count();
    let mut text = headline(plan, &format!("{done}/"));
    text.push_str(" done");
    for (i, step) in plan.steps.iter().enumerate() {
        let now = match step.state {
            StepState::Running => "running…".to_owned(),
            StepState::AwaitingApproval => format!(
                "waits for approval {}",
                step.approval
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            StepState::Succeeded => format!(
                "✓ {}",
                step.output.as_ref().map(output_summary).unwrap_or_default()
            ),
            state if state.is_terminal() => format!(
                "{} {}: {}",
                state_mark(state),
                state.as_str(),
                step.error.as_deref().unwrap_or("")
            ),
            _ => verdict_text(step, directory),
        };
        text.push_str(&format!(
            "\n  {}. {} · {} — {now}",
            i + 1,
            step.draft.key,
            step.draft.skill
        ));
    }
    text
}

/// `Plan p-k3m9x2 (v1): Deploy api — 3 steps`, with `done` (`2/`) before the count.
fn headline(plan: &PlanRecord, done: &str) -> String {
    format!(
        "Plan {} (v{}): {} — {done}{} step{}",
        plan.id,
        plan.version,
        plan.title,
        plan.steps.len(),
        plural(plan.steps.len())
    )
}

fn verdict_text(step: &StepRecord, directory: &Directory) -> String {
    match &step.verdict {
        StepVerdict::Auto => "runs on its own".to_owned(),
        StepVerdict::Approve {
            approvers, quorum, ..
        } => {
            let who = approver_names(approvers, directory);
            if *quorum > 1 {
                format!("needs {quorum} approvals from {who}")
            } else {
                format!("needs approval from {who}")
            }
        }
        StepVerdict::Forbid { reason } => format!("FORBIDDEN: {reason}"),
    }
}

/// Approvers by name: `role:oncall (Ann, Bo)`.
pub(super) fn approver_names(principals: &[String], directory: &Directory) -> String {
    principals
        .iter()
        .map(|p| match p.strip_prefix("role:") {
            Some(_) => format!("{p} ({})", directory.member_names(p).join(", ")),
            None => directory.display_name(&crate::domain::ContactId(p.clone())),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line on a finished step.
pub(super) fn step_outcome(step: &StepRecord) -> String {
    let mark = state_mark(step.state);
    match step.state {
        StepState::Succeeded => format!(
            "{mark} {}: {}",
            step.draft.key,
            step.output.as_ref().map(output_summary).unwrap_or_default()
        ),
        _ => format!(
            "{mark} {} {}: {}",
            step.draft.key,
            step.state.as_str(),
            step.error.as_deref().unwrap_or("")
        ),
    }
}

/// The final report of a plan.
pub(super) fn final_report(plan: &PlanRecord) -> String {
    let done = plan
        .steps
        .iter()
        .filter(|s| s.state == StepState::Succeeded)
        .count();
    let headline = match plan.state {
        PlanState::Succeeded => "succeeded",
        PlanState::Failed => "failed",
        PlanState::Denied => "stopped: an approval was denied or expired",
        PlanState::Cancelled => "cancelled",
        PlanState::Rejected => "rejected",
        PlanState::Active | PlanState::Parked => "in progress",
    };
    let mut text = format!(
        "Plan {} {headline} ({done}/{} steps done): {}",
        plan.id,
        plan.steps.len(),
        plan.title
    );
    for step in &plan.steps {
        text.push_str("\n  ");
        text.push_str(&step_outcome(step));
    }
    text
}

/// A plan's state in one line, for `status`.
pub(super) fn status_line(plan: &PlanRecord) -> String {
    let waiting: Vec<String> = plan
        .approvals
        .iter()
        .filter(|a| a.state.is_open())
        .map(|a| format!("{} waits for approval {}", a.step, a.id))
        .collect();
    let counts = format!(
        "{}/{} done",
        plan.steps
            .iter()
            .filter(|s| s.state == StepState::Succeeded)
            .count(),
        plan.steps.len()
    );
    if waiting.is_empty() {
        format!(
            "{} [{}] {} — {counts}",
            plan.id,
            plan.state.as_str(),
            plan.title
        )
    } else {
        format!(
            "{} [{}] {} — {counts}; {}",
            plan.id,
            plan.state.as_str(),
            plan.title,
            waiting.join("; ")
        )
    }
}

fn state_mark(state: StepState) -> &'static str {
    match state {
        StepState::Succeeded => "✓",
        StepState::Failed => "✗",
        StepState::Denied => "⊘",
        StepState::Skipped | StepState::Cancelled => "–",
        _ => "…",
    }
}

/// A short human summary of a skill's output.
pub(super) fn output_summary(output: &Value) -> String {
    let text = if let Some(code) = output.get("exit_code").and_then(Value::as_i64) {
        let stdout = output
            .get("stdout")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        if stdout.is_empty() {
            format!("exit {code}")
        } else {
            format!("exit {code}: {stdout}")
        }
    } else if let Some(status) = output.get("status").and_then(Value::as_u64) {
        format!("HTTP {status}")
    } else if let Some(text) = output.get("text").and_then(Value::as_str) {
        text.to_owned()
    } else {
        output.to_string()
    };
    truncate(&text, 300)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
