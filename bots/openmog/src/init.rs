//! `openmog init`: a few questions (or flags), then the starter configuration
//! (`openmog::config::starter`) written to the `--config` path, with any bot token typed
//! in kept in the vault rather than the file.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use openmog::config::VaultConfig;
use openmog::config::starter::{Account, Starter, TokenSource};
use secrecy::SecretString;

use crate::cli::InitArgs;
use crate::vault;

/// Asks on standard error, reads answers line by line from standard input; every
/// question is skipped (its default taken) with `--yes`, and an ended input answers empty.
struct Questions {
    ask: bool,
    input: std::io::StdinLock<'static>,
}

impl Questions {
    fn answer(&mut self, question: &str, default: &str) -> anyhow::Result<String> {
        if !self.ask {
            return Ok(default.to_owned());
        }
        if default.is_empty() {
            eprint!("{question}: ");
        } else {
            eprint!("{question} [{default}]: ");
        }
        std::io::stderr().flush()?;
        let mut line = String::new();
        self.input.read_line(&mut line)?;
        let line = line.trim();
        Ok(if line.is_empty() { default } else { line }.to_owned())
    }

    /// A secret: typed without echo on a terminal, else the next line.
    fn secret(&mut self, question: &str) -> anyhow::Result<Option<SecretString>> {
        if !self.ask {
            return Ok(None);
        }
        let value = if std::io::stdin().is_terminal() {
            rpassword::prompt_password(format!("{question}: "))?
        } else {
            eprint!("{question}: ");
            let mut line = String::new();
            self.input.read_line(&mut line)?;
            line.trim().to_owned()
        };
        Ok((!value.is_empty()).then(|| SecretString::from(value)))
    }

    /// The operator's account on `platform`, if they want that channel.
    fn account(
        &mut self,
        platform: &Platform,
        user: Option<String>,
        token_env: Option<String>,
        vault_config: &VaultConfig,
    ) -> anyhow::Result<Option<Account>> {
        let user = match user {
            Some(user) => user,
            None => self.answer(platform.user_question, "")?,
        };
        if user.is_empty() {
            return Ok(None);
        }
        let token = match token_env {
            Some(variable) => TokenSource::Env(variable),
            None => match self.secret(platform.token_question)? {
                Some(token) => {
                    vault::keep(vault_config, platform.vault_name, token)?;
                    TokenSource::Vault(platform.vault_name.to_owned())
                }
                None => {
                    eprintln!(
                        "no token given: the {} channel reads it from ${}",
                        platform.name, platform.default_env
                    );
                    TokenSource::Env(platform.default_env.to_owned())
                }
            },
        };
        Ok(Some(Account {
            user_id: user,
            token,
        }))
    }
}

/// What `init` asks about one chat platform.
struct Platform {
    name: &'static str,
    user_question: &'static str,
    token_question: &'static str,
    vault_name: &'static str,
    default_env: &'static str,
}

const TELEGRAM: Platform = Platform {
    name: "telegram",
    user_question: "Telegram: your numeric user id (@userinfobot tells it; empty: no Telegram)",
    token_question: "Telegram bot token from @BotFather (kept in the vault; empty: read $TELEGRAM_BOT_TOKEN)",
    vault_name: "telegram.token",
    default_env: "TELEGRAM_BOT_TOKEN",
};

const DISCORD: Platform = Platform {
    name: "discord",
    user_question: "Discord: your numeric user id (Developer Mode → Copy User ID; empty: no Discord)",
    token_question: "Discord bot token from the Developer Portal (kept in the vault; empty: read $DISCORD_BOT_TOKEN)",
    vault_name: "discord.token",
    default_env: "DISCORD_BOT_TOKEN",
};

/// Writes the starter configuration to `path`.
pub fn run(args: InitArgs, path: &Path) -> anyhow::Result<()> {
    if path.exists() && !args.force {
        bail!(
            "{} exists; `openmog init --force` replaces it",
            path.display()
        );
    }
    let vault_config = VaultConfig::default();
    let mut questions = Questions {
        ask: !args.yes,
        input: std::io::stdin().lock(),
    };
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "Operator".to_owned());
    let name = match args.name {
        Some(name) => name,
        None => questions.answer("Your name", &user)?,
    };
    let telegram = questions.account(
        &TELEGRAM,
        args.telegram_user,
        args.telegram_token_env,
        &vault_config,
    )?;
    let discord = questions.account(
        &DISCORD,
        args.discord_user,
        args.discord_token_env,
        &vault_config,
    )?;
    let text = Starter {
        name,
        store_url: args.store,
        telegram,
        discord,
    }
    .render()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    println!(
        "next: `openmog doctor` checks it; `openmog chat` talks to the bot here; `openmog run` serves every channel"
    );
    Ok(())
}
