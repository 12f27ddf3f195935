//! Shared helpers for the end-to-end tests: a real server on loopback (optionally behind a TCP
//! proxy whose connections a test can cut), real cores, and condition waits with deadlines.

pub mod coturn;
pub mod netns;
pub mod tls;
use samtale_core::api::ApiClient;
use samtale_core::devices::{DeviceOptions, Devices};
use samtale_core::protocol::Meeting;
use samtale_core::{Call, CallConfig, CallState, CallStats, FsmTiming};
use samtale_server::{Clock, RunningServer, ServerConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Staff token used by every test server.
pub const STAFF_TOKEN: &str = "test-staff-token-0123456789";

/// A TCP proxy on loopback. Its target can be changed (server restart on a new port) and all
/// its connections cut at once (a dropped signalling socket). With a TLS acceptor it is
/// the server's HTTPS front (`https://` and `wss://`), like the nginx of a real deployment.
pub struct TcpProxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy in front of `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(target, None).await
    }

    /// Starts a proxy in front of `target`, terminating TLS with `tls` if given.
    pub async fn start_with(
        target: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let target = Arc::new(Mutex::new(target));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let (t, c) = (Arc::clone(&target), Arc::clone(&conns));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = *t.lock().unwrap_or_else(|p| p.into_inner());
                let tls = tls.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(to).await else {
                        return;
                    };
                    match tls {
                        None => {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                        // A client that refuses our certificate ends the handshake here.
                        Some(tls) => {
                            if let Ok(mut inbound) = tls.accept(inbound).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        }
                    }
                });
                let mut conns = c.lock().unwrap_or_else(|p| p.into_inner());
                conns.retain(|h| !h.is_finished());
                conns.push(task);
            }
        });
        Ok(Self {
            addr,
            target,
            conns,
            accept,
        })
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Points new connections at `target`.
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }

    /// Cuts every open connection (both sockets are closed at once).
    pub fn kill_all(&self) -> usize {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let n = conns.iter().filter(|h| !h.is_finished()).count();
        for h in conns.drain(..) {
            h.abort();
        }
        n
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.kill_all();
    }
}

/// Options for a test server.
#[derive(Clone)]
pub struct TestServerOptions {
    /// Resume grace period.
    pub resume_grace_secs: u64,
    /// Look-up bucket size.
    pub lookup_burst: u32,
    /// Clock (manual for expiry tests).
    pub clock: Clock,
    /// TURN relays for the tickets.
    pub turn: Option<samtale_server::TurnConfig>,
    /// Serve HTTPS/WSS with a certificate from this private CA (clients trust it only when
    /// configured to: see [`TestServer::config`]).
    pub tls: Option<tls::TestCa>,
}

impl Default for TestServerOptions {
    fn default() -> Self {
        Self {
            resume_grace_secs: 30,
            lookup_burst: 100,
            clock: Clock::system(),
            turn: None,
            tls: None,
        }
    }
}

/// A real server on loopback with its database in a temp dir, behind a [`TcpProxy`].
pub struct TestServer {
    server: Option<RunningServer>,
    /// The proxy every client goes through.
    pub proxy: TcpProxy,
    dir: tempfile::TempDir,
    opts: TestServerOptions,
}

impl TestServer {
    /// Starts a server with default options.
    pub async fn start() -> Self {
        Self::start_with(TestServerOptions::default()).await
    }

    /// Starts a server.
    pub async fn start_with(opts: TestServerOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // The proxy must exist first: its address goes into the tickets as the public URL.
        let placeholder: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let acceptor = opts.tls.as_ref().map(tls::TestCa::acceptor);
        let proxy = TcpProxy::start_with(placeholder, acceptor)
            .await
            .expect("proxy");
        let server = Self::launch(&dir, &opts, proxy.addr()).await;
        proxy.retarget(server.addr());
        Self {
            server: Some(server),
            proxy,
            dir,
            opts,
        }
    }

    async fn launch(
        dir: &tempfile::TempDir,
        opts: &TestServerOptions,
        public: SocketAddr,
    ) -> RunningServer {
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            db_path: dir
                .path()
                .join("samtale.sqlite")
                .to_string_lossy()
                .into_owned(),
            staff_token: STAFF_TOKEN.to_owned(),
            public_url: Some(format!("{}://{public}", scheme(opts))),
            resume_grace_secs: opts.resume_grace_secs,
            lookup_burst: opts.lookup_burst,
            clock: opts.clock.clone(),
            turn: opts.turn.clone(),
            ..Default::default()
        };
        samtale_server::start(config).await.expect("server starts")
    }

    /// Base URL clients use (through the proxy; `https` with [`TestServerOptions::tls`]).
    pub fn url(&self) -> String {
        format!("{}://{}", scheme(&self.opts), self.proxy.addr())
    }

    /// The private CA's certificate (PEM) when the server speaks TLS.
    pub fn ca_pem(&self) -> Option<String> {
        self.opts.tls.as_ref().map(|ca| ca.ca_pem.clone())
    }

    /// Base URL of the server itself, bypassing the proxy.
    pub fn direct_url(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.base_url())
            .unwrap_or_default()
    }

    /// Stops the server like a crash: every socket closes, nothing is said to anyone.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.proxy.kill_all();
    }

    /// Starts the server again on the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = Self::launch(&self.dir, &self.opts, self.proxy.addr()).await;
        self.proxy.retarget(server.addr());
        self.server = Some(server);
    }

    /// An API client through the proxy (trusting the private CA, if any).
    pub fn api(&self) -> ApiClient {
        let tls = samtale_core::tls::client_config(self.ca_pem().as_deref()).expect("tls");
        ApiClient::with_tls(&self.url(), Duration::from_secs(10), tls).expect("api client")
    }

    /// Creates a meeting.
    pub async fn create_meeting(&self) -> Meeting {
        self.api()
            .create_meeting(STAFF_TOKEN, None)
            .await
            .expect("create meeting")
    }

    /// A call config for this server, media on loopback, fast retries; trusting the private
    /// CA, if any.
    pub fn config(&self) -> CallConfig {
        let mut config = CallConfig::new(self.url()).loopback();
        config.extra_ca_pem = self.ca_pem();
        config.timing = FsmTiming {
            retry_max: Duration::from_secs(1),
            ..FsmTiming::default()
        };
        config
    }

    /// Creates a meeting and joins it as staff; returns once the staff call is waiting.
    pub async fn host(&self) -> (Meeting, Call) {
        let meeting = self.create_meeting().await;
        let ticket = self
            .api()
            .staff_ticket(STAFF_TOKEN, &meeting.meeting_id)
            .await
            .expect("staff ticket");
        let staff = with_devices(Call::join_with_ticket(self.config(), ticket));
        let s = staff
            .wait_for(Duration::from_secs(20), |s| *s == CallState::Waiting)
            .await;
        assert_eq!(s, CallState::Waiting, "staff should wait in the meeting");
        (meeting, staff)
    }

    /// A citizen joins by code; returns once in the call with someone.
    pub async fn citizen_in_call(&self, code: &str) -> Call {
        let citizen = with_devices(Call::join(self.config(), code));
        let s = citizen
            .wait_for(Duration::from_secs(20), |s| *s == CallState::InCall)
            .await;
        assert_eq!(s, CallState::InCall, "citizen should be in the call");
        citizen
    }
}

fn scheme(opts: &TestServerOptions) -> &'static str {
    if opts.tls.is_some() { "https" } else { "http" }
}

/// Gives `call` the emulator's microphone, camera and speaker until the call is over.
pub fn with_devices(call: Call) -> Call {
    let devices = Devices::attach(&call, DeviceOptions::default());
    let c = call.clone();
    tokio::spawn(async move {
        c.closed().await;
        drop(devices);
    });
    call
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Best effort: the runtime may be gone already.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(server.shutdown());
            }
        }
    }
}

/// Waits until `pred` holds for the call's stats, checking every 20 ms, at most `limit`.
/// Panics with the last stats if it never does.
pub async fn wait_stats(
    call: &Call,
    limit: Duration,
    what: &str,
    pred: impl Fn(&CallStats) -> bool,
) -> CallStats {
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        let stats = call.stats();
        if pred(&stats) {
            return stats;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out waiting for {what}; stats: {stats:?}; state: {:?}",
                call.state()
            );
        }
        tick.tick().await;
    }
}

/// Whether `stats` count more than `audio` audio and `video` video packets from `peer`.
pub fn received_from(stats: &CallStats, peer: &str, audio: u64, video: u64) -> bool {
    stats
        .per_peer
        .get(peer)
        .is_some_and(|(a, v)| *a > audio && *v > video)
}

/// Waits until `call` has received more than 10 audio and 3 video packets from `peer`.
pub async fn wait_media_from(call: &Call, peer: &str, what: &str) -> CallStats {
    wait_stats(call, Duration::from_secs(20), what, |s| {
        received_from(s, peer, 10, 3)
    })
    .await
}

/// Waits until `call` has received at least `n` more audio and video packets than `from`.
pub async fn media_keeps_flowing(call: &Call, from: &CallStats, n: u64, what: &str) -> CallStats {
    let (a, v) = (from.audio_packets_received, from.video_packets_received);
    wait_stats(call, Duration::from_secs(15), what, |s| {
        s.audio_packets_received >= a + n && s.video_packets_received >= v + n
    })
    .await
}

/// Records every participant-list change of `call`; `ever_lost(id)` tells whether `id`
/// disappeared at any time after first appearing.
pub struct ParticipantLog {
    seen: Arc<Mutex<Vec<Vec<String>>>>,
    _sub: samtale_core::Subscription,
}

impl ParticipantLog {
    /// Starts recording.
    pub fn record(call: &Call) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let sub = call.subscribe_participants(move |list| {
            s.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(list.iter().map(|p| p.id.clone()).collect());
        });
        Self { seen, _sub: sub }
    }

    /// Whether `id` was present and later absent.
    pub fn ever_lost(&self, id: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = false;
        for list in seen.iter() {
            let has = list.iter().any(|p| p == id);
            if present && !has {
                return true;
            }
            present |= has;
        }
        false
    }
}

/// Waits up to `limit` for the staff API of the server at `base_url` (plain http) to show, for
/// `meeting_id` (or the only meeting, with `None`), a citizen's pre-call check that `pred`
/// accepts (what the caseworker's page shows). `Ok` with it and how long it took; `Err` with
/// the last one seen.
pub async fn wait_citizen_check(
    base_url: &str,
    staff_token: &str,
    meeting_id: Option<&str>,
    limit: Duration,
    pred: impl Fn(&samtale_core::precheck::CheckReport) -> bool,
) -> Result<
    (samtale_core::precheck::CheckReport, Duration),
    Option<samtale_core::precheck::CheckReport>,
> {
    let api = ApiClient::plain(base_url, Duration::from_secs(5)).expect("api client");
    let started = tokio::time::Instant::now();
    let mut last = None;
    while started.elapsed() < limit {
        if let Ok(list) = api.list_meetings(staff_token).await {
            last = list
                .meetings
                .into_iter()
                .find(|m| meeting_id.is_none_or(|id| m.meeting_id == id))
                .and_then(|m| m.citizen_check);
            if let Some(check) = last.filter(|c| pred(c)) {
                return Ok((check, started.elapsed()));
            }
        }
        // The page asks every 3 s; a test asks more often, to measure.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}
