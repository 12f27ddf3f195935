//! H.264 over RTP (RFC 6184, packetization-mode 1): depacketization and frame assembly.
//!
//! Packets are kept by sequence number until a whole frame (same timestamp, up to the marker
//! bit, no gaps) is there. A gap is given time for the NACK round trip (the NACK generator
//! interceptor asks for the missing packets); if it is still open after [`NACK_WAIT`] the frame
//! is dropped, the decoding chain is broken, and the assembler asks for a keyframe (PLI) — again
//! every [`PLI_REPEAT`] until one arrives. Frames in between are not passed to the decoder.
//!
//! Pure logic with an explicit clock.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a gap may stay open waiting for a retransmission.
pub const NACK_WAIT: Duration = Duration::from_millis(300);
/// How often to repeat a keyframe request while waiting for one.
pub const PLI_REPEAT: Duration = Duration::from_millis(500);
/// Packets kept at most (a few keyframes' worth).
const MAX_PACKETS: usize = 2000;

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// What the assembler has for the decoder (or the sender of feedback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// A complete access unit in Annex-B format.
    Frame {
        /// NAL units with start codes.
        annexb: Vec<u8>,
        /// RTP timestamp.
        timestamp: u32,
        /// Contains an IDR slice.
        keyframe: bool,
    },
    /// Ask the sender for a keyframe (send a PLI).
    RequestKeyframe,
}

#[derive(Debug)]
struct Piece {
    ts: u32,
    marker: bool,
    payload: Bytes,
}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AssemblerStats {
    /// Complete frames handed on.
    pub frames: u64,
    /// Keyframes handed on.
    pub keyframes: u64,
    /// Frames dropped (incomplete, or undecodable while waiting for a keyframe).
    pub dropped: u64,
    /// Keyframe requests made.
    pub keyframe_requests: u64,
}

/// Reassembles frames of one video stream.
#[derive(Debug)]
pub struct Assembler {
    packets: BTreeMap<u64, Piece>,
    last_seq: Option<u64>,
    /// First sequence number of the next frame.
    next_seq: Option<u64>,
    gap_since: Option<Instant>,
    waiting_keyframe: bool,
    /// The chain broke (loss, decoder error): ask for a keyframe now, not only after a while.
    broken: bool,
    first_packet: Option<Instant>,
    last_request: Option<Instant>,
    stats: AssemblerStats,
}

/// Without any keyframe this long after the first packet, ask for one.
const FIRST_KEYFRAME_WAIT: Duration = Duration::from_secs(1);

impl Default for Assembler {
    fn default() -> Self {
        Self::new()
    }
}

fn extend_seq(last: Option<u64>, seq: u16) -> u64 {
    let Some(last) = last else {
        return u64::from(seq) + (1 << 16);
    };
    let base = last & !0xffff;
    [
        base.wrapping_sub(1 << 16) + u64::from(seq),
        base + u64::from(seq),
        base + (1 << 16) + u64::from(seq),
    ]
    .into_iter()
    .min_by_key(|c| c.abs_diff(last))
    .unwrap_or(base + u64::from(seq))
}

/// NAL unit types in a payload (for STAP-A, every aggregated unit).
fn nal_types(payload: &[u8]) -> Vec<u8> {
    let Some(&first) = payload.first() else {
        return Vec::new();
    };
    match first & 0x1f {
        24 => {
            let mut types = Vec::new();
            let mut i = 1;
            while i + 2 < payload.len() {
                let len = usize::from(u16::from_be_bytes([payload[i], payload[i + 1]]));
                if let Some(h) = payload.get(i + 2) {
                    types.push(h & 0x1f);
                }
                i += 2 + len;
            }
            types
        }
        28 => payload.get(1).map(|h| vec![h & 0x1f]).unwrap_or_default(),
        t => vec![t],
    }
}

/// Whether the payload begins a NAL unit (and so may begin a frame).
fn starts_nal(payload: &[u8]) -> bool {
    match payload.first().map(|b| b & 0x1f) {
        Some(28) => payload.get(1).is_some_and(|h| h & 0x80 != 0),
        Some(t) => (1..=24).contains(&t),
        None => false,
    }
}

/// Appends the payload's NAL units (or fragment) to `out` in Annex-B format.
fn depacketize(payload: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1f {
        1..=23 => {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(payload);
        }
        24 => {
            let mut i = 1;
            while i + 2 <= payload.len() {
                let len = usize::from(u16::from_be_bytes([payload[i], payload[i + 1]]));
                let Some(nal) = payload.get(i + 2..i + 2 + len) else {
                    return false;
                };
                out.extend_from_slice(&START_CODE);
                out.extend_from_slice(nal);
                i += 2 + len;
            }
        }
        28 => {
            let Some(&fu) = payload.get(1) else {
                return false;
            };
            if fu & 0x80 != 0 {
                out.extend_from_slice(&START_CODE);
                out.push((first & 0xe0) | (fu & 0x1f));
            }
            out.extend_from_slice(payload.get(2..).unwrap_or_default());
        }
        _ => return false,
    }
    true
}

impl Assembler {
    /// An assembler waiting for its first keyframe.
    pub fn new() -> Self {
        Self {
            packets: BTreeMap::new(),
            last_seq: None,
            next_seq: None,
            gap_since: None,
            waiting_keyframe: true,
            broken: false,
            first_packet: None,
            last_request: None,
            stats: AssemblerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats.clone()
    }

    /// Adds a received RTP packet.
    pub fn insert(&mut self, seq: u16, ts: u32, marker: bool, payload: Bytes) {
        if payload.is_empty() {
            return;
        }
        let seq = extend_seq(self.last_seq, seq);
        self.last_seq = Some(self.last_seq.map_or(seq, |l| l.max(seq)));
        if self.next_seq.is_some_and(|n| seq < n) {
            // Retransmission of something already handed on or given up.
            return;
        }
        if self.next_seq.is_none() {
            self.next_seq = Some(seq);
        }

        self.packets.insert(
            seq,
            Piece {
                ts,
                marker,
                payload,
            },
        );
        if self.packets.len() > MAX_PACKETS
            && let Some((&oldest, _)) = self.packets.iter().next()
        {
            self.packets.remove(&oldest);
        }
    }

    /// The decoder could not decode a frame: wait for a keyframe.
    pub fn decoder_failed(&mut self) {
        self.waiting_keyframe = true;
        self.broken = true;
        self.last_request = None;
    }

    /// Complete frames and keyframe requests, in order.
    pub fn poll(&mut self, now: Instant) -> Vec<Assembled> {
        let mut out = Vec::new();
        while let Some(start) = self.next_seq {
            match self.complete_frame(start) {
                Some(end) => {
                    self.gap_since = None;
                    self.emit(start, end, &mut out);
                    self.next_seq = Some(end + 1);
                }
                None => {
                    let later = self.packets.keys().next_back().is_some_and(|&k| k > start);
                    if !later {
                        break;
                    }
                    if let Some(key) = self.complete_keyframe_after(start) {
                        // A whole keyframe is already here (after an outage, or a requested
                        // one): nothing before it is needed, so do not wait for retransmissions.
                        self.skip_to(key);
                        continue;
                    }
                    let since = *self.gap_since.get_or_insert(now);
                    if now.saturating_duration_since(since) < NACK_WAIT {
                        break;
                    }
                    self.give_up(start);
                }
            }
        }
        if self.first_packet.is_none() && self.next_seq.is_some() {
            self.first_packet = Some(now);
        }
        let overdue = self
            .first_packet
            .is_some_and(|t| now.saturating_duration_since(t) >= FIRST_KEYFRAME_WAIT);
        if self.waiting_keyframe
            && (self.broken || overdue)
            && self
                .last_request
                .is_none_or(|t| now.saturating_duration_since(t) >= PLI_REPEAT)
        {
            self.last_request = Some(now);
            self.stats.keyframe_requests += 1;
            out.push(Assembled::RequestKeyframe);
        }
        out
    }

    /// The last sequence number of the frame starting at `start`, if it is all here.
    fn complete_frame(&self, start: u64) -> Option<u64> {
        let first = self.packets.get(&start)?;
        if !starts_nal(&first.payload) {
            return None;
        }
        let mut seq = start;
        loop {
            let p = self.packets.get(&seq)?;
            if p.ts != first.ts {
                // A new timestamp without a marker before it: the frame ended there.
                return seq.checked_sub(1);
            }
            if p.marker {
                return Some(seq);
            }
            seq += 1;
        }
    }

    fn emit(&mut self, start: u64, end: u64, out: &mut Vec<Assembled>) {
        let mut annexb = Vec::new();
        let mut keyframe = false;
        let mut ok = true;
        let mut timestamp = 0;
        for seq in start..=end {
            if let Some(p) = self.packets.remove(&seq) {
                timestamp = p.ts;
                keyframe |= nal_types(&p.payload).contains(&5);
                ok &= depacketize(&p.payload, &mut annexb);
            }
        }
        if !ok {
            self.stats.dropped += 1;
            self.waiting_keyframe = true;
            self.broken = true;
            return;
        }
        if self.waiting_keyframe && !keyframe {
            self.stats.dropped += 1;
            return;
        }
        if keyframe {
            self.waiting_keyframe = false;
            self.broken = false;
            self.stats.keyframes += 1;
        }
        self.stats.frames += 1;
        out.push(Assembled::Frame {
            annexb,
            timestamp,
            keyframe,
        });
    }

    /// The first sequence number after `start` that begins a complete keyframe, if any.
    fn complete_keyframe_after(&self, start: u64) -> Option<u64> {
        let mut previous_ts = None;
        for (&seq, p) in self.packets.range(start + 1..) {
            let begins_frame = starts_nal(&p.payload)
                && (previous_ts != Some(p.ts) || !self.packets.contains_key(&(seq - 1)));
            previous_ts = Some(p.ts);
            if !begins_frame {
                continue;
            }
            if let Some(end) = self.complete_frame(seq)
                && (seq..=end).any(|s| {
                    self.packets
                        .get(&s)
                        .is_some_and(|p| nal_types(&p.payload).contains(&5))
                })
            {
                return Some(seq);
            }
        }
        None
    }

    /// Drops everything before `seq` (counted as one dropped frame) and continues there.
    fn skip_to(&mut self, seq: u64) {
        self.gap_since = None;
        self.stats.dropped += 1;
        let stale: Vec<u64> = self.packets.range(..seq).map(|(&k, _)| k).collect();
        for k in stale {
            self.packets.remove(&k);
        }
        self.next_seq = Some(seq);
    }

    /// Drops the broken frame at `start` and moves to the next frame that begins cleanly.
    fn give_up(&mut self, start: u64) {
        self.gap_since = None;
        self.stats.dropped += 1;
        self.waiting_keyframe = true;
        self.broken = true;
        let broken_ts = self
            .packets
            .range(start..)
            .next()
            .map(|(_, p)| p.ts)
            .unwrap_or_default();
        let next = self
            .packets
            .range(start + 1..)
            .find(|(_, p)| p.ts != broken_ts && starts_nal(&p.payload))
            .map(|(&k, _)| k);
        let until = next.unwrap_or_else(|| self.last_seq.unwrap_or(start) + 1);
        let stale: Vec<u64> = self.packets.range(..until).map(|(&k, _)| k).collect();
        for k in stale {
            self.packets.remove(&k);
        }
        self.next_seq = Some(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FU-A fragments of one NAL unit of `nal_type` and `len` bytes, plus a STAP-A with SPS/PPS
    /// in front for keyframes.
    fn frame_packets(keyframe: bool, len: usize) -> Vec<(bool, Bytes)> {
        let mut out = Vec::new();
        if keyframe {
            let sps = [0x67u8, 0x42, 0xe0, 0x1f];
            let pps = [0x68u8, 0xce, 0x3c, 0x80];
            let mut stap = vec![0x78u8];
            for nal in [&sps[..], &pps[..]] {
                stap.extend_from_slice(&(nal.len() as u16).to_be_bytes());
                stap.extend_from_slice(nal);
            }
            out.push((false, Bytes::from(stap)));
        }
        let header = if keyframe { 0x65u8 } else { 0x41 };
        let body: Vec<u8> = (0..len).map(|i| (i % 200) as u8 + 1).collect();
        let chunks: Vec<&[u8]> = body.chunks(1000).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut fu = vec![(header & 0xe0) | 28, header & 0x1f];
            if i == 0 {
                fu[1] |= 0x80;
            }
            if i == chunks.len() - 1 {
                fu[1] |= 0x40;
            }
            fu.extend_from_slice(chunk);
            out.push((i == chunks.len() - 1, Bytes::from(fu)));
        }
        out
    }

    struct Stream {
        seq: u16,
        ts: u32,
    }

    impl Stream {
        fn frame(&mut self, keyframe: bool) -> Vec<(u16, u32, bool, Bytes)> {
            self.ts = self.ts.wrapping_add(6000);
            frame_packets(keyframe, 2500)
                .into_iter()
                .map(|(m, p)| {
                    self.seq = self.seq.wrapping_add(1);
                    (self.seq, self.ts, m, p)
                })
                .collect()
        }
    }

    fn frames(events: &[Assembled]) -> Vec<(u32, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                Assembled::Frame {
                    timestamp,
                    keyframe,
                    ..
                } => Some((*timestamp, *keyframe)),
                Assembled::RequestKeyframe => None,
            })
            .collect()
    }

    #[test]
    fn reassembles_in_order_and_out_of_order_with_wrapping_sequence_numbers() {
        let t0 = Instant::now();
        let mut a = Assembler::new();
        let mut s = Stream {
            seq: 65530,
            ts: u32::MAX - 10_000,
        };
        let mut all = s.frame(true);
        all.extend(s.frame(false));
        all.extend(s.frame(false));
        all.swap(1, 3);
        for (seq, ts, m, p) in all {
            a.insert(seq, ts, m, p);
        }
        let ev = a.poll(t0);
        assert_eq!(frames(&ev).len(), 3, "{ev:?}");
        assert!(frames(&ev)[0].1);
        if let Some(Assembled::Frame { annexb, .. }) = ev.first() {
            assert_eq!(&annexb[..5], &[0, 0, 0, 1, 0x67]);
            // SPS, PPS and the IDR slice, each with a start code.
            assert_eq!(annexb.windows(4).filter(|w| *w == START_CODE).count(), 3);
        }
        assert_eq!(a.stats().keyframe_requests, 0);
    }

    #[test]
    fn a_complete_keyframe_after_a_gap_is_decoded_at_once() {
        let t0 = Instant::now();
        let mut a = Assembler::new();
        let mut s = Stream { seq: 0, ts: 0 };
        for (seq, ts, m, p) in s.frame(true) {
            a.insert(seq, ts, m, p);
        }
        assert_eq!(frames(&a.poll(t0)).len(), 1);
        // An outage: two delta frames lost for good, then the sender's new keyframe.
        s.frame(false);
        s.frame(false);
        for (seq, ts, m, p) in s.frame(true) {
            a.insert(seq, ts, m, p);
        }
        let ev = a.poll(t0 + Duration::from_millis(1));
        assert_eq!(frames(&ev).len(), 1, "no wait for retransmissions: {ev:?}");
        assert!(frames(&ev)[0].1);
    }

    #[test]
    fn a_gap_waits_for_the_retransmission() {
        let t0 = Instant::now();
        let mut a = Assembler::new();
        let mut s = Stream { seq: 0, ts: 0 };
        let key = s.frame(true);
        let delta = s.frame(false);
        for (seq, ts, m, p) in key.iter().chain(&delta).filter(|x| x.0 != 3).cloned() {
            a.insert(seq, ts, m, p);
        }
        assert!(frames(&a.poll(t0)).is_empty());
        let (seq, ts, m, p) = key[2].clone();
        assert_eq!(seq, 3);
        a.insert(seq, ts, m, p);
        let ev = a.poll(t0 + Duration::from_millis(100));
        assert_eq!(frames(&ev).len(), 2);
    }

    #[test]
    fn a_lost_keyframe_is_requested_and_the_picture_recovers() {
        let t0 = Instant::now();
        let mut a = Assembler::new();
        let mut s = Stream { seq: 0, ts: 0 };
        // The keyframe loses a fragment for good; deltas follow.
        for (seq, ts, m, p) in s.frame(true).into_iter().filter(|x| x.0 != 2) {
            a.insert(seq, ts, m, p);
        }
        for _ in 0..3 {
            for (seq, ts, m, p) in s.frame(false) {
                a.insert(seq, ts, m, p);
            }
        }
        let ev = a.poll(t0);
        assert!(frames(&ev).is_empty());
        let ev = a.poll(t0 + NACK_WAIT);
        assert!(
            frames(&ev).is_empty(),
            "deltas without their keyframe: {ev:?}"
        );
        assert!(ev.contains(&Assembled::RequestKeyframe));
        // Repeated while still waiting, but not on every poll.
        assert!(!a.poll(t0 + NACK_WAIT).contains(&Assembled::RequestKeyframe));
        assert!(
            a.poll(t0 + NACK_WAIT + PLI_REPEAT)
                .contains(&Assembled::RequestKeyframe)
        );
        // The sender answers with a keyframe: decoding resumes.
        for (seq, ts, m, p) in s.frame(true).into_iter().chain(s.frame(false)) {
            a.insert(seq, ts, m, p);
        }
        let ev = a.poll(t0 + Duration::from_secs(2));
        assert_eq!(frames(&ev).len(), 2, "{ev:?}");
        assert!(frames(&ev)[0].1);
        assert_eq!(a.stats().dropped, 4);
    }
}
