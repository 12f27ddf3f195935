//! Opus encoding of the microphone and mixing of the remote participants' jitter buffers.

use super::jitter::{JitterBuffer, JitterStats, PullKind};
use super::{FRAME_SAMPLES, SAMPLE_RATE};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Instant;
use thiserror::Error;

/// Opus could not be set up.
#[derive(Debug, Error)]
#[error("opus: {0}")]
pub struct CodecError(pub String);

/// One encoded 20 ms Opus packet.
#[derive(Debug, Clone)]
pub struct EncodedAudio {
    /// The Opus packet.
    pub payload: Bytes,
    /// RTP timestamp offset (48 kHz samples since the first pushed sample).
    pub rtp_timestamp: u32,
}

/// Opus bitrate bounds (bits/s).
pub const AUDIO_MIN_BPS: i32 = 12_000;
/// Opus bitrate when the network allows it.
pub const AUDIO_MAX_BPS: i32 = 32_000;

/// Opus encoder for 48 kHz mono speech: 20 ms frames, in-band FEC on, DTX on.
pub struct AudioEncoder {
    encoder: opus::Encoder,
    pending: Vec<i16>,
    /// Samples consumed so far (the RTP timestamp of the next packet).
    samples: u64,
    bitrate: i32,
    loss_percent: i32,
}

impl std::fmt::Debug for AudioEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioEncoder")
            .field("bitrate", &self.bitrate)
            .field("loss_percent", &self.loss_percent)
            .finish()
    }
}

/// Samples per Opus packet (20 ms).
pub const PACKET_SAMPLES: usize = 960;

impl AudioEncoder {
    /// A speech encoder at 24 kbit/s, FEC tuned for 10 % loss until told otherwise.
    pub fn new() -> Result<Self, CodecError> {
        let err = |e: opus::Error| CodecError(e.to_string());
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(err)?;
        encoder.set_inband_fec(true).map_err(err)?;
        encoder.set_dtx(true).map_err(err)?;
        encoder.set_vbr(true).map_err(err)?;
        let mut me = Self {
            encoder,
            pending: Vec::with_capacity(PACKET_SAMPLES),
            samples: 0,
            bitrate: 0,
            loss_percent: -1,
        };
        me.set_bitrate(24_000);
        me.set_expected_loss(10);
        Ok(me)
    }

    /// Sets the target bitrate (clamped to [`AUDIO_MIN_BPS`]..=[`AUDIO_MAX_BPS`]).
    pub fn set_bitrate(&mut self, bps: i32) {
        let bps = bps.clamp(AUDIO_MIN_BPS, AUDIO_MAX_BPS);
        if bps != self.bitrate && self.encoder.set_bitrate(opus::Bitrate::Bits(bps)).is_ok() {
            self.bitrate = bps;
        }
    }

    /// Current target bitrate.
    pub fn bitrate(&self) -> i32 {
        self.bitrate
    }

    /// Tells the encoder how much loss to protect against (FEC strength), 0..=50 %.
    pub fn set_expected_loss(&mut self, percent: i32) {
        // Never below 5 %: with 0 the encoder stops sending FEC altogether.
        let percent = percent.clamp(5, 50);
        if percent != self.loss_percent && self.encoder.set_packet_loss_perc(percent).is_ok() {
            self.loss_percent = percent;
        }
    }

    /// Adds 10 ms of PCM (any length is accepted; it is re-chunked into 20 ms packets). Returns a
    /// packet when one is complete and worth sending (DTX frames are not sent).
    pub fn push(&mut self, pcm: &[i16]) -> Option<EncodedAudio> {
        let mut result = None;
        for chunk in pcm.chunks(PACKET_SAMPLES) {
            let room = PACKET_SAMPLES - self.pending.len();
            let take = chunk.len().min(room);
            self.pending.extend_from_slice(&chunk[..take]);
            if self.pending.len() == PACKET_SAMPLES {
                result = self.encode().or(result);
            }
            if take < chunk.len() {
                self.pending.extend_from_slice(&chunk[take..]);
            }
        }
        result
    }

    fn encode(&mut self) -> Option<EncodedAudio> {
        let ts = self.samples as u32;
        self.samples += PACKET_SAMPLES as u64;
        let mut buf = [0u8; 1500];
        let n = self.encoder.encode(&self.pending, &mut buf);
        self.pending.clear();
        match n {
            // 1-2 bytes: the encoder is in DTX and says there is nothing to send.
            Ok(n) if n > 2 => Some(EncodedAudio {
                payload: Bytes::copy_from_slice(&buf[..n]),
                rtp_timestamp: ts,
            }),
            Ok(_) => None,
            Err(e) => {
                log::warn!("opus encode failed: {e}");
                None
            }
        }
    }
}

/// The remote participants' audio: one jitter buffer each, mixed into one 10 ms stream.
#[derive(Debug)]
pub struct AudioMixer {
    origin: Instant,
    peers: BTreeMap<String, JitterBuffer>,
    level: f64,
    /// The call's audio totals from the buffers of peers who left (a summary after the other
    /// side left still tells what it heard).
    departed: AudioTotals,
}

/// What the call's audio went through, over every peer so far (also those who left).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioTotals {
    /// Longest concealment gap (ms), see [`JitterStats::max_gap_ms`].
    pub max_gap_ms: u64,
    /// Most packets missing in a row, see [`JitterStats::max_loss_run`].
    pub max_loss_run: u64,
    /// Packets that came after their playout time.
    pub late_packets: u64,
}

impl AudioTotals {
    fn add(mut self, s: &JitterStats) -> Self {
        self.max_gap_ms = self.max_gap_ms.max(s.max_gap_ms);
        self.max_loss_run = self.max_loss_run.max(s.max_loss_run);
        self.late_packets += s.late;
        self
    }
}

impl AudioMixer {
    /// An empty mixer.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            peers: BTreeMap::new(),
            level: 0.0,
            departed: AudioTotals::default(),
        }
    }

    /// A packet from `peer`.
    pub fn insert(&mut self, peer: &str, seq: u16, ts: u32, payload: Bytes, now: Instant) {
        let origin = self.origin;
        self.peers
            .entry(peer.to_owned())
            .or_insert_with(|| JitterBuffer::new(origin))
            .insert(seq, ts, payload, now);
    }

    /// `peer` left: forget their buffer.
    pub fn remove(&mut self, peer: &str) {
        if let Some(jb) = self.peers.remove(peer) {
            self.keep_totals(&jb);
        }
    }

    /// Forgets every peer.
    pub fn remove_all(&mut self) {
        for jb in std::mem::take(&mut self.peers).into_values() {
            self.keep_totals(&jb);
        }
    }

    fn keep_totals(&mut self, jb: &JitterBuffer) {
        self.departed = self.departed.add(&jb.stats());
    }

    /// The call's audio totals so far, over every peer (also those who left).
    pub fn totals(&self) -> AudioTotals {
        self.peers
            .values()
            .fold(self.departed, |t, jb| t.add(&jb.stats()))
    }

    /// Exactly 10 ms of the mix. Returns the kinds of the peers' frames (empty when alone).
    pub fn pull(&mut self, now: Instant, out: &mut [i16; FRAME_SAMPLES]) -> Vec<PullKind> {
        let mut mix = [0i32; FRAME_SAMPLES];
        let mut kinds = Vec::with_capacity(self.peers.len());
        let mut frame = [0i16; FRAME_SAMPLES];
        for jb in self.peers.values_mut() {
            kinds.push(jb.pull(now, &mut frame));
            for (m, s) in mix.iter_mut().zip(frame.iter()) {
                *m += i32::from(*s);
            }
        }
        let mut energy = 0.0f64;
        for (o, m) in out.iter_mut().zip(mix.iter()) {
            *o = (*m).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            energy += f64::from(*o) * f64::from(*o);
        }
        let rms = (energy / FRAME_SAMPLES as f64).sqrt();
        // ~300 ms smoothing for a level meter.
        self.level = self.level * 0.97 + rms * 0.03;
        kinds
    }

    /// Smoothed output level in dBFS (-100 when silent).
    pub fn level_dbfs(&self) -> f64 {
        if self.level < 1.0 {
            -100.0
        } else {
            20.0 * (self.level / 32768.0).log10()
        }
    }

    /// What is received from `peer`: (packets, frames with sound, level in dBFS).
    pub fn receipt(&self, peer: &str) -> Option<(u64, u64, f64)> {
        self.peers.get(peer).map(|jb| {
            let s = jb.stats();
            (s.packets, s.sound, jb.level_dbfs())
        })
    }

    /// Per-peer jitter buffer counters.
    pub fn stats(&self) -> BTreeMap<String, JitterStats> {
        self.peers
            .iter()
            .map(|(k, v)| (k.clone(), v.stats()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsrc::SpeechSource;

    #[test]
    fn encoder_makes_20ms_packets_with_advancing_timestamps() {
        let mut enc = AudioEncoder::new().unwrap_or_else(|e| panic!("{e}"));
        let mut src = SpeechSource::new(1);
        let mut packets = Vec::new();
        for _ in 0..100 {
            let mut pcm = [0i16; FRAME_SAMPLES];
            src.fill(&mut pcm);
            if let Some(p) = enc.push(&pcm) {
                packets.push(p);
            }
        }
        assert!(packets.len() >= 30, "{}", packets.len());
        assert!(packets.iter().all(|p| p.rtp_timestamp % 960 == 0));
        assert!(
            packets
                .windows(2)
                .all(|w| w[1].rtp_timestamp > w[0].rtp_timestamp)
        );
    }

    #[test]
    fn silence_is_not_sent() {
        let mut enc = AudioEncoder::new().unwrap_or_else(|e| panic!("{e}"));
        let sent = (0..200)
            .filter_map(|_| enc.push(&[0i16; FRAME_SAMPLES]))
            .count();
        // DTX: after a short hangover only occasional refresh frames remain.
        assert!(sent < 30, "{sent} packets for 2 s of silence");
    }
}
