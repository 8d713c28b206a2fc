//! The whole bot, as an operator runs it, with both token-bearing chat channels: tokens
//! come from the vault, `openmog run` logs at trace level, a request on each channel is
//! planned, approved with a button and run, the platforms fail some calls on the way, and
//! then every log line, error, Debug rendering and audit record is searched for the
//! secrets. None may appear.

mod common;

use std::path::Path;
use std::time::Duration;

use openmog_discord::fake::{BOT_ID, DcUser, FakeDiscord, GENERAL, Place};
use openmog_telegram::fake::{ChatRef, FakeTelegram, TgUser};

const TG_TOKEN: &str = "424242:AAH-vaulted-telegram-secret";
const DC_TOKEN: &str = "MTA0NDI0.vaulted-discord-part.secret-tail";
const PASSPHRASE: &str = "vault passphrase never logged";
/// Pieces of the secrets that must not show up either (a token cut in half still leaks).
const PIECES: &[&str] = &[
    TG_TOKEN,
    "AAH-vaulted-telegram-secret",
    DC_TOKEN,
    "vaulted-discord-part",
    "secret-tail",
    PASSPHRASE,
];

const ALICE_TG: i64 = 5001;
const BOB_TG: i64 = 5002;
const ALICE_DC: u64 = 111_000_000_000_000_101;
const BOB_DC: u64 = 111_000_000_000_000_102;

fn config(telegram: &FakeTelegram, discord: &FakeDiscord) -> String {
    format!(
        r#"
[[contacts]]
id = "alice"
name = "Alice"
roles = ["member"]
addresses = {{ telegram = "{ALICE_TG}", discord = "{ALICE_DC}" }}

[[contacts]]
id = "bob"
name = "Bob"
roles = ["member", "oncall"]
addresses = {{ telegram = "{BOB_TG}", discord = "{BOB_DC}" }}

[authorizations]
chat = ["role:member"]

[[authorizations.rules]]
skill = "shell.run"
decision = "approve"
approvers = ["role:oncall"]

[[authorizations.rules]]
skill = "echo"
decision = "auto"

[store]
url = "sqlite://state/openmog.db"

[ops]
listen = "127.0.0.1:0"

[channels.telegram]
kind = "telegram"
pacing = {{ per_conversation = "100/s", per_channel = "100/s" }}
settings = {{ token = "vault:telegram", api_url = "{tg}", poll_timeout = "1s", request_timeout = "2s" }}

[channels.discord]
kind = "discord"
pacing = {{ per_conversation = "100/s", per_channel = "100/s" }}
settings = {{ token = "vault:discord", api_url = "{dc}", request_timeout = "2s" }}

[[planner.rules]]
name = "deploy"
pattern = 'deploy (?P<svc>\w+)'
title = "Deploy ${{svc}}"
steps = [
  {{ key = "check", skill = "echo", args = {{ text = "checked ${{svc}}" }} }},
  {{ key = "restart", skill = "shell.run", args = {{ command = "echo restarted ${{svc}}" }}, depends_on = ["check"] }},
]
"#,
        tg = telegram.api_url(),
        dc = discord.url(),
    )
}

fn openmog(dir: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    common::openmog(
        dir,
        args,
        stdin,
        &[
            ("OPENMOG_VAULT_PASSPHRASE", PASSPHRASE),
            ("RUST_LOG", "trace"),
        ],
    )
}

fn assert_clean(what: &str, text: &str) {
    for piece in PIECES {
        assert!(
            !text.contains(piece),
            "a secret ({piece:?}) leaked into {what}:\n{}",
            text.lines()
                .filter(|l| l.contains(piece))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_errors_debug_output_or_the_audit_log() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let telegram = FakeTelegram::start(TG_TOKEN).await;
    let discord = FakeDiscord::start(DC_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bot.toml"), config(&telegram, &discord)).unwrap();

    let (ok, out) = openmog(dir.path(), &["vault", "init"], "");
    assert!(ok, "{out}");
    for (name, token) in [("telegram", TG_TOKEN), ("discord", DC_TOKEN)] {
        let (ok, out) = openmog(dir.path(), &["vault", "set", name], token);
        assert!(ok, "{out}");
        assert_clean("`vault set` output", &out);
    }
    let (ok, out) = openmog(dir.path(), &["config", "check"], "");
    assert!(ok, "{out}");
    assert_clean("`config check` output", &out);

    // Some calls fail on the way, so error paths (which carry request URLs) are logged.
    telegram.inject(
        "SendMessage",
        openmog_telegram::fake::Fault::ServerError(502),
    );
    discord.inject(
        "create_message",
        openmog_discord::fake::Fault::ServerError(500),
    );

    let log = dir.path().join("run.log");
    let mut bot = common::run(
        dir.path(),
        &log,
        &[
            ("OPENMOG_VAULT_PASSPHRASE", PASSPHRASE),
            ("RUST_LOG", "trace"),
        ],
    );

    // Telegram: Alice asks in her private chat, Bob taps Approve.
    let alice_tg = TgUser::new(ALICE_TG, "Alice");
    let bob_tg = TgUser::new(BOB_TG, "Bob");
    let here = ChatRef::private(ALICE_TG);
    telegram.user_says(here, &alice_tg, "deploy api");
    telegram
        .wait_until("an approval request", Duration::from_secs(30), |f| {
            f.messages(here).iter().any(|m| !m.buttons.is_empty())
        })
        .await;
    let request = telegram
        .messages(here)
        .into_iter()
        .find(|m| !m.buttons.is_empty())
        .unwrap();
    let approve = request
        .buttons
        .iter()
        .find(|(label, _)| label.contains("Approve"))
        .unwrap()
        .1
        .clone();
    telegram.press(here, &bob_tg, request.message_id, &approve);
    telegram
        .wait_until("the plan to succeed", Duration::from_secs(30), |f| {
            f.messages(here)
                .iter()
                .any(|m| m.text.contains("succeeded"))
        })
        .await;

    // Discord: Alice mentions the bot in a server channel, Bob clicks Approve in the thread.
    let alice_dc = DcUser::new(ALICE_DC, "Alice");
    let bob_dc = DcUser::new(BOB_DC, "Bob");
    let thread = discord.user_says(
        Place::Guild(GENERAL),
        &alice_dc,
        &format!("<@{BOT_ID}> deploy web"),
    );
    discord
        .wait_until("an approval request", Duration::from_secs(30), |f| {
            f.messages(thread).iter().any(|m| !m.buttons.is_empty())
        })
        .await;
    let request = discord
        .messages(thread)
        .into_iter()
        .find(|m| !m.buttons.is_empty())
        .unwrap();
    let approve = request
        .buttons
        .iter()
        .find(|(label, _)| label == "Approve")
        .unwrap()
        .1
        .clone();
    discord.click(Place::Guild(thread), &bob_dc, request.id, &approve);
    discord
        .wait_until("the plan to succeed", Duration::from_secs(30), |f| {
            f.messages(thread)
                .iter()
                .any(|m| m.content.contains("succeeded"))
        })
        .await;

    common::terminate(&mut bot, Duration::from_secs(20));
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.lines().count() > 100 && logs.contains("TRACE"),
        "trace logging was on: {} lines",
        logs.lines().count()
    );
    assert!(
        logs.contains("vault unlocked"),
        "the tokens came from the vault"
    );
    assert_clean("the trace logs of `openmog run`", &logs);

    let (ok, audit) = openmog(dir.path(), &["audit", "export"], "");
    assert!(ok, "{audit}");
    assert!(
        audit.contains("\"decision\"") && audit.contains("step.finished"),
        "{audit}"
    );
    assert_clean("the audit log", &audit);
    let (ok, verify) = openmog(dir.path(), &["audit", "verify"], "");
    assert!(ok, "{verify}");

    // Debug output of everything built from the settings, in this process.
    let vault = openmog::vault::Vault::open(
        &dir.path().join(".openmog/vault.age"),
        openmog::vault::VaultKey::Passphrase(PASSPHRASE.into()),
    )
    .unwrap();
    openmog::vault::install(&vault);
    let config = openmog::config::load(&[openmog::config::ConfigSource::File(
        dir.path().join("bot.toml"),
    )])
    .unwrap();
    let tg =
        openmog_telegram::TelegramChannel::from_config("telegram", &config.channels["telegram"])
            .unwrap();
    let dc = openmog_discord::DiscordChannel::from_config("discord", &config.channels["discord"])
        .unwrap();
    let debug = format!("{vault:?}\n{config:?}\n{tg:?}\n{dc:?}");
    assert_clean("Debug output", &debug);

    telegram.stop().await;
    discord.stop().await;
}
