//! What each subcommand does: load, wire, start, print.

use std::time::Duration;

use anyhow::{Context, bail};
use openmog::audit::{self, Verification};
use openmog::channel::TerminalChannel;
use openmog::config::{self, Config, ConfigSource};
use openmog::engine::Engine;
use openmog::store;
use tracing_subscriber::EnvFilter;

use crate::channels;
use crate::cli::{AuditCommand, Cli, Command, ConfigCommand};

/// How long a stopping engine may take to finish steps and flush the outbox.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let quiet = matches!(cli.command, Command::Chat);
    init_logging(if quiet { "warn" } else { "info" });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sources: Vec<ConfigSource> = cli
        .config
        .iter()
        .cloned()
        .map(ConfigSource::File)
        .chain([ConfigSource::Env])
        .collect();
    let load = || config::load(&sources).context("the configuration is invalid");
    let origin = cli
        .config
        .iter()
        .map(|p| p.display().to_string())
        .chain(["OPENMOG_* environment".to_owned()])
        .collect::<Vec<_>>()
        .join(" + ");
    match cli.command {
        Command::Config(ConfigCommand::Schema) => {
            print!("{}", config::json_schema());
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            let config = load()?;
            // Adapters check their own settings; building them opens no connection (and
            // touches no real store).
            let scratch: store::SharedStore = std::sync::Arc::new(store::MemoryStore::new());
            channels::wire(Engine::builder(config.clone()), &config, &origin, &scratch)?;
            println!(
                "configuration OK: {} contact(s), {} authorization rule(s), {} plan rule(s), {} channel(s)",
                config.contacts.len(),
                config.authorizations.rules.len(),
                config.planner.rules.len(),
                config.channels.len()
            );
            Ok(())
        }
        Command::Chat => chat(load()?).await,
        Command::Run => serve(load()?, &origin).await,
        Command::Plans { all } => {
            let store = store::open(&load()?.store.url).await?;
            let plans = store.plans(!all, 100).await?;
            if plans.is_empty() {
                println!("no {}plans", if all { "" } else { "open " });
            }
            for p in plans {
                println!(
                    "{}\t{}\t{}\t{}",
                    p.id,
                    p.state.as_str(),
                    p.conversation,
                    p.title
                );
            }
            Ok(())
        }
        Command::Approvals => {
            let store = store::open(&load()?.store.url).await?;
            let mut any = false;
            for id in store.plans_with_open_approvals().await? {
                let Some(plan) = store.plan(&id).await? else {
                    continue;
                };
                for a in plan.approvals.iter().filter(|a| a.state.is_open()) {
                    any = true;
                    println!(
                        "{}\t{}\t{}/{}\tby {}\t{}",
                        a.id,
                        a.state.as_str(),
                        plan.id,
                        a.step,
                        a.approvers.join(","),
                        plan.title
                    );
                }
            }
            if !any {
                println!("no approvals waiting");
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let store = store::open(&load()?.store.url).await?;
            match audit::verify(store.as_ref()).await? {
                Verification::Intact { records, head } => {
                    println!("audit log intact: {records} records, head {head}");
                    Ok(())
                }
                Verification::Broken { seq, reason } => {
                    bail!("audit log BROKEN at record {seq}: {reason}")
                }
            }
        }
    }
}

fn init_logging(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn chat(mut config: Config) -> anyhow::Result<()> {
    // `chat` is the terminal, whatever else is configured.
    config.channels.retain(|_, c| c.kind == "terminal");
    let engine = Engine::builder(config)
        .channel(TerminalChannel::stdio("terminal"))
        .build()
        .await?;
    println!("openmog chat — type `help` to see what I can do; Ctrl-D to quit.");
    let mut running = engine.start();
    tokio::select! {
        () = running.channels_closed() => {}
        () = stop_requested() => {}
    }
    running.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}

async fn serve(config: Config, origin: &str) -> anyhow::Result<()> {
    let store = store::open(&config.store.url).await?;
    let engine = channels::wire(Engine::builder(config.clone()), &config, origin, &store)?
        .build()
        .await?;
    tracing::info!(
        channels = config.channels.values().filter(|c| c.enabled).count(),
        "openmog running"
    );
    let running = engine.start();
    stop_requested().await;
    tracing::info!("stopping");
    running.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one (what service managers send).
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops openmog");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
