//! TLS for IMAP (implicit and STARTTLS) with rustls and ring: the public web roots plus any
//! CA the settings add, so a self-hosted server (or a test's certificate) can be trusted
//! without turning verification off.

use std::fmt::Debug;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::Error;

/// A byte stream to a mail server, plain or encrypted.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

/// The verifier every connection uses.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
}

impl Tls {
    /// Web PKI roots, plus the certificates in `extra_pem`.
    pub(crate) fn new(extra_pem: Option<&str>) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_pem {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|err| tls_error("ca_file", err))?;
                roots.add(cert).map_err(|err| tls_error("ca_file", err))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| tls_error("rustls", err))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Encrypts `stream` to `host`, verifying its certificate.
    pub(crate) async fn wrap<S>(&self, host: &str, stream: S) -> Result<Box<dyn Io>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + Debug + 'static,
    {
        let name = ServerName::try_from(host.to_owned()).map_err(|err| tls_error(host, err))?;
        let tls = self
            .connector
            .connect(name, stream)
            .await
            .map_err(|err| tls_error(host, err))?;
        Ok(Box::new(tls))
    }
}

fn tls_error(host: &str, err: impl std::fmt::Display) -> Error {
    Error::Tls {
        host: host.to_owned(),
        reason: err.to_string(),
    }
}

/// A TCP connection to `host:port`.
pub(crate) async fn tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
