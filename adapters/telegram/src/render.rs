//! What the bot's messages look like in Telegram: plain text as HTML with `code` spans,
//! approval requests with inline buttons, and the buttons' callback data.

use openmog::domain::{ApprovalId, ApprovalPrompt, DecisionScope, Verdict};
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
            callback_data(Verdict::Approve, DecisionScope::Step, id),
        ),
        InlineKeyboardButton::callback(
            "⛔ Deny",
            callback_data(Verdict::Deny, DecisionScope::Step, id),
        ),
    ]];
    if prompt.whole_plan {
        rows.push(vec![InlineKeyboardButton::callback(
            "✅ Approve the whole plan",
            callback_data(Verdict::Approve, DecisionScope::Plan, id),
        )]);
    }
    InlineKeyboardMarkup::new(rows)
}

/// A button's callback data: `om:<a|p|d>:<approval>` (well under Telegram's 64 bytes).
pub fn callback_data(verdict: Verdict, scope: DecisionScope, approval: &ApprovalId) -> String {
    let verb = match (verdict, scope) {
        (Verdict::Deny, _) => "d",
        (Verdict::Approve, DecisionScope::Plan) => "p",
        (Verdict::Approve, DecisionScope::Step) => "a",
    };
    format!("om:{verb}:{approval}")
}

/// Reads a button's callback data; `None` if it is not one of ours.
pub fn parse_callback(data: &str) -> Option<(Verdict, DecisionScope, ApprovalId)> {
    let rest = data.strip_prefix("om:")?;
    let (verb, approval) = rest.split_once(':')?;
    let (verdict, scope) = match verb {
        "a" => (Verdict::Approve, DecisionScope::Step),
        "p" => (Verdict::Approve, DecisionScope::Plan),
        "d" => (Verdict::Deny, DecisionScope::Step),
        _ => return None,
    };
    let valid = approval.starts_with("a-")
        && approval.len() <= 32
        && approval[2..].chars().all(|c| c.is_ascii_alphanumeric());
    valid.then(|| (verdict, scope, ApprovalId::from(approval)))
}

/// The first approval id (`a-` and six id characters) in `text`.
pub fn find_approval_id(text: &str) -> Option<ApprovalId> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|word| {
            word.len() == 8
                && word.starts_with("a-")
                && word[2..]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        .map(ApprovalId::from)
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

    #[test]
    fn callback_data_round_trips_and_rejects_strangers() {
        let id = ApprovalId::new();
        for (verdict, scope) in [
            (Verdict::Approve, DecisionScope::Step),
            (Verdict::Approve, DecisionScope::Plan),
            (Verdict::Deny, DecisionScope::Step),
        ] {
            let data = callback_data(verdict, scope, &id);
            assert!(data.len() <= 64);
            assert_eq!(parse_callback(&data), Some((verdict, scope, id.clone())));
        }
        assert_eq!(parse_callback("om:x:a-abcdef"), None);
        assert_eq!(parse_callback("om:a:p-abcdef"), None);
        assert_eq!(parse_callback("om:a:a-ab cd"), None);
        assert_eq!(parse_callback("something else"), None);
    }

    #[test]
    fn finds_the_approval_id_in_a_request() {
        let text = "Approval needed · a-7hq4rt\nrestart · shell";
        assert_eq!(find_approval_id(text), Some(ApprovalId::from("a-7hq4rt")));
        assert_eq!(find_approval_id("plan p-7hq4rt"), None);
    }
}
