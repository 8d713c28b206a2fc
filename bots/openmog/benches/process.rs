//! Whole-process figures of the `openmog` binary: `openmog run` with Telegram, Discord and
//! email channels connected to the loopback fakes and the real mail servers (Dovecot and
//! the SMTP bridge of `openmog_email::testkit`), on its embedded SQLite store:
//!
//! - time from exec to ready (`/readyz` answers 200: store reachable, every channel
//!   connected);
//! - resident memory after 10 s idle, and after 10,000 handled requests (half through
//!   Telegram, half through Discord, from 100 people in 200 conversations), with the rate
//!   they were handled at;
//! - the binary's size (the release profile strips symbols).
//!
//! Run with: `cargo build --release -p openmog-bot && cargo bench -p openmog-bot --bench
//! process` (measures `target/release/openmog`, or `$BENCH_OPENMOG_BIN`). Without `--bench` (as
//! `cargo test --all-targets` runs it) it does a short smoke run of the binary built with
//! the tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openmog_discord::fake::{DcUser, FakeDiscord, Place};
use openmog_telegram::fake::{ChatRef, FakeTelegram, TgUser};

const TG_TOKEN: &str = "717171:AAH-process-bench";
const DC_TOKEN: &str = "MTA0NDI0.process-bench.bench-tail";
/// People writing at once: each has a Telegram and a Discord account, so the requests
/// come from twice as many conversations (one person's chat is paced and ordered on its
/// own, as the platforms require).
const PEOPLE: u64 = 100;
const FIRST_TG: i64 = 71_000;
const FIRST_DC: u64 = 111_000_000_000_000_000;

fn contacts() -> String {
    (0..PEOPLE)
        .map(|i| {
            format!(
                "[[contacts]]\nid = \"p{i}\"\nroles = [\"member\"]\naddresses = {{ telegram = \"{}\", discord = \"{}\" }}\n\n",
                FIRST_TG + i as i64,
                FIRST_DC + i
            )
        })
        .collect()
}

fn config(telegram: &FakeTelegram, discord: &FakeDiscord, email: &str, port: u16) -> String {
    format!(
        r#"
{contacts}
[[contacts]]
id = "ann"
roles = ["member"]
addresses = {{ mail = "ann@example.test" }}

[authorizations]
chat = ["role:member"]

[[authorizations.rules]]
skill = "echo"
decision = "auto"

# Senders flood on purpose: the figure is the process's, not the inbound gate's.
[limits.inbound]
per_sender = "1000000/s"
per_conversation = "1000000/s"

[store]
url = "sqlite://state/openmog.db"

[ops]
listen = "127.0.0.1:{port}"

[channels.telegram]
kind = "telegram"
pacing = {{ per_conversation = "100000/s", per_channel = "100000/s" }}
settings = {{ token = "{TG_TOKEN}", api_url = "{tg}", poll_timeout = "1s" }}

[channels.discord]
kind = "discord"
pacing = {{ per_conversation = "100000/s", per_channel = "100000/s" }}
settings = {{ token = "{DC_TOKEN}", api_url = "{dc}" }}

{email}

[[planner.rules]]
name = "hello"
pattern = 'hello (?P<n>\d+)'
title = "Hello ${{n}}"
steps = [{{ key = "say", skill = "echo", args = {{ text = "hi ${{n}}" }} }}]
"#,
        contacts = contacts(),
        tg = telegram.api_url(),
        dc = discord.url(),
    )
}

/// The binary to measure: `$BENCH_OPENMOG_BIN`, else the release build (full run) or the one
/// built with this benchmark (smoke run).
fn binary(full: bool) -> PathBuf {
    if let Some(path) = std::env::var_os("BENCH_OPENMOG_BIN") {
        return PathBuf::from(path);
    }
    if !full {
        return PathBuf::from(env!("CARGO_BIN_EXE_openmog"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let release = target.join("release/openmog");
    assert!(
        release.exists(),
        "no {}: run `cargo build --release -p openmog-bot` first",
        release.display()
    );
    release
}

/// Resident memory now and at its peak, in MiB, of process `pid` (Linux).
fn resident_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn ready(port: u16, bot: &mut Child, log: &Path) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    loop {
        if let Ok(answer) = reqwest::get(&url).await
            && answer.status() == 200
        {
            return;
        }
        if let Ok(Some(status)) = bot.try_wait() {
            panic!(
                "openmog run exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn answered(telegram: &FakeTelegram, discord: &FakeDiscord) -> usize {
    let on_telegram = telegram
        .all_messages()
        .iter()
        .filter(|m| m.text.contains("succeeded"))
        .count();
    let on_discord = discord
        .all_messages()
        .iter()
        .filter(|m| m.content.contains("succeeded"))
        .count();
    on_telegram + on_discord
}

fn stop(bot: &mut Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-TERM", &bot.id().to_string()])
        .status();
    #[cfg(not(unix))]
    let _ = bot.kill();
    let _ = bot.wait();
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let full = std::env::args().any(|a| a == "--bench");
    let (idle, requests) = if full {
        (Duration::from_secs(10), 10_000)
    } else {
        (Duration::from_secs(1), 40)
    };
    let binary = binary(full);
    let telegram = FakeTelegram::start(TG_TOKEN).await;
    let discord = FakeDiscord::start(DC_TOKEN).await;
    let mail = openmog_email::testkit::start();
    let email = mail.as_ref().map_or_else(String::new, |servers| {
        format!(
            "[channels.mail]\nkind = \"email\"\n[channels.mail.settings]\n{}",
            servers.channel_settings_toml("agent@example.test", "starttls")
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("bot.toml"),
        config(&telegram, &discord, &email, port),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let file = std::fs::File::create(&log).unwrap();

    let exec = Instant::now();
    let mut bot = Command::new(&binary)
        .current_dir(dir.path())
        .args(["--config", "bot.toml", "run"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    ready(port, &mut bot, &log).await;
    let to_ready = exec.elapsed();
    tokio::time::sleep(idle).await;
    let (idle_rss, _) = resident_mib(bot.id());

    let start = Instant::now();
    for i in 0..requests {
        let person = (i / 2) as u64 % PEOPLE;
        let text = format!("hello {i}");
        if i % 2 == 0 {
            let id = FIRST_TG + person as i64;
            telegram.user_says(ChatRef::private(id), &TgUser::new(id, "P"), &text);
        } else {
            let id = FIRST_DC + person;
            discord.user_says(Place::Dm(id), &DcUser::new(id, "P"), &text);
        }
    }
    while answered(&telegram, &discord) < requests {
        if let Ok(Some(status)) = bot.try_wait() {
            panic!(
                "openmog run exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let handled_in = start.elapsed();
    let (busy_rss, peak_rss) = resident_mib(bot.id());
    stop(&mut bot);
    let size = std::fs::metadata(&binary).unwrap().len() as f64 / (1024.0 * 1024.0);

    let channels = if mail.is_some() {
        "Telegram, Discord, email"
    } else {
        "Telegram, Discord (no mail servers here: email left out)"
    };
    println!("binary: {} ({size:.1} MiB)", binary.display());
    println!("channels: {channels}\n");
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| exec → `/readyz` 200 | {:.0} ms |",
        to_ready.as_secs_f64() * 1000.0
    );
    println!(
        "| resident memory after {} s idle | {idle_rss:.1} MiB |",
        idle.as_secs()
    );
    println!(
        "| {requests} requests handled (through the fake platforms, answers included) | {:.1} s ({:.0} requests/s) |",
        handled_in.as_secs_f64(),
        requests as f64 / handled_in.as_secs_f64()
    );
    println!(
        "| resident memory after {requests} requests | {busy_rss:.1} MiB (peak {peak_rss:.1} MiB) |"
    );
    println!("| binary size | {size:.1} MiB |");
    telegram.stop().await;
    discord.stop().await;
}
