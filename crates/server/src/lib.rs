//! `theseus serve`: the ledger as an HTTP API. National units submit
//! batches under their own identity (an agency of the registry, by its
//! bearer token), read reports, the head and the events, and a dashboard
//! page; every request is written to an access log.
//!
//! The handlers are thin: they authenticate, then call the same ledger
//! functions the CLI calls (`ledger::append_as`, `ledger::report_with`),
//! so that a batch is checked by exactly the same rules and a report has
//! exactly the same bytes. Authorisation is the ledger's, under the
//! writers' lock ([`ledger::append_as`]); the server only finds out who is
//! asking.
//!
//! The store's API is synchronous (and the PostgreSQL client runs a
//! runtime of its own): every store call runs on tokio's blocking pool,
//! bounded by [`Limits::store_calls`], never on the threads that drive
//! connections.
//!
//! * `app`: shared state, the registry cache, authentication;
//! * `routes`, `events`, `dashboard`: the handlers;
//! * `query`: strict query strings; `access`: the access log;
//! * `listen`: connections, TLS, limits, the graceful stop.

#![forbid(unsafe_code)]

mod access;
mod app;
mod dashboard;
mod error;
mod events;
mod listen;
mod query;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use event_store::EventStore;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use error::ServerError;

/// The limits every request is held to.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest request body, in bytes (413 beyond it).
    pub max_body_bytes: usize,
    /// How long the request head, and then the body, may take to arrive
    /// (408 for a body, the connection closed for a head).
    pub request_timeout: Duration,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Store calls running at once, each on a blocking thread.
    pub store_calls: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(30),
            max_connections: 256,
            store_calls: 16,
        }
    }
}

/// A certificate chain and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// TLS; without it, plain HTTP (for loopback, or behind a reverse proxy
    /// that terminates TLS).
    pub tls: Option<TlsFiles>,
    /// The access log file (appended to); `None` writes to standard error.
    pub access_log: Option<PathBuf>,
    pub limits: Limits,
    /// Serve `GET /` without a token (a briefing screen on a trusted host).
    pub public_dashboard: bool,
    /// Threads a report's replay may use.
    pub parts: u64,
    /// The ledger's key, which signs receipts (the service's identity);
    /// `None`: receipts cannot be asked for.
    pub ledger_key: Option<evidence::SignerKey>,
    /// Agencies whose unsigned batches are refused (403).
    pub require_signatures: std::collections::BTreeSet<String>,
}

/// Where the server listens, once it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listening {
    pub address: SocketAddr,
    pub tls: bool,
}

/// Serves `store` until SIGTERM or SIGINT. `ready` is called once the
/// address is bound (with the port the system chose for port 0).
pub fn serve(
    store: Arc<dyn EventStore>,
    config: ServeConfig,
    ready: impl FnOnce(&Listening),
) -> Result<(), ServerError> {
    let tls = config.tls.as_ref().map(acceptor).transpose()?;
    let access = access::AccessLog::open(config.access_log.as_deref())?;
    // Read before serving, on this thread: a long log is folded once, from
    // the registry's checkpoint when there is one.
    let head = store.head()?;
    let registry = ledger::agencies::load(store.as_ref(), head, config.parts)?;
    let app = Arc::new(
        app::App::new(
            store,
            registry,
            access,
            config.limits.clone(),
            config.parts,
            config.public_dashboard,
        )
        .with_evidence(config.ledger_key.clone(), config.require_signatures.clone()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("theseus-serve")
        .build()
        .map_err(ServerError::Start)?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(ServerError::Start)?;
        ready(&Listening {
            address,
            tls: tls.is_some(),
        });
        let router = routes::router(Arc::clone(&app));
        listen::run(listener, tls, router, Arc::clone(&app)).await
    });
    // Dropping the runtime waits for store calls still running on the
    // blocking pool: an append that has started is never cut short.
    drop(runtime);
    // The rule state the writer kept in memory becomes the checkpoint, so
    // that the next writer starts from it (derived data: best effort).
    let _ = app.appender.save(app.store.as_ref());
    served
}

fn acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
    let tls_error = |path: &PathBuf, message: String| ServerError::Tls {
        path: path.clone(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|error| tls_error(&files.cert, format!("cannot read certificates: {error}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| tls_error(&files.cert, format!("not a PEM certificate chain: {error}")))?;
    if certs.is_empty() {
        return Err(tls_error(&files.cert, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|error| tls_error(&files.key, format!("not a PEM private key: {error}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error(&files.cert, error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| tls_error(&files.key, format!("does not fit the certificate: {error}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
