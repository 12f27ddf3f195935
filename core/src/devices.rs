//! Emulated devices for a [`Call`]: a microphone, a camera, a speaker and a screen, driven in
//! real time by tasks, measuring what they receive. The emulator (`samtale-sim`) and the
//! end-to-end tests use them where a phone would use its real devices; they reach the call only
//! through its public media API (`push_audio`, `push_video`, `pull_audio`, `subscribe_video`),
//! exactly as the platform shells do.
//!
//! Measurements: mouth-to-ear audio latency from the microphone's timing marks, glass-to-glass
//! video latency from the camera's painted capture time, PSNR of received pictures against the
//! regenerated test pattern, and (optionally) recordings of what was sent and played.

use crate::engine::Call;
use crate::media::testsrc::{
    FrameCode, MarkDetector, SpeechSource, TestPattern, latency_ms, median_p95, read_code, wall_ms,
};
use crate::media::{FRAME_SAMPLES, Rotation, VideoFrame};
use crate::observer::Subscription;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the microphone captures.
#[derive(Debug, Clone)]
pub enum AudioInput {
    /// Speech-like audio with timing marks (default).
    Speech,
    /// These samples (48 kHz mono), looped.
    Samples(Arc<Vec<i16>>),
    /// Nothing (microphone absent).
    None,
}

/// What the camera captures.
#[derive(Debug, Clone)]
pub enum VideoInput {
    /// The moving test pattern with frame number and capture time (default 640x360).
    Pattern {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// These pictures, looped at the frame rate.
    Frames(Arc<Vec<VideoFrame>>),
    /// Nothing (camera absent).
    None,
}

/// How the devices behave.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Microphone source.
    pub audio: AudioInput,
    /// Camera source.
    pub video: VideoInput,
    /// Camera frame rate.
    pub fps: u32,
    /// Keep what was sent and played (audio) and one received picture per second.
    pub record: bool,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        Self {
            audio: AudioInput::Speech,
            video: VideoInput::Pattern {
                width: 640,
                height: 360,
            },
            fps: 15,
            record: false,
        }
    }
}

/// Distribution of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Spread {
    /// Samples.
    pub count: usize,
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let ints: Vec<u64> = v.iter().map(|x| (x * 1000.0) as u64).collect();
        let (median, p95) = median_p95(&ints).unwrap_or((0, 0));
        Some(Self {
            count: v.len(),
            median: median as f64 / 1000.0,
            p95: p95 as f64 / 1000.0,
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v[0],
        })
    }
}

/// What the devices measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeviceReport {
    /// Mouth-to-ear latency (ms) of the timing marks heard.
    pub audio_latency_ms: Option<Spread>,
    /// Glass-to-glass latency (ms) of pictures with a readable capture time.
    pub video_latency_ms: Option<Spread>,
    /// PSNR (dB, luma) of pictures against the regenerated test pattern.
    pub psnr_db: Option<Spread>,
    /// Pictures shown.
    pub frames_shown: u64,
    /// Pictures whose painted code could be read.
    pub frames_with_code: u64,
    /// 10 ms frames played that were not silent.
    pub audible_frames: u64,
}

#[derive(Default)]
struct Measured {
    marks: MarkDetector,
    video_latency: Vec<f64>,
    psnr: Vec<f64>,
    frames_shown: u64,
    frames_with_code: u64,
    audible_frames: u64,
    played: Vec<i16>,
    sent: Vec<i16>,
    snapshots: Vec<VideoFrame>,
    last_snapshot_ms: u64,
    sent_start_ms: Option<u64>,
    played_start_ms: Option<u64>,
}

/// Running devices; dropping this stops them.
/// Where the emulated devices send and fetch media: a [`Call`] itself, or the phones' API
/// (`samtale-ffi`'s `Samtale`, adapted by the emulator) so that testers exercise what citizens
/// run. Pictures from the others are always watched on the [`Call`].
pub trait MediaPort: Send + Sync + 'static {
    /// 10 ms of microphone.
    fn push_audio(&self, pcm: &[i16]);
    /// 10 ms for the speaker.
    fn pull_audio(&self, out: &mut [i16; FRAME_SAMPLES]);
    /// A camera picture.
    fn push_video(&self, frame: &VideoFrame);
}

impl MediaPort for Call {
    fn push_audio(&self, pcm: &[i16]) {
        Call::push_audio(self, pcm);
    }
    fn pull_audio(&self, out: &mut [i16; FRAME_SAMPLES]) {
        Call::pull_audio(self, out);
    }
    fn push_video(&self, frame: &VideoFrame) {
        Call::push_video(self, frame, Rotation::None);
    }
}

pub struct Devices {
    measured: Arc<Mutex<Measured>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _screen: Subscription,
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Devices")
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Devices {
    /// Starts microphone, camera, speaker and screen for `call`. Must be called within a Tokio
    /// runtime.
    pub fn attach(call: &Call, options: DeviceOptions) -> Devices {
        Self::attach_port(call, Arc::new(call.clone()), options)
    }

    /// As [`Devices::attach`], with microphone, camera and speaker going through `port`.
    pub fn attach_port(call: &Call, port: Arc<dyn MediaPort>, options: DeviceOptions) -> Devices {
        let measured = Arc::new(Mutex::new(Measured::default()));
        let record = options.record;
        let pattern = match &options.video {
            VideoInput::Pattern { width, height } => Some(TestPattern::new(*width, *height)),
            _ => None,
        };
        let mut tasks = Vec::new();

        // Microphone: 10 ms every 10 ms (bursting to catch up, so the sample clock is real).
        if !matches!(options.audio, AudioInput::None) {
            let call = Arc::clone(&port);
            let m = Arc::clone(&measured);
            let input = options.audio.clone();
            tasks.push(tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(10));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                ticker.tick().await;
                let mut speech = SpeechSource::with_marks(11, wall_ms());
                let mut pos = 0usize;
                loop {
                    let mut pcm = [0i16; FRAME_SAMPLES];
                    match &input {
                        AudioInput::Samples(s) if !s.is_empty() => {
                            for slot in pcm.iter_mut() {
                                *slot = s[pos % s.len()];
                                pos += 1;
                            }
                        }
                        _ => speech.fill(&mut pcm),
                    }
                    call.push_audio(&pcm);
                    if record {
                        let mut g = lock(&m);
                        g.sent_start_ms.get_or_insert_with(wall_ms);
                        g.sent.extend_from_slice(&pcm);
                    }
                    ticker.tick().await;
                }
            }));
        }

        // Camera.
        if !matches!(options.video, VideoInput::None) {
            let call = Arc::clone(&port);
            let input = options.video.clone();
            let fps = options.fps.max(1);
            tasks.push(tokio::spawn(async move {
                let mut ticker =
                    tokio::time::interval(Duration::from_micros(1_000_000 / u64::from(fps)));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut n: u32 = 0;
                loop {
                    ticker.tick().await;
                    let frame = match &input {
                        VideoInput::Pattern { width, height } => TestPattern::new(*width, *height)
                            .frame(FrameCode {
                                frame: n,
                                wall_ms: wall_ms(),
                            }),
                        VideoInput::Frames(f) if !f.is_empty() => f[n as usize % f.len()].clone(),
                        _ => continue,
                    };
                    call.push_video(&frame);
                    n = n.wrapping_add(1);
                }
            }));
        }

        // Speaker: pulls 10 ms every 10 ms, like an audio output callback.
        {
            let call = Arc::clone(&port);
            let m = Arc::clone(&measured);
            tasks.push(tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(10));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                loop {
                    ticker.tick().await;
                    let mut pcm = [0i16; FRAME_SAMPLES];
                    call.pull_audio(&mut pcm);
                    let now = wall_ms();
                    let mut g = lock(&m);
                    g.marks.feed(&pcm, now);
                    if pcm.iter().any(|s| s.unsigned_abs() > 300) {
                        g.audible_frames += 1;
                    }
                    if record {
                        g.played_start_ms.get_or_insert(now);
                        g.played.extend_from_slice(&pcm);
                    }
                }
            }));
        }

        // Screen.
        let m = Arc::clone(&measured);
        let screen = call.subscribe_video(move |decoded| {
            let now = wall_ms();
            let frame = &decoded.frame;
            let code = read_code(frame);
            let psnr = match (code, pattern) {
                (Some(code), Some(p)) => {
                    frame.psnr_y(&p.reference(code, frame.width(), frame.height()))
                }
                _ => None,
            };
            let mut g = lock(&m);
            g.frames_shown += 1;
            if let Some(code) = code {
                g.frames_with_code += 1;
                g.video_latency.push(latency_ms(&code, now) as f64);
            }
            if let Some(p) = psnr {
                g.psnr.push(p);
            }
            if record && now.saturating_sub(g.last_snapshot_ms) >= 1000 {
                g.last_snapshot_ms = now;
                g.snapshots.push(frame.clone());
            }
        });

        Devices {
            measured,
            tasks,
            _screen: screen,
        }
    }

    /// What was measured so far.
    pub fn report(&self) -> DeviceReport {
        let g = lock(&self.measured);
        let audio: Vec<f64> = g.marks.latencies().iter().map(|v| *v as f64).collect();
        DeviceReport {
            audio_latency_ms: Spread::of(&audio),
            video_latency_ms: Spread::of(&g.video_latency),
            psnr_db: Spread::of(&g.psnr),
            frames_shown: g.frames_shown,
            frames_with_code: g.frames_with_code,
            audible_frames: g.audible_frames,
        }
    }

    /// Recorded audio: (sent by the microphone, played by the speaker), 48 kHz mono.
    pub fn recorded_audio(&self) -> (Vec<i16>, Vec<i16>) {
        let g = lock(&self.measured);
        (g.sent.clone(), g.played.clone())
    }

    /// Wall-clock ms of the first recorded sample: (sent, played).
    pub fn recording_starts(&self) -> (Option<u64>, Option<u64>) {
        let g = lock(&self.measured);
        (g.sent_start_ms, g.played_start_ms)
    }

    /// Recorded pictures (about one per second).
    pub fn snapshots(&self) -> Vec<VideoFrame> {
        lock(&self.measured).snapshots.clone()
    }
}
