//! Recognising mail that no human wrote — autoreplies, bounces, receipts, list and bulk
//! traffic — which must never be answered or counted as a decision.
//!
//! Everything here works on plain `&str` and never panics.

/// The longest header value shown in a reason, in characters.
const MAX_SHOWN_CHARS: usize = 60;

/// `Precedence` values of mail nobody wrote by hand.
const BULK_PRECEDENCE: [&str; 5] = ["bulk", "junk", "list", "auto_reply", "auto-reply"];

/// Content types of delivery and disposition reports.
const REPORT_TYPES: [&str; 3] = [
    "multipart/report",
    "message/delivery-status",
    "message/disposition-notification",
];

/// Local parts of system senders, matched exactly.
const SYSTEM_SENDERS: [&str; 4] = ["mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"];

/// Local parts of senders that take no replies, matched exactly or followed by `-`, `.`,
/// `_` or `+` and more (`noreply-alerts`).
const NO_REPLY_SENDERS: [&str; 6] = [
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
];

/// How subjects of autoreplies and bounces start, lowercase.
const AUTOMATIC_SUBJECTS: [&str; 13] = [
    "auto:",
    "automatic reply",
    "autoreply",
    "auto-reply",
    "auto reply",
    "out of office",
    "undeliverable:",
    "undelivered mail",
    "delivery status notification",
    "mail delivery failed",
    "returned mail:",
    "automatische antwort",
    "réponse automatique",
];

/// Why a mail is automatic — never to be answered or counted — or `None` for a mail a
/// human seems to have written.
///
/// `headers` are the message's header fields as `(name, value)`, names in any case,
/// values decoded (the `Subject` included); `from` is the sender's address if known (else
/// the `From` header is read). Checked, in order: `Auto-Submitted` other than `no`
/// (RFC 3834); `X-Autoreply` or `X-Autorespond`; `Precedence: bulk`, `junk`, `list` or
/// `auto_reply`; `List-Id` or `List-Unsubscribe` (list traffic); a `multipart/report`
/// content type (bounces, delivery and read receipts); `Return-Path: <>`;
/// `X-Failed-Recipients`; a system or no-reply sender (`mailer-daemon`, `postmaster`,
/// `noreply`, `no-reply`, `donotreply`, …); an autoreply or bounce subject ("Automatic
/// reply:", "Out of Office", "Undeliverable:", …).
///
/// `X-Auto-Response-Suppress` is deliberately ignored: Outlook sets it on ordinary mail to
/// ask others not to autoreply.
///
/// The reason is short, e.g. "Auto-Submitted: auto-replied".
pub fn automatic_reason(headers: &[(String, String)], from: Option<&str>) -> Option<String> {
    auto_submitted(headers)
        .or_else(|| autoreply_header(headers))
        .or_else(|| bulk_precedence(headers))
        .or_else(|| list_header(headers))
        .or_else(|| report_content_type(headers))
        .or_else(|| empty_return_path(headers))
        .or_else(|| failed_recipients(headers))
        .or_else(|| robot_sender(headers, from))
        .or_else(|| automatic_subject(headers))
}

/// The values of every header named `name` (ASCII case-insensitive), in order.
fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(field, _)| field.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The first header named `name` with a value that `is_automatic`, as a reason.
fn first_automatic(
    headers: &[(String, String)],
    name: &str,
    is_automatic: impl Fn(&str) -> bool,
) -> Option<String> {
    values(headers, name)
        .find(|&value| is_automatic(value))
        .map(|value| reason(name, value))
}

/// A reason naming a header and its value.
fn reason(name: &str, value: &str) -> String {
    format!("{name}: {}", shown(value))
}

/// A header value on one line, capped.
fn shown(value: &str) -> String {
    let one_line = value.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(MAX_SHOWN_CHARS).collect();
    if one_line.chars().nth(MAX_SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// The leading keyword of a structured value: `auto-replied` in
/// `auto-replied; owner-email="x"` or `no (comment)`; empty if there is none.
fn keyword(value: &str) -> &str {
    value
        .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .find(|part| !part.is_empty())
        .unwrap_or_default()
}

/// `Auto-Submitted` with any value but `no` (RFC 3834).
fn auto_submitted(headers: &[(String, String)]) -> Option<String> {
    first_automatic(headers, "Auto-Submitted", |value| {
        !keyword(value).eq_ignore_ascii_case("no")
    })
}

/// `X-Autoreply` or `X-Autorespond`, whatever their value.
fn autoreply_header(headers: &[(String, String)]) -> Option<String> {
    first_automatic(headers, "X-Autoreply", |_| true)
        .or_else(|| first_automatic(headers, "X-Autorespond", |_| true))
}

/// `Precedence: bulk`, `junk`, `list` or `auto_reply`.
fn bulk_precedence(headers: &[(String, String)]) -> Option<String> {
    first_automatic(headers, "Precedence", |value| {
        let keyword = keyword(value);
        BULK_PRECEDENCE
            .iter()
            .any(|bulk| keyword.eq_ignore_ascii_case(bulk))
    })
}

/// `List-Id` or `List-Unsubscribe`: mailing list or newsletter traffic.
fn list_header(headers: &[(String, String)]) -> Option<String> {
    first_automatic(headers, "List-Id", |_| true)
        .or_else(|| first_automatic(headers, "List-Unsubscribe", |_| true))
}

/// A report content type: bounces (DSN) and read receipts (MDN).
fn report_content_type(headers: &[(String, String)]) -> Option<String> {
    values(headers, "Content-Type").find_map(|value| {
        let media_type = value.split(';').next().unwrap_or_default().trim();
        REPORT_TYPES
            .iter()
            .find(|report| media_type.eq_ignore_ascii_case(report))
            .map(|report| reason("Content-Type", report))
    })
}

/// `Return-Path: <>`, the null sender of bounces and other notifications.
fn empty_return_path(headers: &[(String, String)]) -> Option<String> {
    values(headers, "Return-Path")
        .any(|value| value.split_whitespace().collect::<String>() == "<>")
        .then(|| "Return-Path: <>".to_owned())
}

/// `X-Failed-Recipients`, set on bounces.
fn failed_recipients(headers: &[(String, String)]) -> Option<String> {
    first_automatic(headers, "X-Failed-Recipients", |_| true)
}

/// A system or no-reply sender: `from`, or else the `From` header.
fn robot_sender(headers: &[(String, String)], from: Option<&str>) -> Option<String> {
    let address = from.or_else(|| values(headers, "From").next())?;
    is_robot(local_part(address)).then(|| reason("From", addr_spec(address)))
}

/// Whether a local part names a system or no-reply sender.
fn is_robot(local_part: &str) -> bool {
    let local = local_part.trim_matches('"').to_ascii_lowercase();
    let local = local
        .split_once('+')
        .map_or(local.as_str(), |(base, _)| base);
    SYSTEM_SENDERS.contains(&local)
        || NO_REPLY_SENDERS.iter().any(|&name| {
            local
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.', '_', '+']))
        })
}

/// The address in `address`: inside the last `<…>`, else its first word.
fn addr_spec(address: &str) -> &str {
    match address.rsplit_once('<') {
        Some((_, inner)) => inner.split_once('>').map_or(inner, |(addr, _)| addr).trim(),
        None => address.split_whitespace().next().unwrap_or_default(),
    }
}

/// The local part of `address`: everything before its last `@` (all of it without one,
/// as in `From: MAILER-DAEMON`).
fn local_part(address: &str) -> &str {
    let addr = addr_spec(address);
    addr.rsplit_once('@').map_or(addr, |(local, _)| local)
}

/// A subject of an autoreply or a bounce.
fn automatic_subject(headers: &[(String, String)]) -> Option<String> {
    values(headers, "Subject")
        .find(|subject| {
            let subject = subject.trim_start();
            AUTOMATIC_SUBJECTS
                .iter()
                .any(|start| starts_with_ignore_ascii_case(subject, start))
        })
        .map(|subject| reason("Subject", subject))
}

/// `text.starts_with(prefix)`, ignoring ASCII case.
fn starts_with_ignore_ascii_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// A human's reply from Outlook, with the headers Outlook adds to ordinary mail.
    fn human() -> Vec<(String, String)> {
        headers(&[
            ("From", "Ann Example <ann@example.com>"),
            ("To", "openmog <approvals@example.org>"),
            ("Subject", "RE: Approval needed · a-7hq4rt"),
            ("Content-Type", "text/plain; charset=\"utf-8\""),
            ("Thread-Index", "AQHZ"),
            ("X-Auto-Response-Suppress", "All"),
            ("X-MS-Has-Attach", ""),
            ("Return-Path", "<ann@example.com>"),
            ("Auto-Submitted", "no"),
            ("Precedence", "first-class"),
        ])
    }

    fn with(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = human();
        all.extend(headers(extra));
        all
    }

    fn why(extra: &[(&str, &str)]) -> Option<String> {
        automatic_reason(&with(extra), None)
    }

    #[test]
    fn human_mail_is_not_automatic() {
        assert_eq!(automatic_reason(&human(), None), None);
        assert_eq!(
            automatic_reason(&human(), Some("Ann <ann@example.com>")),
            None
        );
        assert_eq!(automatic_reason(&[], None), None);
        assert_eq!(why(&[("Auto-Submitted", "No (sent by a human)")]), None);
        assert_eq!(
            why(&[("X-Auto-Response-Suppress", "DR, RN, NRN, OOF, AutoReply")]),
            None
        );
    }

    #[test]
    fn auto_submitted() {
        assert_eq!(
            why(&[("Auto-Submitted", "auto-replied")]),
            Some("Auto-Submitted: auto-replied".to_owned())
        );
        assert_eq!(
            why(&[(
                "auto-submitted",
                "auto-generated; owner-email=\"x@example.com\""
            )]),
            Some("Auto-Submitted: auto-generated; owner-email=\"x@example.com\"".to_owned())
        );
        assert!(why(&[("AUTO-SUBMITTED", "")]).is_some());
    }

    #[test]
    fn autoreply_headers() {
        assert_eq!(
            why(&[("X-Autoreply", "yes")]),
            Some("X-Autoreply: yes".to_owned())
        );
        assert_eq!(
            why(&[("x-autorespond", "vacation")]),
            Some("X-Autorespond: vacation".to_owned())
        );
    }

    #[test]
    fn precedence() {
        for value in ["bulk", "JUNK", "list", "auto_reply"] {
            assert_eq!(
                why(&[("Precedence", value)]),
                Some(format!("Precedence: {value}")),
                "{value}"
            );
        }
    }

    #[test]
    fn list_traffic() {
        assert_eq!(
            why(&[("List-Id", "Ops <ops.lists.example.com>")]),
            Some("List-Id: Ops <ops.lists.example.com>".to_owned())
        );
        assert!(why(&[("List-Unsubscribe", "<mailto:leave@example.com>")]).is_some());
    }

    #[test]
    fn reports() {
        assert_eq!(
            automatic_reason(
                &headers(&[(
                    "Content-Type",
                    "multipart/report; report-type=delivery-status;\r\n boundary=\"x\""
                )]),
                None
            ),
            Some("Content-Type: multipart/report".to_owned())
        );
        assert_eq!(
            automatic_reason(&headers(&[("Return-Path", " < > ")]), None),
            Some("Return-Path: <>".to_owned())
        );
        assert_eq!(
            automatic_reason(
                &headers(&[("X-Failed-Recipients", "ann@example.com")]),
                None
            ),
            Some("X-Failed-Recipients: ann@example.com".to_owned())
        );
    }

    #[test]
    fn robot_senders() {
        let robot = |from: &str| automatic_reason(&[], Some(from));
        assert_eq!(
            robot("MAILER-DAEMON@mx.example.com (Mail Delivery System)"),
            Some("From: MAILER-DAEMON@mx.example.com".to_owned())
        );
        assert!(robot("MAILER-DAEMON").is_some());
        assert!(robot("postmaster@example.com").is_some());
        assert!(robot("GitHub <noreply@github.com>").is_some());
        assert!(robot("no-reply@example.com").is_some());
        assert!(robot("DoNotReply@example.com").is_some());
        assert!(robot("noreply+abc@example.com").is_some());
        assert!(robot("no-reply-alerts@example.com").is_some());
        assert!(robot("\"noreply\"@example.com").is_some());
        assert_eq!(robot("noreplyann@example.com"), None);
        assert_eq!(robot("ann.noreply@example.com"), None);
        assert_eq!(robot("postmaster.ann@example.com"), None);
        assert_eq!(robot("Ann <ann@example.com>"), None);
        let from_header = headers(&[("from", "Mail Delivery <mailer-daemon@example.com>")]);
        assert_eq!(
            automatic_reason(&from_header, None),
            Some("From: mailer-daemon@example.com".to_owned())
        );
    }

    #[test]
    fn subjects() {
        for subject in [
            "Auto: Approval needed",
            "Automatic reply: Approval needed",
            "Out of Office: back Monday",
            "OUT OF OFFICE",
            "Autoreply: away",
            "Undeliverable: Approval needed",
            "Delivery Status Notification (Failure)",
            "  automatic Reply: x",
        ] {
            assert_eq!(
                automatic_reason(&headers(&[("Subject", subject)]), None),
                Some(format!("Subject: {}", subject.trim())),
                "{subject}"
            );
        }
        for subject in [
            "Re: Out of office plans",
            "Approve automatic replies?",
            "Automation: approve",
            "",
        ] {
            assert_eq!(
                automatic_reason(&headers(&[("Subject", subject)]), None),
                None,
                "{subject}"
            );
        }
    }

    #[test]
    fn long_values_are_shortened() {
        let long = "x".repeat(500);
        let reason = why(&[("X-Autoreply", long.as_str())]).unwrap_or_default();
        assert_eq!(
            reason.chars().count(),
            "X-Autoreply: ".len() + MAX_SHOWN_CHARS + 1
        );
        assert!(reason.ends_with('…'));
    }
}
