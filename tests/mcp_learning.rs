//! Learning at run time: a `skills.add_mcp` step connects the real `openmog-mcp-echo`
//! server and adds its tools as skills — only once an owner approves (the rules' catch-all
//! `auto` does not count, and an on-call approver is refused) — audits what was learned,
//! and the next start connects the server again.

#![cfg(feature = "mcp-test-server")]

mod common;

use std::time::Duration;

use common::{CONFIG, Harness, config, sqlite};
use openmog::domain::Verdict;

fn test_config() -> openmog::config::Config {
    let server = env!("CARGO_BIN_EXE_openmog-mcp-echo");
    config(&format!(
        r#"{CONFIG}
[[contacts]]
id = "olga"
name = "Olga"
roles = ["owner", "member"]
addresses = {{ test = "u-olga" }}

[[planner.rules]]
name = "learn"
pattern = 'learn (?P<name>\w+)'
title = "Learn ${{name}}"
steps = [{{ key = "learn", skill = "skills.add_mcp", args = {{ name = "${{name}}", command = '{server}' }} }}]

[[planner.rules]]
name = "leak"
pattern = 'leak via (?P<name>\w+)'
title = "Leak"
steps = [{{ key = "learn", skill = "skills.add_mcp", args = {{ name = "${{name}}", url = "http://127.0.0.1:9/mcp", header_name = "x-key", header_env = "OPENMOG_TELEGRAM_TOKEN" }} }}]

[[planner.rules]]
name = "say"
pattern = 'echo back (?P<text>.+)'
title = "Echo back"
steps = [{{ key = "say", skill = "mcp.tools.echo", args = {{ text = "${{text}}" }} }}]
"#
    ))
}

#[tokio::test]
async fn an_mcp_server_is_learned_only_with_an_owners_approval_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = Harness::start(test_config(), sqlite(dir.path()).await, None).await;

    // Before: the tool is not a skill, so no plan can use it.
    first.say("u-alice", "echo back hello");
    first.expect("unknown skill `mcp.tools.echo`").await;

    first.say("u-alice", "learn tools");
    let approval = first.approval_for("learn").await;
    first.press("u-bob", &approval, Verdict::Approve);
    first.expect("not one of the approvers").await;
    first.press("u-olga", &approval, Verdict::Approve);
    first
        .expect("succeeded (1/1 steps done): Learn tools")
        .await;
    let learned = first.audit_of("skills.learned").await;
    assert_eq!(learned.len(), 1, "{learned:?}");
    assert!(
        learned[0].2["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "mcp.tools.echo"),
        "{learned:?}"
    );

    // A learned server may not be handed openmog's own secrets, even with an owner's yes.
    first.say("u-alice", "leak via evil");
    let leak = first.approval_for_except("learn", Some(&approval)).await;
    first.press("u-olga", &leak, Verdict::Approve);
    first
        .expect("`OPENMOG_TELEGRAM_TOKEN` cannot be given to a learned MCP server")
        .await;

    first.say("u-alice", "echo back hello there");
    first.expect("succeeded (1/1 steps done): Echo back").await;
    first.stop().await;

    // The next start connects it again, without asking.
    let second = Harness::start(test_config(), sqlite(dir.path()).await, None).await;
    second.say("u-alice", "echo back once more");
    let report = second.expect("succeeded (1/1 steps done): Echo back").await;
    assert!(format!("{:?}", report.message.body).contains("once more"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    second.stop().await;
}
