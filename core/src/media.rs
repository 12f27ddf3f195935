//! The media seam: where encoded frames enter the call and received packets leave it.
//!
//! The engine asks a [`FrameSource`] for the next encoded frame of each kind at the source's
//! pace and fans it out to every connected peer; received RTP goes to a [`MediaSink`]. Real
//! encoders (Opus, H.264 fed by the platform's PCM and I420 frames) and decoders plug in here
//! without touching signalling or the state machine. For now the sources are synthetic: they
//! produce well-formed Opus-sized and H.264 Annex-B payloads that carry a frame number and a
//! capture timestamp, so receivers can measure latency.

use bytes::Bytes;
use std::time::{Duration, Instant};

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

/// One encoded frame, ready for packetization.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Opus packet, or H.264 access unit in Annex-B format.
    pub data: Bytes,
    /// How long the frame lasts (sets the RTP timestamp step).
    pub duration: Duration,
}

/// Produces encoded frames of one kind at its own pace.
pub trait FrameSource: Send + 'static {
    /// Audio or video.
    fn kind(&self) -> MediaKind;
    /// Time between frames.
    fn frame_interval(&self) -> Duration;
    /// The next frame, or `None` to skip this tick (e.g. muted, camera off, DTX).
    fn next_frame(&mut self, now: Instant) -> Option<EncodedFrame>;
    /// The receiver asked for a keyframe (PLI/FIR). Sources without keyframes ignore it.
    fn request_keyframe(&mut self) {}
}

/// Receives RTP packets from remote participants.
pub trait MediaSink: Send + Sync + 'static {
    /// Called for every received RTP packet, on a core task. Must not block.
    fn on_rtp(&self, peer: &str, kind: MediaKind, packet: &rtc::rtp::Packet);
}

/// Magic bytes at the start of every synthetic payload body.
const MAGIC: &[u8; 4] = b"SMTL";

/// Synthetic Opus-like audio: 20 ms frames of ~80 bytes with a frame number and timestamp.
#[derive(Debug)]
pub struct SyntheticAudio {
    origin: Instant,
    seq: u64,
}

impl SyntheticAudio {
    /// A new source; timestamps are relative to `origin`.
    pub fn new(origin: Instant) -> Self {
        Self { origin, seq: 0 }
    }
}

impl FrameSource for SyntheticAudio {
    fn kind(&self) -> MediaKind {
        MediaKind::Audio
    }

    fn frame_interval(&self) -> Duration {
        Duration::from_millis(20)
    }

    fn next_frame(&mut self, now: Instant) -> Option<EncodedFrame> {
        // TOC byte 0x78: Opus CELT-only fullband 20 ms, mono, one frame (RFC 6716 §3.1).
        let mut data = Vec::with_capacity(80);
        data.push(0x78);
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&self.seq.to_be_bytes());
        data.extend_from_slice(&micros_since(self.origin, now).to_be_bytes());
        data.resize(80, 0x55);
        self.seq += 1;
        Some(EncodedFrame {
            data: Bytes::from(data),
            duration: self.frame_interval(),
        })
    }
}

/// Synthetic H.264 video: 15 fps Annex-B access units with SPS/PPS/IDR every `gop` frames.
#[derive(Debug)]
pub struct SyntheticVideo {
    origin: Instant,
    seq: u64,
    gop: u64,
    keyframe_requested: bool,
}

impl SyntheticVideo {
    /// A new source; timestamps are relative to `origin`.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            seq: 0,
            gop: 30,
            keyframe_requested: false,
        }
    }
}

impl FrameSource for SyntheticVideo {
    fn kind(&self) -> MediaKind {
        MediaKind::Video
    }

    fn frame_interval(&self) -> Duration {
        Duration::from_micros(66_667)
    }

    fn next_frame(&mut self, now: Instant) -> Option<EncodedFrame> {
        let key = self.seq.is_multiple_of(self.gop) || self.keyframe_requested;
        self.keyframe_requested = false;
        let mut data = Vec::with_capacity(4096);
        if key {
            // SPS and PPS (Constrained Baseline, level 3.1) ahead of an IDR slice.
            data.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40]);
            data.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        }
        data.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }]);
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&self.seq.to_be_bytes());
        data.extend_from_slice(&micros_since(self.origin, now).to_be_bytes());
        // Bigger than one MTU on keyframes, so FU-A fragmentation is exercised.
        let body = if key { 3000 } else { 900 };
        // 0x5a never forms a start code (00 00 01) inside the slice.
        data.resize(data.len() + body, 0x5a);
        self.seq += 1;
        Some(EncodedFrame {
            data: Bytes::from(data),
            duration: self.frame_interval(),
        })
    }

    fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }
}

fn micros_since(origin: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(origin).as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_video_is_annex_b_with_periodic_keyframes() {
        let origin = Instant::now();
        let mut v = SyntheticVideo::new(origin);
        let first = v.next_frame(origin).map(|f| f.data).unwrap_or_default();
        assert_eq!(&first[..5], &[0, 0, 0, 1, 0x67]);
        let second = v.next_frame(origin).map(|f| f.data).unwrap_or_default();
        assert_eq!(&second[..5], &[0, 0, 0, 1, 0x41]);
        v.request_keyframe();
        let third = v.next_frame(origin).map(|f| f.data).unwrap_or_default();
        assert_eq!(&third[..5], &[0, 0, 0, 1, 0x67]);
    }

    #[test]
    fn synthetic_audio_frames_are_20ms() {
        let origin = Instant::now();
        let mut a = SyntheticAudio::new(origin);
        let f = a.next_frame(origin);
        assert_eq!(
            f.as_ref().map(|f| f.duration),
            Some(Duration::from_millis(20))
        );
        assert_eq!(f.map(|f| f.data.len()), Some(80));
    }
}
