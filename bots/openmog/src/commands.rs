//! What each subcommand does: load, wire, start, print.

use anyhow::{Context, bail};
use openmog::audit::{self, Verification};
use openmog::channel::TerminalChannel;
use openmog::clock::{Clock, SystemClock, Timestamp};
use openmog::config::{self, Config, ConfigSource};
use openmog::engine::Engine;
use openmog::pairing;
use openmog::store;
use tracing_subscriber::EnvFilter;

use crate::channels;
use crate::cli::{AuditCommand, Cli, Command, ConfigCommand, ContactsCommand, LogFormat};
use crate::doctor;
use crate::init;
use crate::ops;
use crate::vault;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let quiet = matches!(
        cli.command,
        Command::Chat | Command::Init(_) | Command::Doctor
    );
    init_logging(if quiet { "warn" } else { "info" }, cli.log_format);
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
            vault::unlock_if_present(&config.vault)?;
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
        Command::Init(args) => {
            let path = cli.config.last().context("no --config path to write")?;
            init::run(args, path)
        }
        Command::Doctor => doctor::run(&sources, &origin).await,
        Command::Chat => {
            let config = load()?;
            vault::unlock_if_present(&config.vault)?;
            chat(config).await
        }
        Command::Run => {
            let config = load()?;
            vault::unlock_if_present(&config.vault)?;
            serve(config, &origin).await
        }
        Command::Vault(command) => vault::run(command, &load()?.vault),
        Command::Contacts(command) => contacts(command, &load()?).await,
        Command::Status => status(&load()?).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "openmog", &mut std::io::stdout());
            Ok(())
        }
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
        Command::Audit(command) => audit(command, &load()?).await,
    }
}

async fn audit(command: AuditCommand, config: &Config) -> anyhow::Result<()> {
    let verdict = match command {
        AuditCommand::Verify {
            file: Some(file), ..
        } => {
            let records = audit::read_export(open_file(&file)?)?;
            audit::verify_export(&records)
        }
        AuditCommand::Verify {
            against,
            file: None,
        } => {
            let store = store::open(&config.store.url).await?;
            let chain = audit::verify(store.as_ref()).await?;
            match (chain, against) {
                (Verification::Intact { .. }, Some(anchor)) => {
                    let anchor = audit::read_export(open_file(&anchor)?)?;
                    if let Verification::Broken { seq, reason } = audit::verify_export(&anchor) {
                        bail!("the export itself is BROKEN at record {seq}: {reason}");
                    }
                    match audit::verify_against(store.as_ref(), &anchor).await? {
                        Verification::Intact { .. } => audit::verify(store.as_ref()).await?,
                        broken => broken,
                    }
                }
                (chain, _) => chain,
            }
        }
        AuditCommand::Export { since, output } => {
            let since = match since {
                Some(text) => parse_since(&text)?,
                None => Timestamp(i64::MIN),
            };
            let store = store::open(&config.store.url).await?;
            let written = match output {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(
                        std::fs::File::create(&path)
                            .with_context(|| format!("cannot create {}", path.display()))?,
                    );
                    let written = audit::export(store.as_ref(), since, &mut file).await?;
                    std::io::Write::flush(&mut file)?;
                    written
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    audit::export(store.as_ref(), since, &mut out).await?
                }
            };
            eprintln!("exported {written} audit record(s)");
            return Ok(());
        }
    };
    match verdict {
        Verification::Intact { records, head } => {
            println!("audit log intact: {records} records, head {head}");
            Ok(())
        }
        Verification::Broken { seq, reason } => {
            bail!("audit log BROKEN at record {seq}: {reason}")
        }
    }
}

fn open_file(path: &std::path::Path) -> anyhow::Result<std::io::BufReader<std::fs::File>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(std::io::BufReader::new(file))
}

/// `--since`: RFC 3339, or a date meaning its midnight UTC.
fn parse_since(text: &str) -> anyhow::Result<Timestamp> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(Timestamp(at.timestamp_millis()));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!(
            "--since: `{text}` is neither RFC 3339 (2026-12-01T09:00:00Z) nor a date (2026-12-01)"
        )
    })?;
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    Ok(Timestamp(midnight.and_utc().timestamp_millis()))
}

async fn status(config: &Config) -> anyhow::Result<()> {
    let store = store::open(&config.store.url).await?;
    let status = openmog::status::read(store.as_ref(), config, SystemClock.now()).await?;
    println!(
        "{} open plan(s), {} message(s) waiting to be sent",
        status.open_plans, status.outbox
    );
    for lease in &status.leases {
        println!(
            "lease\t{}\t{}",
            lease.name,
            lease.holder.as_deref().unwrap_or("(nobody)")
        );
    }
    if status.waiting.is_empty() {
        println!("nothing waits for a decision");
    }
    for w in &status.waiting {
        println!(
            "waiting\t{}\t{}\t{}\ton {}\tfor {}\t{}",
            w.approval,
            w.state,
            w.step,
            w.approvers.join(", "),
            human(w.waited),
            w.title
        );
    }
    Ok(())
}

/// A wait as a person says it: `45s`, `12m 5s`, `2h 3m`, `3d 4h`.
fn human(waited: std::time::Duration) -> String {
    let s = waited.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

async fn contacts(command: ContactsCommand, config: &Config) -> anyhow::Result<()> {
    let store = store::open(&config.store.url).await?;
    let now = SystemClock.now();
    match command {
        ContactsCommand::Pair { code, contact } => {
            let paired = pairing::confirm(store.as_ref(), config, &code, &contact, now).await?;
            println!(
                "paired {} user {} (calls itself {:?}) as {}; they will be told",
                paired.channel, paired.user_id, paired.display_name, paired.contact
            );
        }
        ContactsCommand::Unpair { channel, user_id } => {
            if !pairing::unpair(store.as_ref(), &channel, &user_id, now).await? {
                bail!("{channel} user {user_id} was not paired");
            }
            println!("{channel} user {user_id} unpaired");
        }
    }
    Ok(())
}

fn init_logging(default: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

async fn chat(mut config: Config) -> anyhow::Result<()> {
    let config_grace = config.ops.shutdown_grace.0;
    // `chat` is the terminal, whatever else is configured.
    config.channels.retain(|_, c| c.kind == "terminal");
    let engine = Engine::builder(config)
        .channel(TerminalChannel::stdio("terminal"))
        .build()
        .await?;
    println!("openmog chat — type `help` to see what I can do; Ctrl-D to quit.");
    let mut running = engine.start();
    tokio::select! {
        () = running.channels_closed() => {
            // The input ended (Ctrl-D, or a pipe): answer what was said before leaving.
            tokio::select! {
                () = running.settle(config_grace) => {}
                () = stop_requested() => {}
            }
        }
        () = stop_requested() => {}
    }
    running.shutdown(config_grace).await;
    Ok(())
}

async fn serve(config: Config, origin: &str) -> anyhow::Result<()> {
    let store = store::open(&config.store.url).await?;
    let engine = channels::wire(Engine::builder(config.clone()), &config, origin, &store)?
        .build()
        .await?;
    let ops = ops::start(&config.ops, &store, engine.links().clone()).await?;
    tracing::info!(
        channels = config.channels.values().filter(|c| c.enabled).count(),
        "openmog running"
    );
    let running = engine.start();
    stop_requested().await;
    let grace = config.ops.shutdown_grace.0;
    tracing::info!(grace_ms = grace.as_millis() as u64, "stopping");
    running.shutdown(grace).await;
    ops.stop().await;
    tracing::info!("stopped");
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
