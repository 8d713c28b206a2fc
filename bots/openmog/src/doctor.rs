//! `openmog doctor`: runs the library's checks (`openmog::doctor`) in order — configuration,
//! vault, store, then each channel's platform — and prints them with a fix for each failure.

use std::sync::Arc;

use anyhow::bail;
use openmog::config::{self, ConfigSource};
use openmog::doctor::{self, Check, Report};
use openmog::store;

use crate::{channels, vault};

pub async fn run(sources: &[ConfigSource], origin: &str) -> anyhow::Result<()> {
    let report = checks(sources, origin).await;
    print!("{report}");
    if !report.healthy() {
        bail!("{} check(s) failed", report.failures());
    }
    println!("all checks passed");
    Ok(())
}

async fn checks(sources: &[ConfigSource], origin: &str) -> Report {
    let mut report = Report::default();
    let config = match config::load(sources) {
        Ok(config) => config,
        Err(err) => {
            report.checks.push(Check::failed(
                "config",
                format!("{origin}: {err}"),
                "fix the key named above (`openmog config schema` lists every key), or write \
                 a fresh file with `openmog init --force`",
            ));
            return report;
        }
    };
    report.checks.push(Check::passed(
        "config",
        format!(
            "{origin}: {} contact(s), {} channel(s), {} plan rule(s)",
            config.contacts.len(),
            config.channels.values().filter(|c| c.enabled).count(),
            config.planner.rules.len()
        ),
    ));
    let path = config.vault.path.display();
    report
        .checks
        .push(match vault::unlock_if_present(&config.vault) {
            Ok(Some(secrets)) => Check::passed("vault", format!("{path}: {secrets} secret(s)")),
            Ok(None) => Check::passed("vault", format!("none ({path} does not exist)")),
            Err(err) => Check::failed(
                "vault",
                format!("{path}: {err:#}"),
                "set OPENMOG_VAULT_PASSPHRASE, or vault.identity to the age identity file that \
             locks it",
            ),
        });
    report.checks.push(doctor::store(&config.store.url).await);
    // Probes only log in: channel state is not touched, so a scratch store will do.
    let scratch: store::SharedStore = Arc::new(store::MemoryStore::new());
    match channels::build(&config, origin, &scratch) {
        Ok(built) => {
            for channel in &built {
                report.checks.push(doctor::channel(channel.as_ref()).await);
            }
        }
        Err(err) => report.checks.push(Check::failed(
            "channels",
            format!("{err:#}"),
            "fix the setting named above; a `vault:NAME` secret is set with `openmog vault \
             set NAME`",
        )),
    }
    report
}
