//! What the bot's messages look like in Discord: the core's text with markdown outside
//! `code` spans escaped (so data never formats itself), and approval requests with buttons.

use openmog::channel::decisions::decision_data;
use openmog::domain::{ApprovalPrompt, DecisionScope, Verdict};
use serenity::builder::{CreateActionRow, CreateButton};
use serenity::model::application::ButtonStyle;

/// Discord's limit on a message's content, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// Escapes Discord markdown outside `code` spans and fenced blocks: data (outputs, request
/// text) shows as written and cannot format, hide or link anything.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_block = false;
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            out.push_str(line);
            continue;
        }
        if in_block {
            out.push_str(line);
            continue;
        }
        for (i, part) in line.split('`').enumerate() {
            if i > 0 {
                out.push('`');
            }
            // Odd parts sit between backticks: code, shown literally by Discord.
            if i % 2 == 1 && line.matches('`').count() % 2 == 0 {
                out.push_str(part);
                continue;
            }
            for (j, c) in part.chars().enumerate() {
                let at_line_start = i == 0 && j == 0;
                if matches!(c, '\\' | '*' | '_' | '~' | '|')
                    || (at_line_start && matches!(c, '>' | '#' | '-'))
                {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

/// The text of an approval request.
pub fn approval_text(prompt: &ApprovalPrompt) -> String {
    let mut text = format!(
        "**Approval needed** · `{}`\n{}\nApprovers: {}",
        prompt.approval,
        escape_markdown(&prompt.summary),
        escape_markdown(&prompt.approvers.join(", "))
    );
    if prompt.quorum > 1 {
        text.push_str(&format!(" ({} needed)", prompt.quorum));
    }
    text.push_str(&format!(
        "\nPlan `{}` · click a button, or use `/approve` or `/deny`",
        prompt.plan
    ));
    text
}

/// The buttons of an approval request.
pub fn approval_buttons(prompt: &ApprovalPrompt) -> Vec<CreateActionRow> {
    let id = &prompt.approval;
    let mut buttons = vec![
        CreateButton::new(decision_data(Verdict::Approve, DecisionScope::Step, id))
            .label("Approve")
            .style(ButtonStyle::Success),
        CreateButton::new(decision_data(Verdict::Deny, DecisionScope::Step, id))
            .label("Deny")
            .style(ButtonStyle::Danger),
    ];
    if prompt.whole_plan {
        buttons.push(
            CreateButton::new(decision_data(Verdict::Approve, DecisionScope::Plan, id))
                .label("Approve the whole plan")
                .style(ButtonStyle::Primary),
        );
    }
    vec![CreateActionRow::Buttons(buttons)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_escaped_outside_code() {
        assert_eq!(escape_markdown("a *b* _c_"), "a \\*b\\* \\_c\\_");
        assert_eq!(
            escape_markdown("reply `approve a_1`"),
            "reply `approve a_1`"
        );
        assert_eq!(escape_markdown("> quote\n# head"), "\\> quote\n\\# head");
        assert_eq!(escape_markdown("```\n*x*\n```"), "```\n*x*\n```");
        assert_eq!(escape_markdown("odd ` *tick*"), "odd ` \\*tick\\*");
    }
}
