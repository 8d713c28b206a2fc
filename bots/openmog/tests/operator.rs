//! The operator's commands around the engine: `openmog vault ...` and `vault:NAME` settings
//! (values go in on standard input, never appear in errors; a missing or locked secret is
//! reported with its file and key), `audit export` and `verify --against`, `contacts pair`,
//! `status` and `completions`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const PASSPHRASE: &str = "correct horse battery staple";

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn openmog(dir: &Path, args: &[&str], stdin: Option<&str>, passphrase: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openmog"));
    command
        .current_dir(dir)
        .args(["--config", "bot.toml"])
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env_remove("OPENMOG_VAULT_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(passphrase) = passphrase {
        command.env("OPENMOG_VAULT_PASSPHRASE", passphrase);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn workdir(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bot.toml"), config).unwrap();
    dir
}

const TELEGRAM: &str =
    "[channels.telegram]\nkind = \"telegram\"\nsettings = { token = \"vault:telegram.token\" }\n";

#[test]
fn secrets_are_set_listed_read_and_removed_and_never_stored_in_the_clear() {
    let dir = workdir("");
    let p = Some(PASSPHRASE);
    let init = openmog(dir.path(), &["vault", "init"], None, p);
    assert!(init.ok, "{}", init.stderr);
    let again = openmog(dir.path(), &["vault", "init"], None, p);
    assert!(
        !again.ok && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );

    let set = openmog(
        dir.path(),
        &["vault", "set", "telegram.token"],
        Some("123:secret-value\n"),
        p,
    );
    assert!(set.ok, "{}", set.stderr);
    assert!(!set.stdout.contains("secret-value") && !set.stderr.contains("secret-value"));
    let raw = std::fs::read(dir.path().join(".openmog/vault.age")).unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("secret-value"));

    let list = openmog(dir.path(), &["vault", "list"], None, p);
    assert_eq!(list.stdout, "telegram.token\n");
    let get = openmog(dir.path(), &["vault", "get", "telegram.token"], None, p);
    assert_eq!(get.stdout, "123:secret-value\n");

    let wrong = openmog(dir.path(), &["vault", "list"], None, Some("wrong"));
    assert!(
        !wrong.ok && wrong.stderr.contains("cannot decrypt"),
        "{}",
        wrong.stderr
    );
    let locked = openmog(dir.path(), &["vault", "list"], None, None);
    assert!(
        !locked.ok && locked.stderr.contains("OPENMOG_VAULT_PASSPHRASE"),
        "{}",
        locked.stderr
    );

    let rm = openmog(dir.path(), &["vault", "rm", "telegram.token"], None, p);
    assert!(rm.ok, "{}", rm.stderr);
    let gone = openmog(dir.path(), &["vault", "get", "telegram.token"], None, p);
    assert!(
        !gone.ok && gone.stderr.contains("no secret `telegram.token`"),
        "{}",
        gone.stderr
    );
}

#[test]
fn an_identity_file_unlocks_the_vault_without_a_passphrase() {
    let dir = workdir("[vault]\nidentity = \"vault.key\"\n");
    let init = openmog(
        dir.path(),
        &["vault", "init", "--identity", "vault.key"],
        None,
        None,
    );
    assert!(init.ok, "{}", init.stderr);
    assert!(dir.path().join("vault.key").exists());
    let set = openmog(dir.path(), &["vault", "set", "x"], Some("y"), None);
    assert!(set.ok, "{}", set.stderr);
    let get = openmog(dir.path(), &["vault", "get", "x"], None, None);
    assert_eq!(get.stdout, "y\n");
}

#[test]
fn settings_resolve_vault_references_and_name_the_key_when_they_cannot() {
    let dir = workdir(TELEGRAM);
    // No vault yet: the key is named, and how to make one.
    let check = openmog(dir.path(), &["config", "check"], None, Some(PASSPHRASE));
    assert!(!check.ok);
    assert!(
        check.stderr.contains("channels.telegram.settings.token"),
        "{}",
        check.stderr
    );
    assert!(
        check.stderr.contains("no vault is open"),
        "{}",
        check.stderr
    );

    assert!(openmog(dir.path(), &["vault", "init"], None, Some(PASSPHRASE)).ok);
    let check = openmog(dir.path(), &["config", "check"], None, Some(PASSPHRASE));
    assert!(!check.ok);
    assert!(
        check.stderr.contains("vault secret `telegram.token`"),
        "{}",
        check.stderr
    );

    assert!(
        openmog(
            dir.path(),
            &["vault", "set", "telegram.token"],
            Some("123:abcdef"),
            Some(PASSPHRASE)
        )
        .ok
    );
    let check = openmog(dir.path(), &["config", "check"], None, Some(PASSPHRASE));
    assert!(check.ok, "{}", check.stderr);
    assert!(!check.stdout.contains("123:abcdef") && !check.stderr.contains("123:abcdef"));

    // A locked vault is an error, not a silent fall-through to the literal reference.
    let locked = openmog(dir.path(), &["config", "check"], None, None);
    assert!(
        !locked.ok && locked.stderr.contains("vault is locked"),
        "{}",
        locked.stderr
    );
}

#[test]
fn audit_export_and_verify_against_it_from_the_command_line() {
    let dir = workdir("[store]\nurl = \"sqlite://state/openmog.db\"\n");
    let export = openmog(
        dir.path(),
        &["audit", "export", "-o", "audit.jsonl"],
        None,
        None,
    );
    assert!(export.ok, "{}", export.stderr);
    assert!(export.stderr.contains("exported 0"), "{}", export.stderr);
    let verify = openmog(
        dir.path(),
        &["audit", "verify", "--against", "audit.jsonl"],
        None,
        None,
    );
    assert!(verify.ok, "{}", verify.stderr);
    let since = openmog(
        dir.path(),
        &["audit", "export", "--since", "yesterday"],
        None,
        None,
    );
    assert!(
        !since.ok && since.stderr.contains("--since"),
        "{}",
        since.stderr
    );
    std::fs::write(dir.path().join("bad.jsonl"), "{not json}\n").unwrap();
    let bad = openmog(
        dir.path(),
        &["audit", "verify", "--file", "bad.jsonl"],
        None,
        None,
    );
    assert!(
        !bad.ok && bad.stderr.contains("export line 1"),
        "{}",
        bad.stderr
    );
}

#[test]
fn pairing_an_unknown_code_or_contact_fails_clearly() {
    let dir = workdir(
        "[store]\nurl = \"sqlite://state/openmog.db\"\n[[contacts]]\nid = \"alice\"\n[channels.term]\nkind = \"terminal\"\n",
    );
    let unknown = openmog(
        dir.path(),
        &["contacts", "pair", "ABCD2345", "--as", "alice"],
        None,
        None,
    );
    assert!(
        !unknown.ok && unknown.stderr.contains("pairing code ABCD2345"),
        "{}",
        unknown.stderr
    );
    let nobody = openmog(
        dir.path(),
        &["contacts", "pair", "ABCD2345", "--as", "zed"],
        None,
        None,
    );
    assert!(
        !nobody.ok && nobody.stderr.contains("contact `zed`"),
        "{}",
        nobody.stderr
    );
}

#[test]
fn status_and_completions() {
    let dir = workdir("[store]\nurl = \"sqlite://state/openmog.db\"\n");
    let status = openmog(dir.path(), &["status"], None, None);
    assert!(status.ok, "{}", status.stderr);
    assert!(
        status.stdout.contains("0 open plan(s)"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("nothing waits for a decision"),
        "{}",
        status.stdout
    );
    let bash = openmog(dir.path(), &["completions", "bash"], None, None);
    assert!(
        bash.ok && bash.stdout.contains("_openmog()"),
        "{}",
        bash.stderr
    );
}
