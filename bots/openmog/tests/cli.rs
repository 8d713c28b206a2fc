//! The binary's configuration check covers adapter settings, naming file and key.

use std::process::Command;

fn check(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_openmog"))
        .args(["--config", path.to_str().unwrap(), "config", "check"])
        .env("RUST_BACKTRACE", "0")
        .env_remove("OPENMOG_CHANNELS__TELEGRAM__SETTINGS__TOKEN")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (
        out.status.success(),
        text.replace(path.to_str().unwrap(), "FILE"),
    )
}

#[test]
fn telegram_settings_are_checked_with_file_and_key() {
    let (ok, text) = check("[channels.telegram]\nkind = \"telegram\"\n");
    assert!(!ok);
    assert!(text.contains("FILE"), "{text}");
    assert!(
        text.contains("channels.telegram.settings.token: missing"),
        "{text}"
    );

    let (ok, text) = check(
        "[channels.telegram]\nkind = \"telegram\"\nsettings = { token = \"123:abcdef\", poll_timeout = \"often\" }\n",
    );
    assert!(!ok);
    assert!(
        text.contains("channels.telegram.settings.poll_timeout"),
        "{text}"
    );
    assert!(
        !text.contains("123:abcdef"),
        "the token is never echoed: {text}"
    );

    let (ok, text) =
        check("[channels.telegram]\nkind = \"telegram\"\nsettings = { token = \"123:abcdef\" }\n");
    assert!(ok, "{text}");
    assert!(!text.contains("123:abcdef"), "{text}");
}

#[test]
fn an_unknown_channel_kind_names_the_key_and_the_known_kinds() {
    let (ok, text) = check("[channels.irc]\nkind = \"irc\"\n");
    assert!(!ok);
    assert!(text.contains("channels.irc.kind"), "{text}");
    assert!(text.contains("telegram"), "{text}");
}

#[test]
fn discord_settings_are_checked_with_file_and_key() {
    let (ok, text) =
        check("[channels.discord]\nkind = \"discord\"\nsettings = { token = \"abc\" }\n");
    assert!(!ok);
    assert!(text.contains("FILE"), "{text}");
    assert!(text.contains("channels.discord.settings.token:"), "{text}");
    assert!(!text.contains("abc\""), "the token is never echoed: {text}");
    let (ok, text) =
        check("[channels.discord]\nkind = \"discord\"\nsettings = { token = \"aaa.bbb.ccc\" }\n");
    assert!(ok, "{text}");
}

#[test]
fn email_settings_are_checked_with_file_and_key() {
    let table = |extra: &str| {
        format!(
            "[channels.mail]\nkind = \"email\"\n[channels.mail.settings]\naddress = \"agent@example.com\"\n\
             imap = {{ host = \"imap.example.com\", password = \"hunter2-secret\" }}\n\
             smtp = {{ host = \"smtp.example.com\", password = \"hunter2-secret\" }}\n{extra}"
        )
    };
    let (ok, text) = check(&table(""));
    assert!(!ok);
    assert!(text.contains("FILE"), "{text}");
    assert!(
        text.contains("channels.mail.settings.trusted_authserv_ids: missing"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2"),
        "passwords are never echoed: {text}"
    );
    let (ok, text) = check(&table("trusted_authserv_ids = [\"mx.example.com\"]\n"));
    assert!(ok, "{text}");
}
