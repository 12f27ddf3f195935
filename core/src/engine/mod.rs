//! The edge of the call engine: sockets, peer connections, timers and the media engine's tasks.
//!
//! One actor task owns the [`CallFsm`] and every resource. Everything else (HTTP look-up,
//! signalling socket, peer-connection callbacks, timers) reports to it through one channel of
//! [`Input`]s; the actor feeds the state machine and carries out the [`Action`]s it returns.
//! Reports from superseded sockets, peer connections or timers carry an old generation number
//! and are dropped.

mod audio_path;
mod dtls_flights;
mod media_io;
mod peer;
mod relay_probe;
mod signalling;
mod turn_tcp;

pub use media_io::{AudioStats, MediaStats, SendStats, VideoStats};

pub use peer::IceTuning;

use crate::api::ApiClient;
use crate::error::{CoreError, webrtc_err};
use crate::fsm::{Action, CallFsm, CallState, EndReason, Event, FsmTiming, PeerId, Timer};
use crate::media::{DecodedFrame, FRAME_SAMPLES, MediaKind, Rotation, VideoFrame};
use crate::observer::{Observable, Subscription};
use crate::stats::{CallStats, StatsRecorder};
use media_io::MediaIo;
use peer::{BuiltPeer, LocalTrack, PeerContext};
use rtc::peer_connection::configuration::RTCOfferOptions;
use samtale_protocol::{
    CheckReport, ClientMessage, EndReason as WireEndReason, FEATURE_CHECK, JoinCode, NetworkCheck,
    PROTOCOL_VERSION, Resume, ServerMessage, SignalPayload, Ticket, WsErrorCode,
};
use signalling::SignallingHandle;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSdpType, RTCSessionDescription,
};

/// Everything a call needs to know. `CallConfig::new(server_url)` gives sane defaults.
#[derive(Clone)]
pub struct CallConfig {
    /// Base URL of the Samtale server (`https://…`).
    pub server_url: String,
    /// Local addresses for media sockets. The default, `0.0.0.0:0` and `[::]:0`, means every
    /// interface of both families (the stack expands each wildcard into the interfaces'
    /// addresses, again at every ICE restart): phones on IPv6-only networks (NAT64, App Store
    /// review) get host candidates too. Tests on loopback use `127.0.0.1:0`.
    pub bind_addrs: Vec<String>,
    /// ICE timing.
    pub ice: IceTuning,
    /// Reconnection timing.
    pub timing: FsmTiming,
    /// HTTP timeout for the code look-up.
    pub http_timeout: Duration,
    /// Offer an audio track (what is sent comes from [`Call::push_audio`]).
    pub send_audio: bool,
    /// Offer a video track (what is sent comes from [`Call::push_video`]).
    pub send_video: bool,
    /// Where to remember the meeting for one-tap rejoin (see [`crate::remember`]): after a
    /// successful look-up the server's pairing token is stored here; `None` remembers nothing.
    pub remember: Option<Arc<dyn crate::remember::TokenStore>>,
    /// Extra CA certificates (PEM) trusted besides the platform's, for HTTPS and WSS alike:
    /// a municipality's own CA, or a test's (ignored on Android: see [`crate::tls`]).
    pub extra_ca_pem: Option<String>,
    /// Fault injection for tests (`emulator` feature only): received RTP packets for which this returns `false` are
    /// dropped on arrival, as if the network had lost them (retransmissions included).
    #[cfg(feature = "emulator")]
    pub inbound_filter: Option<InboundFilter>,
    /// Fault injection for tests (`emulator` feature only): once this side has accepted an
    /// ICE restart on a connection, that connection sends nothing any more (no media, no
    /// statuses) while its transport stays up; a new connection sends again. The peer must
    /// notice ([`crate::flow`]) and recover.
    #[cfg(feature = "emulator")]
    pub freeze_after_ice_restart: bool,
}

/// See [`CallConfig::inbound_filter`].
pub type InboundFilter = Arc<dyn Fn(MediaKind, &rtc::rtp::Packet) -> bool + Send + Sync>;

impl std::fmt::Debug for CallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallConfig")
            .field("server_url", &self.server_url)
            .field("bind_addrs", &self.bind_addrs)
            .field("ice", &self.ice)
            .field("timing", &self.timing)
            .field("send_audio", &self.send_audio)
            .field("send_video", &self.send_video)
            .finish()
    }
}

impl CallConfig {
    /// Defaults for a server at `server_url`.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            bind_addrs: vec!["0.0.0.0:0".to_owned(), "[::]:0".to_owned()],
            ice: IceTuning::default(),
            timing: FsmTiming::default(),
            http_timeout: Duration::from_secs(10),
            send_audio: true,
            send_video: true,
            #[cfg(feature = "emulator")]
            inbound_filter: None,
            #[cfg(feature = "emulator")]
            freeze_after_ice_restart: false,
            remember: None,
            extra_ca_pem: None,
        }
    }

    /// Binds media sockets to loopback only (tests, the emulator's demo).
    pub fn loopback(mut self) -> Self {
        self.bind_addrs = vec!["127.0.0.1:0".to_owned()];
        self
    }
}

/// A peer's offer or answer we cannot use. `parsing`: it did not even parse. Only a
/// description that can never work (no codec in common, not SDP) is a
/// [`CoreError::Negotiation`]; one refused in passing (wrong signalling state while both sides
/// restart or glare) stays a stack error, and recovery deals with it. The stack's text is not
/// kept: SDP errors quote SDP values.
fn negotiation_err(e: &impl std::fmt::Display, parsing: bool) -> CoreError {
    use samtale_protocol::NegotiationFailure as F;
    let text = e.to_string();
    if text.to_ascii_lowercase().contains("codec") {
        CoreError::Negotiation(F::NoCommonCodec)
    } else if parsing {
        CoreError::Negotiation(F::Malformed)
    } else {
        webrtc_err(text)
    }
}

/// Messages to the actor.
pub(crate) enum Input {
    Leave,
    NetworkChanged,
    Resolved(Result<Ticket, CoreError>),
    Server(u64, ServerMessage),
    SignallingClosed(u64, CoreError),
    SignallingRefused(u64, WsErrorCode),
    /// The server answered a probe on this socket.
    SignallingAlive(u64),
    LocalCandidate(PeerId, u64, RTCIceCandidateInit),
    PeerConnectionState(PeerId, u64, RTCPeerConnectionState),
    PayloadTypes(PeerId, u64, Option<u8>, Option<u8>),
    Timeout(Timer, u64),
    /// Media from a peer stalled or flows again (`crate::flow`).
    Flow(crate::flow::FlowChange),
    /// The pre-call check's relay probes are done.
    NetworkChecked(NetworkCheck),
    /// The microphone or camera changed (mute, camera off, a device that gives nothing): the
    /// pre-call check's report may have changed.
    DevicesChanged,
}

/// A participant as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Server-assigned id.
    pub id: String,
    /// Whether media with them is connected.
    pub connected: bool,
}

struct Shared {
    state: Observable<CallState>,
    state_tx: watch::Sender<CallState>,
    participants: Observable<Vec<Participant>>,
    stats: Arc<StatsRecorder>,
    my_id: Mutex<Option<String>>,
    done: watch::Sender<bool>,
    media: Arc<MediaIo>,
    /// What the pre-call check found about the network (`Untested` until it is done).
    network: Observable<NetworkCheck>,
}

impl Shared {
    fn new(origin: Instant) -> Arc<Shared> {
        let (state_tx, _) = watch::channel(CallState::Idle);
        let (done, _) = watch::channel(false);
        Arc::new(Shared {
            state: Observable::new(CallState::Idle),
            state_tx,
            participants: Observable::new(Vec::new()),
            stats: Arc::new(StatsRecorder::new(origin)),
            my_id: Mutex::new(None),
            done,
            media: MediaIo::start(origin),
            network: Observable::new(NetworkCheck::Untested),
        })
    }
}

/// A call. Cheap to clone; every clone controls the same call.
///
/// Created with [`Call::join`] (citizen, code) or [`Call::join_with_ticket`] (staff): both return
/// at once and the call proceeds in the background on the current Tokio runtime. Observe it with
/// [`Call::subscribe`] or [`Call::watch`]; end it with [`Call::leave`].
#[derive(Clone)]
pub struct Call {
    shared: Arc<Shared>,
    handle: Arc<Handle>,
}

/// Shared by every clone of a [`Call`]; when the last clone is dropped the call is left, so a
/// forgotten call never keeps the microphone, camera and sockets running.
struct Handle {
    tx: mpsc::UnboundedSender<Input>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.tx.send(Input::Leave);
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("state", &self.state())
            .finish()
    }
}

impl Call {
    /// Joins with a code typed by the citizen. The code is checked offline first: a bad code
    /// fails at once with [`crate::PublicError::BadCode`] and no network call is made.
    /// Must be called within a Tokio runtime.
    pub fn join(config: CallConfig, code: &str) -> Call {
        let parsed = JoinCode::parse(code);
        Self::start(config, Start::Code(parsed))
    }

    /// Rejoins the meeting of an earlier call with its pairing token (see [`crate::remember`]).
    /// Must be called within a Tokio runtime.
    pub fn rejoin(config: CallConfig, pairing_token: String) -> Call {
        Self::start(config, Start::Pairing(pairing_token))
    }

    /// Joins with a ticket obtained elsewhere (staff ticket). Must be called within a Tokio
    /// runtime.
    pub fn join_with_ticket(config: CallConfig, ticket: Ticket) -> Call {
        Self::start(config, Start::Ticket(Box::new(ticket)))
    }

    fn start(config: CallConfig, start: Start) -> Call {
        let origin = Instant::now();
        let shared = Shared::new(origin);
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let (flow_tx, mut flow_rx) = mpsc::unbounded_channel();
            shared.media.on_flow_change(flow_tx);
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(change) = flow_rx.recv().await {
                    if tx.send(Input::Flow(change)).is_err() {
                        break;
                    }
                }
            });
        }
        // One TLS configuration for the API and signalling alike. A plain-http server (tests,
        // a tester's laptop) does not need one; there a machine without any CA store works.
        let (api, tls) = match crate::tls::client_config(config.extra_ca_pem.as_deref()) {
            Ok(tls) => (
                ApiClient::with_tls(&config.server_url, config.http_timeout, Arc::clone(&tls)),
                Some(tls),
            ),
            Err(e) if config.server_url.starts_with("http://") => {
                log::debug!("no TLS trust ({}); plain http only", e.kind());
                (
                    ApiClient::plain(&config.server_url, config.http_timeout),
                    None,
                )
            }
            Err(e) => (Err(e), None),
        };
        let fsm = CallFsm::new(config.timing.clone(), rand::random());
        let actor = Actor {
            config,
            fsm,
            shared: Arc::clone(&shared),
            tx: tx.clone(),
            api: None,
            tls,
            code: None,
            pairing: None,
            ticket: None,
            seat: None,
            sig: None,
            sig_ready: false,
            sig_generation: 0,
            outbox: Vec::new(),
            peers: HashMap::new(),
            peer_generation: 0,
            timers: HashMap::new(),
            timer_generation: 0,
            check: CheckBook::default(),
        };
        tokio::spawn(supervised(actor.run(rx, start, api), Arc::clone(&shared)));
        Call {
            shared,
            handle: Arc::new(Handle { tx }),
        }
    }

    /// The current state.
    pub fn state(&self) -> CallState {
        self.shared.state_tx.borrow().clone()
    }

    /// Calls `observer` with the current state now, then with every change, on a core task.
    /// Dropping the returned [`Subscription`] stops the calls.
    pub fn subscribe(&self, observer: impl Fn(&CallState) + Send + Sync + 'static) -> Subscription {
        self.shared.state.subscribe(observer)
    }

    /// Like [`Call::subscribe`] for the participant list.
    pub fn subscribe_participants(
        &self,
        observer: impl Fn(&Vec<Participant>) + Send + Sync + 'static,
    ) -> Subscription {
        self.shared.participants.subscribe(observer)
    }

    /// The other participants now.
    pub fn participants(&self) -> Vec<Participant> {
        self.shared.participants.get()
    }

    /// A watch channel of the state, for async code.
    pub fn watch(&self) -> watch::Receiver<CallState> {
        self.shared.state_tx.subscribe()
    }

    /// Waits until `pred` holds for the state, or the call is over, or `limit` passes.
    /// Returns the state at that moment.
    pub async fn wait_for(&self, limit: Duration, pred: impl Fn(&CallState) -> bool) -> CallState {
        let mut rx = self.watch();
        let waited = tokio::time::timeout(limit, async {
            loop {
                {
                    let s = rx.borrow_and_update();
                    if pred(&s) || s.is_final() {
                        return s.clone();
                    }
                }
                if rx.changed().await.is_err() {
                    return rx.borrow().clone();
                }
            }
        })
        .await;
        waited.unwrap_or_else(|_| self.state())
    }

    /// Statistics so far.
    pub fn stats(&self) -> CallStats {
        self.shared.stats.snapshot()
    }

    /// Our participant id, once seated.
    pub fn participant_id(&self) -> Option<String> {
        self.shared
            .my_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Media counters (jitter buffers, decoders, encoders, bandwidth estimate).
    pub fn media_stats(&self) -> MediaStats {
        self.shared.media.stats()
    }

    /// What the microphone and camera delivered so far: chunks with sound, pictures (for
    /// [`crate::device_watch::DeviceWatch`]).
    pub fn device_counters(&self) -> crate::device_watch::DeviceCounters {
        self.shared.media.device_counters()
    }

    /// Hands 10 ms of captured audio (48 kHz mono, 480 samples) to the encoder. Never blocks:
    /// call it from the audio capture callback. Other lengths are accepted and re-chunked.
    pub fn push_audio(&self, pcm: &[i16]) {
        self.shared.media.push_audio(pcm);
    }

    /// Hands a captured picture to the encoder with the rotation that makes it upright. Never
    /// blocks; if the encoder is busy the newest picture wins.
    pub fn push_video(&self, frame: &VideoFrame, rotation: Rotation) {
        self.shared.media.push_video(frame, rotation);
    }

    /// Exactly 10 ms of received audio (48 kHz mono, all participants mixed) for playback: call
    /// it from the audio output callback, every 10 ms.
    pub fn pull_audio(&self, out: &mut [i16; FRAME_SAMPLES]) {
        self.shared.media.pull_audio(out);
    }

    /// Calls `observer` with every decoded remote picture, on that peer's decoder thread (hop to
    /// the UI thread before drawing). Dropping the [`Subscription`] stops the calls.
    pub fn subscribe_video(
        &self,
        observer: impl Fn(&DecodedFrame) + Send + Sync + 'static,
    ) -> Subscription {
        self.shared.media.subscribe_frames(observer)
    }

    /// What the others' statuses say (see [`crate::hearing`]): whether they hear and see us,
    /// whether we hear them, and their own mute and camera. Judged once a second.
    pub fn hearing(&self) -> crate::hearing::Hearing {
        self.shared.media.hearing().get()
    }

    /// Like [`Call::subscribe`] for [`Call::hearing`].
    pub fn subscribe_hearing(
        &self,
        observer: impl Fn(&crate::hearing::Hearing) + Send + Sync + 'static,
    ) -> Subscription {
        self.shared.media.hearing().subscribe(observer)
    }

    /// What the app's [`crate::device_watch::DeviceWatch`] found: told to the others in our
    /// status, so the caseworker learns that the citizen's microphone gives no sound.
    pub fn set_device_problem(&self, problem: Option<crate::device_watch::DeviceProblem>) {
        self.shared.media.set_device_problem(problem);
        let _ = self.handle.tx.send(Input::DevicesChanged);
    }

    /// What the silent pre-call check found about the network: whether a TURN relay can be
    /// reached over UDP or at least over TCP (`Untested` until the probes are done, a few
    /// seconds after the citizen has a seat, or when the server offers no TURN).
    pub fn network_check(&self) -> NetworkCheck {
        self.shared.network.get()
    }

    /// Mutes or unmutes the microphone (muted audio is sent as silence, which Opus DTX turns
    /// into almost nothing on the wire).
    pub fn set_microphone_muted(&self, muted: bool) {
        self.shared.media.set_mic_muted(muted);
        let _ = self.handle.tx.send(Input::DevicesChanged);
    }

    /// Turns the camera on or off (off: no video is sent; on again: starts with a keyframe).
    pub fn set_camera_enabled(&self, enabled: bool) {
        self.shared.media.set_camera_on(enabled);
        let _ = self.handle.tx.send(Input::DevicesChanged);
    }

    /// The platform says the network changed (Wi-Fi to cellular, a new address): the signalling
    /// socket is replaced at once (resuming the seat) instead of waiting for its keep-alive to
    /// time out, and as soon as it is up ICE is restarted with every peer on new sockets bound
    /// to the interfaces that exist now (see the recovery ladder in docs/architecture.md).
    pub fn network_changed(&self) {
        let _ = self.handle.tx.send(Input::NetworkChanged);
    }

    /// Leaves the call (idempotent).
    pub fn leave(&self) {
        let _ = self.handle.tx.send(Input::Leave);
    }

    /// Waits until every socket and peer connection of the call is closed.
    pub async fn closed(&self) {
        let mut rx = self.shared.done.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }
}

enum Start {
    Code(Result<JoinCode, samtale_protocol::CodeError>),
    Pairing(String),
    Ticket(Box<Ticket>),
}

struct PeerEntry {
    generation: u64,
    /// Our last offer on this connection is not answered yet.
    making_offer: bool,
    pc: Arc<dyn PeerConnection>,
    remote_description_set: bool,
    pending_candidates: Vec<RTCIceCandidateInit>,
    connected: bool,
    audio: Option<LocalTrack>,
    video: Option<LocalTrack>,
    /// Kept for as long as the connection: its TURN-over-TCP bridges.
    _turn_bridges: Vec<turn_tcp::TcpTurnBridge>,
}

struct Actor {
    config: CallConfig,
    fsm: CallFsm,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Input>,
    api: Option<ApiClient>,
    /// The TLS configuration the API client uses, for signalling too.
    tls: Option<Arc<rustls::ClientConfig>>,
    code: Option<JoinCode>,
    /// Set when rejoining with a pairing token instead of a code.
    pairing: Option<String>,
    ticket: Option<Ticket>,
    seat: Option<Resume>,
    sig: Option<SignallingHandle>,
    sig_ready: bool,
    sig_generation: u64,
    outbox: Vec<ClientMessage>,
    peers: HashMap<PeerId, PeerEntry>,
    peer_generation: u64,
    timers: HashMap<Timer, (u64, tokio::task::JoinHandle<()>)>,
    timer_generation: u64,
    check: CheckBook,
}

/// The pre-call check's bookkeeping: whether the current socket's server takes `check`, whether
/// the probes ran, and what the server was last told (sent again on every new socket).
#[derive(Default)]
struct CheckBook {
    supported: bool,
    probed: bool,
    sent: Option<CheckReport>,
}

/// Runs the call's task; should it panic (a bug), the call does not hang in its last state:
/// the observers see `Failed(ServerError)` (the apps' "something went wrong" with the help line
/// and "try again") and `closed()` returns. Dropping the actor closed its sockets and peer
/// connections; the server holds the seat for its grace period, as after any dropped socket.
async fn supervised(run: impl std::future::Future<Output = ()>, shared: Arc<Shared>) {
    use futures_util::FutureExt;
    if std::panic::AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .is_err()
    {
        log::error!("the call's task panicked: the call has failed");
        shared.media.stop();
        let failed = CallState::Failed(crate::PublicError::ServerError);
        shared.state_tx.send_replace(failed.clone());
        shared.state.set(failed);
        shared.participants.set(Vec::new());
        shared.done.send_replace(true);
    }
}

/// Messages kept while the signalling socket is down (candidates, answers).
const OUTBOX_LIMIT: usize = 512;

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Input>,
        start: Start,
        api: Result<ApiClient, CoreError>,
    ) {
        let first = match (start, api) {
            (Start::Code(Err(e)), _) => Event::CodeRejected(CoreError::InvalidCode(e)),
            (Start::Code(Ok(_)), Err(e)) => Event::CodeRejected(e),
            (Start::Code(Ok(code)), Ok(api)) => {
                self.code = Some(code);
                self.api = Some(api);
                Event::JoinWithCode
            }
            (Start::Ticket(ticket), api) => {
                self.ticket = Some(*ticket);
                self.api = api.ok();
                Event::JoinWithTicket
            }
            (Start::Pairing(_), Err(e)) => Event::CodeRejected(e),
            (Start::Pairing(token), Ok(api)) => {
                self.pairing = Some(token);
                self.api = Some(api);
                Event::JoinWithCode
            }
        };
        self.feed(first).await;
        while !self.fsm.state().is_final() {
            let Some(input) = rx.recv().await else { break };
            self.on_input(input).await;
        }
        self.teardown().await;
        // send_replace: stores the value even when nobody is subscribed yet.
        self.shared.done.send_replace(true);
    }

    async fn feed(&mut self, event: Event) {
        let actions = self.fsm.handle(event);
        for action in actions {
            self.execute(action).await;
        }
        self.publish();
    }

    fn publish(&self) {
        let state = self.fsm.state();
        self.shared.state_tx.send_replace(state.clone());
        self.shared.state.set(state);
        let participants = self
            .fsm
            .peers()
            .map(|id| Participant {
                id: id.clone(),
                connected: self.peers.get(id).is_some_and(|p| p.connected),
            })
            .collect();
        self.shared.participants.set(participants);
    }

    async fn on_input(&mut self, input: Input) {
        match input {
            Input::Leave => self.feed(Event::Leave).await,
            Input::NetworkChanged => {
                // The old sockets may be bound to an interface that is gone and would only notice
                // after timeouts: resume the seat on a new signalling socket now and restart ICE
                // with every peer as soon as it is up.
                log::info!("network changed: reconnecting signalling, then restarting ICE");
                self.feed(Event::NetworkChanged).await;
            }
            Input::SignallingAlive(generation) if generation == self.sig_generation => {
                self.feed(Event::SignallingConfirmed).await;
            }
            Input::Resolved(Ok(ticket)) => {
                self.shared.stats.resolved();
                if let (Some(store), Some(token)) =
                    (self.config.remember.clone(), ticket.pairing_token.clone())
                {
                    // A keystore may be slow: not on the call's task.
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = store.save(&token) {
                            log::warn!("could not remember the meeting: {e}");
                        }
                    });
                }
                self.ticket = Some(ticket);
                self.feed(Event::Resolved).await;
            }
            Input::Resolved(Err(e)) => {
                // A pairing token the server no longer knows (meeting ended or expired) is
                // forgotten, so the app stops offering one-tap rejoin.
                if self.pairing.is_some()
                    && e.public() == crate::PublicError::CodeNotFoundOrExpired
                    && let Some(store) = self.config.remember.clone()
                {
                    // Awaited: once the app sees the failure, nothing is remembered any more.
                    let _ = tokio::task::spawn_blocking(move || store.forget()).await;
                }
                self.feed(Event::ResolveFailed(e)).await
            }
            Input::Server(generation, msg) if generation == self.sig_generation => {
                self.on_server_message(msg).await
            }
            Input::SignallingClosed(generation, err) if generation == self.sig_generation => {
                if let Some(sig) = self.sig.take() {
                    sig.abort();
                }
                self.sig_ready = false;
                self.feed(Event::SignallingDown(err)).await;
            }
            Input::SignallingRefused(generation, code) if generation == self.sig_generation => {
                self.sig = None;
                self.sig_ready = false;
                log::info!("signalling refused: {code:?}");
                let event = if signalling::refusal_needs_fresh_seat(code) {
                    Event::ResumeRejected
                } else if code == WsErrorCode::MeetingClosed && self.seat.is_some() {
                    Event::MeetingEnded(EndReason::MeetingEnded)
                } else {
                    Event::SignallingRefused(CoreError::Signalling { code })
                };
                self.feed(event).await;
            }
            Input::NetworkChecked(network) => {
                log::info!("pre-call check: network {network:?}");
                self.shared.network.set(network);
                self.send_check();
            }
            Input::DevicesChanged => self.send_check(),
            Input::LocalCandidate(peer, generation, init) => {
                if self.peer_is_current(&peer, generation) {
                    self.send(ClientMessage::Signal {
                        to: peer,
                        payload: SignalPayload::Candidate {
                            candidate: init.candidate,
                            sdp_mid: init.sdp_mid,
                            sdp_mline_index: init.sdp_mline_index,
                        },
                    });
                }
            }
            Input::PeerConnectionState(peer, generation, state) => {
                if self.peer_is_current(&peer, generation) {
                    self.on_peer_state(peer, generation, state).await;
                }
            }
            Input::PayloadTypes(peer, generation, audio_pt, video_pt) => {
                if self.peer_is_current(&peer, generation)
                    && let Some(entry) = self.peers.get(&peer)
                {
                    let tracks = [(&entry.audio, audio_pt), (&entry.video, video_pt)];
                    for (track, pt) in tracks {
                        if let (Some(t), Some(pt)) = (track, pt) {
                            t.out.payload_type.store(pt, Ordering::Relaxed);
                        }
                    }
                }
            }
            Input::Flow(crate::flow::FlowChange::Stalled(peer)) => {
                self.feed(Event::MediaStalled(peer)).await;
            }
            Input::Flow(crate::flow::FlowChange::Flowing(peer)) => {
                self.feed(Event::MediaFlowing(peer)).await;
            }
            Input::Timeout(timer, generation) => {
                if self.timers.get(&timer).map(|(g, _)| *g) == Some(generation) {
                    self.timers.remove(&timer);
                    self.feed(Event::Timeout(timer)).await;
                }
            }
            Input::Server(..)
            | Input::SignallingClosed(..)
            | Input::SignallingRefused(..)
            | Input::SignallingAlive(..) => {
                log::debug!("dropped news from a superseded signalling socket");
            }
        }
    }

    fn peer_is_current(&self, peer: &str, generation: u64) -> bool {
        self.peers.get(peer).map(|p| p.generation) == Some(generation)
    }

    async fn on_server_message(&mut self, msg: ServerMessage) {
        match msg {
            ServerMessage::Welcome {
                participant_id,
                resume_secret,
                resumed,
                peers,
                features,
                ..
            } => {
                self.shared.stats.welcomed();
                self.check.supported = features.iter().any(|f| f == FEATURE_CHECK);
                self.check.sent = None;
                *self.shared.my_id.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(participant_id.clone());
                self.seat = Some(Resume {
                    participant_id,
                    resume_secret,
                });
                self.sig_ready = true;
                if !resumed {
                    // A fresh seat: nothing queued for the old seat's connections may leak into
                    // the new one (they are all replaced).
                    self.outbox.clear();
                }
                let peers = peers.into_iter().map(|p| p.participant_id).collect();
                self.feed(Event::SignallingUp { resumed, peers }).await;
                for msg in std::mem::take(&mut self.outbox) {
                    self.send(msg);
                }
                self.start_relay_probes();
                self.send_check();
            }
            ServerMessage::PeerJoined { peer } => {
                self.feed(Event::PeerJoined(peer.participant_id)).await
            }
            ServerMessage::PeerLeft { participant_id, .. } => {
                self.feed(Event::PeerLeft(participant_id)).await
            }
            ServerMessage::Signal { from, payload } => self.on_signal(from, payload).await,
            ServerMessage::MeetingEnded { reason } => {
                let reason = match reason {
                    WireEndReason::EndedByStaff => EndReason::MeetingEnded,
                    WireEndReason::Expired => EndReason::MeetingExpired,
                };
                self.feed(Event::MeetingEnded(reason)).await;
            }
            ServerMessage::Error { code, .. } => log::info!("server error (non-fatal): {code:?}"),
            ServerMessage::Pong { .. } => {}
        }
    }

    async fn on_signal(&mut self, from: PeerId, payload: SignalPayload) {
        if !self.peers.contains_key(&from) {
            // A peer we do not know yet (its peer_joined may be lost to a reconnect): the server
            // only relays between seats of this meeting, so take it as joined.
            if matches!(payload, SignalPayload::Offer { .. }) {
                self.feed(Event::PeerJoined(from.clone())).await;
            }
        }
        if let SignalPayload::Offer { sdp } = &payload
            && !self.prepare_for_offer(&from, sdp).await
        {
            return;
        }
        let Some(entry) = self.peers.get(&from) else {
            log::debug!("signal from an unknown peer dropped");
            return;
        };
        let pc = Arc::clone(&entry.pc);
        // An offer on a connection that already has the peer's description: an ICE restart.
        #[cfg(feature = "emulator")]
        let restart =
            matches!(payload, SignalPayload::Offer { .. }) && entry.remote_description_set;
        let result = match payload {
            SignalPayload::Offer { sdp } => {
                let answered = self.on_offer(&from, pc, sdp).await;
                #[cfg(feature = "emulator")]
                if restart && answered.is_ok() && self.config.freeze_after_ice_restart {
                    self.shared.media.freeze_outbound(&from);
                }
                answered
            }
            SignalPayload::Answer { sdp } => {
                let applied = self.on_answer(&from, pc, sdp).await;
                if applied.is_ok() {
                    self.feed_boxed(Event::AnswerReceived(from.clone())).await;
                }
                applied
            }
            SignalPayload::NegotiationFailed { reason } => {
                // Our offer or answer was no use to them: no media will flow.
                self.feed_boxed(Event::NegotiationFailed(from.clone(), reason))
                    .await;
                return;
            }
            SignalPayload::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                let init = RTCIceCandidateInit {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                    ..Default::default()
                };
                match self.peers.get_mut(&from) {
                    Some(entry) if !entry.remote_description_set => {
                        entry.pending_candidates.push(init);
                        Ok(())
                    }
                    _ => pc.add_ice_candidate(init).await.map_err(webrtc_err),
                }
            }
        };
        match result {
            Ok(()) => {}
            Err(CoreError::Negotiation(reason)) => {
                // Their offer or answer is no use to us: say so (docs/protocol.md,
                // `negotiation_failed`) instead of leaving both sides in a silent call.
                self.send(ClientMessage::Signal {
                    to: from.clone(),
                    payload: SignalPayload::NegotiationFailed { reason },
                });
                self.feed_boxed(Event::NegotiationFailed(from, reason))
                    .await;
            }
            // Not the error text: SDP parse errors quote SDP values.
            Err(e) => log::warn!("negotiation with a peer failed ({})", e.kind()),
        }
    }

    /// Gets the connection with `peer` ready for an offer from it. Returns `false` if the offer
    /// must be ignored.
    ///
    /// - The peer built a new connection (full renegotiation: its DTLS fingerprint changed): so
    ///   do we.
    /// - Both sides offered at once (glare: both restarting, or one resumed while the other
    ///   re-joined): the side with the smaller participant id is polite and takes the peer's
    ///   offer (rolling its own back, or on a connection that never connected, starting over);
    ///   the other side ignores the peer's offer and sends its own again (it may have been lost).
    /// - A copy of an offer already answered is ignored.
    async fn prepare_for_offer(&mut self, from: &str, sdp: &str) -> bool {
        let Some(entry) = self.peers.get(from) else {
            return true;
        };
        let pc = Arc::clone(&entry.pc);
        let making_offer = entry.making_offer;
        let current = pc.current_remote_description().await;
        if current.as_ref().is_some_and(|c| c.sdp == sdp) {
            // The same offer again (re-sent after glare): already answered.
            log::debug!("duplicate offer ignored");
            return false;
        }
        let renegotiated = current
            .as_ref()
            .is_some_and(|c| sdp_fingerprint(&c.sdp) != sdp_fingerprint(sdp));
        let mut fresh = renegotiated;
        if !renegotiated && making_offer {
            self.shared.stats.offer_collision();
            let polite = self
                .seat
                .as_ref()
                .is_some_and(|seat| seat.participant_id.as_str() < from);
            if !polite {
                // Keep ours; send it again, since the peer may never have got it (it was
                // offline, and messages to a dead socket are lost). A peer that did get it
                // ignores the copy.
                log::debug!("offer glare: keeping ours, the peer will answer it");
                if let Some(ours) = pc.pending_local_description().await
                    && ours.sdp_type == RTCSdpType::Offer
                {
                    self.send(ClientMessage::Signal {
                        to: from.to_owned(),
                        payload: SignalPayload::Offer { sdp: ours.sdp },
                    });
                }
                return false;
            }
            log::debug!("offer glare: answering the peer's offer instead of ours");
            if !roll_back_offer(&pc).await {
                fresh = true;
            } else if let Some(e) = self.peers.get_mut(from) {
                e.making_offer = false;
            }
        }
        if fresh {
            if renegotiated {
                log::info!("the peer built a new connection: so do we");
                self.shared.stats.renegotiated();
            }
            if let Err(e) = self.create_peer(from, false).await {
                log::warn!("could not set up a peer connection ({})", e.kind());
                self.feed_boxed(Event::PeerFailed(from.to_owned())).await;
                return false;
            }
        }
        true
    }

    /// Restarts ICE with `peer` (see [`Action::RestartIce`]).
    async fn restart_ice(&mut self, peer: &str) -> Result<(), CoreError> {
        let Some(entry) = self.peers.get(peer) else {
            return Ok(());
        };
        let pc = Arc::clone(&entry.pc);
        if entry.making_offer {
            // Our last offer was lost (or is still unanswered): replace it.
            if !roll_back_offer(&pc).await {
                // Never connected: a new connection is the cleaner restart.
                return self.create_peer(peer, true).await;
            }
        }
        let options = RTCOfferOptions { ice_restart: true };
        let offer = pc.create_offer(Some(options)).await.map_err(webrtc_err)?;
        self.shared.stats.ice_restarted();
        if let Some(e) = self.peers.get_mut(peer) {
            // Candidates for the new generation come after the answer.
            e.remote_description_set = false;
        }
        self.publish_local_description(peer, &pc, offer).await
    }

    async fn on_offer(
        &mut self,
        from: &str,
        pc: Arc<dyn PeerConnection>,
        sdp: String,
    ) -> Result<(), CoreError> {
        let offer = RTCSessionDescription::offer(sdp).map_err(|e| negotiation_err(&e, true))?;
        pc.set_remote_description(offer)
            .await
            .map_err(|e| negotiation_err(&e, false))?;
        self.flush_candidates(from, &pc).await;
        let answer = pc
            .create_answer(None)
            .await
            .map_err(|e| negotiation_err(&e, false))?;
        self.publish_local_description(from, &pc, answer).await
    }

    /// Applies our offer or answer locally and sends it to `peer`.
    async fn publish_local_description(
        &mut self,
        peer: &str,
        pc: &Arc<dyn PeerConnection>,
        desc: RTCSessionDescription,
    ) -> Result<(), CoreError> {
        let sdp = desc.sdp.clone();
        let offer = desc.sdp_type == RTCSdpType::Offer;
        let payload = if offer {
            SignalPayload::Offer { sdp }
        } else {
            SignalPayload::Answer { sdp }
        };
        pc.set_local_description(desc).await.map_err(webrtc_err)?;
        if let Some(e) = self.peers.get_mut(peer) {
            e.making_offer = offer;
        }
        self.send(ClientMessage::Signal {
            to: peer.to_owned(),
            payload,
        });
        Ok(())
    }

    async fn on_answer(
        &mut self,
        from: &str,
        pc: Arc<dyn PeerConnection>,
        sdp: String,
    ) -> Result<(), CoreError> {
        let answer = RTCSessionDescription::answer(sdp).map_err(|e| negotiation_err(&e, true))?;
        pc.set_remote_description(answer)
            .await
            .map_err(|e| negotiation_err(&e, false))?;
        if let Some(e) = self.peers.get_mut(from) {
            e.making_offer = false;
        }
        self.flush_candidates(from, &pc).await;
        Ok(())
    }

    async fn flush_candidates(&mut self, peer: &str, pc: &Arc<dyn PeerConnection>) {
        let pending = match self.peers.get_mut(peer) {
            Some(entry) => {
                entry.remote_description_set = true;
                std::mem::take(&mut entry.pending_candidates)
            }
            None => return,
        };
        for init in pending {
            if let Err(e) = pc.add_ice_candidate(init).await {
                log::debug!("queued candidate rejected: {e}");
            }
        }
    }

    async fn on_peer_state(
        &mut self,
        peer: PeerId,
        generation: u64,
        state: RTCPeerConnectionState,
    ) {
        log::debug!("peer connection state: {state}");
        match state {
            RTCPeerConnectionState::Connected => {
                self.shared.stats.connected();
                self.shared.media.set_connected(&peer, true);
                let tracks = self.peers.get_mut(&peer).map(|e| {
                    e.connected = true;
                    (e.audio.clone(), e.video.clone())
                });
                if let Some((audio, video)) = tracks {
                    // Look up the negotiated payload types off the actor task.
                    let tx = self.tx.clone();
                    let p = peer.clone();
                    tokio::spawn(async move {
                        let audio = match &audio {
                            Some(t) => peer::negotiated_payload_type(&t.sender).await,
                            None => None,
                        };
                        let video = match &video {
                            Some(t) => peer::negotiated_payload_type(&t.sender).await,
                            None => None,
                        };
                        let _ = tx.send(Input::PayloadTypes(p, generation, audio, video));
                    });
                }
                self.feed(Event::MediaConnected(peer)).await;
            }
            RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed => {
                self.shared.media.set_connected(&peer, false);
                if let Some(e) = self.peers.get_mut(&peer) {
                    e.connected = false;
                }
                self.feed(Event::MediaDisconnected(peer)).await;
            }
            _ => {}
        }
    }

    /// Once per call, when a citizen first has a seat: tries a TURN allocation over UDP and over
    /// TCP in the background (at most [`relay_probe::PROBE_LIMIT`]); the verdict comes back as
    /// `Input::NetworkChecked`. Never delays anything: the call goes on meanwhile.
    fn start_relay_probes(&mut self) {
        let Some(ticket) = self.ticket.as_ref() else {
            return;
        };
        if self.check.probed || ticket.role != samtale_protocol::Role::Citizen {
            return;
        }
        self.check.probed = true;
        let servers = ticket.ice_servers.clone();
        let bind = self.config.bind_addrs.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            use relay_probe::{PROBE_LIMIT, Transport, probe};
            let (udp, tcp) = tokio::join!(
                probe(&servers, Transport::Udp, &bind, PROBE_LIMIT),
                probe(&servers, Transport::Tcp, &bind, PROBE_LIMIT)
            );
            log::debug!("relay probes: udp {udp:?}, tcp {tcp:?}");
            let _ = tx.send(Input::NetworkChecked(crate::precheck::network_verdict(
                udp, tcp,
            )));
        });
    }

    /// Tells the server what the pre-call check found, when it changed and the server takes it
    /// (only on a socket that is up: a new socket's welcome sends it again).
    fn send_check(&mut self) {
        if !self.check.supported
            || !self.sig_ready
            || self
                .ticket
                .as_ref()
                .is_none_or(|t| t.role != samtale_protocol::Role::Citizen)
        {
            return;
        }
        let (microphone, camera) = self
            .shared
            .media
            .local_devices((self.config.send_audio, self.config.send_video));
        let report = CheckReport {
            network: self.shared.network.get(),
            microphone,
            camera,
        };
        if self.check.sent == Some(report) {
            return;
        }
        if let Some(sig) = &self.sig
            && sig.send(ClientMessage::Check(report))
        {
            self.check.sent = Some(report);
        }
    }

    fn send(&mut self, msg: ClientMessage) {
        if self.sig_ready
            && let Some(sig) = &self.sig
            && sig.send(msg.clone())
        {
            return;
        }
        if self.outbox.len() < OUTBOX_LIMIT {
            self.outbox.push(msg);
        } else {
            log::warn!("signalling outbox full: message dropped");
        }
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Resolve if self.pairing.is_some() => {
                let (Some(api), Some(token)) = (self.api.clone(), self.pairing.clone()) else {
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = api.rejoin(&token).await;
                    let _ = tx.send(Input::Resolved(result));
                });
            }
            Action::Resolve => {
                let (Some(api), Some(code)) = (self.api.clone(), self.code.clone()) else {
                    let _ = self.tx.send(Input::Resolved(Err(CoreError::Protocol(
                        "no code to resolve".into(),
                    ))));
                    return;
                };
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = api.resolve(&code).await;
                    let _ = tx.send(Input::Resolved(result));
                });
            }
            Action::OpenSignalling { resume } => self.open_signalling(resume),
            Action::CreatePeer { peer, offer } => {
                if self.peers.contains_key(&peer) {
                    // A connection we already had: the recovery ladder's last resort.
                    self.shared.stats.renegotiated();
                }
                if let Err(e) = self.create_peer(&peer, offer).await {
                    log::warn!("could not set up a peer connection ({})", e.kind());
                    self.close_peer(&peer);
                    self.feed_boxed(Event::PeerFailed(peer)).await;
                }
            }
            Action::ClosePeer(peer) => self.close_peer(&peer),
            Action::RestartIce(peer) => {
                if let Err(e) = self.restart_ice(&peer).await {
                    // The next recovery step (a new connection at the latest) follows.
                    log::warn!("ICE restart failed ({})", e.kind());
                }
            }
            Action::ProbeSignalling => {
                if let Some(sig) = &self.sig {
                    sig.probe();
                }
            }
            Action::StartTimer(timer, after) => {
                self.timer_generation += 1;
                let generation = self.timer_generation;
                let tx = self.tx.clone();
                let fired = timer.clone();
                let handle = tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = tx.send(Input::Timeout(fired, generation));
                });
                if let Some((_, old)) = self.timers.insert(timer, (generation, handle)) {
                    old.abort();
                }
            }
            Action::CancelTimer(timer) => {
                if let Some((_, handle)) = self.timers.remove(&timer) {
                    handle.abort();
                }
            }
            Action::SendLeave => {
                if let Some(sig) = &self.sig {
                    sig.send(ClientMessage::Leave);
                }
            }
            Action::Teardown => self.teardown().await,
        }
    }

    /// Feeds an event from within `execute` (boxed to allow the recursion).
    fn feed_boxed(
        &mut self,
        event: Event,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.feed(event))
    }

    fn open_signalling(&mut self, resume: bool) {
        if let Some(old) = self.sig.take() {
            old.abort();
        }
        self.sig_ready = false;
        let Some(ticket) = &self.ticket else {
            let _ = self.tx.send(Input::SignallingRefused(
                self.sig_generation,
                WsErrorCode::InvalidToken,
            ));
            return;
        };
        let hello = match (&self.seat, resume) {
            (Some(seat), true) => ClientMessage::Hello {
                v: PROTOCOL_VERSION,
                token: None,
                resume: Some(seat.clone()),
            },
            _ => {
                // A fresh seat: our old peer connections belong to the old seat.
                self.seat = None;
                self.outbox.clear();
                ClientMessage::Hello {
                    v: PROTOCOL_VERSION,
                    token: Some(ticket.join_token.clone()),
                    resume: None,
                }
            }
        };
        self.sig_generation += 1;
        self.sig = Some(signalling::open(
            self.sig_generation,
            ticket.signalling_url.clone(),
            hello,
            self.tls.clone(),
            self.tx.clone(),
        ));
    }

    async fn create_peer(&mut self, peer: &str, offer: bool) -> Result<(), CoreError> {
        self.close_peer(peer);
        self.peer_generation += 1;
        let generation = self.peer_generation;
        let ctx = PeerContext {
            bind_addrs: self.config.bind_addrs.clone(),
            ice: self.config.ice.clone(),
            ice_servers: self
                .ticket
                .as_ref()
                .map(|t| t.ice_servers.clone())
                .unwrap_or_default(),
            events: self.tx.clone(),
            stats: Arc::clone(&self.shared.stats),
            media: Arc::clone(&self.shared.media),
            #[cfg(feature = "emulator")]
            inbound_filter: self.config.inbound_filter.clone(),
            #[cfg(not(feature = "emulator"))]
            inbound_filter: None,
            send_audio: self.config.send_audio,
            send_video: self.config.send_video,
        };
        let BuiltPeer {
            pc,
            audio,
            video,
            estimate,
            status,
            turn_bridges,
        } = peer::build(&ctx, peer, generation).await?;
        self.shared.media.add_peer(
            peer,
            Arc::clone(&pc),
            (
                audio.as_ref().map(|t| t.out.clone()),
                video.as_ref().map(|t| t.out.clone()),
            ),
            status,
            estimate,
        );
        self.peers.insert(
            peer.to_owned(),
            PeerEntry {
                generation,
                making_offer: false,
                pc: Arc::clone(&pc),
                remote_description_set: false,
                pending_candidates: Vec::new(),
                connected: false,
                audio,
                video,
                _turn_bridges: turn_bridges,
            },
        );
        if offer {
            let desc = pc.create_offer(None).await.map_err(webrtc_err)?;
            self.publish_local_description(peer, &pc, desc).await?;
        }
        Ok(())
    }

    fn close_peer(&mut self, peer: &str) {
        self.shared.media.remove_peer(peer);
        // Whatever we still owed this connection is void now.
        self.outbox
            .retain(|m| !matches!(m, ClientMessage::Signal { to, .. } if to == peer));
        if let Some(entry) = self.peers.remove(peer) {
            tokio::spawn(async move {
                if let Err(e) = entry.pc.close().await {
                    log::debug!("closing a peer connection: {e}");
                }
            });
        }
    }

    async fn teardown(&mut self) {
        for (_, (_, handle)) in self.timers.drain() {
            handle.abort();
        }
        // Awaited so that `leave` reaches the server before `Call::closed()` returns, even if
        // the process exits right after.
        if let Some(sig) = self.sig.take() {
            sig.close().await;
        }
        self.sig_ready = false;
        self.shared.media.stop();
        let peers: Vec<PeerEntry> = self.peers.drain().map(|(_, e)| e).collect();
        for entry in peers {
            if let Err(e) = entry.pc.close().await {
                log::debug!("closing a peer connection: {e}");
            }
        }
    }
}

/// Rolls our unanswered offer back. `false` if there is nothing to go back to (the connection
/// never had a remote description) or the stack refused.
async fn roll_back_offer(pc: &Arc<dyn PeerConnection>) -> bool {
    if pc.current_remote_description().await.is_none() {
        return false;
    }
    let mut rollback = RTCSessionDescription::default();
    rollback.sdp_type = RTCSdpType::Rollback;
    pc.set_local_description(rollback).await.is_ok()
}

/// The DTLS fingerprint an SDP announces: a new one means the peer built a new connection.
fn sdp_fingerprint(sdp: &str) -> Option<&str> {
    sdp.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("a=fingerprint:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_call_task_fails_the_call_instead_of_hanging() {
        let shared = Shared::new(Instant::now());
        shared.state_tx.send_replace(CallState::InCall);
        shared.state.set(CallState::InCall);
        let mut done = shared.done.subscribe();
        supervised(
            async { panic!("a bug in the call's task") },
            Arc::clone(&shared),
        )
        .await;
        assert_eq!(
            *shared.state_tx.borrow(),
            CallState::Failed(crate::PublicError::ServerError)
        );
        assert_eq!(
            shared.state.get(),
            CallState::Failed(crate::PublicError::ServerError)
        );
        assert!(*done.borrow_and_update());
    }

    #[tokio::test]
    async fn a_call_task_that_ends_normally_is_left_alone() {
        let shared = Shared::new(Instant::now());
        shared
            .state_tx
            .send_replace(CallState::Ended(EndReason::LocalLeave));
        supervised(async {}, Arc::clone(&shared)).await;
        assert_eq!(
            *shared.state_tx.borrow(),
            CallState::Ended(EndReason::LocalLeave)
        );
        assert!(!*shared.done.borrow());
    }
}
