//! Tests of the parent module.

use super::*;

fn decision(verdict: Verdict, scope: DecisionScope, comment: &str) -> Option<ReplyDecision> {
    Some(ReplyDecision {
        verdict,
        scope,
        comment: comment.to_owned(),
    })
}

fn approve(comment: &str) -> Option<ReplyDecision> {
    decision(Verdict::Approve, DecisionScope::Step, comment)
}

fn approve_plan(comment: &str) -> Option<ReplyDecision> {
    decision(Verdict::Approve, DecisionScope::Plan, comment)
}

fn deny(comment: &str) -> Option<ReplyDecision> {
    decision(Verdict::Deny, DecisionScope::Step, comment)
}

#[test]
fn gmail_top_posting_keeps_only_the_answer() {
    let reply = "APPROVE\r\n\r\nOn Tue, 24 Nov 2026 at 10:00, Ann <ann@x.test> wrote:\r\n\
                 > Approval needed · a-7hq4rt\r\n> Reply APPROVE or DENY.\r\n";
    assert_eq!(strip_quoted(reply), "APPROVE");
    assert_eq!(parse_decision(&strip_quoted(reply)), approve(""));
}

#[test]
fn attribution_wrapped_over_lines() {
    let reply = "Deny: too risky\n\nOn Tue, 24 Nov 2026 at 10:00, Ann Example <\n\
                 ann@example.com> wrote:\n\n> APPROVE or DENY\n";
    assert_eq!(strip_quoted(reply), "Deny: too risky");
    let three = "ok\nOn Tuesday, 24 November 2026 at 10:00,\nAnn Example from the ops team\n\
                 <ann@example.com> wrote:\nAPPROVE\n";
    assert_eq!(strip_quoted(three), "ok");
}

#[test]
fn unquoted_history_after_an_attribution_is_cut() {
    let reply = "looks fine\nOn Tue, 24 Nov 2026 at 10:00, Ann <ann@x.test> wrote:\n\
                 APPROVE or DENY this step\n";
    assert_eq!(strip_quoted(reply), "looks fine");
    assert_eq!(parse_decision(&strip_quoted(reply)), None);
}

#[test]
fn bottom_posting_after_a_quote_is_kept() {
    let reply = "On Tue, 24 Nov 2026, Ann <ann@x.test> wrote:\n> Restart the web server?\n\
                 \nAPPROVE plan\n";
    assert_eq!(strip_quoted(reply), "APPROVE plan");
    assert_eq!(parse_decision(&strip_quoted(reply)), approve_plan(""));
}

#[test]
fn localized_attributions() {
    let german = "Nein.\n\nAm 24.11.2026 um 10:00 schrieb Ann <ann@x.test>:\nFrage\n";
    assert_eq!(strip_quoted(german), "Nein.");
    let gmail_german =
        "deny\n\nAm Di., 24. Nov. 2026 um 10:00 Uhr schrieb Ann <ann@x.test>:\n\n> x\n";
    assert_eq!(strip_quoted(gmail_german), "deny");
    let french =
        "approve\n\nLe mar. 24 nov. 2026 à 10:00, Ann <ann@x.test> a écrit\u{a0}:\nbonjour\n";
    assert_eq!(strip_quoted(french), "approve");
    let spanish = "deny\nEl mar, 24 nov 2026 a las 10:00, Ann (<ann@x.test>) escribió:\nhola\n";
    assert_eq!(strip_quoted(spanish), "deny");
    let dutch = "approve\nOp di 24 nov. 2026 om 10:00 schreef Ann <ann@x.test>:\nhallo\n";
    assert_eq!(strip_quoted(dutch), "approve");
}

#[test]
fn outlook_history_is_cut() {
    let underscores = "Approve\r\n\r\n________________________________\r\n\
                       From: Ann <ann@x.test>\r\nSent: Tuesday, November 24, 2026 10:00 AM\r\n\
                       To: ops\r\nSubject: Approval needed\r\n\r\nAPPROVE or DENY\r\n";
    assert_eq!(strip_quoted(underscores), "Approve");
    let original = "deny: not now\n\n-----Original Message-----\nFrom: x\nAPPROVE\n";
    assert_eq!(strip_quoted(original), "deny: not now");
    let german = "ok\n-----Ursprüngliche Nachricht-----\nVon: x\n";
    assert_eq!(strip_quoted(german), "ok");
    let block = "approve\n\nFrom: Ann <ann@x.test>\nDate: Tue, 24 Nov 2026\nSubject: x\nbody\n";
    assert_eq!(strip_quoted(block), "approve");
    let forwarded = "fyi\n---------- Forwarded message ---------\nFrom: x\nAPPROVE\n";
    assert_eq!(strip_quoted(forwarded), "fyi");
}

#[test]
fn signatures_and_mobile_footers_are_cut() {
    assert_eq!(strip_quoted("approve\n-- \nAnn\nOps lead"), "approve");
    assert_eq!(strip_quoted("approve\r\n--\r\nAnn"), "approve");
    assert_eq!(
        strip_quoted("APPROVE\n\nSent from my iPhone\n\n> x"),
        "APPROVE"
    );
    assert_eq!(
        strip_quoted("deny\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\nhistory"),
        "deny"
    );
    assert_eq!(strip_quoted("ok\nVon meinem iPhone gesendet\nx"), "ok");
}

#[test]
fn ordinary_text_is_kept() {
    let text = "On Monday we restart the server.\nI wrote: nothing.\nThe -- flag is fine\n\
                Sent from my desk I can see the rack, which is on fire\n> quoted\n\
                From: the logs\nAm Ende schrieb er nichts\n---\n_____\nend\n\n\n";
    assert_eq!(
        strip_quoted(text),
        "On Monday we restart the server.\nI wrote: nothing.\nThe -- flag is fine\n\
         Sent from my desk I can see the rack, which is on fire\n\
         From: the logs\nAm Ende schrieb er nichts\n---\n_____\nend"
    );
    assert_eq!(strip_quoted(""), "");
    assert_eq!(strip_quoted("> only\n> quotes\n"), "");
    assert_eq!(strip_quoted("\n\n  \nhi\n\n"), "hi");
}

#[test]
fn plain_decisions() {
    assert_eq!(parse_decision("APPROVE"), approve(""));
    assert_eq!(parse_decision("approved."), approve(""));
    assert_eq!(parse_decision("Approve!"), approve(""));
    assert_eq!(parse_decision("aPpRoVe"), approve(""));
    assert_eq!(parse_decision("DENY"), deny(""));
    assert_eq!(parse_decision("Denied."), deny(""));
    assert_eq!(parse_decision("*APPROVE*"), approve(""));
    assert_eq!(parse_decision("__deny__"), deny(""));
    assert_eq!(parse_decision("APPROVE PLAN\r\n"), approve_plan(""));
}

#[test]
fn scopes() {
    assert_eq!(parse_decision("approve whole plan"), approve_plan(""));
    assert_eq!(parse_decision("approve all"), approve_plan(""));
    assert_eq!(parse_decision("Approve the whole plan."), approve_plan(""));
    assert_eq!(parse_decision("approve the entire plan"), approve_plan(""));
    assert_eq!(parse_decision("**Approve** plan"), approve_plan(""));
    assert_eq!(parse_decision("approve plan: go"), approve_plan("go"));
    assert_eq!(parse_decision("approve planning"), approve("planning"));
    assert_eq!(
        parse_decision("approve the restart"),
        approve("the restart")
    );
    assert_eq!(parse_decision("APPROVE: plan"), approve("plan"));
    assert_eq!(parse_decision("DENY PLAN"), deny(""));
    assert_eq!(parse_decision("deny all, too risky"), deny("too risky"));
    assert_eq!(parse_decision("approve all: go"), approve_plan("go"));
    assert_eq!(parse_decision("approve all good"), approve("all good"));
    assert_eq!(parse_decision("approve plan-b"), approve("plan-b"));
}

#[test]
fn comments() {
    assert_eq!(
        parse_decision("\u{feff}\u{200b}  Deny: backup not finished  "),
        deny("backup not finished")
    );
    assert_eq!(parse_decision("Denied - too risky"), deny("too risky"));
    assert_eq!(
        parse_decision("approve, but watch the logs"),
        approve("but watch the logs")
    );
    assert_eq!(parse_decision("Approve — fine"), approve("fine"));
    assert_eq!(
        parse_decision("deny it is too late"),
        deny("it is too late")
    );
    assert_eq!(
        parse_decision("Approve. Why did it fail?"),
        approve("Why did it fail?")
    );
    let long = format!("deny: {}", "é".repeat(600));
    let comment = parse_decision(&long).map(|d| d.comment).unwrap_or_default();
    assert_eq!(comment.chars().count(), MAX_COMMENT_CHARS);
    assert!(comment.chars().all(|c| c == 'é'));
}

#[test]
fn first_unquoted_line_decides() {
    assert_eq!(parse_decision("> DENY\n\n  \nAPPROVE"), approve(""));
    assert_eq!(parse_decision("\n**\napprove"), approve(""));
    assert_eq!(parse_decision("Hi,\nAPPROVE"), None);
}

#[test]
fn not_decisions() {
    for text in [
        "",
        "   \n\n",
        "> APPROVE",
        "Approvement",
        "I approve",
        "approve?",
        "approve ?",
        "Approve plan?",
        "approve the restart?",
        "approve!?",
        "Approve's fine",
        "approve-plan",
        "approve_all",
        "deny-list it",
        "approve2",
        "approveé",
        "yes",
        "👍",
    ] {
        assert_eq!(parse_decision(text), None, "{text:?}");
    }
}

/// A small deterministic generator, so the property tests need no crates.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap_or_default() % n.max(1)
    }
}

const FRAGMENTS: [&str; 30] = [
    "APPROVE",
    "deny",
    "approve plan",
    "Denied",
    " ",
    "\n",
    "\r\n",
    "\r",
    ">",
    "> ",
    ":",
    "?",
    "!",
    "*",
    "_",
    "-- ",
    "--",
    "On 24 Nov 2026, Ann <a@x> wrote:",
    "Am 1.1. schrieb A:",
    "________________________________",
    "From: a",
    "Sent: b",
    "-----Original Message-----",
    "Sent from my iPhone",
    "\u{feff}",
    "\u{200b}",
    "é",
    "😀",
    "\0",
    "\u{a0}",
];

#[test]
fn never_panics_on_tricky_inputs() {
    let long_line = "a".repeat(10_000);
    let long_emoji = format!("APPROVE {}", "😀".repeat(3_000));
    let long_deny = format!("deny:{}", "ß".repeat(10_000));
    let many_attributions = "On 1 x wrote\n".repeat(3_000);
    let tricky = [
        "",
        ">",
        "> > >\n>>",
        "\r\n\r\n",
        "\r",
        "APPROVE\r\n> q\r\n",
        "\0APPROVE\0",
        "\u{feff}",
        "\u{feff}APPROVE",
        "approve\u{200b}plan",
        "é",
        "**",
        "* *",
        "--",
        "-- \n--",
        "On ",
        "On 1:",
        "Le \u{a0}:",
        "\u{10ffff}\u{fffd}\u{e000}",
        "deny\u{301}",
        "APPROVE\u{202e}evil",
        long_line.as_str(),
        long_emoji.as_str(),
        long_deny.as_str(),
        many_attributions.as_str(),
    ];
    for text in tricky {
        fuzz_reply(text.as_bytes());
        let _ = parse_decision(text);
        let _ = strip_quoted(text);
    }
    fuzz_reply(&[
        0xff, 0xfe, b'A', b'P', b'P', b'R', b'O', b'V', b'E', 0xe9, b'\n',
    ]);
    fuzz_reply(b"Subject: x\r\n\r\napprove: ok\xe9\r\n");
}

#[test]
fn never_panics_on_generated_inputs() {
    let mut rng = Lcg(0x5eed);
    for _ in 0..3_000 {
        let mut text = String::new();
        for _ in 0..rng.below(12) {
            text.push_str(FRAGMENTS.get(rng.below(FRAGMENTS.len())).unwrap_or(&""));
        }
        fuzz_reply(text.as_bytes());
        let bytes: Vec<u8> = (0..rng.below(40))
            .map(|_| u8::try_from(rng.below(256)).unwrap_or_default())
            .collect();
        fuzz_reply(&bytes);
    }
}
