//! Per-call statistics: milestones relative to `join()` and packet counters.

use crate::media::MediaKind;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A snapshot of a call's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallStats {
    /// join() -> ticket received (ms). `None` for ticket joins.
    pub resolved_ms: Option<u64>,
    /// join() -> first `welcome` (ms).
    pub signalling_ms: Option<u64>,
    /// join() -> media connected with the first peer (ms).
    pub connected_ms: Option<u64>,
    /// join() -> first remote audio RTP packet (ms).
    pub first_audio_ms: Option<u64>,
    /// join() -> first remote video RTP packet (ms).
    pub first_video_ms: Option<u64>,
    /// RTP packets received, audio.
    pub audio_packets_received: u64,
    /// RTP packets received, video.
    pub video_packets_received: u64,
    /// RTP payload bytes received.
    pub bytes_received: u64,
    /// Signalling sockets opened after the first one.
    pub signalling_reconnects: u64,
    /// ICE restarts this side offered (media recovery, network changes).
    pub ice_restarts: u64,
    /// Peer connections rebuilt to recover media (full renegotiations, either side's).
    pub renegotiations: u64,
    /// Offers that crossed one of ours (glare), settled by participant id.
    pub offer_collisions: u64,
    /// Packets received per remote participant (audio, video).
    pub per_peer: BTreeMap<String, (u64, u64)>,
}

/// Lock-free-ish recorder shared by the engine's tasks.
#[derive(Debug)]
pub struct StatsRecorder {
    origin: Instant,
    resolved: Mutex<Option<u64>>,
    signalling: Mutex<Option<u64>>,
    connected: Mutex<Option<u64>>,
    first_audio: Mutex<Option<u64>>,
    first_video: Mutex<Option<u64>>,
    audio_received: AtomicU64,
    video_received: AtomicU64,
    bytes_received: AtomicU64,
    reconnects: AtomicU64,
    ice_restarts: AtomicU64,
    renegotiations: AtomicU64,
    collisions: AtomicU64,
    per_peer: Mutex<BTreeMap<String, (u64, u64)>>,
}

fn mark(slot: &Mutex<Option<u64>>, origin: Instant) {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        *slot = Some(ms(origin.elapsed()));
    }
}

fn read(slot: &Mutex<Option<u64>>) -> Option<u64> {
    *slot.lock().unwrap_or_else(|p| p.into_inner())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl StatsRecorder {
    /// A recorder whose milestones count from `origin` (the moment `join()` was called).
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            resolved: Mutex::new(None),
            signalling: Mutex::new(None),
            connected: Mutex::new(None),
            first_audio: Mutex::new(None),
            first_video: Mutex::new(None),
            audio_received: AtomicU64::new(0),
            video_received: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            ice_restarts: AtomicU64::new(0),
            renegotiations: AtomicU64::new(0),
            collisions: AtomicU64::new(0),
            per_peer: Mutex::new(BTreeMap::new()),
        }
    }

    /// The ticket arrived.
    pub fn resolved(&self) {
        mark(&self.resolved, self.origin);
    }

    /// A `welcome` arrived; the second and later count as reconnects.
    pub fn welcomed(&self) {
        if read(&self.signalling).is_some() {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        mark(&self.signalling, self.origin);
    }

    /// We offered an ICE restart.
    pub fn ice_restarted(&self) {
        self.ice_restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// A peer connection was rebuilt to recover media.
    pub fn renegotiated(&self) {
        self.renegotiations.fetch_add(1, Ordering::Relaxed);
    }

    /// An offer crossed ours.
    pub fn offer_collision(&self) {
        self.collisions.fetch_add(1, Ordering::Relaxed);
    }

    /// Media connected with some peer.
    pub fn connected(&self) {
        mark(&self.connected, self.origin);
    }

    /// An RTP packet arrived from `peer`.
    pub fn packet_received(&self, peer: &str, kind: MediaKind, payload_len: usize) {
        self.bytes_received
            .fetch_add(payload_len as u64, Ordering::Relaxed);
        match kind {
            MediaKind::Audio => {
                self.audio_received.fetch_add(1, Ordering::Relaxed);
                mark(&self.first_audio, self.origin);
            }
            MediaKind::Video => {
                self.video_received.fetch_add(1, Ordering::Relaxed);
                mark(&self.first_video, self.origin);
            }
        }
        let mut per_peer = self.per_peer.lock().unwrap_or_else(|p| p.into_inner());
        let entry = per_peer.entry(peer.to_owned()).or_default();
        match kind {
            MediaKind::Audio => entry.0 += 1,
            MediaKind::Video => entry.1 += 1,
        }
    }

    /// A snapshot.
    pub fn snapshot(&self) -> CallStats {
        CallStats {
            resolved_ms: read(&self.resolved),
            signalling_ms: read(&self.signalling),
            connected_ms: read(&self.connected),
            first_audio_ms: read(&self.first_audio),
            first_video_ms: read(&self.first_video),
            audio_packets_received: self.audio_received.load(Ordering::Relaxed),
            video_packets_received: self.video_received.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            signalling_reconnects: self.reconnects.load(Ordering::Relaxed),
            ice_restarts: self.ice_restarts.load(Ordering::Relaxed),
            renegotiations: self.renegotiations.load(Ordering::Relaxed),
            offer_collisions: self.collisions.load(Ordering::Relaxed),
            per_peer: self
                .per_peer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}
