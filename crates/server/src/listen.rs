//! Accepting connections: the connection limit, TLS, HTTP/1.1 with a
//! header timeout, and the graceful stop on SIGTERM (or SIGINT): no new
//! connection is accepted, idle ones are closed, and requests in flight
//! finish (an append that has started always runs to its end: it is on a
//! blocking thread that the runtime waits for).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::app::{App, Remote};
use crate::{Limits, ServerError};

/// The largest request head (request line and headers) read: beyond it
/// the request is refused (431) instead of buffered.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stop waits for requests in flight before it closes what is
/// left (appends still finish: see the module's comment).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` until SIGTERM or SIGINT.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    app: Arc<App>,
) -> Result<(), ServerError> {
    let limits = app.limits.clone();
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut terminate = signal(SignalKind::terminate()).map_err(ServerError::Start)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServerError::Start)?;
    loop {
        // At most `max_connections` at once: beyond that, connections wait
        // in the kernel's backlog until one closes.
        let permit = tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, a connection reset before
                    // accept…: say so and go on, a little later.
                    eprintln!("warning: accept: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(Remote(remote));
                request
            });
        let service = TowerToHyperService::new(service);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(TokioIo::new(stream), service, watcher, &limits).await,
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        connection(TokioIo::new(stream), service, watcher, &limits).await;
                    }
                }
            }
        });
    }
    drop(listener);
    app.stopping.store(true, Ordering::SeqCst);
    app.appended.notify_waiters();
    eprintln!("stopping: finishing the requests in flight");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("warning: requests still open after {DRAIN_TIMEOUT:?} were closed");
    }
    Ok(())
}

async fn connection<I, S>(io: TokioIo<I>, service: S, watcher: Watcher, limits: &Limits)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let serving = builder.serve_connection(io, service);
    // A connection that fails (a client gone, a malformed request hyper
    // answered itself) ends here; nothing of it outlives the connection.
    let _ = watcher.watch(serving).await;
}
