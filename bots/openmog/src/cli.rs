//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// openmog: turn conversations into supervised, approved, audited plans.
#[derive(Debug, Parser)]
#[command(name = "openmog", version, about)]
pub struct Cli {
    /// Configuration file (TOML, YAML or JSON); may be given several times, later files
    /// override earlier ones. OPENMOG_* environment variables override files.
    #[arg(
        long,
        short,
        env = "OPENMOG_CONFIG",
        global = true,
        default_value = "config/openmog.toml",
        value_delimiter = ','
    )]
    pub config: Vec<PathBuf>,

    /// Log lines as readable text or as JSON objects (one a line, with span fields).
    /// `RUST_LOG` picks what is logged.
    #[arg(long, global = true, env = "OPENMOG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a working configuration to the `--config` path: asks a few questions (answers
    /// are read line by line from standard input; flags answer them too).
    Init(InitArgs),
    /// Check the configuration, vault, store and each channel's credentials and
    /// reachability; print a fix for each failure. Exits non-zero if any check failed.
    Doctor,
    /// Chat with the agent in this terminal (the embedded default: SQLite, rule planner).
    Chat,
    /// Run every enabled channel until interrupted.
    Run,
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List plans.
    Plans {
        /// Include finished plans.
        #[arg(long)]
        all: bool,
    },
    /// List approvals waiting for a decision.
    Approvals,
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The encrypted vault of secrets that settings name as `vault:NAME`.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Contacts: confirm pairing codes.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// What runs (lease holders on a shared store) and what waits on whom.
    Status,
    /// Print a shell completion script (e.g. `openmog completions bash > /etc/bash_completion.d/openmog`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `openmog config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; print what is wrong with file and key.
    Check,
    /// Print the configuration's JSON Schema.
    Schema,
}

/// `openmog audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit non-zero if any record was altered, removed or reordered.
    Verify {
        /// Also check that every record of this earlier export is still in the store,
        /// unchanged (detects a deleted or rewritten tail).
        #[arg(long, value_name = "EXPORT")]
        against: Option<PathBuf>,
        /// Check an export file on its own instead of the store.
        #[arg(long, value_name = "EXPORT", conflicts_with = "against")]
        file: Option<PathBuf>,
    },
    /// Write audit records as JSON lines (hashes included), oldest first.
    Export {
        /// Only records from this time on: RFC 3339 (`2026-12-01T09:00:00Z`) or a date
        /// (`2026-12-01`, midnight UTC).
        #[arg(long)]
        since: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `openmog vault ...`
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create an empty vault at `vault.path`, locked by a passphrase (asked, or
    /// OPENMOG_VAULT_PASSPHRASE), or by an age identity file (generated if missing).
    Init {
        /// Lock it with this age identity file instead of a passphrase (set `vault.identity`
        /// to the same file).
        #[arg(long)]
        identity: Option<PathBuf>,
    },
    /// Set a secret; the value is read from standard input (never from the command line).
    Set {
        /// The secret's name, as settings refer to it (`vault:NAME`).
        name: String,
    },
    /// Print a secret's value.
    Get {
        /// The secret's name.
        name: String,
    },
    /// List the secrets' names (never their values).
    List,
    /// Remove a secret.
    Rm {
        /// The secret's name.
        name: String,
    },
}

/// `openmog contacts ...`
#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Bind the account that was given pairing code CODE to a configured contact.
    Pair {
        /// The code the unknown sender was given.
        code: String,
        /// The contact id (from `contacts`) the account belongs to.
        #[arg(long = "as", value_name = "CONTACT")]
        contact: String,
    },
    /// Remove a binding made by pairing.
    Unpair {
        /// The channel's name.
        channel: String,
        /// The platform user id.
        user_id: String,
    },
}

/// `openmog init`: every question has a flag; `--yes` takes the default for any question a
/// flag did not answer.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Ask nothing: flags and defaults only.
    #[arg(long, short)]
    pub yes: bool,
    /// Replace a configuration file that exists.
    #[arg(long)]
    pub force: bool,
    /// Your name, as the bot calls you (default: $USER).
    #[arg(long)]
    pub name: Option<String>,
    /// Where state is kept: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = "sqlite://.openmog/openmog.db")]
    pub store: String,
    /// Your numeric Telegram user id: adds a Telegram channel.
    #[arg(long, value_name = "ID")]
    pub telegram_user: Option<String>,
    /// The environment variable holding the Telegram bot token (otherwise the token is
    /// asked and kept in the vault as `telegram.token`).
    #[arg(long, value_name = "VAR", requires = "telegram_user")]
    pub telegram_token_env: Option<String>,
    /// Your numeric Discord user id: adds a Discord channel.
    #[arg(long, value_name = "ID")]
    pub discord_user: Option<String>,
    /// The environment variable holding the Discord bot token (otherwise the token is
    /// asked and kept in the vault as `discord.token`).
    #[arg(long, value_name = "VAR", requires = "discord_user")]
    pub discord_token_env: Option<String>,
}
