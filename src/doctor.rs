//! `openmog doctor`: checks of what a bot needs before it can run (its configuration, vault,
//! store and each channel's platform), each passed with what it found or failed with a
//! fix.

use std::time::Duration;

use crate::channel::{Channel, ProbeFailure};
use crate::store;

/// How long one channel's probe may take, whatever its own timeouts say.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// One check and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What was checked: `config`, `vault`, `store`, `channel telegram`.
    pub subject: String,
    /// What it found, or what is wrong and how to fix it.
    pub outcome: Result<String, ProbeFailure>,
}

impl Check {
    /// A passed check.
    pub fn passed(subject: impl Into<String>, found: impl Into<String>) -> Self {
        Check {
            subject: subject.into(),
            outcome: Ok(found.into()),
        }
    }

    /// A failed check.
    pub fn failed(
        subject: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Check {
            subject: subject.into(),
            outcome: Err(ProbeFailure::new(problem, hint)),
        }
    }
}

/// Every check of one run, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.outcome.is_ok())
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.outcome.is_err()).count()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self
            .checks
            .iter()
            .map(|c| c.subject.len())
            .max()
            .unwrap_or(0);
        for check in &self.checks {
            match &check.outcome {
                Ok(found) => writeln!(f, "ok    {:width$}  {found}", check.subject)?,
                Err(failure) => {
                    writeln!(f, "FAIL  {:width$}  {}", check.subject, failure.problem)?;
                    writeln!(f, "      {:width$}  fix: {}", "", failure.hint)?;
                }
            }
        }
        Ok(())
    }
}

/// Opens the store at `url` (creating and migrating an SQLite file, as `run` would) and
/// times one round trip.
pub async fn store(url: &str) -> Check {
    let shown = redact_url(url);
    let started = tokio::time::Instant::now();
    let opened = match store::open(url).await {
        Ok(store) => store,
        Err(err) => {
            let hint = if url.starts_with("postgres") {
                "check store.url (host, port, database, user), that the server runs, and that \
                 the user may create tables"
            } else {
                "check store.url, and that its directory exists or can be created and is \
                 writable by this user"
            };
            return Check::failed("store", format!("cannot open {shown}: {err}"), hint);
        }
    };
    match opened.outbox_depth().await {
        Ok(depth) => Check::passed(
            "store",
            format!(
                "{shown} answers in {} ms; {depth} message(s) wait in the outbox",
                started.elapsed().as_millis()
            ),
        ),
        Err(err) => Check::failed(
            "store",
            format!("{shown} opened but does not answer: {err}"),
            "check the server's logs and the user's rights",
        ),
    }
}

/// Asks `channel` to check its platform and credentials.
pub async fn channel(channel: &dyn Channel) -> Check {
    let subject = format!("channel {}", channel.name());
    match tokio::time::timeout(PROBE_TIMEOUT, channel.probe()).await {
        Ok(Ok(found)) => Check::passed(subject, found),
        Ok(Err(failure)) => Check {
            subject,
            outcome: Err(failure),
        },
        Err(_) => Check::failed(
            subject,
            format!("no answer within {PROBE_TIMEOUT:?}"),
            "check the network and the channel's server settings",
        ),
    }
}

/// `url` with any password replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            let hidden = if credentials.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_store_urls_are_not_shown() {
        assert_eq!(
            redact_url("postgres://bot:s3cret@db:5432/openmog"),
            "postgres://bot:***@db:5432/openmog"
        );
        assert_eq!(
            redact_url("postgres://bot@db/openmog"),
            "postgres://bot@db/openmog"
        );
        assert_eq!(
            redact_url("sqlite://.openmog/openmog.db"),
            "sqlite://.openmog/openmog.db"
        );
    }

    #[test]
    fn a_report_shows_each_failure_with_its_fix() {
        let report = Report {
            checks: vec![
                Check::passed("store", "answers"),
                Check::failed("channel telegram", "token refused", "ask @BotFather"),
            ],
        };
        assert!(!report.healthy());
        assert_eq!(report.failures(), 1);
        let text = report.to_string();
        assert!(text.contains("ok    store"), "{text}");
        assert!(
            text.contains("FAIL  channel telegram  token refused"),
            "{text}"
        );
        assert!(text.contains("fix: ask @BotFather"), "{text}");
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_opened_fails_with_a_hint() {
        let check = store("nosuch://where").await;
        let failure = check.outcome.unwrap_err();
        assert!(failure.problem.contains("cannot open"), "{failure:?}");
        assert!(failure.hint.contains("store.url"), "{failure:?}");
    }
}
