//! The media engine: what the platform shells push in (PCM, I420) and pull out (PCM, decoded
//! frames), and the codecs and buffers in between.
//!
//! - Send: 10 ms PCM frames -> Opus (FEC, DTX, adaptive bitrate) and I420 frames -> H.264
//!   Constrained Baseline (OpenH264, built from source) on a quality ladder driven by the
//!   bandwidth estimate. See [`audio`], [`video`] and [`rate`].
//! - Receive: an adaptive jitter buffer with Opus FEC and PLC that yields exactly 10 ms per pull
//!   ([`jitter`]); H.264 depacketization and frame assembly with NACK/PLI ([`assembler`]); decoded
//!   frames go to observers.
//! - [`testsrc`]: the emulator's devices (a test pattern with a machine-readable frame number and
//!   timestamp, speech-like audio with timing marks) and the measurements that read them back.
//!
//! Everything here is pure or owns only codec state; sockets and tasks live in `engine`.

pub mod assembler;
pub mod audio;
pub mod frame;
pub mod jitter;
pub mod rate;
#[cfg(any(test, feature = "emulator"))]
pub mod testsrc;
pub mod video;

pub use frame::{CameraPlanes, FrameError, Plane, Rotation, VideoFrame};

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Opus audio.
    Audio,
    /// H.264 video.
    Video,
}

impl MediaKind {
    /// `audio` or `video`.
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// Audio sample rate everywhere in the core (Opus' native rate).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 10 ms frame: the unit of `push_audio` and `pull_audio`.
pub const FRAME_SAMPLES: usize = 480;
/// RTP clock rate of H.264.
pub const VIDEO_CLOCK: u32 = 90_000;

/// A decoded picture from a remote participant, as delivered to video observers.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    /// Who sent it.
    pub peer: String,
    /// The picture (I420, rotation already applied by the sender).
    pub frame: VideoFrame,
    /// RTP timestamp (90 kHz) of the frame.
    pub rtp_timestamp: u32,
}
