//! The HTTP server loop: hyper with deadlines axum's own `serve` does not set.
//!
//! A client that opens a connection and then trickles its request headers one byte at a time
//! is not idle (the connection guard's idle timeout, `conn_guard`, restarts with every byte),
//! yet it holds a connection and a task for as long as it likes (issue 17, "slowloris"). Here
//! a request's headers must be complete within [`HEADER_READ_TIMEOUT`] of the moment the
//! connection is ready for one (it opened, or the previous answer went out), or the connection
//! is closed; so an idle keep-alive connection is also closed after that time. HTTP/1.1 only
//! (with upgrades, for the signalling WebSocket): hyper's header deadline does not cover
//! HTTP/2, and no client of this server speaks h2c (browsers and proxies use HTTP/1.1 to a
//! plain-HTTP backend). The client address goes to the handlers as `axum::serve` does.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::conn_guard::{ClientAddr, GuardedListener};

/// A request's headers must have arrived this long after the connection was ready for it.
/// Real clients send them in one packet right away; nginx' `client_header_timeout` is 60 s,
/// hyper's default 30 s (a pooled client connection idle longer is closed and reopened).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stop waits for requests in flight (when the serve task is awaited rather than
/// aborted; `RunningServer::stop` aborts it after cancelling, as before).
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `cancel`.
pub(crate) async fn serve(
    mut listener: GuardedListener,
    app: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        let (io, addr) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = cancel.cancelled() => break,
        };
        let client = ConnectInfo(ClientAddr(addr));
        let service = app
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(client);
                req.map(axum::body::Body::new)
            })
            .map_err(|never: Infallible| match never {});
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // A client that went away or sent garbage; nothing to report per connection.
                tracing::trace!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("requests still in flight after the drain period");
    }
    Ok(())
}
