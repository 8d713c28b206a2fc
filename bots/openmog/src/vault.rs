//! `openmog vault ...` and opening the vault at start: which key unlocks it (identity file,
//! environment, or a prompt on a terminal), and reading secrets without echo.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use openmog::config::VaultConfig;
use openmog::vault::{PASSPHRASE_ENV, Vault, VaultKey};
use secrecy::{ExposeSecret, SecretString};

use crate::cli::VaultCommand;

/// Opens the configured vault if its file exists and makes its secrets what `vault:NAME`
/// settings resolve to. No file, no vault: settings that name one then fail, naming the
/// key.
/// Returns how many secrets it holds, or `None` without a vault file.
pub fn unlock_if_present(config: &VaultConfig) -> anyhow::Result<Option<usize>> {
    if !config.path.exists() {
        return Ok(None);
    }
    let vault = Vault::open(&config.path, key(config, false)?)?;
    openmog::vault::install(&vault);
    let secrets = vault.names().count();
    tracing::info!(path = %config.path.display(), secrets, "vault unlocked");
    Ok(Some(secrets))
}

/// Keeps `value` as the secret `name`, creating the vault if there is none yet.
pub fn keep(config: &VaultConfig, name: &str, value: SecretString) -> anyhow::Result<()> {
    let mut vault = if config.path.exists() {
        open(config)?
    } else {
        let vault = Vault::init(&config.path, key(config, true)?)?;
        println!("vault created at {}", config.path.display());
        vault
    };
    vault.set(name, value)?;
    Ok(())
}

pub fn run(command: VaultCommand, config: &VaultConfig) -> anyhow::Result<()> {
    let path = &config.path;
    match command {
        VaultCommand::Init { identity } => {
            let key = match identity {
                Some(file) => VaultKey::Identity(file),
                None => key(config, true)?,
            };
            let identity_note = match &key {
                VaultKey::Identity(file) => format!(" (unlocked by {})", file.display()),
                VaultKey::Passphrase(_) => String::new(),
            };
            Vault::init(path, key)?;
            println!("vault created at {}{identity_note}", path.display());
        }
        VaultCommand::Set { name } => {
            let mut vault = open(config)?;
            let value = read_secret(&format!("value of {name}: "))?;
            vault.set(&name, value)?;
            println!("{name} set");
        }
        VaultCommand::Get { name } => {
            let vault = open(config)?;
            let value = vault
                .get(&name)
                .with_context(|| format!("the vault holds no secret `{name}`"))?;
            println!("{}", value.expose_secret());
        }
        VaultCommand::List => {
            for name in open(config)?.names() {
                println!("{name}");
            }
        }
        VaultCommand::Rm { name } => {
            if !open(config)?.remove(&name)? {
                bail!("the vault holds no secret `{name}`");
            }
            println!("{name} removed");
        }
    }
    Ok(())
}

fn open(config: &VaultConfig) -> anyhow::Result<Vault> {
    if !config.path.exists() {
        bail!(
            "no vault at {} (vault.path): create one with `openmog vault init`",
            config.path.display()
        );
    }
    Ok(Vault::open(&config.path, key(config, false)?)?)
}

/// The key from the configuration or environment, else a passphrase typed on the terminal
/// (twice for a new vault).
fn key(config: &VaultConfig, new: bool) -> anyhow::Result<VaultKey> {
    if let Some(key) = VaultKey::from_config_or_env(config) {
        return Ok(key);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "the vault is locked: set {PASSPHRASE_ENV}, or vault.identity to an age identity file"
        );
    }
    let passphrase = rpassword::prompt_password("vault passphrase: ")?;
    if new && rpassword::prompt_password("again: ")? != passphrase {
        bail!("the passphrases differ");
    }
    if passphrase.is_empty() {
        bail!("an empty passphrase protects nothing");
    }
    Ok(VaultKey::Passphrase(SecretString::from(passphrase)))
}

/// A secret from the terminal without echo, or all of standard input (one trailing newline
/// dropped) when it is a pipe.
fn read_secret(prompt: &str) -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        return Ok(SecretString::from(rpassword::prompt_password(prompt)?));
    }
    let mut value = String::new();
    std::io::stdin().read_to_string(&mut value)?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        bail!("no value on standard input");
    }
    Ok(SecretString::from(value))
}
