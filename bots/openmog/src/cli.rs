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

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    Verify,
}
