//! TLS for [`Server::run_tls`](crate::Server::run_tls): rustls (aws-lc-rs),
//! TLS 1.2 and 1.3, HTTP/1.1, a PEM certificate chain and private key.
//!
//! Handshakes run in their own tasks, each cut after [`HANDSHAKE_TIMEOUT`], so a
//! client that opens a connection and sends nothing holds up no one.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

use crate::error::ApiError;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const QUEUE: usize = 128;

/// A certificate chain and its private key, ready to serve.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
}

/// Shows nothing of the key.
impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// From PEM files: the certificate chain (leaf first) and its private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// `tls_config` when a file cannot be read, holds no certificate or no key,
    /// or the key does not fit the certificate.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, ApiError> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                tls_error(format!(
                    "cannot read the TLS {what} {}: {e}",
                    byok::keys::redact(&path.display().to_string())
                ))
            })
        };
        let cert = read(cert, "certificate")?;
        let key = zeroize::Zeroizing::new(read(key, "private key")?);
        TlsConfig::from_pem(&cert, &key)
    }

    /// From PEM text: the certificate chain (leaf first) and its private key.
    ///
    /// # Errors
    /// `tls_config`, as [`from_pem_files`](TlsConfig::from_pem_files).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<TlsConfig, ApiError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<_, _>>()
            .map_err(|e| tls_error(format!("the TLS certificate is not valid PEM: {e}")))?;
        if chain.is_empty() {
            return Err(tls_error(
                "the TLS certificate file holds no certificate".into(),
            ));
        }
        // The parse error could quote the key's bytes: say only that it failed.
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|_| tls_error("the TLS private key file holds no PEM private key".into()))?;
        // This provider, not the process default: rustls refuses to pick one
        // when a dependency turns on a second.
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("no TLS version to offer: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                tls_error(format!(
                    "the TLS certificate and private key do not go together: {e}"
                ))
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }
}

fn tls_error(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "tls_config", message)
        .hint("give a PEM certificate chain (leaf first) and the PEM private key it was made for")
}

/// A listener that hands the server only connections whose TLS handshake is done.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accept on `tcp` until the listener is dropped.
    pub(crate) fn new(tcp: TcpListener, tls: &TlsConfig) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(QUEUE);
        let acceptor = TlsAcceptor::from(tls.config.clone());
        tokio::spawn(accept_loop(tcp, acceptor, tx));
        Ok(TlsListener { local, ready })
    }
}

async fn accept_loop(
    mut tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            // axum's own accept: retries after transient errors, backs off on EMFILE.
            accepted = axum::serve::Listener::accept(&mut tcp) => accepted,
            () = tx.closed() => return,
        };
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                // Scanners, plain HTTP to the TLS port, expired clients: not the
                // server's problem; the reason, never bytes of the connection.
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
