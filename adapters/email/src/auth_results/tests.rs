//! Tests of the parent module.

use super::*;

const GMAIL: &str = "mx.google.com;\r\n       dkim=pass header.i=@example.com \
    header.s=20230601 header.b=abc;\r\n       spf=pass (google.com: domain of \
    x@example.com designates 1.2.3.4 as permitted sender) smtp.mailfrom=x@example.com;\r\n       \
    dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com";

const MICROSOFT: &str = "spf=pass (sender IP is 1.2.3.4)\r\n smtp.mailfrom=example.com; \
    dkim=pass (signature was verified)\r\n header.d=example.com;dmarc=pass action=none\r\n \
    header.from=example.com;compauth=pass reason=100";

const FASTMAIL: &str = "mx3.messagingengine.com;\n    dkim=pass (2048-bit rsa key sha256) \
    header.d=example.com header.i=@example.com header.b=abcdefgh header.a=rsa-sha256 \
    header.s=fm1 x-bits=2048;\n    dmarc=pass policy.published-domain-policy=none \
    (p=none,d=none,d.eval=none) policy.policy-from=p header.from=example.com;\n    \
    iprev=pass smtp.remote-ip=1.2.3.4 (mail.example.com);\n    spf=pass \
    smtp.mailfrom=x@example.com smtp.helo=mail.example.com;\n    \
    x-aligned-from=pass (Address match);\n    arc=none (no signatures found)";

fn trusted(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

fn reason(verification: &Verification) -> &str {
    match verification {
        Verification::Pass { .. } => "",
        Verification::Fail { reason } => reason,
    }
}

fn result(method: &str, result: &str, props: &[(&str, &str)]) -> MethodResult {
    MethodResult {
        method: method.to_owned(),
        result: result.to_owned(),
        props: props
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

#[test]
fn parses_gmail() {
    let parsed = parse(GMAIL);
    let expected = AuthResults {
        authserv_id: "mx.google.com".to_owned(),
        results: vec![
            result(
                "dkim",
                "pass",
                &[
                    ("header.i", "@example.com"),
                    ("header.s", "20230601"),
                    ("header.b", "abc"),
                ],
            ),
            result("spf", "pass", &[("smtp.mailfrom", "x@example.com")]),
            result("dmarc", "pass", &[("header.from", "example.com")]),
        ],
    };
    assert_eq!(parsed, Some(expected));
}

#[test]
fn parses_microsoft_without_authserv_id() {
    let parsed = parse(MICROSOFT).unwrap_or_default();
    assert_eq!(parsed.authserv_id, "");
    let methods: Vec<&str> = parsed.results.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["spf", "dkim", "dmarc", "compauth"]);
    let dmarc = parsed.results.get(2).cloned().unwrap_or_default();
    assert_eq!(dmarc.prop("action"), Some("none"));
    assert_eq!(dmarc.prop("header.from"), Some("example.com"));
    let compauth = parsed.results.get(3).cloned().unwrap_or_default();
    assert_eq!(compauth.prop("reason"), Some("100"));
}

#[test]
fn parses_fastmail() {
    let parsed = parse(FASTMAIL).unwrap_or_default();
    assert_eq!(parsed.authserv_id, "mx3.messagingengine.com");
    let methods: Vec<(&str, &str)> = parsed
        .results
        .iter()
        .map(|r| (r.method.as_str(), r.result.as_str()))
        .collect();
    assert_eq!(
        methods,
        [
            ("dkim", "pass"),
            ("dmarc", "pass"),
            ("iprev", "pass"),
            ("spf", "pass"),
            ("x-aligned-from", "pass"),
            ("arc", "none"),
        ]
    );
    let dkim = parsed.results.first().cloned().unwrap_or_default();
    assert_eq!(dkim.prop("header.d"), Some("example.com"));
    assert_eq!(dkim.prop("x-bits"), Some("2048"));
}

#[test]
fn parses_versions_none_quotes_and_nested_comments() {
    assert_eq!(
        parse("example.org 1; none"),
        Some(AuthResults {
            authserv_id: "example.org".to_owned(),
            results: vec![],
        })
    );
    let parsed = parse(
        "mx.example.com (a (nested; comment) here); DKIM/1 = FAIL \
         reason=\"bad; signature \\\"x\\\"\" header.d=Example.com; dmarc=pass",
    )
    .unwrap_or_default();
    assert_eq!(parsed.authserv_id, "mx.example.com");
    assert_eq!(
        parsed.results,
        [
            result(
                "dkim",
                "fail",
                &[
                    ("reason", "bad; signature \"x\""),
                    ("header.d", "Example.com")
                ]
            ),
            result("dmarc", "pass", &[]),
        ]
    );
    assert_eq!(parse(""), None);
    assert_eq!(parse("  ; dkim=pass"), None);
    assert_eq!(parse("(only a comment)"), None);
}

#[test]
fn gmail_passes_dmarc() {
    let verification = verify(
        &[GMAIL],
        &trusted(&["MX.Google.COM"]),
        "Example.COM",
        Requirement::Dmarc,
    );
    assert_eq!(verification, Verification::Pass { method: "dmarc" });
    let fastmail = verify(
        &[FASTMAIL],
        &trusted(&["mx3.messagingengine.com"]),
        "example.com",
        Requirement::Dmarc,
    );
    assert!(fastmail.is_pass());
}

#[test]
fn microsoft_counts_only_when_the_empty_id_is_trusted() {
    let not_trusted = verify(
        &[MICROSOFT],
        &trusted(&["mx.example.com"]),
        "example.com",
        Requirement::Dmarc,
    );
    assert!(!not_trusted.is_pass());
    let empty_trusted = verify(
        &[MICROSOFT],
        &trusted(&[""]),
        "example.com",
        Requirement::Dmarc,
    );
    assert!(empty_trusted.is_pass());
}

#[test]
fn only_the_topmost_trusted_header_counts() {
    let headers = [
        "relay.internal; none",
        "mx.example.com; dmarc=fail header.from=example.com",
        "mx.example.com; dmarc=pass header.from=example.com",
    ];
    let verification = verify(
        &headers,
        &trusted(&["mx.example.com"]),
        "example.com",
        Requirement::DkimAligned,
    );
    assert_eq!(
        reason(&verification),
        "DMARC result is fail for example.com"
    );
    let above = [
        "relay.internal; dmarc=fail header.from=example.com",
        "mx.example.com; dmarc=pass header.from=example.com",
    ];
    let verification = verify(
        &above,
        &trusted(&["mx.example.com"]),
        "example.com",
        Requirement::Dmarc,
    );
    assert!(verification.is_pass());
}

#[test]
fn untrusted_or_missing_headers_fail() {
    let untrusted = verify(
        &["evil.test; dmarc=pass header.from=example.com"],
        &trusted(&["mx.example.com"]),
        "example.com",
        Requirement::Dmarc,
    );
    assert_eq!(
        reason(&untrusted),
        "no Authentication-Results header from a trusted server (mx.example.com)"
    );
    let missing = verify(
        &[],
        &trusted(&["mx.example.com", "mx2.example.com"]),
        "example.com",
        Requirement::Dmarc,
    );
    assert_eq!(
        reason(&missing),
        "no Authentication-Results header from a trusted server \
         (mx.example.com, mx2.example.com)"
    );
    let nobody = verify(&[GMAIL], &[], "example.com", Requirement::Dmarc);
    assert_eq!(
        reason(&nobody),
        "no trusted authentication server is configured"
    );
    let no_domain = verify(
        &[GMAIL],
        &trusted(&["mx.google.com"]),
        "",
        Requirement::Dmarc,
    );
    assert!(!no_domain.is_pass());
}

#[test]
fn dmarc_failures_are_specific() {
    let ids = trusted(&["mx.example.com"]);
    let check = |header: &str| {
        reason(&verify(&[header], &ids, "example.test", Requirement::Dmarc)).to_owned()
    };
    assert_eq!(
        check("mx.example.com; dmarc=fail (p=reject) header.from=example.test"),
        "DMARC result is fail for example.test"
    );
    assert_eq!(
        check("mx.example.com; dmarc=pass header.from=other.test"),
        "DMARC passed for other.test, not for example.test"
    );
    assert_eq!(
        check("mx.example.com; dmarc=none header.from=example.test"),
        "DMARC result is none for example.test"
    );
    assert_eq!(
        check("mx.example.com; spf=pass smtp.mailfrom=example.test"),
        "mx.example.com reported no DMARC result"
    );
    assert_eq!(
        check("mx.example.com; dmarc=pass header.from=example.test; dmarc=fail"),
        "DMARC result is fail for example.test"
    );
    assert_eq!(check("mx.example.com; dmarc=pass"), "");
}

#[test]
fn aligned_dkim_passes_only_when_accepted_and_dmarc_gave_no_verdict() {
    let ids = trusted(&["mx.example.com"]);
    let header = "mx.example.com; dkim=pass header.d=sub.example.com; dmarc=none";
    assert_eq!(
        verify(&[header], &ids, "example.com", Requirement::DkimAligned),
        Verification::Pass { method: "dkim" }
    );
    assert_eq!(
        reason(&verify(&[header], &ids, "example.com", Requirement::Dmarc)),
        "DMARC result is none for example.com"
    );
    let by_identity = "mx.example.com; dkim=pass header.i=ann@mail.example.com";
    assert!(
        verify(
            &[by_identity],
            &ids,
            "example.com",
            Requirement::DkimAligned
        )
        .is_pass()
    );
    let other = "mx.example.com; dkim=pass header.d=other.test";
    assert_eq!(
        reason(&verify(
            &[other],
            &ids,
            "example.com",
            Requirement::DkimAligned
        )),
        "mx.example.com reported no DMARC result, and DKIM passed only for other.test, \
         which is not aligned with example.com"
    );
    let failed = "mx.example.com; dkim=fail header.d=example.com; dkim=neutral";
    assert_eq!(
        reason(&verify(
            &[failed],
            &ids,
            "example.com",
            Requirement::DkimAligned
        )),
        "mx.example.com reported no DMARC result, and no DKIM signature passed \
         (dkim=fail, neutral)"
    );
    let dmarc_fail = "mx.example.com; dkim=pass header.d=example.com; dmarc=fail";
    assert_eq!(
        reason(&verify(
            &[dmarc_fail],
            &ids,
            "example.com",
            Requirement::DkimAligned
        )),
        "DMARC result is fail for example.com"
    );
}

#[test]
fn alignment() {
    assert!(aligned("sub.example.com", "example.com"));
    assert!(aligned("example.com", "a.b.example.com"));
    assert!(aligned("Example.COM.", "example.com"));
    assert!(aligned("mail.bbc.co.uk", "bbc.co.uk"));
    assert!(aligned("a.shop.com.au", "shop.com.au"));
    assert!(!aligned("a.co.uk", "b.co.uk"));
    assert!(!aligned("co.uk", "bbc.co.uk"));
    assert!(!aligned("example.com", "example.org"));
    assert!(!aligned("notexample.com", "example.com"));
    assert!(!aligned("evil-example.com", "example.com"));
    assert!(!aligned("", ""));
    assert!(!aligned("a..com", "a..com"));
}

#[test]
fn from_domains() {
    assert_eq!(
        from_domain("Ann <Ann@Example.COM>"),
        Some("example.com".to_owned())
    );
    assert_eq!(
        from_domain("x@sub.example.com."),
        Some("sub.example.com".to_owned())
    );
    assert_eq!(
        from_domain("\"a@b\" <real@example.org>"),
        Some("example.org".to_owned())
    );
    assert_eq!(
        from_domain("\"evil <x@evil.test>\" <real@example.org>"),
        Some("example.org".to_owned())
    );
    assert_eq!(from_domain("no-at-sign"), None);
    assert_eq!(from_domain("a@"), None);
    assert_eq!(from_domain("<a@bad domain>"), None);
    assert_eq!(from_domain(""), None);
}

#[test]
fn never_panics_on_garbage() {
    let garbage = [
        "",
        ";",
        ";;;",
        "(",
        ")",
        "((((",
        "))))",
        "\"",
        "\"\\",
        "\\",
        "=",
        "=;=;=",
        "x; dkim",
        "x; =pass",
        "x; dkim=",
        "x; dkim==pass",
        "x; dkim=pass header.d=",
        "x; dkim=\"pass",
        "x (unterminated; dkim=pass",
        "x; dkim=pass (a\\) b) header.d=é.test",
        "é; ü=ö",
        "\0; \0=\0",
        "x; dmarc=pass header.from=@",
        "x; dkim=pass header.i=@",
    ];
    let ids = trusted(&["x", ""]);
    for value in garbage {
        let _ = parse(value);
        let _ = verify(&[value], &ids, "example.com", Requirement::DkimAligned);
        let _ = from_domain(value);
        let _ = aligned(value, value);
    }
    let mut state = 0x1234_5678_u64;
    let alphabet = [
        '(', ')', '"', '\\', ';', '=', ' ', 'a', '.', '@', 'é', '\n', 'd',
    ];
    for _ in 0..2_000 {
        let mut value = String::new();
        for _ in 0..32 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let pick = usize::try_from(state >> 33).unwrap_or_default() % alphabet.len();
            value.extend(alphabet.get(pick));
        }
        let _ = parse(&value);
        let _ = verify(&[value.as_str()], &ids, "a.a", Requirement::DkimAligned);
        let _ = from_domain(&value);
    }
}
