//! The reply grammar of email approvals: which part of a plain-text reply is new, and
//! which decision its first line states (`APPROVE`, `APPROVE PLAN`, `DENY`, with an
//! optional comment).
//!
//! Everything here works on plain `&str` and never panics, so it can be fuzzed
//! ([`fuzz_reply`]). Run [`strip_quoted`] first, then [`parse_decision`] on its result.

use openmog::domain::{DecisionScope, Verdict};

/// The longest comment kept from a decision, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// Characters that show nothing but could hide a quote marker or a keyword.
const INVISIBLE: [char; 6] = [
    '\u{feff}', // byte order mark (zero-width no-break space)
    '\u{200b}', // zero-width space
    '\u{200c}', // zero-width non-joiner
    '\u{200d}', // zero-width joiner
    '\u{2060}', // word joiner
    '\u{00ad}', // soft hyphen
];

/// Markdown emphasis around a decision: `*APPROVE*`, `__deny__`.
const EMPHASIS: [char; 2] = ['*', '_'];

/// What may separate a decision from its comment (besides whitespace).
const SEPARATORS: [char; 8] = [':', '-', ',', '.', '!', ';', '\u{2013}', '\u{2014}'];

/// The most lines an attribution may be wrapped over.
const MAX_ATTRIBUTION_LINES: usize = 3;

/// The longest attribution, in bytes, once unwrapped.
const MAX_ATTRIBUTION_BYTES: usize = 400;

/// The most words a mobile footer ("Sent from my iPhone") has.
const MAX_FOOTER_WORDS: usize = 6;

/// The shortest line of underscores that Outlook puts above quoted history.
const MIN_UNDERSCORE_RULE: usize = 10;

/// How a mail client introduces quoted history: `prefix … verb …:`.
struct Attribution {
    /// How the line starts, e.g. `On `.
    prefix: &'static str,
    /// The verb, e.g. `wrote`.
    verb: &'static str,
    /// Whether the verb ends the line (`… Ann wrote:`) rather than being followed by the
    /// name (`… schrieb Ann:`).
    verb_last: bool,
}

/// Attributions in the languages clients commonly use.
const ATTRIBUTIONS: [Attribution; 6] = [
    Attribution {
        prefix: "On ",
        verb: "wrote",
        verb_last: true,
    },
    Attribution {
        prefix: "Le ",
        verb: "a écrit",
        verb_last: true,
    },
    Attribution {
        prefix: "El ",
        verb: "escribió",
        verb_last: true,
    },
    Attribution {
        prefix: "Il ",
        verb: "ha scritto",
        verb_last: true,
    },
    Attribution {
        prefix: "Am ",
        verb: "schrieb",
        verb_last: false,
    },
    Attribution {
        prefix: "Op ",
        verb: "schreef",
        verb_last: false,
    },
];

impl Attribution {
    /// Whether `body` (an unwrapped attribution without its final `:`) is one of these.
    fn matches(&self, body: &str) -> bool {
        if !body.starts_with(self.prefix) {
            return false;
        }
        if self.verb_last {
            body.strip_suffix(self.verb)
                .is_some_and(|head| head.ends_with(' '))
        } else {
            body.split(' ').any(|word| word == self.verb)
        }
    }
}

/// Separator lines above forwarded or original messages (`-----Original Message-----`),
/// lowercase and without the dashes.
const ORIGINAL_MESSAGE: [&str; 7] = [
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "mensaje original",
    "oorspronkelijk bericht",
    "messaggio originale",
    "forwarded message",
];

/// The `From:` line of a quoted header block, in the languages Outlook speaks.
const FROM_FIELDS: [&str; 6] = ["From:", "Von:", "De:", "De :", "Van:", "Da:"];

/// The line after `From:` in Outlook's quoted header block.
const DATE_FIELDS: [&str; 10] = [
    "Sent:",
    "Date:",
    "Gesendet:",
    "Datum:",
    "Envoyé :",
    "Envoyé:",
    "Enviado:",
    "Enviado el:",
    "Verzonden:",
    "Inviato:",
];

/// Mobile footers, lowercase: how the line starts and how it ends.
const FOOTERS: [(&str, &str); 10] = [
    ("sent from my ", ""),
    ("sent from yahoo mail", ""),
    ("sent from mail for windows", ""),
    ("sent from outlook", ""),
    ("get outlook for ", ""),
    ("envoyé de mon ", ""),
    ("enviado desde mi ", ""),
    ("inviato dal mio ", ""),
    ("inviato da iphone", ""),
    ("von meinem ", "gesendet"),
];

/// The new part of a plain-text reply.
///
/// Drops `>`-quoted lines; cuts at an attribution (`On … wrote:`, also wrapped over up to
/// three lines, and its German, French, Spanish, Italian and Dutch forms), at Outlook's
/// `-----Original Message-----` and at a `From:` header block (after a line of
/// underscores, or directly followed by `Sent:`/`Date:`), at a signature separator (`-- `
/// or `--`) and at a mobile footer ("Sent from my iPhone", "Get Outlook for iOS").
/// Leading and trailing blank lines are trimmed; lines are joined with `\n`.
///
/// An attribution whose next non-blank line is `>`-quoted only introduces a quote: the
/// quoted lines are dropped and the text after them (a bottom-posted or interleaved
/// reply) is kept. An attribution followed by unquoted text cuts everything after it.
///
/// Conservative: an attribution must end with `:` and carry a digit or an `@` (a date or
/// an address), footers must be short lines, so ordinary text is kept.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut index = 0;
    while let Some(rest) = lines.get(index..) {
        let Some(&line) = rest.first() else { break };
        if is_quoted(line) {
            index += 1;
            continue;
        }
        if is_signature_separator(line) || is_mobile_footer(line) || starts_history(rest) {
            break;
        }
        if let Some(span) = attribution_span(rest) {
            let after = rest.get(span..).unwrap_or_default();
            if next_nonblank_is_quoted(after) {
                index += span;
                continue;
            }
            break;
        }
        kept.push(line);
        index += 1;
    }
    trim_blank_lines(&kept).join("\n")
}

/// `lines` without blank lines at either end.
fn trim_blank_lines<'a, 'b>(lines: &'b [&'a str]) -> &'b [&'a str] {
    let is_blank = |line: &&str| line.trim().is_empty();
    let start = lines
        .iter()
        .position(|line| !is_blank(line))
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|line| !is_blank(line))
        .map_or(start, |last| last + 1);
    lines.get(start..end).unwrap_or_default()
}

/// `line` without leading whitespace and invisible characters.
fn clean_start(line: &str) -> &str {
    line.trim_start_matches(|c: char| c.is_whitespace() || INVISIBLE.contains(&c))
}

/// A `>`-quoted line.
fn is_quoted(line: &str) -> bool {
    clean_start(line).starts_with('>')
}

/// The RFC 3676 signature separator, `-- ` (or `--`, as some clients trim it).
fn is_signature_separator(line: &str) -> bool {
    matches!(line.trim_end_matches('\r'), "-- " | "--")
}

/// `text` with every kind of whitespace as a plain space and invisible characters removed.
fn normalize_spaces(text: &str) -> String {
    text.chars()
        .filter(|c| !INVISIBLE.contains(c))
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect()
}

/// A short line like "Sent from my iPhone" or "Get Outlook for iOS".
fn is_mobile_footer(line: &str) -> bool {
    let lower = normalize_spaces(line).trim().to_lowercase();
    lower.split_whitespace().count() <= MAX_FOOTER_WORDS
        && !lower.contains(',')
        && FOOTERS
            .iter()
            .any(|&(start, end)| lower.starts_with(start) && lower.ends_with(end))
}

/// Whether `lines` start with a marker of quoted history that is not `>`-quoted: an
/// `-----Original Message-----` line, a line of underscores above a `From:` line, or a
/// `From:` line directly followed by `Sent:`/`Date:`.
fn starts_history(lines: &[&str]) -> bool {
    let Some(&first) = lines.first() else {
        return false;
    };
    if is_original_message_line(first) {
        return true;
    }
    if is_underscore_rule(first) {
        return lines
            .iter()
            .skip(1)
            .take(3)
            .find(|line| !line.trim().is_empty())
            .is_some_and(|line| is_field(line, &FROM_FIELDS));
    }
    is_field(first, &FROM_FIELDS)
        && lines
            .get(1)
            .is_some_and(|line| is_field(line, &DATE_FIELDS))
}

/// `-----Original Message-----` and its translations, or `---------- Forwarded message ---------`.
fn is_original_message_line(line: &str) -> bool {
    let line = line.trim();
    if !(line.starts_with("---") && line.ends_with("---")) {
        return false;
    }
    let inner = line
        .trim_matches(|c: char| c == '-' || c.is_whitespace())
        .to_lowercase();
    ORIGINAL_MESSAGE.contains(&inner.as_str())
}

/// Outlook's `________________________________` above quoted history.
fn is_underscore_rule(line: &str) -> bool {
    let line = line.trim();
    line.len() >= MIN_UNDERSCORE_RULE && line.chars().all(|c| c == '_')
}

/// Whether `line` starts with one of `fields` (ASCII case-insensitive).
fn is_field(line: &str, fields: &[&str]) -> bool {
    let line = clean_start(line);
    fields
        .iter()
        .any(|field| starts_with_ignore_ascii_case(line, field))
}

/// `text.starts_with(prefix)`, ignoring ASCII case.
fn starts_with_ignore_ascii_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// If `lines` start with an attribution (possibly wrapped), how many lines it takes.
fn attribution_span(lines: &[&str]) -> Option<usize> {
    let first = clean_start(lines.first()?);
    if !ATTRIBUTIONS.iter().any(|a| first.starts_with(a.prefix)) {
        return None;
    }
    let mut joined = String::new();
    for (n, line) in lines.iter().take(MAX_ATTRIBUTION_LINES).enumerate() {
        if n > 0 && (line.trim().is_empty() || is_quoted(line)) {
            return None;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line.trim());
        if joined.len() > MAX_ATTRIBUTION_BYTES {
            return None;
        }
        if is_attribution(&joined) {
            return Some(n + 1);
        }
    }
    None
}

/// `On Tue, 24 Nov 2026 at 10:00, Ann <ann@example.com> wrote:` and its translations.
fn is_attribution(text: &str) -> bool {
    let text = normalize_spaces(text);
    let Some(body) = text.trim().strip_suffix(':') else {
        return false;
    };
    let body = body.trim_end();
    let dated = body.chars().any(|c| c.is_ascii_digit()) || body.contains('@');
    dated && ATTRIBUTIONS.iter().any(|a| a.matches(body))
}

/// Whether the first non-blank line of `lines` is `>`-quoted.
fn next_nonblank_is_quoted(lines: &[&str]) -> bool {
    lines
        .iter()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| is_quoted(line))
}

/// A decision read from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyDecision {
    /// Approve or deny.
    pub verdict: Verdict,
    /// The step, or the whole plan (`APPROVE PLAN`); always the step for a denial.
    pub scope: DecisionScope,
    /// What followed the decision on its line, trimmed, at most [`MAX_COMMENT_CHARS`]
    /// characters; empty if nothing did.
    pub comment: String,
}

/// The decision a reply states, if any.
///
/// Reads the first line that is neither blank nor `>`-quoted, ignoring invisible
/// characters (a byte order mark, zero-width characters), surrounding whitespace and
/// markdown emphasis (`*APPROVE*`). That line must start with the whole word `APPROVE`,
/// `APPROVED`, `DENY` or `DENIED`, in any case. `APPROVE PLAN`, `approve the whole plan`
/// and `approve all` (ending the clause) approve the whole plan; everything else is about the step (a denial
/// always is). What follows, after optional `:`, `-`, `,`, `.`, `!`, `;` or dashes, is the
/// comment.
///
/// Not decisions: any other first line ("I approve", "Approvement", "approve-plan",
/// "approve's"), and questions: `approve?`, or an unseparated comment ending in `?`
/// ("approve the restart?"). "Approve. Why did it fail?" is a decision with a comment.
pub fn parse_decision(text: &str) -> Option<ReplyDecision> {
    let line = text.lines().find_map(answer_line)?;
    decision_of_line(&line)
}

/// `line` as a decision reads it: without invisible characters, surrounding whitespace
/// and emphasis; `None` if that leaves nothing or the line is quoted.
fn answer_line(line: &str) -> Option<String> {
    let visible: String = line.chars().filter(|c| !INVISIBLE.contains(c)).collect();
    let trimmed = visible.trim();
    if trimmed.starts_with('>') {
        return None;
    }
    let bare = trimmed.trim_matches(EMPHASIS).trim();
    (!bare.is_empty()).then(|| bare.to_owned())
}

/// The decision one cleaned line states.
fn decision_of_line(line: &str) -> Option<ReplyDecision> {
    let (word, rest) = split_word(line);
    let verdict = verdict_of(word)?;
    if continues_word(rest) {
        return None;
    }
    let (scope, rest) = scope_of(rest);
    let comment = comment_of(rest)?;
    let scope = match verdict {
        Verdict::Approve => scope,
        Verdict::Deny => DecisionScope::Step,
    };
    Some(ReplyDecision {
        verdict,
        scope,
        comment,
    })
}

/// The leading alphanumeric word of `text`, and what follows it.
fn split_word(text: &str) -> (&str, &str) {
    let end = text
        .char_indices()
        .find(|(_, c)| !c.is_alphanumeric())
        .map_or(text.len(), |(index, _)| index);
    text.split_at(end)
}

/// The verdict a decision word names.
fn verdict_of(word: &str) -> Option<Verdict> {
    let is = |name: &str| word.eq_ignore_ascii_case(name);
    if is("approve") || is("approved") {
        Some(Verdict::Approve)
    } else if is("deny") || is("denied") {
        Some(Verdict::Deny)
    } else {
        None
    }
}

/// Whether what follows a word makes it part of a longer one: `approve's`, `deny-list`,
/// `approve_all`.
fn continues_word(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        Some('\'' | '\u{2019}') => true,
        Some('-' | '_') => chars.next().is_some_and(char::is_alphanumeric),
        _ => false,
    }
}

/// The scope words after the verdict (`plan`, `whole plan`, `the entire plan`, or `all`
/// ending the clause), and what follows them; the step and `rest` unchanged if there are
/// none.
fn scope_of(rest: &str) -> (DecisionScope, &str) {
    let mut tail = rest;
    let mut expect_plan = false;
    for _ in 0..3 {
        let next = tail.trim_start_matches(EMPHASIS);
        if !next.starts_with(char::is_whitespace) {
            break;
        }
        let (word, after) = split_word(next.trim_start());
        if continues_word(after) {
            break;
        }
        let is = |name: &str| word.eq_ignore_ascii_case(name);
        if is("plan") || (!expect_plan && is("all") && ends_clause(after)) {
            return (DecisionScope::Plan, after);
        }
        if !(is("the") || is("whole") || is("entire")) {
            break;
        }
        expect_plan = true;
        tail = after;
    }
    (DecisionScope::Step, rest)
}

/// Whether `rest` ends a clause: nothing, or punctuation, follows (so `approve all` and
/// `approve all: go` cover the plan, `approve all good` does not).
fn ends_clause(rest: &str) -> bool {
    let rest = rest.trim_start_matches(EMPHASIS).trim_start();
    rest.is_empty() || rest.starts_with(SEPARATORS)
}

/// The comment in what follows a decision; `None` if it makes the line a question.
fn comment_of(rest: &str) -> Option<String> {
    let rest = rest.trim_start_matches(EMPHASIS).trim_start();
    let separated = rest.starts_with(SEPARATORS);
    let comment = rest
        .trim_start_matches(|c: char| {
            SEPARATORS.contains(&c) || EMPHASIS.contains(&c) || c.is_whitespace()
        })
        .trim_end();
    let question = comment.starts_with('?') || (!separated && comment.ends_with('?'));
    if question {
        return None;
    }
    let capped: String = comment.chars().take(MAX_COMMENT_CHARS).collect();
    Some(capped.trim_end().to_owned())
}

/// A cargo-fuzz entry point: reads `data` as a reply (decoded as lossy UTF-8, as
/// Latin-1, and as the body of a raw message after its header block), runs
/// [`strip_quoted`] and [`parse_decision`], and checks their invariants.
///
/// # Panics
///
/// If an invariant does not hold: the new part has a quoted or blank edge line, a comment
/// is longer than [`MAX_COMMENT_CHARS`], a decision's line does not start with its word,
/// or a denial covers the plan.
pub fn fuzz_reply(data: &[u8]) {
    let lossy = String::from_utf8_lossy(data);
    check_reply(&lossy);
    let latin1: String = data.iter().map(|&byte| char::from(byte)).collect();
    check_reply(&latin1);
    if let Some(body) = message_body(&lossy) {
        check_reply(body);
    }
}

/// The body of a raw message: what follows the first blank line.
fn message_body(message: &str) -> Option<&str> {
    let crlf = message.find("\r\n\r\n").map(|at| at + 4);
    let lf = message.find("\n\n").map(|at| at + 2);
    let start = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    message.get(start..)
}

/// Checks the invariants of both functions on `text`.
fn check_reply(text: &str) {
    check_decision(text);
    let new_part = strip_quoted(text);
    for line in new_part.lines() {
        assert!(!is_quoted(line), "quoted line kept: {line:?}");
    }
    let first = new_part.lines().next();
    let last = new_part.lines().next_back();
    for edge in [first, last].into_iter().flatten() {
        assert!(
            !edge.trim().is_empty(),
            "blank edge line kept in {new_part:?}"
        );
    }
    check_decision(&new_part);
}

/// Checks the invariants of [`parse_decision`] on `text`.
fn check_decision(text: &str) {
    let Some(decision) = parse_decision(text) else {
        return;
    };
    assert!(
        decision.comment.chars().count() <= MAX_COMMENT_CHARS,
        "comment too long"
    );
    let line = text
        .lines()
        .find_map(answer_line)
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        ["approve", "deny", "denied"]
            .iter()
            .any(|&word| line.starts_with(word)),
        "decision read from {line:?}"
    );
    if decision.verdict == Verdict::Deny {
        assert_eq!(
            decision.scope,
            DecisionScope::Step,
            "a denial covers the plan"
        );
    }
}

#[cfg(test)]
mod tests;
