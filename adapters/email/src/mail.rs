//! An incoming mail as the adapter needs it: parsed with mail-parser (MIME, character sets,
//! HTML turned into text), addresses lower-cased, thread ids without angle brackets, and
//! attachments listed with their sizes.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// One attachment of a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attachment {
    /// Its file name (or a made-up one), never a path.
    pub name: String,
    /// Its MIME type.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// Its content, if within the size limit (and not yet written out).
    pub content: Option<Vec<u8>>,
    /// Where it was kept, if it was.
    pub saved: Option<std::path::PathBuf>,
}

/// What the adapter reads from a mail.
#[derive(Debug, Clone, Default)]
pub(crate) struct IncomingMail {
    /// The Message-ID without angle brackets, or a digest of the raw mail if it has none.
    pub id: String,
    /// The From address, lower-case.
    pub from: Option<String>,
    /// The From display name.
    pub from_name: String,
    /// To and Cc addresses, lower-case.
    pub recipients: Vec<String>,
    /// Where the receiving server says it delivered the mail (Delivered-To, X-Original-To):
    /// the plus address of a reply shows here even when To was rewritten.
    pub delivered_to: Vec<String>,
    /// The decoded subject.
    pub subject: String,
    /// In-Reply-To ids.
    pub in_reply_to: Vec<String>,
    /// References ids, oldest first.
    pub references: Vec<String>,
    /// The body as text (HTML converted).
    pub text: String,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Every header as (name, raw value), in order.
    pub headers: Vec<(String, String)>,
    /// The values of every Authentication-Results header, topmost first.
    pub auth_results: Vec<String>,
}

impl IncomingMail {
    /// Parses `raw`; attachments larger than `max_attachment` are listed without content.
    /// `None` if it is not a mail at all.
    pub(crate) fn parse(raw: &[u8], max_attachment: usize) -> Option<IncomingMail> {
        let message = MessageParser::default().parse(raw)?;
        let headers: Vec<(String, String)> = message
            .headers_raw()
            .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
            .collect();
        let raw_values = |name: &str| -> Vec<String> {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let from = message.from().and_then(|a| a.first());
        Some(IncomingMail {
            id: message
                .message_id()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("sha256-{}", digest(raw))),
            from: from.and_then(|a| a.address()).map(str::to_ascii_lowercase),
            from_name: from.and_then(|a| a.name()).unwrap_or_default().to_owned(),
            recipients: message
                .to()
                .into_iter()
                .chain(message.cc())
                .flat_map(|list| list.iter())
                .filter_map(|a| a.address())
                .map(str::to_ascii_lowercase)
                .collect(),
            delivered_to: ["Delivered-To", "X-Original-To"]
                .iter()
                .flat_map(|name| raw_values(name))
                .map(|v| v.trim_matches(['<', '>', ' ']).to_ascii_lowercase())
                .collect(),
            subject: message.subject().unwrap_or_default().trim().to_owned(),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            text: message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            attachments: attachments(&message, max_attachment),
            auth_results: raw_values("Authentication-Results"),
            headers,
        })
    }

    /// The headers with the decoded subject, as automatic-mail detection reads them.
    pub(crate) fn headers_for_checks(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("Subject"))
            .cloned()
            .collect();
        headers.push(("Subject".to_owned(), self.subject.clone()));
        headers
    }
}

/// Message ids of an In-Reply-To or References header, without angle brackets.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn attachments(message: &Message<'_>, max: usize) -> Vec<Attachment> {
    message
        .attachments()
        .enumerate()
        .map(|(n, part)| {
            let contents = part.contents();
            Attachment {
                name: part
                    .attachment_name()
                    .map(safe_file_name)
                    .unwrap_or_else(|| format!("attachment-{}", n + 1)),
                content_type: part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{sub}", ct.ctype()),
                        None => ct.ctype().to_owned(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                size: contents.len(),
                content: (contents.len() <= max).then(|| contents.to_vec()),
                saved: None,
            }
        })
        .collect()
}

/// A file name that cannot leave the directory it is written to.
fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| if c.is_control() || c == ':' { '_' } else { c })
        .take(120)
        .collect();
    match clean.trim_start_matches('.') {
        "" => "attachment".to_owned(),
        name => name.to_owned(),
    }
}

/// A short hex digest of `bytes`.
pub(crate) fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_charsets_html_and_attachments() {
        let raw = concat!(
            "From: =?ISO-8859-1?Q?J=F6rg?= <Joerg@Example.TEST>\r\n",
            "To: agent@example.test, Other <other@example.test>\r\n",
            "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n",
            "Message-ID: <m1@example.test>\r\n",
            "In-Reply-To: <m0@example.test>\r\n",
            "References: <root@example.test> <m0@example.test>\r\n",
            "Authentication-Results: mx.example.test; dmarc=pass header.from=example.test\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n",
            "\r\n",
            "--b\r\n",
            "Content-Type: text/html; charset=iso-8859-1\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "\r\n",
            "<p>Sch=F6n &amp; gut</p>\r\n",
            "--b\r\n",
            "Content-Type: application/pdf; name=\"../../etc/passwd\"\r\n",
            "Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n",
            "Content-Transfer-Encoding: base64\r\n",
            "\r\n",
            "aGVsbG8gd29ybGQ=\r\n",
            "--b--\r\n",
        );
        let mail = IncomingMail::parse(raw.as_bytes(), 5).expect("a mail");
        assert_eq!(mail.id, "m1@example.test");
        assert_eq!(mail.from.as_deref(), Some("joerg@example.test"));
        assert_eq!(mail.from_name, "Jörg");
        assert_eq!(
            mail.recipients,
            ["agent@example.test", "other@example.test"]
        );
        assert_eq!(mail.subject, "Grüße");
        assert_eq!(mail.in_reply_to, ["m0@example.test"]);
        assert_eq!(mail.references, ["root@example.test", "m0@example.test"]);
        assert!(mail.text.contains("Schön & gut"), "{:?}", mail.text);
        assert_eq!(mail.auth_results.len(), 1);
        let attachment = &mail.attachments[0];
        assert_eq!(attachment.name, "passwd", "no path survives");
        assert_eq!((attachment.size, attachment.content.is_none()), (11, true));
    }

    #[test]
    fn a_mail_without_message_id_gets_a_stable_digest() {
        let raw = b"From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let one = IncomingMail::parse(raw, 0).expect("a mail");
        let two = IncomingMail::parse(raw, 0).expect("a mail");
        assert!(one.id.starts_with("sha256-"));
        assert_eq!(one.id, two.id);
    }
}
