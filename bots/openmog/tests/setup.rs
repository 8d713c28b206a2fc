//! `openmog init` then `openmog doctor` on a fresh directory, as a new operator runs them:
//! the configuration they write is one `openmog chat` runs with; a token typed into `init`
//! lands in the vault, not the file; `doctor` checks it against the (fake) platform and
//! names the fix when the platform refuses it.

mod common;

use common::openmog;
use openmog_discord::fake::FakeDiscord;
use openmog_telegram::fake::FakeTelegram;

const TG_TOKEN: &str = "616161:AAH-setup-test-token";
const DC_TOKEN: &str = "MTA0NDI0.setup-discord-part.setup-tail";
const PASSPHRASE: &str = "setup test passphrase";

#[test]
fn init_then_doctor_on_a_fresh_directory_gives_a_config_chat_runs_with() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = openmog(dir.path(), &["init", "--yes", "--name", "Ann"], "", &[]);
    assert!(ok, "{out}");
    assert!(dir.path().join("bot.toml").exists(), "{out}");

    let (ok, report) = openmog(dir.path(), &["doctor"], "", &[]);
    assert!(ok, "{report}");
    for line in [
        "ok    config",
        "ok    vault",
        "ok    store",
        "all checks passed",
    ] {
        assert!(report.contains(line), "no `{line}` in:\n{report}");
    }

    let (ok, chat) = openmog(dir.path(), &["chat"], "echo hello from init\nhelp\n", &[]);
    assert!(ok, "{chat}");
    assert!(chat.contains("✓ say: hello from init"), "{chat}");
    assert!(chat.contains("succeeded"), "{chat}");
    assert!(chat.contains("Requests I understand"), "{chat}");

    // A second init does not overwrite what the first wrote.
    let (ok, out) = openmog(dir.path(), &["init", "--yes"], "", &[]);
    assert!(!ok && out.contains("--force"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_keeps_a_typed_token_in_the_vault_and_doctor_checks_it_with_the_platform() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let telegram = FakeTelegram::start(TG_TOKEN).await;
    let discord = FakeDiscord::start(DC_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let api = telegram.api_url();
    let dc = discord.url();
    let env = [
        ("OPENMOG_VAULT_PASSPHRASE", PASSPHRASE),
        (
            "OPENMOG_CHANNELS__TELEGRAM__SETTINGS__API_URL",
            api.as_str(),
        ),
        ("OPENMOG_CHANNELS__DISCORD__SETTINGS__API_URL", dc.as_str()),
        ("DISCORD_BOT_TOKEN", DC_TOKEN),
    ];
    // Name, Telegram id, Telegram token; Discord comes from flags.
    let answers = format!("Ann\n4242\n{TG_TOKEN}\n");
    let args = [
        "init",
        "--discord-user",
        "81234567890",
        "--discord-token-env",
        "DISCORD_BOT_TOKEN",
    ];
    let (ok, out) = openmog(dir.path(), &args, &answers, &env);
    assert!(ok, "{out}");
    assert!(!out.contains(TG_TOKEN), "the token was echoed:\n{out}");
    let written = std::fs::read_to_string(dir.path().join("bot.toml")).unwrap();
    assert!(!written.contains(TG_TOKEN), "the token is in the file");
    assert!(
        written.contains(r#"token = "vault:telegram.token""#),
        "{written}"
    );
    assert!(
        written.contains(r#"token_env = "DISCORD_BOT_TOKEN""#),
        "{written}"
    );
    assert!(written.contains(r#"name = "Ann""#), "{written}");

    let (ok, report) = openmog(dir.path(), &["doctor"], "", &env);
    assert!(ok, "{report}");
    assert!(
        report.contains("ok    vault") && report.contains("1 secret(s)"),
        "{report}"
    );
    assert!(report.contains("ok    channel telegram  bot @"), "{report}");
    assert!(report.contains("ok    channel discord"), "{report}");

    // Wrong tokens: each channel fails with what to do, and neither token is shown.
    let (ok, out) = openmog(
        dir.path(),
        &["vault", "set", "telegram.token"],
        "616161:AAH-not-the-right-one",
        &env,
    );
    assert!(ok, "{out}");
    let wrong_discord = [("DISCORD_BOT_TOKEN", "MTA0NDI0.wrong-part.wrong-tail")];
    let env: Vec<_> = env[..3].iter().chain(&wrong_discord).copied().collect();
    let (ok, report) = openmog(dir.path(), &["doctor"], "", &env);
    assert!(!ok, "{report}");
    assert!(
        report.contains("FAIL  channel telegram  the bot token was refused"),
        "{report}"
    );
    assert!(report.contains("@BotFather"), "{report}");
    assert!(
        report.contains("FAIL  channel discord   the bot token was refused"),
        "{report}"
    );
    assert!(report.contains("Developer Portal"), "{report}");
    assert!(report.contains("2 check(s) failed"), "{report}");
    for secret in ["not-the-right-one", "wrong-part", TG_TOKEN, DC_TOKEN] {
        assert!(!report.contains(secret), "{secret} shown:\n{report}");
    }

    // Unreachable: the fix is about the network, not the token.
    telegram.stop().await;
    let (ok, report) = openmog(dir.path(), &["doctor"], "", &env);
    assert!(!ok, "{report}");
    assert!(report.contains("cannot reach"), "{report}");
    discord.stop().await;
}

#[test]
fn doctor_names_the_file_and_key_of_a_bad_setting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bot.toml"),
        "[store]\nurl = \"sqlite://s.db\"\n[limits]\nmax_concurrent_steps = \"many\"\n",
    )
    .unwrap();
    let (ok, report) = openmog(dir.path(), &["doctor"], "", &[]);
    assert!(!ok, "{report}");
    assert!(report.contains("FAIL  config"), "{report}");
    assert!(report.contains("bot.toml"), "{report}");
    assert!(report.contains("max_concurrent_steps"), "{report}");
    assert!(report.contains("fix:"), "{report}");
}
