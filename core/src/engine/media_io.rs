//! The media engine's edge: encoder task and thread, one RTP writer per peer and kind, receive
//! paths (jitter buffers, video assembly and decoding threads), keyframe requests both ways and
//! the bandwidth estimate per peer.
//!
//! Threads and tasks:
//! - `push_audio` and `pull_audio` are the platform's real-time audio callbacks: they only
//!   touch lock-free rings; the `samtale-audio` thread encodes and mixes (see `audio_path`).
//! - `push_video` puts the frame in a one-slot mailbox (newest wins) read by the
//!   `samtale-video-enc` thread, which scales, encodes and fans out.
//! - Each connected peer has its own writer task per kind, so a stalled peer cannot hold up the
//!   others; its queue drops when full (video then asks itself for a keyframe).
//! - Each remote video track has a `samtale-video-dec` thread (assembly + OpenH264), which
//!   delivers decoded frames to the video observers on that thread.

use super::audio_path::{self, AudioPath};
use crate::device_watch::DeviceProblem;
use crate::hearing::{Hearing, HearingWatch, PeerView, Receiving, Sending, Snapshot};
use crate::media::assembler::{Assembled, Assembler};
use crate::media::audio::{AudioEncoder, AudioMixer, EncodedAudio};
use crate::media::jitter::PullKind;
use crate::media::rate::{RateController, VideoDecision};
use crate::media::video::{FreezeCounter, VideoDecoder, VideoEncoder};
use crate::media::{DecodedFrame, FRAME_SAMPLES, Rotation, VIDEO_CLOCK, VideoFrame};
use crate::observer::{Listeners, Observable, Subscription};
use bytes::Bytes;
use rtc::interceptor::{
    Attribute, BandwidthEstimator, EstimatorStats, Interceptor, Packet as ChainPacket,
    PacketReport, StreamInfo, TaggedPacket,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp::packetizer::Payloader;
use rtc::statistics::report::RTCStatsReportEntry;
use samtale_protocol::status::{
    CameraState, MicrophoneState, PeerStatus, STATUS_INTERVAL_MS, STATUS_VERSION,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::TrackLocalEvent;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, StatsSelector};

/// Payload size limit for RTP packets (leaves room for SRTP, TURN and IPv6 headers).
const MTU: usize = 1100;
/// Loss below this fraction is treated as random (not a sign of congestion).
const RANDOM_LOSS_LIMIT: f64 = 0.15;
/// Queue lengths of the per-peer writers.
const AUDIO_QUEUE: usize = 25;
const VIDEO_QUEUE: usize = 8;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What is known about the path to one peer: GCC's estimate (from transport-wide feedback) and
/// loss and round-trip time (from RTCP receiver reports and ICE checks, read by
/// [`MediaIo::watch_path`]).
#[derive(Debug, Default)]
pub(crate) struct Estimate {
    gcc_target_bps: AtomicU64,
    gcc_delay_based_bps: AtomicU64,
    /// Fraction lost (per mille) the peer reports in RTCP receiver reports.
    loss_permille: AtomicU64,
    /// Latest round-trip time (µs), 0 while unknown.
    rtt_us: AtomicU64,
}

impl Estimate {
    /// The send rate to plan for. GCC's loss-based half reads random radio loss (which FEC and
    /// NACK repair) as congestion, and its loss figure counts lost feedback as lost media
    /// (it read 15-34 % on a 5 % path). So below RANDOM_LOSS_LIMIT of *reported* loss the
    /// delay-based half decides; a real bottleneck shows as a growing queue, which the rate
    /// controller's queueing-delay guard (media/rate.rs) acts on whatever the estimate says.
    fn target(&self) -> f64 {
        let gcc = f64::from_bits(self.gcc_target_bps.load(Ordering::Relaxed));
        let delay = f64::from_bits(self.gcc_delay_based_bps.load(Ordering::Relaxed));
        let loss = self.loss_permille.load(Ordering::Relaxed) as f64 / 1000.0;
        if loss < RANDOM_LOSS_LIMIT && delay > 0.0 {
            delay.max(gcc)
        } else {
            gcc
        }
    }
}

/// Wraps the congestion controller and publishes its numbers after every update.
pub(crate) struct PublishingEstimator<E: BandwidthEstimator> {
    inner: E,
    out: Arc<Estimate>,
}

impl<E: BandwidthEstimator> PublishingEstimator<E> {
    pub(crate) fn new(inner: E, out: Arc<Estimate>) -> Self {
        let me = Self { inner, out };
        me.publish();
        me
    }

    fn publish(&self) {
        let stats = self.inner.stats();
        self.out
            .gcc_target_bps
            .store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
        let delay = stats.delay_based_bitrate.unwrap_or(0.0);
        self.out
            .gcc_delay_based_bps
            .store(delay.to_bits(), Ordering::Relaxed);
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for PublishingEstimator<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

/// Marks inbound keyframe requests (PLI, FIR) and NACKs for delivery to the application, which
/// answers them; everything else inbound stays with the interceptors that act on it.
#[derive(Default)]
pub(crate) struct FeedbackForApp {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackForApp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let ChainPacket::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()) || as_nack(p.as_ref()).is_some())
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            msg.message.packet = ChainPacket::Rtcp(wanted);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for FeedbackForApp {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

fn as_nack(p: &dyn rtc::rtcp::Packet) -> Option<&TransportLayerNack> {
    p.as_any().downcast_ref::<TransportLayerNack>()
}

/// Sequence numbers a NACK asks for.
fn nacked(nack: &TransportLayerNack) -> Vec<u16> {
    let mut seqs = Vec::new();
    for pair in &nack.nacks {
        seqs.push(pair.packet_id);
        for bit in 0..16u16 {
            if pair.lost_packets & (1 << bit) != 0 {
                seqs.push(pair.packet_id.wrapping_add(bit + 1));
            }
        }
    }
    seqs
}

fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Media counters of a call (summed over peers).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MediaStats {
    /// Receive-side audio.
    pub audio: AudioStats,
    /// Receive-side video.
    pub video: VideoStats,
    /// Send side.
    pub send: SendStats,
}

/// Receive-side audio counters.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AudioStats {
    /// 10 ms frames pulled.
    pub pulled_frames: u64,
    /// Pulls that found the mix not ready (played silence).
    pub underrun_frames: u64,
    /// Captured chunks dropped because the encoder was behind.
    pub capture_drops: u64,
    /// Frames with real decoded audio from at least one peer.
    pub decoded_frames: u64,
    /// Frames rebuilt from FEC.
    pub fec_frames: u64,
    /// Frames concealed with PLC.
    pub plc_frames: u64,
    /// Longest concealment caused by loss or lateness (ms), over all peers.
    pub max_gap_ms: u64,
    /// Most packets missing in a row (lost or late), over all peers: the loss that
    /// `max_gap_ms` answers for.
    pub max_loss_run: u64,
    /// Late packets dropped.
    pub late_packets: u64,
    /// Jitter buffer target delay (ms, largest over peers).
    pub target_delay_ms: u64,
    /// Smoothed playback level (dBFS).
    pub level_dbfs: f64,
}

/// Receive-side video counters.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VideoStats {
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Size of the last decoded frame.
    pub width: u32,
    /// Size of the last decoded frame.
    pub height: u32,
    /// Keyframes received.
    pub keyframes_received: u64,
    /// Frames dropped (incomplete or undecodable).
    pub frames_dropped: u64,
    /// Keyframe requests (PLI) sent.
    pub plis_sent: u64,
    /// Freezes (WebRTC definition).
    pub freezes: u64,
    /// Total frozen time (ms).
    pub freeze_ms: u64,
}

/// Send-side counters.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SendStats {
    /// 20 ms Opus packets sent (to the first peer; fan-out is not counted twice).
    pub audio_packets: u64,
    /// Audio packets dropped because a peer's writer was behind.
    pub audio_queue_drops: u64,
    /// Audio packets handed to the stack.
    pub audio_written: u64,
    /// Video frames encoded.
    pub video_frames: u64,
    /// Keyframes encoded.
    pub keyframes: u64,
    /// Keyframe requests received from peers.
    pub plis_received: u64,
    /// NACKs received from peers.
    pub nacks_received: u64,
    /// Video packets sent again because a peer asked (NACK).
    pub retransmissions: u64,
    /// Current bandwidth estimate (kbit/s, lowest over connected peers).
    pub estimate_kbps: u64,
    /// Current video target (kbit/s; 0 while paused).
    pub video_target_kbps: u64,
    /// Current encoded size.
    pub video_width: u32,
    /// Current encoded size.
    pub video_height: u32,
    /// Current Opus bitrate (bit/s).
    pub audio_bps: u64,
    /// Time video was paused for lack of bandwidth (ms).
    pub video_paused_ms: u64,
}

/// One local track and where to write.
#[derive(Clone)]
pub(crate) struct OutTrack {
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) ssrc: u32,
    pub(crate) payload_type: Arc<AtomicU8>,
}

struct PeerOut {
    connected: Arc<AtomicBool>,
    /// A test fault (`CallConfig::freeze_after_ice_restart`): this connection sends nothing
    /// any more, neither media nor statuses, while its transport stays up.
    frozen: AtomicBool,
    /// The status data channel (`samtale_protocol::status`), if the stack gave one.
    status: Option<Arc<dyn DataChannel>>,
    audio: Option<mpsc::Sender<EncodedAudio>>,
    video: Option<mpsc::Sender<(Bytes, Instant)>>,
    estimate: Arc<Estimate>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for PeerOut {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Default)]
struct VideoCounters {
    decoded: AtomicU64,
    width: AtomicU64,
    height: AtomicU64,
    keyframes: AtomicU64,
    dropped: AtomicU64,
    plis: AtomicU64,
    freezes: AtomicU64,
    freeze_ms: AtomicU64,
}

#[derive(Default)]
struct SendCounters {
    nacks_received: AtomicU64,
    retransmissions: AtomicU64,
    audio_packets: AtomicU64,
    audio_queue_drops: AtomicU64,
    audio_written: AtomicU64,
    video_frames: AtomicU64,
    keyframes: AtomicU64,
    plis_received: AtomicU64,
    estimate_bps: AtomicU64,
    target_bps: AtomicU64,
    width: AtomicU64,
    height: AtomicU64,
    audio_bps: AtomicU64,
    paused_ms: AtomicU64,
}

/// The newest captured frame, waiting for the encoder thread.
#[derive(Default)]
struct Mailbox {
    slot: Mutex<(Option<(VideoFrame, Instant)>, bool)>,
    ready: Condvar,
}

impl Mailbox {
    fn put(&self, frame: VideoFrame, at: Instant) {
        lock(&self.slot).0 = Some((frame, at));
        self.ready.notify_one();
    }

    fn close(&self) {
        lock(&self.slot).1 = true;
        self.ready.notify_all();
    }

    /// The next frame, or `None` once closed.
    fn take(&self) -> Option<(VideoFrame, Instant)> {
        let mut g = lock(&self.slot);
        loop {
            if g.1 {
                return None;
            }
            if let Some(f) = g.0.take() {
                return Some(f);
            }
            g = self.ready.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Everything media of one call.
pub(crate) struct MediaIo {
    origin: Instant,
    mixer: Mutex<AudioMixer>,
    audio: AudioPath,
    mailbox: Arc<Mailbox>,
    peers: Mutex<BTreeMap<String, PeerOut>>,
    frames: Listeners<DecodedFrame>,
    keyframe_wanted: AtomicBool,
    camera_on: AtomicBool,
    /// Pictures handed in while the camera is on (the device watch).
    camera_frames: AtomicU64,
    video_rx: VideoCounters,
    /// Pictures decoded per peer (the statuses we send them).
    video_rx_peers: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    /// Each peer's last status and when it came.
    /// Each peer's last status, when it came, and how many came.
    statuses: Mutex<BTreeMap<String, (PeerStatus, Instant, u64)>>,
    /// Where the flow watch's changes go.
    flow_sink: Mutex<Option<mpsc::UnboundedSender<crate::flow::FlowChange>>>,
    /// What the device watch found (set by the app's layer): 0 nothing, 1 the microphone is
    /// silent, 2 the camera is dark.
    device_problem: AtomicU8,
    /// What the call's statuses say (see `crate::hearing`).
    hearing: Observable<Hearing>,
    send: SendCounters,
    rate: Mutex<RateController>,
}

/// Decoded pictures a slow renderer may fall behind by; older ones are dropped, so it always
/// draws the newest and never adds latency or memory.
const VIDEO_MAILBOX: usize = 2;

impl MediaIo {
    /// Starts the encoder task and thread. Must be called within a Tokio runtime.
    pub(crate) fn start(origin: Instant) -> Arc<Self> {
        let (audio, ends) = AudioPath::new();
        let me = Arc::new(Self {
            origin,
            mixer: Mutex::new(AudioMixer::new(origin)),
            audio,
            mailbox: Arc::new(Mailbox::default()),
            peers: Mutex::new(BTreeMap::new()),
            frames: Listeners::new(VIDEO_MAILBOX, "call-video"),
            keyframe_wanted: AtomicBool::new(false),
            camera_on: AtomicBool::new(true),
            camera_frames: AtomicU64::new(0),
            video_rx: VideoCounters::default(),
            video_rx_peers: Mutex::new(BTreeMap::new()),
            statuses: Mutex::new(BTreeMap::new()),
            flow_sink: Mutex::new(None),
            device_problem: AtomicU8::new(0),
            hearing: Observable::new(Hearing::default()),
            send: SendCounters::default(),
            rate: Mutex::new(RateController::new()),
        });
        tokio::spawn(status_ticker(Arc::downgrade(&me)));
        let weak = Arc::downgrade(&me);
        match std::thread::Builder::new()
            .name("samtale-audio".into())
            .spawn(move || audio_path::run_worker(weak, ends))
        {
            Ok(worker) => me.audio.set_worker(worker.thread().clone()),
            Err(e) => log::error!("cannot start the audio thread: {e}"),
        }
        let weak = Arc::downgrade(&me);
        let mailbox = Arc::clone(&me.mailbox);
        let spawned = std::thread::Builder::new()
            .name("samtale-video-enc".into())
            .spawn(move || video_encoder(weak, mailbox));
        if let Err(e) = spawned {
            log::error!("cannot start the video encoder thread: {e}");
        }
        me
    }

    /// Stops the encoders; peers are dropped.
    pub(crate) fn stop(&self) {
        self.mailbox.close();
        self.audio.close();
        lock(&self.peers).clear();
        lock(&self.mixer).remove_all();
    }

    /// Real-time safe: see `audio_path`.
    pub(crate) fn push_audio(&self, pcm: &[i16]) {
        self.audio.push(pcm);
    }

    pub(crate) fn push_video(&self, frame: &VideoFrame, rotation: Rotation) {
        if !self.camera_on.load(Ordering::Relaxed) {
            return;
        }
        self.camera_frames.fetch_add(1, Ordering::Relaxed);
        self.mailbox.put(frame.rotated(rotation), Instant::now());
    }

    pub(crate) fn set_mic_muted(&self, muted: bool) {
        self.audio.set_mic_muted(muted);
    }

    pub(crate) fn set_camera_on(&self, on: bool) {
        let was = self.camera_on.swap(on, Ordering::Relaxed);
        if on && !was {
            self.keyframe_wanted.store(true, Ordering::Relaxed);
        }
    }

    /// Real-time safe: see `audio_path`.
    pub(crate) fn pull_audio(&self, out: &mut [i16; FRAME_SAMPLES]) {
        self.audio.pull(out);
    }

    pub(crate) fn audio(&self) -> &AudioPath {
        &self.audio
    }

    /// 10 ms of the peers' mix (on the `samtale-audio` thread).
    pub(crate) fn mix_audio(&self, out: &mut [i16; FRAME_SAMPLES]) -> Vec<PullKind> {
        lock(&self.mixer).pull(Instant::now(), out)
    }

    pub(crate) fn subscribe_frames(
        &self,
        f: impl Fn(&DecodedFrame) + Send + Sync + 'static,
    ) -> Subscription {
        self.frames.subscribe(f)
    }

    /// A new peer connection's outgoing tracks: starts their writer tasks, and the reader of
    /// its status channel.
    pub(crate) fn add_peer(
        self: &Arc<Self>,
        peer: &str,
        pc: Arc<dyn PeerConnection>,
        tracks: (Option<OutTrack>, Option<OutTrack>),
        status: Option<Arc<dyn DataChannel>>,
        estimate: Arc<Estimate>,
    ) {
        let (audio, video) = tracks;
        let connected = Arc::new(AtomicBool::new(false));
        let mut tasks = vec![tokio::spawn(watch_path(pc, Arc::clone(&estimate)))];
        if let Some(dc) = &status {
            tasks.push(tokio::spawn(read_statuses(
                Arc::clone(dc),
                peer.to_owned(),
                Arc::downgrade(self),
            )));
        }
        let audio_tx = audio.map(|t| {
            let (tx, rx) = mpsc::channel(AUDIO_QUEUE);
            tasks.push(tokio::spawn(audio_writer(t, rx, Arc::downgrade(self))));
            tx
        });
        let video_tx = video.map(|t| {
            let (tx, rx) = mpsc::channel(VIDEO_QUEUE);
            let (nack_tx, nack_rx) = mpsc::unbounded_channel();
            tasks.push(tokio::spawn(feedback(
                Arc::clone(&t.track),
                Arc::downgrade(self),
                nack_tx,
            )));
            tasks.push(tokio::spawn(video_writer(
                t,
                rx,
                nack_rx,
                Arc::downgrade(self),
                self.origin,
            )));
            tx
        });
        lock(&self.peers).insert(
            peer.to_owned(),
            PeerOut {
                connected,
                frozen: AtomicBool::new(false),
                status,
                audio: audio_tx,
                video: video_tx,
                estimate,
                tasks,
            },
        );
    }

    pub(crate) fn set_connected(&self, peer: &str, connected: bool) {
        if let Some(p) = lock(&self.peers).get(peer) {
            p.connected.store(connected, Ordering::Relaxed);
        }
        if connected {
            // A new viewer needs a keyframe to start from.
            self.keyframe_wanted.store(true, Ordering::Relaxed);
        }
    }

    /// The test fault of `CallConfig::freeze_after_ice_restart`: `peer`'s current connection
    /// stops sending anything (a new connection sends again).
    #[cfg(feature = "emulator")]
    pub(crate) fn freeze_outbound(&self, peer: &str) {
        if let Some(p) = lock(&self.peers).get(peer) {
            log::warn!("test fault: this connection sends nothing from now on");
            p.frozen.store(true, Ordering::Relaxed);
        }
    }

    /// What came from every peer so far and whether its transport is up (for
    /// [`crate::flow::FlowWatch`]).
    fn flows(&self) -> Vec<crate::flow::PeerFlow> {
        let connected: Vec<(String, bool)> = lock(&self.peers)
            .iter()
            .map(|(id, p)| (id.clone(), p.connected.load(Ordering::Relaxed)))
            .collect();
        let statuses: BTreeMap<String, u64> = lock(&self.statuses)
            .iter()
            .map(|(id, (_, _, n))| (id.clone(), *n))
            .collect();
        connected
            .into_iter()
            .map(|(id, connected)| {
                let r = self.receiving(&id);
                crate::flow::PeerFlow {
                    received: crate::flow::Received {
                        audio_packets: r.audio_packets,
                        video_frames: r.video_frames,
                        statuses: statuses.get(&id).copied().unwrap_or(0),
                    },
                    id,
                    connected,
                }
            })
            .collect()
    }

    /// Where [`crate::flow::FlowChange`]s go (the call's actor).
    pub(crate) fn on_flow_change(&self, sink: mpsc::UnboundedSender<crate::flow::FlowChange>) {
        *lock(&self.flow_sink) = Some(sink);
    }

    pub(crate) fn remove_peer(&self, peer: &str) {
        lock(&self.peers).remove(peer);
        lock(&self.mixer).remove(peer);
        lock(&self.statuses).remove(peer);
        lock(&self.video_rx_peers).remove(peer);
    }

    /// What the app's device watch found (sent to the peers in our status).
    pub(crate) fn set_device_problem(&self, problem: Option<DeviceProblem>) {
        let v = match problem {
            None => 0,
            Some(DeviceProblem::MicrophoneSilent) => 1,
            Some(DeviceProblem::CameraDark) => 2,
        };
        self.device_problem.store(v, Ordering::Relaxed);
    }

    pub(crate) fn hearing(&self) -> &Observable<Hearing> {
        &self.hearing
    }

    /// Our microphone and camera as the others are told (status channel, pre-call check);
    /// `tracks`: whether we send audio and video at all.
    pub(crate) fn local_devices(&self, tracks: (bool, bool)) -> (MicrophoneState, CameraState) {
        let problem = self.device_problem.load(Ordering::Relaxed);
        let muted = self.audio.mic_muted();
        (
            match (tracks.0, muted, problem) {
                (false, _, _) => MicrophoneState::None,
                (true, true, _) => MicrophoneState::Muted,
                (true, false, 1) => MicrophoneState::Silent,
                (true, false, _) => MicrophoneState::On,
            },
            match (tracks.1, self.camera_on.load(Ordering::Relaxed), problem) {
                (false, _, _) => CameraState::None,
                (true, false, _) => CameraState::Off,
                (true, true, 2) => CameraState::Dark,
                (true, true, _) => CameraState::On,
            },
        )
    }

    /// Our status for `peer`: our devices, and what we receive from them.
    fn status_for(&self, peer: &str, speaking: bool, tracks: (bool, bool)) -> PeerStatus {
        let receiving = self.receiving(peer);
        let muted = self.audio.mic_muted();
        let (microphone, camera) = self.local_devices(tracks);
        PeerStatus {
            v: STATUS_VERSION,
            microphone,
            camera,
            speaking: speaking && !muted,
            audio_packets: receiving.audio_packets,
            audio_sound: receiving.audio_sound,
            audio_level_dbfs: (receiving.audio_level_dbfs * 10.0).round() / 10.0,
            video_frames: receiving.video_frames,
        }
    }

    fn receiving(&self, peer: &str) -> Receiving {
        let (audio_packets, audio_sound, audio_level_dbfs) =
            lock(&self.mixer).receipt(peer).unwrap_or((0, 0, -100.0));
        let video_frames = lock(&self.video_rx_peers)
            .get(peer)
            .map_or(0, |c| c.load(Ordering::Relaxed));
        Receiving {
            audio_packets,
            audio_sound,
            audio_level_dbfs,
            video_frames,
        }
    }

    /// What we send and what every peer says (for `crate::hearing`).
    pub(crate) fn hearing_snapshot(&self) -> Snapshot {
        let ids: Vec<String> = lock(&self.peers).keys().cloned().collect();
        let statuses = lock(&self.statuses).clone();
        let now = Instant::now();
        Snapshot {
            sending: Sending {
                speech: self.audio.counters.speech.load(Ordering::Relaxed),
                audio_packets: self.send.audio_packets.load(Ordering::Relaxed),
                video_frames: self.send.video_frames.load(Ordering::Relaxed),
            },
            peers: ids
                .into_iter()
                .map(|id| PeerView {
                    receiving: self.receiving(&id),
                    status: statuses.get(&id).map(|(s, at, _)| {
                        let age = now.saturating_duration_since(*at).as_millis();
                        (s.clone(), u64::try_from(age).unwrap_or(u64::MAX))
                    }),
                    id,
                })
                .collect(),
        }
    }

    /// An audio packet from `peer`.
    pub(crate) fn on_audio(&self, peer: &str, packet: &rtc::rtp::Packet) {
        lock(&self.mixer).insert(
            peer,
            packet.header.sequence_number,
            packet.header.timestamp,
            packet.payload.clone(),
            Instant::now(),
        );
    }

    /// Runs a remote video track: assembly and decoding on a thread of its own, keyframe
    /// requests back to the sender. Returns when the track ends.
    pub(crate) async fn run_video_track(
        self: Arc<Self>,
        peer: String,
        track: Arc<dyn TrackRemote>,
        on_packet: impl Fn(&rtc::rtp::Packet) -> bool + Send,
    ) {
        let (pkt_tx, pkt_rx) = std::sync::mpsc::channel::<rtc::rtp::Packet>();
        let (pli_tx, mut pli_rx) = mpsc::unbounded_channel::<()>();
        let weak = Arc::downgrade(&self);
        let who = peer.clone();
        let decoded = Arc::clone(
            lock(&self.video_rx_peers)
                .entry(peer.clone())
                .or_insert_with(|| Arc::new(AtomicU64::new(0))),
        );
        let spawned = std::thread::Builder::new()
            .name("samtale-video-dec".into())
            .spawn(move || video_decoder(weak, who, decoded, pkt_rx, pli_tx));
        if let Err(e) = spawned {
            log::error!("cannot start a video decoder thread: {e}");
            return;
        }
        drop(self);
        let mut media_ssrc = 0;
        loop {
            tokio::select! {
                event = track.poll() => match event {
                    Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                        media_ssrc = packet.header.ssrc;
                        if !on_packet(&packet) {
                            continue;
                        }
                        if pkt_tx.send(packet).is_err() {
                            break;
                        }
                    }
                    Some(TrackRemoteEvent::OnEnded) | None => break,
                    Some(_) => {}
                },
                Some(()) = pli_rx.recv() => {
                    let pli = PictureLossIndication { sender_ssrc: 1, media_ssrc };
                    if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                        log::debug!("cannot send a keyframe request: {e}");
                    }
                }
            }
        }
    }

    /// What the microphone and camera delivered so far (see `device_watch`).
    pub(crate) fn device_counters(&self) -> crate::device_watch::DeviceCounters {
        crate::device_watch::DeviceCounters {
            microphone_sound: self.audio.counters.sound.load(Ordering::Relaxed),
            camera_frames: self.camera_frames.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn stats(&self) -> MediaStats {
        let mixer = lock(&self.mixer);
        let jb = mixer.stats();
        let totals = mixer.totals();
        let c = &self.audio.counters;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MediaStats {
            audio: AudioStats {
                pulled_frames: ld(&c.pulled),
                underrun_frames: ld(&c.underruns),
                capture_drops: ld(&c.capture_drops),
                decoded_frames: ld(&c.decoded),
                fec_frames: ld(&c.fec),
                plc_frames: ld(&c.plc),
                max_gap_ms: totals.max_gap_ms,
                max_loss_run: totals.max_loss_run,
                late_packets: totals.late_packets,
                target_delay_ms: jb.values().map(|s| s.target_ms).max().unwrap_or(0),
                level_dbfs: (mixer.level_dbfs() * 10.0).round() / 10.0,
            },
            video: VideoStats {
                frames_decoded: ld(&self.video_rx.decoded),
                width: ld(&self.video_rx.width) as u32,
                height: ld(&self.video_rx.height) as u32,
                keyframes_received: ld(&self.video_rx.keyframes),
                frames_dropped: ld(&self.video_rx.dropped),
                plis_sent: ld(&self.video_rx.plis),
                freezes: ld(&self.video_rx.freezes),
                freeze_ms: ld(&self.video_rx.freeze_ms),
            },
            send: SendStats {
                audio_packets: ld(&self.send.audio_packets),
                audio_queue_drops: ld(&self.send.audio_queue_drops),
                audio_written: ld(&self.send.audio_written),
                video_frames: ld(&self.send.video_frames),
                keyframes: ld(&self.send.keyframes),
                plis_received: ld(&self.send.plis_received),
                nacks_received: ld(&self.send.nacks_received),
                retransmissions: ld(&self.send.retransmissions),
                estimate_kbps: ld(&self.send.estimate_bps) / 1000,
                video_target_kbps: ld(&self.send.target_bps) / 1000,
                video_width: ld(&self.send.width) as u32,
                video_height: ld(&self.send.height) as u32,
                audio_bps: ld(&self.send.audio_bps),
                video_paused_ms: ld(&self.send.paused_ms),
            },
        }
    }

    /// 10 ms (or less) of captured audio: encodes and sends a packet when one is complete (on
    /// the `samtale-audio` thread).
    pub(crate) fn encode_audio(&self, encoder: &mut Option<AudioEncoder>, pcm: &[i16]) {
        let Some(encoder) = encoder.as_mut() else {
            return;
        };
        encoder.set_bitrate(lock(&self.rate).audio_bps());
        if let Some((_, loss, _)) = self.estimate() {
            encoder.set_expected_loss((loss * 100.0).round() as i32 + 5);
        }
        self.send
            .audio_bps
            .store(encoder.bitrate() as u64, Ordering::Relaxed);
        let Some(packet) = encoder.push(pcm) else {
            return;
        };
        let targets = self.targets(|p| p.audio.clone());
        if !targets.is_empty() {
            self.send.audio_packets.fetch_add(1, Ordering::Relaxed);
        }
        for tx in targets {
            if tx.try_send(packet.clone()).is_err() {
                self.send.audio_queue_drops.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Connected peers' writers of one kind.
    fn targets<T>(&self, pick: impl Fn(&PeerOut) -> Option<T>) -> Vec<T> {
        lock(&self.peers)
            .values()
            .filter(|p| p.connected.load(Ordering::Relaxed) && !p.frozen.load(Ordering::Relaxed))
            .filter_map(pick)
            .collect()
    }

    /// The lowest estimate over connected peers (the shared encoder must fit the worst path).
    /// (lowest estimate, highest loss, highest round-trip time) over connected peers.
    fn estimate(&self) -> Option<(f64, f64, Option<Duration>)> {
        lock(&self.peers)
            .values()
            .filter(|p| p.connected.load(Ordering::Relaxed))
            .map(|p| {
                let rtt = p.estimate.rtt_us.load(Ordering::Relaxed);
                (
                    p.estimate.target(),
                    p.estimate.loss_permille.load(Ordering::Relaxed) as f64 / 1000.0,
                    (rtt > 0).then(|| Duration::from_micros(rtt)),
                )
            })
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1), a.2.max(b.2)))
    }
}

fn video_encoder(media: std::sync::Weak<MediaIo>, mailbox: Arc<Mailbox>) {
    let mut encoder = VideoEncoder::new();
    while let Some((frame, captured)) = mailbox.take() {
        let Some(media) = media.upgrade() else { break };
        let now = Instant::now();
        let estimate = media.estimate();
        let decision = {
            let mut rate = lock(&media.rate);
            let before = rate.decision();
            let d = match estimate {
                Some((bps, _, rtt)) => rate.update_with_rtt(bps, rtt, now),
                None => rate.decision(),
            };
            if d != before {
                log::debug!("video {before:?} -> {d:?} (estimate, loss, rtt: {estimate:?})");
            }
            let paused = rate.paused_total(now).as_millis() as u64;
            media.send.paused_ms.store(paused, Ordering::Relaxed);
            d
        };
        if let Some((bps, _, _)) = estimate {
            media.send.estimate_bps.store(bps as u64, Ordering::Relaxed);
        }
        let rung = match decision {
            VideoDecision::Paused => {
                media.send.target_bps.store(0, Ordering::Relaxed);
                continue;
            }
            VideoDecision::Send(rung) => rung,
        };
        media
            .send
            .target_bps
            .store(u64::from(rung.bps), Ordering::Relaxed);
        let targets = media.targets(|p| p.video.clone());
        if targets.is_empty() {
            continue;
        }
        if media.keyframe_wanted.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        let Some(encoded) = encoder.encode(&frame, rung, now) else {
            continue;
        };
        media.send.video_frames.fetch_add(1, Ordering::Relaxed);
        media
            .send
            .width
            .store(u64::from(rung.width), Ordering::Relaxed);
        media
            .send
            .height
            .store(u64::from(rung.height), Ordering::Relaxed);
        if encoded.keyframe {
            media.send.keyframes.fetch_add(1, Ordering::Relaxed);
        }
        let data = Bytes::from(encoded.annexb);
        for tx in targets {
            if tx.try_send((data.clone(), captured)).is_err() {
                // That peer's queue is full: it will miss a frame, so its next one must be a
                // keyframe.
                media.keyframe_wanted.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn rtp_header(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool) -> rtc::rtp::header::Header {
    rtc::rtp::header::Header {
        version: 2,
        payload_type: pt,
        sequence_number: seq,
        timestamp: ts,
        ssrc,
        marker,
        ..Default::default()
    }
}

async fn audio_writer(
    out: OutTrack,
    mut rx: mpsc::Receiver<EncodedAudio>,
    media: std::sync::Weak<MediaIo>,
) {
    let mut seq: u16 = rand::random();
    let base: u32 = rand::random();
    while let Some(packet) = rx.recv().await {
        let pt = out.payload_type.load(Ordering::Relaxed);
        let rtp = rtc::rtp::Packet {
            header: rtp_header(
                pt,
                seq,
                base.wrapping_add(packet.rtp_timestamp),
                out.ssrc,
                false,
            ),
            payload: packet.payload,
        };
        seq = seq.wrapping_add(1);
        let started = Instant::now();
        match out.track.write_rtp(rtp).await {
            Ok(()) => {
                if let Some(m) = media.upgrade() {
                    m.send.audio_written.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => log::trace!("audio write: {e}"),
        }
        let took = started.elapsed();
        if took > Duration::from_millis(20) {
            log::debug!("audio write_rtp took {took:?}");
        }
    }
}

/// Reads loss (RTCP receiver reports) and round-trip time (receiver reports and ICE checks)
/// of one peer connection every 500 ms into `estimate`. Ends when its task is aborted.
async fn watch_path(pc: Arc<dyn PeerConnection>, estimate: Arc<Estimate>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
        let (mut rtt, mut loss) = (0.0f64, None::<f64>);
        for entry in report.iter() {
            match entry {
                RTCStatsReportEntry::RemoteInboundRtp(s) => {
                    if s.round_trip_time_measurements > 0 {
                        rtt = rtt.max(s.round_trip_time);
                    }
                    loss = Some(loss.unwrap_or(0.0).max(s.fraction_lost));
                }
                RTCStatsReportEntry::IceCandidatePair(p) if p.packets_received > 0 => {
                    rtt = rtt.max(p.current_round_trip_time);
                }
                _ => {}
            }
        }
        if rtt > 0.0 {
            estimate.rtt_us.store((rtt * 1e6) as u64, Ordering::Relaxed);
        }
        if let Some(loss) = loss {
            estimate
                .loss_permille
                .store((loss * 1000.0) as u64, Ordering::Relaxed);
        }
    }
}

/// Packets kept per peer for retransmission (about 2 s of video at 600 kbit/s).
const RETRANSMIT_HISTORY: usize = 1024;
/// Times one packet is sent again at most.
const RETRANSMIT_MAX: u8 = 2;
/// Minimum time between two sends of one packet.
const RETRANSMIT_GAP: Duration = Duration::from_millis(100);

async fn video_writer(
    out: OutTrack,
    mut rx: mpsc::Receiver<(Bytes, Instant)>,
    mut nacks: mpsc::UnboundedReceiver<Vec<u16>>,
    media: std::sync::Weak<MediaIo>,
    origin: Instant,
) {
    let mut seq: u16 = rand::random();
    let base: u32 = rand::random();
    let mut payloader = rtc::rtp::codec::h264::H264Payloader::default();
    // Sent packets by sequence number, with when they were last (re)sent and how often.
    let mut history: BTreeMap<u16, (rtc::rtp::Packet, Instant, u8)> = BTreeMap::new();
    let mut order: VecDeque<u16> = VecDeque::new();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some((annexb, captured)) = frame else { break };
                let pt = out.payload_type.load(Ordering::Relaxed);
                let ticks = captured.saturating_duration_since(origin).as_secs_f64()
                    * f64::from(VIDEO_CLOCK);
                let ts = base.wrapping_add(ticks as u64 as u32);
                let payloads = match payloader.payload(MTU, &annexb) {
                    Ok(p) => p,
                    Err(e) => {
                        log::debug!("H.264 packetization failed: {e}");
                        continue;
                    }
                };
                let last = payloads.len().saturating_sub(1);
                for (i, payload) in payloads.into_iter().enumerate() {
                    let rtp = rtc::rtp::Packet {
                        header: rtp_header(pt, seq, ts, out.ssrc, i == last),
                        payload,
                    };
                    history.insert(seq, (rtp.clone(), Instant::now(), 0));
                    order.push_back(seq);
                    if order.len() > RETRANSMIT_HISTORY
                        && let Some(old) = order.pop_front()
                    {
                        history.remove(&old);
                    }
                    seq = seq.wrapping_add(1);
                    if let Err(e) = out.track.write_rtp(rtp).await {
                        log::trace!("video write: {e}");
                    }
                }
            }
            Some(lost) = nacks.recv() => {
                // Repeated NACKs for the same packet are normal (the generator asks again until
                // it arrives): answer each packet at most RETRANSMIT_MAX times, RETRANSMIT_GAP
                // apart, and only while it can still be useful.
                let mut resent = 0u64;
                let now = Instant::now();
                for s in lost {
                    let Some((p, last, count)) = history.get_mut(&s) else { continue };
                    let age = now.saturating_duration_since(*last);
                    if *count >= RETRANSMIT_MAX || age < RETRANSMIT_GAP {
                        continue;
                    }
                    *last = now;
                    *count += 1;
                    if out.track.write_rtp(p.clone()).await.is_ok() {
                        resent += 1;
                    }
                }
                if let Some(m) = media.upgrade() {
                    m.send.retransmissions.fetch_add(resent, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Keyframe requests (PLI/FIR) and NACKs from the peer that receives this track.
async fn feedback(
    track: Arc<TrackLocalStaticRTP>,
    media: std::sync::Weak<MediaIo>,
    nacks: mpsc::UnboundedSender<Vec<u16>>,
) {
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        let Some(media) = media.upgrade() else { break };
        for p in &packets {
            if is_keyframe_request(p.as_ref()) {
                media.send.plis_received.fetch_add(1, Ordering::Relaxed);
                media.keyframe_wanted.store(true, Ordering::Relaxed);
            } else if let Some(nack) = as_nack(p.as_ref()) {
                media.send.nacks_received.fetch_add(1, Ordering::Relaxed);
                let _ = nacks.send(nacked(nack));
            }
        }
    }
}

fn video_decoder(
    media: std::sync::Weak<MediaIo>,
    peer: String,
    decoded_from_peer: Arc<AtomicU64>,
    rx: std::sync::mpsc::Receiver<rtc::rtp::Packet>,
    pli: mpsc::UnboundedSender<()>,
) {
    let mut assembler = Assembler::new();
    let mut decoder = VideoDecoder::new();
    let mut freezes = FreezeCounter::default();
    let mut dropped = 0;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(p) => {
                let marker = p.header.marker;
                assembler.insert(
                    p.header.sequence_number,
                    p.header.timestamp,
                    marker,
                    p.payload,
                );
                // Batch: take whatever else is already queued before assembling.
                while let Ok(p) = rx.try_recv() {
                    let m = p.header.marker;
                    assembler.insert(p.header.sequence_number, p.header.timestamp, m, p.payload);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let Some(media) = media.upgrade() else { break };
        for out in assembler.poll(Instant::now()) {
            match out {
                Assembled::RequestKeyframe => {
                    media.video_rx.plis.fetch_add(1, Ordering::Relaxed);
                    let _ = pli.send(());
                }
                Assembled::Frame {
                    annexb,
                    timestamp,
                    keyframe,
                } => {
                    if keyframe {
                        media.video_rx.keyframes.fetch_add(1, Ordering::Relaxed);
                    }
                    match decoder.decode(&annexb) {
                        Ok(Some(frame)) => {
                            freezes.frame(Instant::now());
                            let c = &media.video_rx;
                            c.decoded.fetch_add(1, Ordering::Relaxed);
                            decoded_from_peer.fetch_add(1, Ordering::Relaxed);
                            c.width.store(u64::from(frame.width()), Ordering::Relaxed);
                            c.height.store(u64::from(frame.height()), Ordering::Relaxed);
                            c.freezes.store(freezes.freezes, Ordering::Relaxed);
                            c.freeze_ms.store(freezes.freeze_ms, Ordering::Relaxed);
                            media.frames.emit(DecodedFrame {
                                peer: peer.clone(),
                                frame,
                                rtp_timestamp: timestamp,
                            });
                        }
                        Ok(None) => {}
                        Err(e) => {
                            log::debug!("H.264 decode failed: {e}");
                            assembler.decoder_failed();
                        }
                    }
                }
            }
        }
        let d = assembler.stats().dropped;
        media
            .video_rx
            .dropped
            .fetch_add(d - dropped, Ordering::Relaxed);
        dropped = d;
    }
}

/// Reads a peer's statuses (`samtale_protocol::status`) until the channel or the call ends.
async fn read_statuses(dc: Arc<dyn DataChannel>, peer: String, media: std::sync::Weak<MediaIo>) {
    while let Some(event) = dc.poll().await {
        let DataChannelEvent::OnMessage(message) = event else {
            if matches!(event, DataChannelEvent::OnClose) {
                break;
            }
            continue;
        };
        let Some(media) = media.upgrade() else { break };
        match PeerStatus::parse(&message.data) {
            Some(status) => {
                let mut statuses = lock(&media.statuses);
                let n = statuses.get(&peer).map_or(0, |(_, _, n)| *n) + 1;
                statuses.insert(peer.clone(), (status, Instant::now(), n));
            }
            None => log::debug!("ignoring a status that is not one"),
        }
    }
}

/// Once a [`STATUS_INTERVAL_MS`]: sends every peer our status and judges theirs
/// (`crate::hearing`); the verdict goes to [`MediaIo::hearing`]'s observers when it changes.
/// Ends with the call.
async fn status_ticker(media: std::sync::Weak<MediaIo>) {
    let start = tokio::time::Instant::now();
    let mut watch = HearingWatch::default();
    let mut flow = crate::flow::FlowWatch::default();
    let mut last_speech = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(STATUS_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(media) = media.upgrade() else { return };
        if media.audio.is_closed() {
            media.hearing.set(Hearing::default());
            return;
        }
        let speech = media.audio.counters.speech.load(Ordering::Relaxed);
        let speaking = speech.saturating_sub(last_speech) >= 20;
        last_speech = speech;
        // (peer, its status channel, whether we send it (audio, video))
        type Channel = (String, Arc<dyn DataChannel>, (bool, bool));
        let channels: Vec<Channel> = lock(&media.peers)
            .iter()
            .filter(|(_, p)| !p.frozen.load(Ordering::Relaxed))
            .filter_map(|(id, p)| {
                let dc = p.status.clone()?;
                Some((id.clone(), dc, (p.audio.is_some(), p.video.is_some())))
            })
            .collect();
        for (id, dc, tracks) in channels {
            let status = media.status_for(&id, speaking, tracks);
            // Not open yet, or gone: the next tick tries again.
            if let Err(e) = dc.send_text(&status.to_json()).await {
                log::trace!("status not sent: {e}");
            }
        }
        let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let verdict = watch.observe(now, &media.hearing_snapshot());
        media.hearing.set(verdict);
        let changes = flow.observe(now, &media.flows());
        if !changes.is_empty()
            && let Some(sink) = lock(&media.flow_sink).as_ref()
        {
            for change in changes {
                let _ = sink.send(change);
            }
        }
    }
}
