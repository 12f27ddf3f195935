//! Samtale reference meeting server.
//!
//! Staff create meetings and get short numeric join codes; citizens resolve a code to a
//! single-use ticket; every participant then signals its WebRTC mesh (at most four seats)
//! through one WebSocket. The wire protocol is specified in `docs/protocol.md`. Media never
//! passes through the server.
//!
//! [`start`] runs a server inside the caller's tokio runtime, which is how the simulator and
//! the end-to-end tests use it; the `samtale-server` binary wraps it with command-line flags.

#![warn(missing_docs)]

mod auth;
mod client_ip;
mod clock;
mod config;
mod conn_guard;
mod db;
mod error;
mod guessing;
mod http;
mod ids;
mod log_budget;
mod presence;
mod rate_limit;
mod serve;
mod signalling;
mod turn;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use client_ip::{ForwardedHeader, TrustedProxies};
pub use clock::Clock;
pub use config::{MAX_MEETING_TTL_MINUTES, MIN_MEETING_TTL_MINUTES, ServerConfig};
pub use db::DbError;
pub use error::ServerError;
pub use guessing::GuessStats;
pub use turn::{TURN_TTL_RANGE, TurnConfig};

use crate::auth::StaffToken;
use crate::db::Db;
use crate::http::AppState;
use crate::rate_limit::RateLimiter;
use crate::signalling::{Hub, HubConfig};

/// `tracing` filter directives that keep dependencies from logging what Samtale must never log,
/// whatever the configured level: the WebSocket library traces whole frames (SDP included), and
/// axum traces every accepted connection with the client's address. Add them to any filter
/// that may be set to `debug` or `trace`.
pub const PRIVACY_LOG_DIRECTIVES: &[&str] = &[
    "tungstenite=info",
    "tokio_tungstenite=info",
    "axum::serve=info",
];

/// How often the sweeper looks for expired meetings (real time).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Wrong staff tokens one client address may send in a burst, and seconds per one more: a
/// caseworker who mistypes gets ten tries, a guesser 10 a minute (with a 20-character token
/// from the 64 base64 characters, longer than the universe has existed).
const STAFF_FAILURE_BURST: u32 = 10;
/// See [`STAFF_FAILURE_BURST`].
const STAFF_FAILURE_REFILL_SECS: f64 = 6.0;
/// Shortest staff token accepted (the single shared token is for a one-machine trial; see
/// the README for making one).
pub const MIN_STAFF_TOKEN_CHARS: usize = 20;
/// The sweeper prunes old tickets and idle rate-limit buckets every this many sweeps.
const HOUSEKEEPING_EVERY: u32 = 60;
/// Tickets are deleted this long after they expired (seconds).
const TICKET_RETENTION_SECS: i64 = 3_600;

/// Starts a server: opens the database, restores held seats (each gets a fresh resume grace
/// period), binds `config.listen` and serves until [`RunningServer::shutdown`] or
/// [`RunningServer::wait`] ends it.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate()?;
    let db = Arc::new(Db::open(&config.db_path)?);
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (base_url, signalling_url) = match &config.public_url {
        Some(url) => config::public_urls(url)?,
        None => (
            format!("http://{addr}"),
            format!("ws://{addr}/api/v1/signal"),
        ),
    };

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let hub = Arc::new(Hub::new(
        Arc::clone(&db),
        HubConfig {
            clock: config.clock.clone(),
            resume_grace: Duration::from_secs(config.resume_grace_secs),
            keepalive_secs: config.keepalive_secs,
        },
        tracker.clone(),
        cancel.clone(),
    ));
    let restored = hub.restore()?;
    let state = Arc::new(AppState {
        db: Arc::clone(&db),
        hub,
        limiter: RateLimiter::new(config.lookup_burst, config.lookup_refill_secs),
        staff_failures: RateLimiter::new(STAFF_FAILURE_BURST, STAFF_FAILURE_REFILL_SECS),
        guesses: guessing::GuessGuard::new(config.guess_alarm_per_minute),
        staff: StaffToken::new(&config.staff_token),
        clock: config.clock.clone(),
        default_ttl_minutes: config.meeting_ttl_minutes,
        room_idle_secs: i64::from(config.room_idle_days) * 86_400,
        closed_retention_secs: i64::from(config.closed_retention_days) * 86_400,
        presence: presence::PresenceBook::new(Duration::from_secs(config.presence_hold_secs)),
        token_ttl_secs: config.token_ttl_secs,
        ice_servers: config.ice_servers.clone(),
        turn: config.turn.clone(),
        signalling_url,
        base_url: base_url.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        cancel: cancel.clone(),
        tracker: tracker.clone(),
    });

    tracker.spawn(sweeper(Arc::clone(&state)));

    let app = http::router(Arc::clone(&state));
    // Longer than any silence a real client keeps: a WebSocket's three keep-alive periods (the
    // hub closes it then), a presence long poll's hold.
    let idle = Duration::from_secs(
        config
            .keepalive_secs
            .saturating_mul(3)
            .max(config.presence_hold_secs)
            + 10,
    );
    let listener = conn_guard::GuardedListener::new(
        listener,
        conn_guard::ConnLimits {
            max_per_address: config.max_connections_per_address,
            idle,
            exempt: config.trusted_proxies.clone(),
        },
    );
    let serve_task = tokio::spawn(serve::serve(listener, app, cancel.clone()));

    tracing::info!(%addr, restored_seats = restored, "server started");
    Ok(RunningServer {
        addr,
        base_url,
        state,
        cancel,
        tracker,
        serve_task: Some(serve_task),
    })
}

/// Expires meetings whose time ran out, and does periodic housekeeping.
async fn sweeper(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeps: u32 = 0;
    loop {
        tokio::select! {
            () = state.cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        if let Err(e) = state.expire_due() {
            tracing::error!(error = %e, "expiring meetings failed");
        }
        sweeps += 1;
        if sweeps >= HOUSEKEEPING_EVERY {
            sweeps = 0;
            let before = state.clock.now_unix().saturating_sub(TICKET_RETENTION_SECS);
            match state.db.purge_tickets(before) {
                Ok(0) => {}
                Ok(n) => tracing::debug!(tickets = n, "old tickets purged"),
                Err(e) => tracing::error!(error = %e, "purging tickets failed"),
            }
            let before = state.clock.now_unix() - state.closed_retention_secs;
            match state.db.purge_closed(before) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    meetings = n,
                    "closed meetings deleted after the retention period"
                ),
                Err(e) => tracing::error!(error = %e, "purging closed meetings failed"),
            }
            state.limiter.prune();
            state.guesses.prune();
            state.presence.prune();
            state.hub.prune();
        }
    }
}

/// A running server. Dropping it stops it like [`RunningServer::shutdown`], without waiting.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    base_url: String,
    state: Arc<AppState>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    serve_task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The address the server is bound to (with the real port if `listen` had port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the HTTP API: the configured public URL, or `http://{addr}`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The absolute WebSocket URL put into tickets.
    pub fn signalling_url(&self) -> String {
        self.state.signalling_url.clone()
    }

    /// Stops the server abruptly, as a crash would: the listener, every HTTP connection and
    /// every WebSocket is dropped at once (no `meeting_ended`, no `peer_left`), then the
    /// database is closed. Everything stored survives: [`start`] with the same database file
    /// sees all meetings, codes and seats again.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// Serves until the server fails or the process receives Ctrl-C (or SIGTERM on Unix),
    /// then stops like [`RunningServer::shutdown`].
    pub async fn wait(mut self) -> Result<(), ServerError> {
        let result = match self.serve_task.as_mut() {
            Some(task) => tokio::select! {
                joined = task => {
                    self.serve_task = None;
                    match joined {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(ServerError::Io(e)),
                        Err(e) => Err(ServerError::Io(std::io::Error::other(e.to_string()))),
                    }
                }
                () = shutdown_signal() => {
                    tracing::info!("shutdown requested");
                    Ok(())
                }
            },
            None => Ok(()),
        };
        self.stop().await;
        result
    }

    async fn stop(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.serve_task.take() {
            task.abort();
            let _ = task.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
        self.state.db.close();
        tracing::info!(addr = %self.addr, "server stopped");
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.serve_task.take() {
            task.abort();
        }
        self.tracker.close();
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
