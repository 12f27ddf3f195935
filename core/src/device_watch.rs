//! Noticing a microphone or camera that gives nothing, during a call, without asking anything
//! (issue 16): a phone's privacy switch, another app holding the microphone, or a broken
//! driver deliver digital silence or no pictures at all, and nobody notices until the other
//! side says "I can't hear you". Pure: the caller feeds the call's counters and the clock.

/// What the devices' counters say so far (monotonic since the call started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceCounters {
    /// 10 ms chunks from the microphone with sound in them (any sample above digital silence),
    /// counted while not muted.
    pub microphone_sound: u64,
    /// Pictures handed to the call while the camera is on.
    pub camera_frames: u64,
}

/// A device that gives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceProblem {
    /// The microphone delivers digital silence or nothing at all while it is on.
    MicrophoneSilent,
    /// The camera delivers no pictures while it is on.
    CameraDark,
}

/// Silence for this long (ms) with the microphone on is a problem. A real microphone is never
/// digitally silent for seconds: even a quiet room has its noise floor.
pub const MICROPHONE_SILENT_MS: u64 = 8_000;
/// No picture for this long (ms) with the camera on is a problem.
pub const CAMERA_DARK_MS: u64 = 5_000;

#[derive(Debug, Default, Clone)]
struct Track {
    /// When the device became expected (on and allowed, in a call).
    expected_since: Option<u64>,
    last_count: u64,
    /// When the count last grew.
    last_growth: u64,
}

impl Track {
    /// `true` when expected for `window` ms without the count growing.
    fn silent(&mut self, now: u64, count: u64, expected: bool, window: u64) -> bool {
        if count != self.last_count {
            self.last_count = count;
            self.last_growth = now;
        }
        if !expected {
            self.expected_since = None;
            return false;
        }
        let since = *self.expected_since.get_or_insert(now);
        now.saturating_sub(since.max(self.last_growth)) >= window
    }
}

/// Follows one call's devices.
#[derive(Debug, Default, Clone)]
pub struct DeviceWatch {
    microphone: Track,
    camera: Track,
}

impl DeviceWatch {
    /// The problem to show now, if any (the microphone first: sound matters most).
    /// `microphone`/`camera`: whether the device should be delivering now (in a call, switched
    /// on by the citizen, allowed by the phone). `now_ms` from any monotonic clock.
    pub fn observe(
        &mut self,
        now_ms: u64,
        counters: DeviceCounters,
        microphone: bool,
        camera: bool,
    ) -> Option<DeviceProblem> {
        let mic = self.microphone.silent(
            now_ms,
            counters.microphone_sound,
            microphone,
            MICROPHONE_SILENT_MS,
        );
        let cam = self
            .camera
            .silent(now_ms, counters.camera_frames, camera, CAMERA_DARK_MS);
        if mic {
            Some(DeviceProblem::MicrophoneSilent)
        } else if cam {
            Some(DeviceProblem::CameraDark)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sound: u64, frames: u64) -> DeviceCounters {
        DeviceCounters {
            microphone_sound: sound,
            camera_frames: frames,
        }
    }

    #[test]
    fn a_silent_microphone_is_noticed_after_its_window_and_cleared_by_sound() {
        let mut w = DeviceWatch::default();
        // Sound and pictures flow: nothing to say, however long.
        for s in 0..30u64 {
            assert_eq!(w.observe(s * 1000, c(s * 100, s * 15), true, true), None);
        }
        // The microphone goes digitally silent at 29 s (the count stops growing).
        let mut noticed = None;
        for s in 30..60u64 {
            if w.observe(s * 1000, c(2900, s * 15), true, true).is_some() && noticed.is_none() {
                noticed = Some(s);
            }
        }
        assert_eq!(noticed, Some(29 + MICROPHONE_SILENT_MS / 1000));
        assert_eq!(
            w.observe(60_000, c(2900, 900), true, true),
            Some(DeviceProblem::MicrophoneSilent)
        );
        // Sound again: cleared at once.
        assert_eq!(w.observe(61_000, c(2901, 915), true, true), None);
    }

    #[test]
    fn muted_or_off_is_not_a_fault_and_the_window_starts_when_switched_on() {
        let mut w = DeviceWatch::default();
        for s in 0..20u64 {
            assert_eq!(
                w.observe(s * 1000, c(0, 0), false, false),
                None,
                "muted, camera off"
            );
        }
        // Unmuted at 20 s, still silent: the window starts then, not at the start of the call.
        for s in 20..28u64 {
            assert_eq!(w.observe(s * 1000, c(0, 0), true, false), None, "{s}");
        }
        assert_eq!(
            w.observe(28_000, c(0, 0), true, false),
            Some(DeviceProblem::MicrophoneSilent)
        );
        // Muted again: gone.
        assert_eq!(w.observe(29_000, c(0, 0), false, false), None);
    }

    #[test]
    fn a_dark_camera_is_noticed_and_the_microphone_comes_first() {
        let mut w = DeviceWatch::default();
        for s in 0..5u64 {
            assert_eq!(w.observe(s * 1000, c(s * 100, 0), true, true), None);
        }
        assert_eq!(
            w.observe(5_000, c(500, 0), true, true),
            Some(DeviceProblem::CameraDark)
        );
        // Both give nothing: the microphone is said (sound matters most).
        assert_eq!(
            w.observe(13_000, c(500, 0), true, true),
            Some(DeviceProblem::MicrophoneSilent)
        );
        // The camera turned off by the citizen: only the microphone.
        assert_eq!(
            w.observe(14_000, c(600, 0), true, false),
            None,
            "sound again, camera off"
        );
    }
}
