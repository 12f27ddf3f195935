//! Media that stops while the transport stays up (issue 16): a peer whose connection is up
//! (ICE and DTLS connected, consent checks answered) but from whom nothing arrives — no
//! audio, no pictures, not even the status it sends once a second
//! ([`samtale_protocol::status`]) — is as lost as one behind a network outage: a peer that
//! accepted an ICE restart and never sent again, a stuck remote engine. ICE cannot see it.
//! This watch does, and the call state machine then treats it like a lost connection
//! ([`crate::fsm::Event::MediaStalled`]): "reconnecting" on the screen and the recovery
//! ladder up to a new connection, instead of a silent "in call".
//!
//! Pure: the caller feeds what it received from each peer and the clock, once a second or
//! so, and gets back the transitions.
//!
//! Only a peer that has sent a status at least once is judged: its statuses are a heartbeat
//! that flows even when it is muted with the camera off, so silence is never mistaken for a
//! stall. A peer without the status channel (an older client) is never judged.

use std::collections::BTreeMap;

/// Nothing from a connected peer for this long (ms): its media has stalled. Longer than ICE's
/// own disconnection timeout (about 5 s), so a network outage is reported by ICE first, and
/// six status intervals, so lost statuses alone never add up to it.
pub const STALL_MS: u64 = 6_000;

/// What this side received from one peer so far: anything that changes means something came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Audio packets.
    pub audio_packets: u64,
    /// Pictures decoded.
    pub video_frames: u64,
    /// Statuses received.
    pub statuses: u64,
}

/// One peer as the caller sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFlow {
    /// Participant id.
    pub id: String,
    /// Whether its transport is connected.
    pub connected: bool,
    /// What came from it so far.
    pub received: Received,
}

/// A change in whether media flows from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowChange {
    /// Connected, and nothing has come for [`STALL_MS`].
    Stalled(String),
    /// Something came again after a stall.
    Flowing(String),
}

#[derive(Debug, Clone, Default)]
struct Track {
    received: Received,
    /// When something last came, or the transport (re)connected (ms).
    since: u64,
    connected: bool,
    /// A status came from this peer at least once.
    judged: bool,
    stalled: bool,
    /// Not in the last observation since (ms): a connection being rebuilt, or gone.
    missing_since: Option<u64>,
}

/// A peer missing from the observations this long has left (a connection being rebuilt is
/// back within a second or two).
const FORGET_MS: u64 = 60_000;

impl Received {
    /// Whether anything came between `before` and `self`. Counters that went down belong to a
    /// new connection (they start again at zero): that alone is not media.
    fn more_than(&self, before: &Received) -> bool {
        self.audio_packets > before.audio_packets
            || self.video_frames > before.video_frames
            || self.statuses > before.statuses
    }
}

/// Watches every peer; see the module docs.
#[derive(Debug, Default)]
pub struct FlowWatch {
    peers: BTreeMap<String, Track>,
}

impl FlowWatch {
    /// Feeds the peers as they are at `now_ms`; returns what changed.
    pub fn observe(&mut self, now_ms: u64, peers: &[PeerFlow]) -> Vec<FlowChange> {
        // A peer briefly missing (its connection is being rebuilt) keeps what is known of it,
        // above all that it stalled: a new connection must prove itself by media.
        for (id, t) in &mut self.peers {
            if !peers.iter().any(|p| &p.id == id) {
                t.missing_since.get_or_insert(now_ms);
            }
        }
        self.peers.retain(|_, t| {
            t.missing_since
                .is_none_or(|at| now_ms.saturating_sub(at) < FORGET_MS)
        });
        let mut changes = Vec::new();
        for p in peers {
            let t = self.peers.entry(p.id.clone()).or_insert_with(|| Track {
                since: now_ms,
                ..Track::default()
            });
            t.missing_since = None;
            let came = p.received.more_than(&t.received);
            if came {
                t.since = now_ms;
            }
            // The new values are the baseline either way (a new connection's start again).
            t.received = p.received;
            if p.received.statuses > 0 {
                t.judged = true;
            }
            if p.connected && !t.connected {
                // A transport that just (re)connected gets its full time.
                t.since = now_ms;
            }
            t.connected = p.connected;
            if t.stalled && came {
                t.stalled = false;
                changes.push(FlowChange::Flowing(p.id.clone()));
            } else if !t.stalled
                && t.judged
                && t.connected
                && now_ms.saturating_sub(t.since) >= STALL_MS
            {
                t.stalled = true;
                changes.push(FlowChange::Stalled(p.id.clone()));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(connected: bool, audio: u64, statuses: u64) -> Vec<PeerFlow> {
        vec![PeerFlow {
            id: "p".into(),
            connected,
            received: Received {
                audio_packets: audio,
                video_frames: 0,
                statuses,
            },
        }]
    }

    /// Runs one observation a second from `from` to `to` (s) with `at(t)` as the peer.
    fn run(
        w: &mut FlowWatch,
        from: u64,
        to: u64,
        at: impl Fn(u64) -> Vec<PeerFlow>,
    ) -> Vec<(u64, FlowChange)> {
        (from..to)
            .flat_map(|t| w.observe(t * 1000, &at(t)).into_iter().map(move |c| (t, c)))
            .collect()
    }

    #[test]
    fn a_connected_peer_that_stops_sending_everything_is_stalled_after_six_seconds() {
        let mut w = FlowWatch::default();
        // Audio and statuses until 10 s, then nothing while the transport stays up.
        let changes = run(&mut w, 0, 30, |t| {
            let t = t.min(10);
            peer(true, t * 50, t)
        });
        assert_eq!(changes, vec![(16, FlowChange::Stalled("p".into()))]);
        // It comes back.
        let back = run(&mut w, 30, 32, |t| peer(true, 500 + t, 10 + t));
        assert_eq!(back, vec![(30, FlowChange::Flowing("p".into()))]);
    }

    #[test]
    fn muted_with_the_camera_off_is_not_a_stall_while_statuses_come() {
        let mut w = FlowWatch::default();
        let changes = run(&mut w, 0, 60, |t| peer(true, 0, t));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_peer_without_statuses_is_never_judged() {
        let mut w = FlowWatch::default();
        // An older client: audio, then silence (DTX sends nothing), no status channel.
        let changes = run(&mut w, 0, 60, |t| peer(true, t.min(5) * 50, 0));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_disconnected_transport_is_left_to_ice_and_a_reconnected_one_gets_its_full_time() {
        let mut w = FlowWatch::default();
        let mut changes = run(&mut w, 0, 5, |t| peer(true, t * 50, t));
        // An outage: disconnected from 5 s to 20 s, nothing comes.
        changes.extend(run(&mut w, 5, 20, |_| peer(false, 250, 5)));
        assert!(changes.is_empty(), "{changes:?}");
        // Connected again (an ICE restart that "worked") but still nothing: a stall 6 s later.
        let after = run(&mut w, 20, 40, |_| peer(true, 250, 5));
        assert_eq!(after, vec![(26, FlowChange::Stalled("p".into()))]);
        // The connection is rebuilt: the peer is missing for a moment, then its counters start
        // again at zero. Neither is media: still stalled, nothing said.
        assert!(w.observe(40_000, &[]).is_empty());
        let rebuilt = run(&mut w, 41, 50, |_| peer(true, 0, 0));
        assert!(rebuilt.is_empty(), "{rebuilt:?}");
        // Media on the new connection: flowing.
        let fresh = run(&mut w, 50, 52, |t| peer(true, t - 49, 1));
        assert_eq!(fresh, vec![(50, FlowChange::Flowing("p".into()))]);
    }

    #[test]
    fn a_peer_that_leaves_is_forgotten_after_a_minute() {
        let mut w = FlowWatch::default();
        run(&mut w, 0, 3, |t| peer(true, t, t));
        assert!(w.observe(4_000, &[]).is_empty());
        assert_eq!(w.peers.len(), 1);
        assert!(w.observe(64_000, &[]).is_empty());
        assert!(w.peers.is_empty());
    }
}
