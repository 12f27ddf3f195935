//! H.264 encoding (OpenH264 built from source, Constrained Baseline, one slice per frame) and
//! decoding, plus freeze accounting on the receive side.
//!
//! The encoder follows the rate controller's [`Rung`]: it scales the captured picture to the
//! rung's size, drops frames above the rung's frame rate and re-creates the encoder when the
//! rung changes (the Rust binding exposes no run-time bitrate setter; a rung change costs one
//! keyframe, and changes are rate-limited by the controller's hysteresis). Keyframes: on request
//! (PLI/FIR, at most one per [`KEYFRAME_MIN_GAP`]) and every [`KEYFRAME_PERIOD_S`] seconds.

use super::frame::VideoFrame;
use super::rate::Rung;
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Profile, RateControlMode,
    UsageType,
};
use openh264::formats::YUVSource;
use std::time::{Duration, Instant};

/// Periodic keyframe interval (a receiver that lost everything recovers within this even if
/// its keyframe requests are lost too).
pub const KEYFRAME_PERIOD_S: u32 = 10;
/// Keyframe requests closer together than this are merged.
pub const KEYFRAME_MIN_GAP: Duration = Duration::from_millis(300);

struct Source<'a>(&'a VideoFrame);

impl YUVSource for Source<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let w = self.0.width() as usize;
        (w, w / 2, w / 2)
    }

    fn y(&self) -> &[u8] {
        self.0.y()
    }

    fn u(&self) -> &[u8] {
        self.0.u()
    }

    fn v(&self) -> &[u8] {
        self.0.v()
    }
}

/// One encoded access unit.
#[derive(Debug, Clone)]
pub struct EncodedVideo {
    /// Annex-B NAL units.
    pub annexb: Vec<u8>,
    /// Contains an IDR.
    pub keyframe: bool,
}

/// The H.264 encoder.
pub struct VideoEncoder {
    encoder: Option<(Rung, Encoder)>,
    keyframe_requested: bool,
    last_keyframe: Option<Instant>,
    last_frame: Option<Instant>,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("rung", &self.encoder.as_ref().map(|(r, _)| *r))
            .finish()
    }
}

impl Default for VideoEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl VideoEncoder {
    /// An encoder; it is set up on the first frame.
    pub fn new() -> Self {
        Self {
            encoder: None,
            keyframe_requested: false,
            last_keyframe: None,
            last_frame: None,
        }
    }

    /// A receiver asked for a keyframe.
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    fn make(rung: Rung) -> Result<Encoder, openh264::Error> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(rung.bps))
            .max_frame_rate(FrameRate::from_hz(rung.fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .skip_frames(true)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                rung.fps * KEYFRAME_PERIOD_S,
            ));
        Encoder::with_api_config(OpenH264API::from_source(), config)
    }

    /// Encodes `frame` at `rung` if the rung's frame rate allows a frame at `now`. Returns
    /// `None` for frames skipped (rate) or failed (logged).
    pub fn encode(&mut self, frame: &VideoFrame, rung: Rung, now: Instant) -> Option<EncodedVideo> {
        let min_gap = Duration::from_micros(1_000_000 / u64::from(rung.fps.max(1)));
        // 10 % slack so a 15 fps camera is not decimated by timer jitter.
        if self
            .last_frame
            .is_some_and(|t| now.saturating_duration_since(t) < min_gap.mul_f32(0.9))
        {
            return None;
        }
        if self.encoder.as_ref().is_none_or(|(r, _)| *r != rung) {
            match Self::make(rung) {
                Ok(enc) => self.encoder = Some((rung, enc)),
                Err(e) => {
                    log::warn!("cannot create the H.264 encoder: {e}");
                    return None;
                }
            }
        }
        let (_, encoder) = self.encoder.as_mut()?;
        if self.keyframe_requested
            && self
                .last_keyframe
                .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_MIN_GAP)
        {
            encoder.force_intra_frame();
            self.keyframe_requested = false;
        }
        let scaled = frame.scaled(rung.width, rung.height);
        let annexb = match encoder.encode(&Source(&scaled)) {
            Ok(bs) => bs.to_vec(),
            Err(e) => {
                log::warn!("H.264 encode failed: {e}");
                return None;
            }
        };
        self.last_frame = Some(now);
        if annexb.is_empty() {
            // The rate control skipped this frame.
            return None;
        }
        let keyframe = has_idr(&annexb);
        if keyframe {
            self.last_keyframe = Some(now);
        }
        Some(EncodedVideo { annexb, keyframe })
    }
}

/// Whether an Annex-B access unit contains an IDR slice.
pub fn has_idr(annexb: &[u8]) -> bool {
    annexb
        .windows(4)
        .any(|w| w[0] == 0 && w[1] == 0 && w[2] == 1 && w[3] & 0x1f == 5)
}

/// The H.264 decoder.
pub struct VideoDecoder {
    decoder: Option<Decoder>,
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideoDecoder")
    }
}

impl Default for VideoDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl VideoDecoder {
    /// A decoder.
    pub fn new() -> Self {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new());
        if let Err(e) = &decoder {
            log::warn!("cannot create the H.264 decoder: {e}");
        }
        Self {
            decoder: decoder.ok(),
        }
    }

    /// Decodes one access unit. `Err` means the stream is broken (ask for a keyframe);
    /// `Ok(None)` means no picture came out of this unit.
    pub fn decode(&mut self, annexb: &[u8]) -> Result<Option<VideoFrame>, String> {
        let decoder = self.decoder.as_mut().ok_or("no decoder")?;
        let yuv = decoder.decode(annexb).map_err(|e| e.to_string())?;
        let Some(yuv) = yuv else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        if w < 2 || h < 2 {
            return Ok(None);
        }
        let (w, h) = (w & !1, h & !1);
        let mut data = Vec::with_capacity(w * h * 3 / 2);
        for row in 0..h {
            data.extend_from_slice(&yuv.y()[row * sy..row * sy + w]);
        }
        for (plane, stride) in [(yuv.u(), su), (yuv.v(), sv)] {
            for row in 0..h / 2 {
                data.extend_from_slice(&plane[row * stride..row * stride + w / 2]);
            }
        }
        VideoFrame::from_i420(w as u32, h as u32, data)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// Counts freezes the way WebRTC statistics do: an interval between rendered frames longer than
/// max(3 x the average interval, average + 150 ms).
#[derive(Debug, Default, Clone)]
pub struct FreezeCounter {
    last: Option<Instant>,
    avg_ms: Option<f64>,
    /// Freezes so far.
    pub freezes: u64,
    /// Total frozen time (ms).
    pub freeze_ms: u64,
}

impl FreezeCounter {
    /// A frame was rendered at `now`.
    pub fn frame(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let gap = now.saturating_duration_since(last).as_secs_f64() * 1000.0;
            if let Some(avg) = self.avg_ms {
                if gap > (3.0 * avg).max(avg + 150.0) {
                    self.freezes += 1;
                    self.freeze_ms += gap as u64;
                } else {
                    self.avg_ms = Some(avg * 0.9 + gap * 0.1);
                }
            } else {
                self.avg_ms = Some(gap);
            }
        }
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rate::LADDER;
    use crate::media::testsrc::{FrameCode, TestPattern, read_code};

    #[test]
    fn encode_decode_round_trip_keeps_the_picture() {
        let pattern = TestPattern::new(640, 360);
        let mut enc = VideoEncoder::new();
        let mut dec = VideoDecoder::new();
        let t0 = Instant::now();
        let mut psnrs = Vec::new();
        let mut keyframes = 0;
        for i in 0..30u32 {
            let code = FrameCode {
                frame: i,
                wall_ms: 1000 + u64::from(i) * 66,
            };
            let now = t0 + Duration::from_millis(u64::from(i) * 67);
            let Some(e) = enc.encode(&pattern.frame(code), LADDER[1], now) else {
                continue;
            };
            keyframes += usize::from(e.keyframe);
            let decoded = dec.decode(&e.annexb).unwrap_or_else(|e| panic!("{e}"));
            let Some(pic) = decoded else { continue };
            assert_eq!(read_code(&pic), Some(code));
            let reference = pattern.reference(code, pic.width(), pic.height());
            psnrs.push(pic.psnr_y(&reference).unwrap_or(0.0));
        }
        assert_eq!(keyframes, 1);
        assert!(psnrs.len() >= 25, "{}", psnrs.len());
        let mean = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
        assert!(mean > 30.0, "mean PSNR {mean:.1} dB");
    }

    #[test]
    fn keyframe_on_request_and_scaled_rungs() {
        let pattern = TestPattern::new(640, 360);
        let mut enc = VideoEncoder::new();
        let t0 = Instant::now();
        let code = FrameCode {
            frame: 1,
            wall_ms: 5,
        };
        let f = pattern.frame(code);
        let first = enc.encode(&f, LADDER[3], t0).map(|e| e.keyframe);
        assert_eq!(first, Some(true));
        let second = enc.encode(&f, LADDER[3], t0 + Duration::from_millis(70));
        assert_eq!(second.map(|e| e.keyframe), Some(false));
        enc.request_keyframe();
        // Requests right after a keyframe are merged into it...
        let third = enc.encode(&f, LADDER[3], t0 + Duration::from_millis(140));
        assert_eq!(third.map(|e| e.keyframe), Some(false));
        // ...and served once the minimum gap has passed.
        let fourth = enc.encode(
            &f,
            LADDER[3],
            t0 + KEYFRAME_MIN_GAP + Duration::from_millis(10),
        );
        assert_eq!(fourth.map(|e| e.keyframe), Some(true));
        // Too soon for 15 fps: skipped.
        assert!(
            enc.encode(
                &f,
                LADDER[3],
                t0 + KEYFRAME_MIN_GAP + Duration::from_millis(20)
            )
            .is_none()
        );
        let mut dec = VideoDecoder::new();
        let e = enc
            .encode(&f, LADDER[4], t0 + Duration::from_millis(700))
            .unwrap_or_else(|| panic!("a frame at the new rung"));
        assert!(e.keyframe, "a rung change starts with a keyframe");
        let pic = dec.decode(&e.annexb).ok().flatten();
        assert_eq!(pic.map(|p| (p.width(), p.height())), Some((320, 180)));
    }

    #[test]
    fn freezes_follow_the_webrtc_definition() {
        let t0 = Instant::now();
        let mut f = FreezeCounter::default();
        for i in 0..20 {
            f.frame(t0 + Duration::from_millis(i * 66));
        }
        assert_eq!(f.freezes, 0);
        f.frame(t0 + Duration::from_millis(19 * 66 + 500));
        assert_eq!(f.freezes, 1);
        assert!(f.freeze_ms >= 500);
    }
}
