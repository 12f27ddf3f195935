//! Bandwidth adaptation: from the congestion controller's estimate to what the encoders do.
//!
//! The estimate comes from Google Congestion Control (webrtc-rs' `Gcc`, fed by transport-wide
//! congestion control feedback from the receiver). This module turns it into a rung of a small
//! quality ladder (resolution, frame rate, bitrate) and the Opus bitrate, with hysteresis: down
//! at once, up only after the estimate has allowed the higher rung for [`UP_AFTER`]. Below the
//! lowest rung video pauses and audio carries on. While paused the controller probes: every
//! [`PROBE_EVERY`] it tries the lowest rung again, so video comes back by itself when the network
//! does (a congestion controller cannot see capacity that nothing uses).
//!
//! Pure logic with an explicit clock.

use std::time::{Duration, Instant};

/// One step of the quality ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Encoded width.
    pub width: u32,
    /// Encoded height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Target video bitrate (bits/s).
    pub bps: u32,
}

/// Highest quality first.
pub const LADDER: [Rung; 5] = [
    Rung {
        width: 640,
        height: 360,
        fps: 15,
        bps: 600_000,
    },
    Rung {
        width: 640,
        height: 360,
        fps: 15,
        bps: 400_000,
    },
    Rung {
        width: 480,
        height: 270,
        fps: 15,
        bps: 260_000,
    },
    Rung {
        width: 320,
        height: 180,
        fps: 15,
        bps: 160_000,
    },
    Rung {
        width: 320,
        height: 180,
        fps: 10,
        bps: 100_000,
    },
];

/// Share of the estimate left for video after audio and packet overhead.
const VIDEO_SHARE: f64 = 0.85;
/// Audio plus RTP/SRTP/UDP/IP overhead reserved off the top (bits/s).
const AUDIO_RESERVE: f64 = 45_000.0;
/// Sustained headroom needed before stepping up.
pub const UP_AFTER: Duration = Duration::from_secs(3);
/// While paused, how often to try the lowest rung again.
pub const PROBE_EVERY: Duration = Duration::from_secs(8);
/// How long a probe lasts before it is judged.
pub const PROBE_FOR: Duration = Duration::from_secs(3);

/// What the video encoder should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoDecision {
    /// Encode at this rung.
    Send(Rung),
    /// Send no video (audio only).
    Paused,
}

/// The controller.
#[derive(Debug, Clone)]
pub struct RateController {
    rung: Option<usize>,
    up_since: Option<Instant>,
    paused_since: Option<Instant>,
    probing_since: Option<Instant>,
    paused_total: Duration,
    audio_bps: i32,
}

impl RateController {
    /// Starts at the top rung (the estimate corrects it within the first second).
    pub fn new() -> Self {
        Self {
            rung: Some(1),
            up_since: None,
            paused_since: None,
            probing_since: None,
            paused_total: Duration::ZERO,
            audio_bps: 24_000,
        }
    }

    fn video_budget(estimate_bps: f64) -> f64 {
        (estimate_bps - AUDIO_RESERVE).max(0.0) * VIDEO_SHARE
    }

    /// The highest rung the budget affords.
    fn fitting(estimate_bps: f64) -> Option<usize> {
        let budget = Self::video_budget(estimate_bps);
        LADDER.iter().position(|r| f64::from(r.bps) <= budget)
    }

    /// Feeds the current estimate (bits/s); returns the decision.
    pub fn update(&mut self, estimate_bps: f64, now: Instant) -> VideoDecision {
        self.audio_bps = if estimate_bps < 120_000.0 {
            16_000
        } else if estimate_bps < 300_000.0 {
            24_000
        } else {
            32_000
        };
        let fits = Self::fitting(estimate_bps);
        match (self.rung, fits) {
            (Some(cur), Some(f)) if f > cur => {
                // Lower quality needed: at once.
                self.rung = Some(f);
                self.up_since = None;
            }
            (Some(cur), Some(f)) if f < cur => {
                let since = *self.up_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= UP_AFTER {
                    self.rung = Some(cur - 1);
                    self.up_since = None;
                }
            }
            (Some(_), Some(_)) => self.up_since = None,
            (Some(_), None) => {
                // Below the floor. A failed probe goes back to pause at once.
                self.rung = None;
                self.probing_since = None;
                self.paused_since = Some(now);
                self.up_since = None;
            }
            (None, Some(_)) => {
                let since = *self.up_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= UP_AFTER {
                    self.resume(now, false);
                }
            }
            (None, None) => {
                self.up_since = None;
                if self
                    .paused_since
                    .is_some_and(|p| now.saturating_duration_since(p) >= PROBE_EVERY)
                {
                    self.resume(now, true);
                }
            }
        }
        if let Some(p) = self.probing_since
            && now.saturating_duration_since(p) >= PROBE_FOR
        {
            // The probe held: the network carries the lowest rung again.
            self.probing_since = None;
        }
        self.decision()
    }

    fn resume(&mut self, now: Instant, probe: bool) {
        if let Some(p) = self.paused_since.take() {
            self.paused_total += now.saturating_duration_since(p);
        }
        self.rung = Some(LADDER.len() - 1);
        self.up_since = None;
        self.probing_since = probe.then_some(now);
    }

    /// The current decision.
    pub fn decision(&self) -> VideoDecision {
        match self.rung {
            Some(i) => VideoDecision::Send(LADDER[i]),
            None => VideoDecision::Paused,
        }
    }

    /// The Opus bitrate for the current estimate.
    pub fn audio_bps(&self) -> i32 {
        self.audio_bps
    }

    /// Total time video was paused, including a pause in progress.
    pub fn paused_total(&self, now: Instant) -> Duration {
        self.paused_total
            + self
                .paused_since
                .map_or(Duration::ZERO, |p| now.saturating_duration_since(p))
    }
}

impl Default for RateController {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_down_at_once_and_up_slowly() {
        let t0 = Instant::now();
        let mut rc = RateController::new();
        assert_eq!(rc.update(2_000_000.0, t0), VideoDecision::Send(LADDER[1]));
        assert_eq!(
            rc.update(2_000_000.0, t0 + UP_AFTER),
            VideoDecision::Send(LADDER[0])
        );
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(rc.update(400_000.0, t1), VideoDecision::Send(LADDER[2]));
        // Headroom for one more rung, but not yet for long enough.
        assert_eq!(
            rc.update(600_000.0, t1 + Duration::from_secs(1)),
            VideoDecision::Send(LADDER[2])
        );
        assert_eq!(
            rc.update(600_000.0, t1 + Duration::from_secs(1) + UP_AFTER),
            VideoDecision::Send(LADDER[1])
        );
    }

    #[test]
    fn pauses_below_the_floor_keeps_audio_and_probes_back() {
        let t0 = Instant::now();
        let mut rc = RateController::new();
        // 150 kbit/s: audio only.
        assert_eq!(rc.update(150_000.0, t0), VideoDecision::Paused);
        assert_eq!(rc.audio_bps(), 24_000);
        assert_eq!(rc.update(60_000.0, t0), VideoDecision::Paused);
        assert_eq!(rc.audio_bps(), 16_000);
        // Still congested when the probe is due: the probe starts, fails, pauses again.
        let probe_at = t0 + PROBE_EVERY;
        assert_eq!(
            rc.update(150_000.0, probe_at),
            VideoDecision::Send(LADDER[4])
        );
        assert_eq!(
            rc.update(150_000.0, probe_at + Duration::from_millis(500)),
            VideoDecision::Paused
        );
        // The network comes back: video resumes after the hysteresis.
        let back = probe_at + Duration::from_secs(2);
        assert_eq!(rc.update(1_000_000.0, back), VideoDecision::Paused);
        assert_eq!(
            rc.update(1_000_000.0, back + UP_AFTER),
            VideoDecision::Send(LADDER[4])
        );
        assert!(rc.paused_total(back + UP_AFTER) >= Duration::from_secs(9));
    }
}
