//! What the bot's messages look like in Telegram: plain text as HTML with `code` spans,
//! and approval requests with inline buttons.

use openmog::channel::decisions::decision_data;
use openmog::domain::{ApprovalPrompt, DecisionScope, Verdict};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the core's plain text as HTML: everything escaped, and `backtick` spans on one
/// line shown as code. The visible text (what Telegram counts) is the input without the
/// backticks of those spans, so it is never longer than the input.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        html_line(line, &mut out);
    }
    out
}

/// One line: backticks pair up left to right; an unpaired one, or an empty pair, is text.
fn html_line(line: &str, out: &mut String) {
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(0) => {
                out.push_str(&escape(&rest[..open]));
                out.push_str("``");
                rest = &after[1..];
            }
            Some(close) => {
                out.push_str(&escape(&rest[..open]));
                out.push_str("<code>");
                out.push_str(&escape(&after[..close]));
                out.push_str("</code>");
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out.push_str(&escape(rest));
}

/// The text of an approval request.
pub fn approval_text(prompt: &ApprovalPrompt) -> String {
    let mut text = format!(
        "<b>Approval needed</b> · <code>{}</code>\n{}\nApprovers: {}",
        prompt.approval,
        escape(&prompt.summary),
        escape(&prompt.approvers.join(", "))
    );
    if prompt.quorum > 1 {
        text.push_str(&format!(" ({} needed)", prompt.quorum));
    }
    text.push_str(&format!(
        "\nPlan <code>{}</code> · tap a button, or reply <i>approve</i> or <i>deny</i>",
        prompt.plan
    ));
    text
}

/// The buttons of an approval request.
pub fn approval_keyboard(prompt: &ApprovalPrompt) -> InlineKeyboardMarkup {
    let id = &prompt.approval;
    let mut rows = vec![vec![
        InlineKeyboardButton::callback(
            "✅ Approve",
            decision_data(Verdict::Approve, DecisionScope::Step, id),
        ),
        InlineKeyboardButton::callback(
            "⛔ Deny",
            decision_data(Verdict::Deny, DecisionScope::Step, id),
        ),
    ]];
    if prompt.whole_plan {
        rows.push(vec![InlineKeyboardButton::callback(
            "✅ Approve the whole plan",
            decision_data(Verdict::Approve, DecisionScope::Plan, id),
        )]);
    }
    InlineKeyboardMarkup::new(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_and_marks_code() {
        assert_eq!(html("a < b & c > d"), "a &lt; b &amp; c &gt; d");
        assert_eq!(
            html("Reply `approve a-x` now"),
            "Reply <code>approve a-x</code> now"
        );
        assert_eq!(html("one ` tick"), "one ` tick");
        assert_eq!(html("`<b>`"), "<code>&lt;b&gt;</code>");
        assert_eq!(
            html("line `a`\nnext ` odd"),
            "line <code>a</code>\nnext ` odd"
        );
        assert_eq!(html("empty `` pair"), "empty `` pair");
    }
}
