//! "They can't hear you", noticed by the app (issue 16). Each side tells the other, peer to
//! peer, what it receives ([`samtale_protocol::status`]); this module compares that with what
//! this side sends. Pure: the caller feeds snapshots and the clock, once a
//! [`STATUS_INTERVAL_MS`](samtale_protocol::status::STATUS_INTERVAL_MS) or so.
//!
//! Nothing is concluded without evidence: a peer that sends no status (an older client, a
//! data channel not open yet) or whose last status is older than [`FRESH_MS`] is not judged,
//! and its evidence starts over when it comes back. Pauses in speech neither add to nor clear
//! the evidence; muting stops it (a muted microphone sends no speech), and is reported as
//! mute, never as a fault.

use crate::device_watch::DeviceProblem;
use samtale_protocol::status::{CameraState, MicrophoneState, PeerStatus};
use std::collections::BTreeMap;

/// Speaking for this long (ms, pauses not counted) with none of it reaching the peer: "they
/// can't hear you". Likewise for the peer's speech not reaching us.
pub const UNHEARD_MS: u64 = 4_000;
/// Sending pictures for this long (ms) without the peer decoding any: "they can't see you".
pub const UNSEEN_MS: u64 = 5_000;
/// A peer's status older than this (ms) is not evidence.
pub const FRESH_MS: u64 = 3_000;
/// 10 ms chunks of speech in one interval for it to count as speaking (200 ms).
const SPEAKING_CHUNKS: u64 = 20;

/// What this side sends, cumulative since the call started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sending {
    /// 10 ms microphone chunks with speech in them, while not muted.
    pub speech: u64,
    /// Audio packets sent.
    pub audio_packets: u64,
    /// Video frames sent.
    pub video_frames: u64,
}

/// What this side receives from one peer, cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Receiving {
    /// Audio packets received.
    pub audio_packets: u64,
    /// 10 ms frames decoded with sound in them.
    pub audio_sound: u64,
    /// Level of their audio as played (dBFS, smoothed).
    pub audio_level_dbfs: f64,
    /// Pictures decoded.
    pub video_frames: u64,
}

/// One peer as this side knows it now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerView {
    /// Participant id.
    pub id: String,
    /// What we receive from them.
    pub receiving: Receiving,
    /// Their last status and its age (ms), if any.
    pub status: Option<(PeerStatus, u64)>,
}

/// A snapshot of one call, for [`HearingWatch::observe`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// What we send.
    pub sending: Sending,
    /// Every peer.
    pub peers: Vec<PeerView>,
}

/// Something that keeps a side from being heard or seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HearingProblem {
    /// We speak, and the other side receives no sound from us.
    PeerCannotHearYou,
    /// The other side speaks, and no sound from them reaches us.
    YouCannotHearPeer,
    /// We send pictures, and the other side decodes none.
    PeerCannotSeeYou,
}

/// What the call's screens say about the others (the worst over every peer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hearing {
    /// A fault, if any (hearing first: sound matters most).
    pub problem: Option<HearingProblem>,
    /// A peer's own microphone or camera gives nothing (they are told too).
    pub peer_device: Option<DeviceProblem>,
    /// A peer has muted their microphone (not a fault).
    pub peer_muted: bool,
    /// A peer has turned their camera off (not a fault).
    pub peer_camera_off: bool,
}

#[derive(Debug, Clone, Default)]
struct Evidence {
    /// Their last status's counters about us, to see whether they changed.
    heard: Option<u64>,
    seen: Option<u64>,
    /// Our counters about them.
    received_sound: Option<u64>,
    unheard_ms: u64,
    not_hearing_ms: u64,
    unseen_ms: u64,
}

/// Follows one call.
#[derive(Debug, Default, Clone)]
pub struct HearingWatch {
    last_ms: Option<u64>,
    last_sending: Sending,
    peers: BTreeMap<String, Evidence>,
}

/// `true` when `now` differs from what was seen last time (and remembers it). The first value
/// is no change: nothing is known about the interval before it.
fn changed(last: &mut Option<u64>, now: u64) -> bool {
    let was = last.replace(now);
    was.is_some_and(|w| w != now)
}

impl HearingWatch {
    /// What to say now. `now_ms` from any monotonic clock.
    pub fn observe(&mut self, now_ms: u64, snapshot: &Snapshot) -> Hearing {
        let dt = self.last_ms.map_or(0, |l| now_ms.saturating_sub(l));
        self.last_ms = Some(now_ms);
        let prev = std::mem::replace(&mut self.last_sending, snapshot.sending);
        let speaking = snapshot.sending.speech.saturating_sub(prev.speech) >= SPEAKING_CHUNKS
            && snapshot.sending.audio_packets != prev.audio_packets;
        let sending_video = snapshot.sending.video_frames != prev.video_frames;
        self.peers
            .retain(|id, _| snapshot.peers.iter().any(|p| &p.id == id));
        let mut out = Hearing::default();
        for peer in &snapshot.peers {
            let e = self.peers.entry(peer.id.clone()).or_default();
            let Some((status, _)) = peer.status.as_ref().filter(|(_, age)| *age <= FRESH_MS) else {
                // No evidence: start over when statuses come (again).
                *e = Evidence::default();
                continue;
            };
            let heard = changed(&mut e.heard, status.audio_sound);
            let seen = changed(&mut e.seen, status.video_frames);
            let hearing_them = changed(&mut e.received_sound, peer.receiving.audio_sound);
            // Speaking pauses add nothing; a sign of life clears.
            if heard {
                e.unheard_ms = 0;
            } else if speaking {
                e.unheard_ms += dt;
            }
            if hearing_them {
                e.not_hearing_ms = 0;
            } else if status.speaking && status.microphone == MicrophoneState::On {
                e.not_hearing_ms += dt;
            }
            if seen {
                e.unseen_ms = 0;
            } else if sending_video {
                e.unseen_ms += dt;
            }
            let problem = if e.unheard_ms >= UNHEARD_MS {
                Some(HearingProblem::PeerCannotHearYou)
            } else if e.not_hearing_ms >= UNHEARD_MS {
                Some(HearingProblem::YouCannotHearPeer)
            } else if e.unseen_ms >= UNSEEN_MS {
                Some(HearingProblem::PeerCannotSeeYou)
            } else {
                None
            };
            out.problem = worst(out.problem, problem);
            let device = match (status.microphone, status.camera) {
                (MicrophoneState::Silent, _) => Some(DeviceProblem::MicrophoneSilent),
                (_, CameraState::Dark) => Some(DeviceProblem::CameraDark),
                _ => None,
            };
            out.peer_device = out.peer_device.or(device);
            out.peer_muted |= status.microphone == MicrophoneState::Muted;
            out.peer_camera_off |= status.camera == CameraState::Off;
        }
        out
    }
}

fn worst(a: Option<HearingProblem>, b: Option<HearingProblem>) -> Option<HearingProblem> {
    let rank = |p: &Option<HearingProblem>| match p {
        Some(HearingProblem::PeerCannotHearYou) => 3,
        Some(HearingProblem::YouCannotHearPeer) => 2,
        Some(HearingProblem::PeerCannotSeeYou) => 1,
        None => 0,
    };
    if rank(&b) > rank(&a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One second of a call: we speak (or not) and send video; the peer reports `heard`/`seen`
    /// counters about us and speaks (or not); we receive `their_sound` from them.
    struct Sim {
        watch: HearingWatch,
        t: u64,
        sending: Sending,
        status: PeerStatus,
        receiving: Receiving,
        fresh: bool,
    }

    impl Sim {
        fn new() -> Self {
            Self {
                watch: HearingWatch::default(),
                t: 0,
                sending: Sending::default(),
                status: PeerStatus::default(),
                receiving: Receiving::default(),
                fresh: true,
            }
        }

        /// Advances one second: `we_speak`, `they_hear_us`, `they_speak`, `we_hear_them`.
        fn second(
            &mut self,
            we_speak: bool,
            they_hear: bool,
            they_speak: bool,
            we_hear: bool,
        ) -> Hearing {
            self.t += 1000;
            if we_speak {
                self.sending.speech += 80;
                self.sending.audio_packets += 50;
            }
            self.sending.video_frames += 15;
            if they_hear && we_speak {
                self.status.audio_sound += 80;
            }
            self.status.video_frames += 15;
            self.status.speaking = they_speak;
            if they_speak && we_hear {
                self.receiving.audio_sound += 80;
            }
            let snapshot = Snapshot {
                sending: self.sending,
                peers: vec![PeerView {
                    id: "p".into(),
                    receiving: self.receiving,
                    status: Some((self.status.clone(), if self.fresh { 400 } else { 9_000 })),
                }],
            };
            self.watch.observe(self.t, &snapshot)
        }
    }

    #[test]
    fn a_call_where_both_hear_each_other_says_nothing() {
        let mut s = Sim::new();
        for i in 0..60 {
            // Turn-taking with pauses.
            let h = s.second(i % 3 == 0, true, i % 3 == 1, true);
            assert_eq!(h, Hearing::default(), "at {i} s");
        }
    }

    #[test]
    fn speech_that_never_arrives_is_noticed_after_four_seconds_of_speaking_and_cleared_by_sound() {
        let mut s = Sim::new();
        s.second(true, true, false, true);
        let mut noticed = None;
        // We speak every other second; the other side receives nothing.
        for i in 1..=20u64 {
            let h = s.second(i % 2 == 0, false, false, true);
            if h.problem == Some(HearingProblem::PeerCannotHearYou) && noticed.is_none() {
                noticed = Some(i);
            }
        }
        // Pauses do not count: 4 s of speech took 8 s.
        assert_eq!(noticed, Some(8));
        // Our sound reaches them again: cleared at once.
        assert_eq!(s.second(true, true, false, true).problem, None);
    }

    #[test]
    fn their_speech_not_reaching_us_is_noticed_too() {
        let mut s = Sim::new();
        s.second(false, true, true, true);
        let at = (1..=10u64).find(|_| {
            s.second(false, true, true, false).problem == Some(HearingProblem::YouCannotHearPeer)
        });
        assert_eq!(at, Some(UNHEARD_MS / 1000));
    }

    #[test]
    fn mute_is_mute_not_a_fault() {
        let mut s = Sim::new();
        s.status.microphone = MicrophoneState::Muted;
        for _ in 0..20 {
            // Muted: they do not speak; we speak and they hear us.
            let h = s.second(true, true, false, false);
            assert_eq!(h.problem, None);
            assert!(h.peer_muted);
        }
        // A muted side claiming speech (a stale flag) is not a fault either.
        s.status.speaking = true;
        assert_eq!(s.second(false, true, true, false).problem, None);
        // And we, muted, send no speech: nothing is expected to arrive.
        for _ in 0..20 {
            assert_eq!(s.second(false, false, false, true).problem, None);
        }
    }

    #[test]
    fn pictures_that_never_arrive_are_noticed_and_a_stale_status_is_no_evidence() {
        let mut s = Sim::new();
        s.second(true, true, false, true);
        let stuck = s.status.video_frames;
        let mut at = None;
        for i in 1..=10u64 {
            let h = s.second(true, true, false, true);
            s.status.video_frames = stuck;
            if h.problem == Some(HearingProblem::PeerCannotSeeYou) && at.is_none() {
                at = Some(i);
            }
        }
        // The first second after `stuck` still showed growth.
        assert_eq!(at, Some(UNSEEN_MS / 1000 + 1));
        // Their status goes stale (data channel lost): no claim, and the evidence starts over.
        s.fresh = false;
        assert_eq!(s.second(true, false, false, true).problem, None);
        s.fresh = true;
        for _ in 0..3 {
            assert_eq!(s.second(true, true, false, true).problem, None);
        }
    }

    #[test]
    fn a_peer_without_status_is_not_judged_and_its_devices_are_reported() {
        let mut w = HearingWatch::default();
        for t in 0..20u64 {
            let snap = Snapshot {
                sending: Sending {
                    speech: t * 100,
                    audio_packets: t * 50,
                    video_frames: t * 15,
                },
                peers: vec![PeerView {
                    id: "old-client".into(),
                    ..PeerView::default()
                }],
            };
            assert_eq!(w.observe(t * 1000, &snap), Hearing::default());
        }
        let snap = Snapshot {
            peers: vec![PeerView {
                id: "p".into(),
                status: Some((
                    PeerStatus {
                        microphone: MicrophoneState::Silent,
                        camera: CameraState::Off,
                        ..PeerStatus::default()
                    },
                    100,
                )),
                ..PeerView::default()
            }],
            ..Snapshot::default()
        };
        let h = w.observe(30_000, &snap);
        assert_eq!(h.peer_device, Some(DeviceProblem::MicrophoneSilent));
        assert!(h.peer_camera_off && !h.peer_muted);
    }
}
