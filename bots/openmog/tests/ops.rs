//! `openmog run` as an operator sees it: `/healthz`, `/readyz` and `/metrics` on the
//! configured address, counters that move when a request is handled, readiness that
//! drops when the store goes away or a channel cannot connect, and SIGTERM in the middle of
//! a plan: the step finishes, the outbox is flushed, leases on a shared store are released,
//! and the next start finds nothing left over.

mod common;

use std::path::Path;
use std::time::Duration;

use openmog_telegram::fake::{ChatRef, FakeTelegram, TgUser};

const TOKEN: &str = "515151:AAH-ops-test-token";
const ALICE: i64 = 7001;

fn config(telegram: &FakeTelegram, port: u16, store: &str) -> String {
    format!(
        r#"
[[contacts]]
id = "alice"
name = "Alice"
roles = ["member"]
addresses = {{ telegram = "{ALICE}" }}

[authorizations]
chat = ["role:member"]

[[authorizations.rules]]
skill = "memory.remember"
decision = "approve"
approvers = ["alice"]

[[authorizations.rules]]
skill = "*"
decision = "auto"

[store]
url = "{store}"

[ops]
listen = "127.0.0.1:{port}"
shutdown_grace = "15s"

[channels.telegram]
kind = "telegram"
pacing = {{ per_conversation = "100/s", per_channel = "100/s" }}
settings = {{ token = "{TOKEN}", api_url = "{api}", poll_timeout = "1s", request_timeout = "2s" }}

[[planner.rules]]
name = "hello"
pattern = 'hello'
title = "Hello"
steps = [{{ key = "say", skill = "echo", args = {{ text = "hi" }} }}]

[[planner.rules]]
name = "remember"
pattern = 'remember (?P<what>.+)'
title = "Remember"
steps = [{{ key = "note", skill = "memory.remember", args = {{ text = "${{what}}" }} }}]

[[planner.rules]]
name = "slow"
pattern = 'slow (?P<ms>\d+)'
title = "Slow ${{ms}}"
steps = [{{ key = "nap", skill = "wait", args = {{ ms = "${{ms}}" }} }}]
"#,
        api = telegram.api_url(),
    )
}

async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

async fn until_up(port: u16, log: &Path) {
    for _ in 0..200 {
        if let Some((200, _)) = get(port, "/healthz").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "openmog run never served /healthz:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The value of the first sample of `metric` whose labels contain all of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(metric) && labels.iter().all(|label| l.contains(label)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn said(telegram: &FakeTelegram, needle: &str) {
    let here = ChatRef::private(ALICE);
    telegram
        .wait_until(needle, Duration::from_secs(30), |f| {
            f.messages(here).iter().any(|m| m.text.contains(needle))
        })
        .await;
}

/// `openmog run` on SQLite with the fake Telegram, serving its endpoints.
struct Running {
    telegram: FakeTelegram,
    dir: tempfile::TempDir,
    port: u16,
    log: std::path::PathBuf,
    bot: std::process::Child,
}

async fn start_on_sqlite() -> Running {
    start("sqlite://state/openmog.db").await
}

/// `openmog run` on the store at `url` with the fake Telegram, once ready.
async fn start(url: &str) -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let telegram = FakeTelegram::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    std::fs::write(dir.path().join("bot.toml"), config(&telegram, port, url)).unwrap();
    let log = dir.path().join("run.log");
    let bot = common::run(dir.path(), &log, &[("RUST_LOG", "info")]);
    until_up(port, &log).await;
    until_ready(port, &log).await;
    Running {
        telegram,
        dir,
        port,
        log,
        bot,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_when_a_request_is_handled() {
    let Running {
        telegram,
        dir,
        port,
        log: _,
        mut bot,
    } = start_on_sqlite().await;
    assert_eq!(get(port, "/readyz").await.unwrap().0, 200);

    let (_, before) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&before, "openmog_inbound_events_total", &["telegram"]),
        None,
        "{before}"
    );
    telegram.user_says(
        ChatRef::private(ALICE),
        &TgUser::new(ALICE, "Alice"),
        "hello",
    );
    said(&telegram, "succeeded").await;

    let (status, after) = get(port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        sample(
            &after,
            "openmog_inbound_events_total",
            &["channel=\"telegram\""]
        ),
        Some(1.0),
        "{after}"
    );
    assert!(
        sample(
            &after,
            "openmog_outbound_messages_total",
            &["telegram", "outcome=\"sent\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert!(
        sample(
            &after,
            "openmog_step_duration_seconds_count",
            &["skill=\"echo\"", "succeeded"]
        ) == Some(1.0),
        "{after}"
    );
    assert!(sample(&after, "openmog_planner_latency_seconds_count", &["plan"]) == Some(1.0));
    assert!(
        sample(&after, "openmog_outbox_depth", &[]).is_some(),
        "{after}"
    );
    assert!(
        sample(&after, "openmog_open_approvals", &[]) == Some(0.0),
        "{after}"
    );

    // A plan that waits for Alice: the gauge and `openmog status` say so.
    telegram.user_says(
        ChatRef::private(ALICE),
        &TgUser::new(ALICE, "Alice"),
        "remember milk",
    );
    said(&telegram, "Approval needed").await;
    let (_, waiting) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&waiting, "openmog_open_approvals", &[]),
        Some(1.0),
        "{waiting}"
    );
    let (ok, status) = common::openmog(dir.path(), &["status"], "", &[]);
    assert!(ok, "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("waiting\t") && l.contains("on Alice") && l.contains("/note")),
        "{status}"
    );
    assert!(common::terminate(&mut bot, Duration::from_secs(20)));
    telegram.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_plan_finishes_the_step_flushes_the_outbox_and_leaves_nothing() {
    let Running {
        telegram,
        dir,
        port,
        log,
        mut bot,
    } = start_on_sqlite().await;

    telegram.user_says(
        ChatRef::private(ALICE),
        &TgUser::new(ALICE, "Alice"),
        "slow 2500",
    );
    said(&telegram, "Slow 2500").await;
    let stopping = std::time::Instant::now();
    assert!(
        common::terminate(&mut bot, Duration::from_secs(20)),
        "exits cleanly within the grace period"
    );
    let took = stopping.elapsed();
    said(&telegram, "succeeded").await;
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("stopping") && logs.contains("stopped"),
        "{logs}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");

    // Nothing is left for the next start: no open plan, an empty outbox.
    let (ok, plans) = common::openmog(dir.path(), &["plans"], "", &[]);
    assert!(ok && plans.contains("no open plans"), "{plans}");
    let mut again = common::run(dir.path(), &log, &[("RUST_LOG", "info")]);
    until_up(port, &log).await;
    let (_, metrics) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&metrics, "openmog_outbox_depth", &[]),
        Some(0.0),
        "{metrics}"
    );
    assert!(common::terminate(&mut again, Duration::from_secs(20)));
    telegram.stop().await;
}

/// A fresh schema on the machine's Postgres (`TEST_POSTGRES_URL`), its store URL and an
/// admin pool; `None` (a printed skip) without a server outside CI.
async fn postgres_schema() -> Option<(sqlx::PgPool, String, String)> {
    let base = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let Ok(admin) = sqlx::PgPool::connect(&base).await else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no Postgres at {base} (CI=true: a missing server is a failure)"
        );
        eprintln!("SKIPPED: no Postgres at {base}; set TEST_POSTGRES_URL to run this test");
        return None;
    };
    let schema = format!("ops_{}", openmog::domain::new_short_id(10));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let store = format!("{base}?options[search_path]={schema}");
    Some((admin, schema, store))
}

/// Waits until `/readyz` answers 200.
async fn until_ready(port: u16, log: &Path) {
    let mut last = None;
    for _ in 0..200 {
        match get(port, "/readyz").await {
            Some((200, _)) => return,
            other => last = other,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "never ready; last answer {last:?}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_every_channel_to_connect() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The platform does not take the bot's token: the channel never connects.
    let telegram = FakeTelegram::start("626262:AAH-some-other-bot").await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    std::fs::write(
        dir.path().join("bot.toml"),
        config(&telegram, port, "sqlite://state/openmog.db"),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let mut bot = common::run(dir.path(), &log, &[("RUST_LOG", "warn")]);
    until_up(port, &log).await;
    let mut answer = get(port, "/readyz").await.unwrap();
    for _ in 0..100 {
        if answer.1.contains("down") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        answer = get(port, "/readyz").await.unwrap();
    }
    let (status, body) = answer;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("channel telegram down: getMe failed"),
        "{body}"
    );
    assert!(!body.contains(TOKEN), "{body}");
    let (_, metrics) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&metrics, "openmog_channel_connected", &["telegram"]),
        Some(0.0),
        "{metrics}"
    );
    assert!(common::terminate(&mut bot, Duration::from_secs(20)));
    telegram.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_shared_store_sigterm_releases_every_lease() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some((_admin, _schema, store)) = postgres_schema().await else {
        return;
    };
    let Running {
        telegram,
        dir,
        port,
        mut bot,
        ..
    } = start(&store).await;
    let (_, metrics) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&metrics, "openmog_channel_connected", &["telegram"]),
        Some(1.0),
        "{metrics}"
    );
    let held = |status: &str| {
        status
            .lines()
            .filter(|l| l.starts_with("lease\t") && !l.ends_with("(nobody)"))
            .count()
    };
    let (ok, before) = common::openmog(dir.path(), &["status"], "", &[]);
    assert!(
        ok && held(&before) >= 3,
        "receive, send and inbox leases:\n{before}"
    );

    assert!(common::terminate(&mut bot, Duration::from_secs(20)));
    let (ok, after) = common::openmog(dir.path(), &["status"], "", &[]);
    assert!(ok, "{after}");
    assert_eq!(held(&after), 0, "every lease released on stop:\n{after}");
    telegram.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_drops_when_the_store_goes_away() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some((admin, schema, store)) = postgres_schema().await else {
        return;
    };
    let Running {
        telegram,
        dir: _dir,
        port,
        mut bot,
        ..
    } = start(&store).await;

    // The store goes away under the running bot.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
    let (status, body) = get(port, "/readyz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store unreachable"), "{body}");
    assert_eq!(get(port, "/healthz").await.unwrap().0, 200, "still alive");
    common::terminate(&mut bot, Duration::from_secs(20));
    telegram.stop().await;
}
