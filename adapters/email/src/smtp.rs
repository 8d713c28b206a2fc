//! The SMTP side: one pooled lettre transport (implicit TLS, STARTTLS, or plain to a
//! loopback relay) with AUTH; its errors sorted into what the outbox retries (4xx,
//! timeouts, connection failures) and what it gives up on (5xx).

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use openmog::channel::SendError;
use secrecy::ExposeSecret;

use crate::Error;
use crate::settings::{EmailSettings, Security};

/// A connection pool to the submission server.
pub(crate) struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
    timeout: std::time::Duration,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// A transport for the settings' SMTP server; opens no connection yet.
    pub(crate) fn new(settings: &EmailSettings) -> Result<Smtp, Error> {
        let server = &settings.smtp;
        let tls_error = |reason: String| Error::Tls {
            host: server.host.clone(),
            reason,
        };
        let mut params = TlsParameters::builder(server.host.clone());
        if let Some(pem) = &settings.ca_pem {
            for block in pem_blocks(pem) {
                let cert = Certificate::from_pem(block.as_bytes())
                    .map_err(|err| tls_error(format!("ca_file: {err}")))?;
                params = params.add_root_certificate(cert);
            }
        }
        let params = params
            .build_rustls()
            .map_err(|err| tls_error(err.to_string()))?;
        let tls = match server.security {
            Security::Tls => Tls::Wrapper(params),
            Security::Starttls => Tls::Required(params),
            Security::Plain => Tls::None,
        };
        let credentials = Credentials::new(
            server.username.clone(),
            server.password.expose_secret().to_owned(),
        );
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
            .port(server.port)
            .tls(tls)
            .credentials(credentials)
            .timeout(Some(settings.timeout))
            .build();
        Ok(Smtp {
            transport,
            host: server.host.clone(),
            timeout: settings.timeout,
        })
    }

    /// Sends `mail`: a 5xx answer is permanent; anything else that fails may pass.
    pub(crate) async fn send(&self, mail: Message) -> Result<(), SendError> {
        // lettre's own timeout covers each command; this bounds the whole transaction.
        match tokio::time::timeout(self.timeout * 3, self.transport.send(mail)).await {
            Err(_) => Err(SendError::Transient(format!(
                "SMTP {}: no answer within {:?}",
                self.host,
                self.timeout * 3
            ))),
            Ok(Err(err)) if err.is_permanent() => {
                Err(SendError::Permanent(format!("SMTP {}: {err}", self.host)))
            }
            Ok(Err(err)) => Err(SendError::Transient(format!("SMTP {}: {err}", self.host))),
            Ok(Ok(_)) => Ok(()),
        }
    }
}

impl Smtp {
    /// Connects, greets, secures and authenticates as a send would, then quits
    /// (`openmog doctor`); says what failed.
    pub(crate) async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(self.timeout * 3, self.transport.test_connection()).await {
            Err(_) => Err(format!(
                "SMTP {}: no answer within {:?}",
                self.host,
                self.timeout * 3
            )),
            Ok(Err(err)) => Err(format!("SMTP {}: {err}", self.host)),
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(format!(
                "SMTP {}: the connection did not answer NOOP",
                self.host
            )),
        }
    }
}

/// Each `-----BEGIN CERTIFICATE-----` block of a PEM bundle (lettre takes one at a time).
fn pem_blocks(pem: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    pem.split_inclusive(END)
        .filter(|block| block.contains("-----BEGIN CERTIFICATE-----"))
        .map(|block| block.trim().to_owned())
        .collect()
}
