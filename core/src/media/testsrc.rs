//! Emulator devices and the measurements that read them back.
//!
//! - [`TestPattern`]: a moving picture with a machine-readable frame number and capture time
//!   (wall clock, ms) painted as black/white blocks in the top rows. The receiver reads them back
//!   ([`read_code`]) for glass-to-glass latency, and regenerates the exact reference picture for
//!   PSNR.
//! - [`SpeechSource`]: speech-like audio (a glottal pulse train through vowel formants, syllable
//!   rhythm, pauses) — deterministic, so sent and received audio can be compared.
//! - Timing marks: a short 2.5 kHz burst at every whole wall-clock second, with silence around
//!   it; [`MarkDetector`] finds them in received audio for mouth-to-ear latency.
//!
//! Wall-clock time is used on purpose: it is shared by processes in different network
//! namespaces on one machine.

use super::frame::VideoFrame;
use super::{FRAME_SAMPLES, SAMPLE_RATE};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Blocks per row of the painted code.
const CODE_COLS: u32 = 32;
/// Rows of code blocks: two of data, one check row.
const CODE_ROWS: u32 = 3;
/// Bits in the code: 24-bit frame number + 40-bit timestamp.
const CODE_BITS: u32 = CODE_COLS * 2;
/// The check row: the complement of the XOR of the two data rows.
fn check_row(bits: u64) -> u64 {
    !((bits >> 32) ^ (bits & 0xffff_ffff)) & 0xffff_ffff
}
/// Picture height in blocks (the block grid is `CODE_COLS` wide).
const GRID_ROWS: u32 = 18;

/// The synthetic camera's picture.
#[derive(Debug, Clone, Copy)]
pub struct TestPattern {
    /// Width of the generated picture.
    pub width: u32,
    /// Height of the generated picture.
    pub height: u32,
}

/// What the painted code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCode {
    /// Frame number (24 bits).
    pub frame: u32,
    /// Capture time, wall clock ms modulo 2^40.
    pub wall_ms: u64,
}

impl TestPattern {
    /// The default emulator camera: 640x360.
    /// Sizes are rounded down to even numbers of at least 64x36.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width: (width & !1).clamp(64, 4096),
            height: (height & !1).clamp(36, 4096),
        }
    }

    /// Picture number `frame`, captured at `wall_ms`.
    pub fn frame(&self, code: FrameCode) -> VideoFrame {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data = vec![0u8; w * h + 2 * (w / 2) * (h / 2)];
        let t = code.frame as usize;
        // A diagonal gradient that drifts, and a bright square that moves: motion for the
        // encoder, texture for PSNR.
        let (bx, by) = ((t * 7) % w.max(1), (t * 3) % h.max(1));
        let side = w / 8;
        for y in 0..h {
            for x in 0..w {
                let mut v = 40 + ((x + 2 * y + 3 * t) % 160);
                if x.wrapping_sub(bx) < side && y.wrapping_sub(by) < side {
                    v = 220;
                }
                data[y * w + x] = v as u8;
            }
        }
        let (cw, ch) = (w / 2, h / 2);
        for y in 0..ch {
            for x in 0..cw {
                data[w * h + y * cw + x] = (96 + (x * 64 / cw.max(1))) as u8;
                data[w * h + cw * ch + y * cw + x] = (96 + (y * 64 / ch.max(1))) as u8;
            }
        }
        let bits = (u64::from(code.frame & 0xff_ffff) << 40) | (code.wall_ms & 0xff_ffff_ffff);
        let all = [bits >> 32, bits & 0xffff_ffff, check_row(bits)];
        let (bw, bh) = (w / CODE_COLS as usize, h / GRID_ROWS as usize);
        for i in 0..CODE_COLS * CODE_ROWS {
            let on = all[(i / CODE_COLS) as usize] >> (CODE_COLS - 1 - i % CODE_COLS) & 1 == 1;
            let (col, row) = ((i % CODE_COLS) as usize, (i / CODE_COLS) as usize);
            for y in row * bh..(row + 1) * bh {
                for x in col * bw..(col + 1) * bw {
                    data[y * w + x] = if on { 235 } else { 16 };
                }
            }
        }
        VideoFrame::from_raw(self.width, self.height, data)
    }

    /// The reference for a received picture of `width` x `height` carrying `code`: the pattern
    /// as the sender generated it, scaled the way the sender's encoder scaled it.
    pub fn reference(&self, code: FrameCode, width: u32, height: u32) -> VideoFrame {
        self.frame(code).scaled(width, height)
    }
}

/// Reads the painted code from a (possibly scaled, compressed) picture.
pub fn read_code(frame: &VideoFrame) -> Option<FrameCode> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let (bw, bh) = (w / CODE_COLS as usize, h / GRID_ROWS as usize);
    if bw < 2 || bh < 2 {
        return None;
    }
    let y = frame.y();
    let mut bits = 0u128;
    for i in 0..CODE_COLS * CODE_ROWS {
        let (col, row) = ((i % CODE_COLS) as usize, (i / CODE_COLS) as usize);
        // Average the inner half of the block (edges blur under compression and scaling).
        let (x0, y0) = (col * bw + bw / 4, row * bh + bh / 4);
        let (x1, y1) = (x0 + (bw / 2).max(1), y0 + (bh / 2).max(1));
        let mut sum = 0u32;
        let mut n = 0u32;
        for yy in y0..y1 {
            for xx in x0..x1 {
                sum += u32::from(y[yy * w + xx]);
                n += 1;
            }
        }
        let avg = sum / n.max(1);
        // Neither black nor white: this is not our pattern.
        if (60..190).contains(&avg) {
            return None;
        }
        bits = (bits << 1) | u128::from(avg >= 125);
    }
    // 96 bits read: two data rows, then the check row.
    let check = (bits & 0xffff_ffff) as u64;
    let bits = (bits >> 32) as u64;
    if check != check_row(bits) {
        return None;
    }
    let _ = CODE_BITS;
    Some(FrameCode {
        frame: (bits >> 40) as u32,
        wall_ms: bits & 0xff_ffff_ffff,
    })
}

/// Latency from a painted capture time to `now_wall_ms` (handles the 40-bit wrap).
pub fn latency_ms(code: &FrameCode, now_wall_ms: u64) -> u64 {
    (now_wall_ms & 0xff_ffff_ffff).wrapping_sub(code.wall_ms) & 0xff_ffff_ffff
}

/// Frequency of the timing marks.
pub const MARK_HZ: f64 = 2500.0;
/// Length of a timing mark.
pub const MARK_MS: u64 = 30;
/// Silence before and after a mark.
pub const MARK_GUARD_MS: u64 = 60;

/// Speech-like audio with timing marks at whole wall-clock seconds.
#[derive(Debug, Clone)]
pub struct SpeechSource {
    n: u64,
    phase: f64,
    seed: u64,
    /// Formant resonator state per formant: (y1, y2).
    state: [(f64, f64); 3],
    /// Wall-clock ms of sample 0 when marks are on.
    marks_from: Option<u64>,
}

const VOWELS: [[f64; 3]; 5] = [
    [730.0, 1090.0, 2440.0],
    [270.0, 2290.0, 3010.0],
    [300.0, 870.0, 2240.0],
    [530.0, 1840.0, 2480.0],
    [570.0, 840.0, 2410.0],
];

impl SpeechSource {
    /// Speech without timing marks.
    pub fn new(seed: u64) -> Self {
        Self {
            n: 0,
            phase: 0.0,
            seed,
            state: [(0.0, 0.0); 3],
            marks_from: None,
        }
    }

    /// Speech with a timing mark at every whole wall-clock second; `start_wall_ms` is the wall
    /// time of the first sample this source will produce.
    pub fn with_marks(seed: u64, start_wall_ms: u64) -> Self {
        Self {
            marks_from: Some(start_wall_ms),
            ..Self::new(seed)
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for slot in out.iter_mut() {
            *slot = self.next_sample();
        }
    }

    fn next_sample(&mut self) -> i16 {
        let n = self.n;
        self.n += 1;
        let t = n as f64 / f64::from(SAMPLE_RATE);
        if let Some(start) = self.marks_from {
            let wall_us = start * 1000 + n * 1_000_000 / u64::from(SAMPLE_RATE);
            let into_second_ms = (wall_us / 1000) % 1000;
            if into_second_ms < MARK_MS {
                let s = (2.0 * std::f64::consts::PI * MARK_HZ * (wall_us as f64 / 1e6)).sin();
                return (s * 16000.0) as i16;
            }
            if !(MARK_MS + MARK_GUARD_MS..1000 - MARK_GUARD_MS).contains(&into_second_ms) {
                return 0;
            }
        }
        // Syllables of 200 ms, a pause of 400 ms every 2.4 s.
        let syllable = (t / 0.2) as u64;
        let in_pause = (t % 2.4) > 2.0;
        let env = if in_pause {
            0.0
        } else {
            (std::f64::consts::PI * ((t % 0.2) / 0.2)).sin().powi(2)
        };
        // Intonation: f0 wanders between 110 and 190 Hz.
        let f0 = 150.0 + 40.0 * (2.0 * std::f64::consts::PI * 0.3 * t + self.seed as f64).sin();
        self.phase += f0 / f64::from(SAMPLE_RATE);
        let pulse = if self.phase >= 1.0 {
            self.phase -= 1.0;
            1.0
        } else {
            0.0
        };
        let vowel = VOWELS[((syllable.wrapping_mul(2654435761) ^ self.seed) % 5) as usize];
        let mut y = 0.0;
        for (i, f) in vowel.iter().enumerate() {
            // Two-pole resonator at the formant, 80 Hz bandwidth.
            let r = (-std::f64::consts::PI * 80.0 / f64::from(SAMPLE_RATE)).exp();
            let theta = 2.0 * std::f64::consts::PI * f / f64::from(SAMPLE_RATE);
            let (y1, y2) = self.state[i];
            let out = pulse + 2.0 * r * theta.cos() * y1 - r * r * y2;
            self.state[i] = (out, y1);
            y += out / (i as f64 + 1.0);
        }
        (y * env * 900.0).clamp(-30000.0, 30000.0) as i16
    }
}

/// Finds timing marks in received audio and measures mouth-to-ear latency.
#[derive(Debug)]
pub struct MarkDetector {
    quiet_frames: u32,
    latencies: Vec<u64>,
}

impl Default for MarkDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl MarkDetector {
    /// A detector.
    pub fn new() -> Self {
        Self {
            quiet_frames: u32::MAX,
            latencies: Vec::new(),
        }
    }

    /// Feeds one pulled 10 ms frame whose first sample is played at `wall_ms`.
    pub fn feed(&mut self, pcm: &[i16; FRAME_SAMPLES], wall_ms: u64) {
        let tone = goertzel(pcm, MARK_HZ);
        let total: f64 = pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
        let is_mark = total > 1e9 && tone > 0.5 * total;
        if is_mark && self.quiet_frames >= 3 {
            // Onset inside the frame: first loud sample.
            let offset = pcm
                .iter()
                .position(|s| s.unsigned_abs() > 4000)
                .unwrap_or(0) as u64;
            let onset = wall_ms + offset * 1000 / u64::from(SAMPLE_RATE);
            self.latencies.push(onset % 1000);
        }
        if total < 1e8 || !is_mark && tone < 0.1 * total {
            self.quiet_frames = self.quiet_frames.saturating_add(1);
        }
        if is_mark {
            self.quiet_frames = 0;
        }
    }

    /// Mouth-to-ear latencies found so far (ms).
    pub fn latencies(&self) -> &[u64] {
        &self.latencies
    }
}

/// Energy of `pcm` at `hz`, scaled to be comparable with the sum of squares.
fn goertzel(pcm: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in pcm {
        let s0 = f64::from(*x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / pcm.len() as f64
}

/// Median and 95th percentile of a sample (None when empty).
pub fn median_p95(values: &[u64]) -> Option<(u64, u64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let median = v[v.len() / 2];
    let p95 = v[((v.len() as f64 * 0.95) as usize).min(v.len() - 1)];
    Some((median, p95))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_code_reads_back_after_scaling() {
        let p = TestPattern::new(640, 360);
        let code = FrameCode {
            frame: 123_456,
            wall_ms: 1_799_999_999_999 & 0xff_ffff_ffff,
        };
        let f = p.frame(code);
        assert_eq!(read_code(&f), Some(code));
        assert_eq!(read_code(&f.scaled(320, 180)), Some(code));
        assert_eq!(
            read_code(&VideoFrame::grey(640, 360).unwrap_or_else(|e| panic!("{e}"))),
            None
        );
        assert_eq!(p.reference(code, 320, 180), f.scaled(320, 180));
    }

    #[test]
    fn latency_handles_wrap() {
        let c = FrameCode {
            frame: 0,
            wall_ms: 0xff_ffff_fff0,
        };
        assert_eq!(latency_ms(&c, 0x0100_0000_0000 + 0x10), 0x20);
    }

    #[test]
    fn marks_are_found_with_their_delay() {
        let start = 1_000_000_000_000u64; // a whole second
        let mut src = SpeechSource::with_marks(3, start);
        let mut det = MarkDetector::new();
        // Pretend playback is 87 ms behind capture.
        for i in 0..500u64 {
            let mut pcm = [0i16; FRAME_SAMPLES];
            src.fill(&mut pcm);
            det.feed(&pcm, start + i * 10 + 87);
        }
        assert_eq!(det.latencies().len(), 5, "{:?}", det.latencies());
        assert!(
            det.latencies().iter().all(|l| (86..=89).contains(l)),
            "{:?}",
            det.latencies()
        );
    }

    #[test]
    fn speech_has_energy_and_pauses() {
        let mut src = SpeechSource::new(1);
        let mut loud = 0;
        let mut quiet = 0;
        for _ in 0..240 {
            let mut pcm = [0i16; FRAME_SAMPLES];
            src.fill(&mut pcm);
            let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
            if peak > 1000 {
                loud += 1;
            }
            if peak == 0 {
                quiet += 1;
            }
        }
        assert!(loud > 100, "{loud}");
        assert!(quiet > 20, "{quiet}");
    }
}
