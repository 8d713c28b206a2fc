//! `openmog doctor`'s check of an email channel: an IMAP login (then LOGOUT) and an SMTP
//! connection with EHLO, STARTTLS or TLS as configured, and AUTH; nothing is read or sent.

use openmog::channel::ProbeFailure;

use crate::channel::Inner;
use crate::imap::Watcher;

pub(crate) async fn probe(inner: &Inner) -> Result<String, ProbeFailure> {
    let settings = &inner.settings;
    let watcher = Watcher {
        channel: &inner.name,
        settings,
        tls: &inner.tls,
        state: &inner.state,
    };
    let imap = &settings.imap;
    watcher.check_login().await.map_err(|err| {
        ProbeFailure::new(
            err.to_string(),
            format!(
                "check settings.imap (host {}, port {}, security), its username and password; \
                 `openmog vault set` replaces a stored password",
                imap.host, imap.port
            ),
        )
    })?;
    let smtp = &settings.smtp;
    inner.smtp.check().await.map_err(|why| {
        ProbeFailure::new(
            why,
            format!(
                "check settings.smtp (host {}, port {}, security), its username and password",
                smtp.host, smtp.port
            ),
        )
    })?;
    Ok(format!(
        "IMAP login as {} at {}:{} and SMTP at {}:{} accepted",
        imap.username, imap.host, imap.port, smtp.host, smtp.port
    ))
}
