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
    /// Recent round-trip times, for the queueing-delay guard.
    rtts: std::collections::VecDeque<(Instant, Duration)>,
    last_delay_step: Option<Instant>,
    /// No stepping up or resuming before this (after the delay guard acted).
    hold_until: Option<Instant>,
    /// Current wait between probes while paused (doubles after a failed probe).
    probe_every: Duration,
}

/// Queueing delay (round-trip time above its recent floor) at which the guard steps down.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(120);
/// How often the guard may step down while the queue persists.
const QUEUE_STEP_EVERY: Duration = Duration::from_secs(1);
/// How far back the round-trip floor looks.
const RTT_WINDOW: Duration = Duration::from_secs(10);
/// After the guard acted, no step up for this long.
const HOLD_AFTER_QUEUE: Duration = Duration::from_secs(10);
/// Longest wait between probes.
const PROBE_MAX: Duration = Duration::from_secs(60);

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
            rtts: std::collections::VecDeque::new(),
            last_delay_step: None,
            hold_until: None,
            probe_every: PROBE_EVERY,
        }
    }

    /// The queueing-delay guard: a round-trip time well above its recent floor means a queue is
    /// building on the path, whatever the estimate says (congestion controllers overestimate
    /// small links). Returns whether it stepped down.
    fn queue_guard(&mut self, rtt: Duration, now: Instant) -> bool {
        self.rtts.push_back((now, rtt));
        while self
            .rtts
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > RTT_WINDOW)
        {
            self.rtts.pop_front();
        }
        let floor = self.rtts.iter().map(|(_, r)| *r).min().unwrap_or(rtt);
        let queued = rtt.saturating_sub(floor);
        if queued <= QUEUE_LIMIT
            || self
                .last_delay_step
                .is_some_and(|t| now.saturating_duration_since(t) < QUEUE_STEP_EVERY)
        {
            return false;
        }
        self.last_delay_step = Some(now);
        self.up_since = None;
        self.hold_until = Some(now + HOLD_AFTER_QUEUE);
        match self.rung {
            Some(i) if i + 1 < LADDER.len() => self.rung = Some(i + 1),
            Some(_) => {
                if self.probing_since.take().is_some() {
                    // A failed probe: wait longer before the next one.
                    self.probe_every = (self.probe_every * 2).min(PROBE_MAX);
                }
                self.rung = None;
                self.paused_since = Some(now);
                self.hold_until = Some(now + self.probe_every);
            }
            None => {}
        }
        true
    }

    /// Like [`RateController::update`], with the latest round-trip time for the queueing-delay
    /// guard.
    pub fn update_with_rtt(
        &mut self,
        estimate_bps: f64,
        rtt: Option<Duration>,
        now: Instant,
    ) -> VideoDecision {
        if let Some(rtt) = rtt
            && self.queue_guard(rtt, now)
        {
            self.set_audio_bitrate(estimate_bps);
            return self.decision();
        }
        self.update(estimate_bps, now)
    }

    fn set_audio_bitrate(&mut self, estimate_bps: f64) {
        self.audio_bps = if estimate_bps < 120_000.0 {
            16_000
        } else if estimate_bps < 300_000.0 {
            24_000
        } else {
            32_000
        };
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
        self.set_audio_bitrate(estimate_bps);
        let held = self.hold_until.is_some_and(|t| now < t);
        let fits = Self::fitting(estimate_bps);
        match (self.rung, fits) {
            (Some(cur), Some(f)) if f > cur => {
                // Lower quality needed: at once.
                self.rung = Some(f);
                self.up_since = None;
            }
            (Some(_), Some(_)) if held => self.up_since = None,
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
            (None, _) if held => self.up_since = None,
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
                    .is_some_and(|p| now.saturating_duration_since(p) >= self.probe_every)
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
            self.probe_every = PROBE_EVERY;
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
    fn a_growing_queue_steps_down_and_pauses_even_when_the_estimate_is_high() {
        let t0 = Instant::now();
        let mut rc = RateController::new();
        let ms = Duration::from_millis;
        // A generous estimate, but the round trip climbs from 20 ms to 300 ms: a queue.
        assert_eq!(
            rc.update_with_rtt(250_000.0, Some(ms(20)), t0),
            VideoDecision::Send(LADDER[3])
        );
        assert_eq!(
            rc.update_with_rtt(250_000.0, Some(ms(300)), t0 + ms(500)),
            VideoDecision::Send(LADDER[4])
        );
        // Not more than one step a second.
        assert_eq!(
            rc.update_with_rtt(250_000.0, Some(ms(300)), t0 + ms(900)),
            VideoDecision::Send(LADDER[4])
        );
        assert_eq!(
            rc.update_with_rtt(250_000.0, Some(ms(300)), t0 + ms(1600)),
            VideoDecision::Paused
        );
        // The queue drains; the estimate still says video fits, but the guard holds it back
        // until the probe is due.
        assert_eq!(
            rc.update_with_rtt(250_000.0, Some(ms(25)), t0 + ms(6000)),
            VideoDecision::Paused
        );
        let probe = t0 + ms(1600) + PROBE_EVERY + ms(10);
        assert_eq!(
            rc.update_with_rtt(250_000.0, Some(ms(25)), probe),
            VideoDecision::Paused
        );
        assert_eq!(
            rc.update_with_rtt(250_000.0, Some(ms(25)), probe + UP_AFTER),
            VideoDecision::Send(LADDER[4])
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
