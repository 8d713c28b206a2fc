//! The `openmog` command: parses arguments, loads configuration and wires channels,
//! planner, skills and store into the engine. Behaviour lives in the `openmog` library.

mod channels;
mod cli;
mod commands;
mod doctor;
mod init;
mod ops;
mod vault;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    commands::run(cli).await
}
