//! The audio callbacks' side of a call: real-time safe.
//!
//! A platform's audio callbacks (Android's AAudio/Oboe, iOS's audio unit) run on a real-time
//! thread that must never wait for a lock held by a network task, and never allocate: either
//! can take milliseconds and the citizen hears a click or a gap. So `push_audio` and
//! `pull_audio` only touch two single-producer single-consumer rings (`rtrb`) and atomics:
//!
//! - capture: `push_audio` writes samples into a ring; the `samtale-audio` thread reads them,
//!   encodes 20 ms Opus packets and hands them to the peers' writer tasks;
//! - playout: the same thread mixes the peers' jitter buffers 10 ms at a time and keeps the
//!   playout ring [`PLAYOUT_LEAD`] frames ahead; `pull_audio` copies one frame out.
//!
//! Each callback side sits behind a `try_lock` that only a second, concurrent caller of the
//! same function could ever contend; it never waits (a contended pull plays silence, a
//! contended push drops its 10 ms). The callbacks do not wake the worker either (a futex wake
//! is a system call, and on a busy core the woken thread may run before the callback
//! returns: p99 `push_audio` was 237 µs with it, see docs/benchmarks.md); the worker runs on
//! its own [`WORKER_TICK`] clock instead.

use super::media_io::MediaIo;
use crate::media::FRAME_SAMPLES;
use crate::media::jitter::PullKind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, TryLockError, Weak};
use std::time::Duration;

/// Frames the worker mixes ahead of the playout callback (20 ms): one may be late by 10 ms
/// without an underrun.
pub(crate) const PLAYOUT_LEAD: usize = 2;
/// Capture the worker may fall behind by before `push_audio` drops (200 ms).
const CAPTURE_CAPACITY: usize = 20 * FRAME_SAMPLES;
/// The worker's clock: it encodes what was captured and tops up the playout ring this often,
/// so the ring is never less than `PLAYOUT_LEAD` frames minus one tick ahead.
const WORKER_TICK: Duration = Duration::from_millis(5);

/// Counters the callbacks and the worker update without locks.
#[derive(Debug, Default)]
pub(crate) struct AudioCounters {
    pub(crate) pulled: AtomicU64,
    pub(crate) underruns: AtomicU64,
    pub(crate) capture_drops: AtomicU64,
    pub(crate) decoded: AtomicU64,
    pub(crate) fec: AtomicU64,
    pub(crate) plc: AtomicU64,
    /// 10 ms chunks captured with sound in them (above digital silence), while not muted: the
    /// device watch (`device_watch`) notices a microphone that gives nothing.
    pub(crate) sound: AtomicU64,
    /// 10 ms chunks captured loud enough to be speech (RMS above [`SPEECH_RMS`]), while not
    /// muted: what the status tells the peers as "speaking" (`crate::hearing`).
    pub(crate) speech: AtomicU64,
}

/// RMS above which a 10 ms chunk counts as speech (about -41 dBFS: a voice at a phone, not a
/// quiet room's noise floor).
const SPEECH_RMS: f64 = 300.0;

/// Samples at most this loud count as digital silence (what a muted or blocked microphone
/// delivers; a real one's noise floor is above it).
const DIGITAL_SILENCE: u16 = 2;

/// The callbacks' ends of the rings, and how to wake the worker.
pub(crate) struct AudioPath {
    capture: Mutex<rtrb::Producer<i16>>,
    playout: Mutex<rtrb::Consumer<i16>>,
    worker: OnceLock<std::thread::Thread>,
    /// Set by `close()`; the worker stops at its next tick.
    closed: AtomicBool,
    mic_muted: AtomicBool,
    pub(crate) counters: AudioCounters,
}

/// The worker's ends of the rings.
pub(crate) struct WorkerEnds {
    capture: rtrb::Consumer<i16>,
    playout: rtrb::Producer<i16>,
}

impl std::fmt::Debug for AudioPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioPath")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// A ring end, or `None` if the other caller of the same function has it right now.
fn try_take<T>(m: &Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl AudioPath {
    /// Both rings; the worker's ends go to [`run_worker`].
    pub(crate) fn new() -> (Self, WorkerEnds) {
        let (capture_tx, capture_rx) = rtrb::RingBuffer::new(CAPTURE_CAPACITY);
        let (playout_tx, playout_rx) = rtrb::RingBuffer::new((PLAYOUT_LEAD + 2) * FRAME_SAMPLES);
        (
            Self {
                capture: Mutex::new(capture_tx),
                playout: Mutex::new(playout_rx),
                worker: OnceLock::new(),
                closed: AtomicBool::new(false),
                mic_muted: AtomicBool::new(false),
                counters: AudioCounters::default(),
            },
            WorkerEnds {
                capture: capture_rx,
                playout: playout_tx,
            },
        )
    }

    /// Remembers the worker thread, to wake it when closing.
    pub(crate) fn set_worker(&self, thread: std::thread::Thread) {
        let _ = self.worker.set(thread);
    }

    /// Stops the worker (not from a callback).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    pub(crate) fn mic_muted(&self) -> bool {
        self.mic_muted.load(Ordering::Relaxed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn set_mic_muted(&self, muted: bool) {
        self.mic_muted.store(muted, Ordering::Relaxed);
    }

    /// Captured samples (any length). Never blocks, never allocates; what does not fit while
    /// the worker is behind is dropped and counted.
    pub(crate) fn push(&self, pcm: &[i16]) {
        let Some(mut ring) = try_take(&self.capture) else {
            self.counters.capture_drops.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let n = pcm.len().min(ring.slots());
        if n < pcm.len() {
            self.counters.capture_drops.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(chunk) = ring.write_chunk_uninit(n) {
            if self.mic_muted.load(Ordering::Relaxed) {
                chunk.fill_from_iter(std::iter::repeat(0));
            } else {
                chunk.fill_from_iter(pcm.iter().copied());
            }
        }
    }

    /// Exactly 10 ms of the mix; silence where the worker has not caught up (counted as an
    /// underrun). Never blocks, never allocates.
    pub(crate) fn pull(&self, out: &mut [i16; FRAME_SAMPLES]) {
        let mut n = 0;
        if let Some(mut ring) = try_take(&self.playout) {
            n = ring.slots().min(FRAME_SAMPLES);
            if let Ok(chunk) = ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                out[..a.len()].copy_from_slice(a);
                out[a.len()..a.len() + b.len()].copy_from_slice(b);
                chunk.commit_all();
            }
        }
        out[n..].fill(0);
        self.counters.pulled.fetch_add(1, Ordering::Relaxed);
        if n < FRAME_SAMPLES {
            self.counters.underruns.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The `samtale-audio` thread: encodes what was captured and keeps the playout ring
/// [`PLAYOUT_LEAD`] frames ahead, until the path is closed or the engine is gone.
pub(crate) fn run_worker(media: Weak<MediaIo>, mut ends: WorkerEnds) {
    let mut encoder = match crate::media::audio::AudioEncoder::new() {
        Ok(e) => Some(e),
        Err(e) => {
            log::error!("audio encoder unavailable: {e}");
            None
        }
    };
    let capacity = ends.playout.buffer().capacity();
    let mut frame = [0i16; FRAME_SAMPLES];
    loop {
        {
            let Some(media) = media.upgrade() else { break };
            if media.audio().closed.load(Ordering::Acquire) {
                break;
            }
            // Capture, in chunks of at most 10 ms (at most one Opus packet completes per chunk).
            loop {
                let n = ends.capture.slots().min(FRAME_SAMPLES);
                if n == 0 {
                    break;
                }
                let Ok(chunk) = ends.capture.read_chunk(n) else {
                    break;
                };
                let (a, b) = chunk.as_slices();
                frame[..a.len()].copy_from_slice(a);
                frame[a.len()..n].copy_from_slice(b);
                chunk.commit_all();
                let path = media.audio();
                if !path.mic_muted.load(Ordering::Relaxed)
                    && frame[..n]
                        .iter()
                        .any(|s| s.unsigned_abs() > DIGITAL_SILENCE)
                {
                    path.counters.sound.fetch_add(1, Ordering::Relaxed);
                    let energy: f64 = frame[..n].iter().map(|s| f64::from(*s).powi(2)).sum();
                    if (energy / n as f64).sqrt() > SPEECH_RMS {
                        path.counters.speech.fetch_add(1, Ordering::Relaxed);
                    }
                }
                media.encode_audio(&mut encoder, &frame[..n]);
            }
            // Playout.
            while capacity - ends.playout.slots() < PLAYOUT_LEAD * FRAME_SAMPLES {
                let kinds = media.mix_audio(&mut frame);
                let c = &media.audio().counters;
                if kinds.contains(&PullKind::Decoded) {
                    c.decoded.fetch_add(1, Ordering::Relaxed);
                } else if kinds.contains(&PullKind::Fec) {
                    c.fec.fetch_add(1, Ordering::Relaxed);
                } else if kinds.contains(&PullKind::Plc) {
                    c.plc.fetch_add(1, Ordering::Relaxed);
                }
                match ends.playout.write_chunk_uninit(FRAME_SAMPLES) {
                    Ok(chunk) => {
                        chunk.fill_from_iter(frame.iter().copied());
                    }
                    Err(_) => break,
                }
            }
        }
        std::thread::park_timeout(WORKER_TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_with_nothing_mixed_is_silence_and_an_underrun() {
        let (path, _ends) = AudioPath::new();
        let mut out = [7i16; FRAME_SAMPLES];
        path.pull(&mut out);
        assert!(out.iter().all(|s| *s == 0));
        assert_eq!(path.counters.underruns.load(Ordering::Relaxed), 1);
        assert_eq!(path.counters.pulled.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn pulled_samples_come_out_in_order_across_the_wrap() {
        let (path, mut ends) = AudioPath::new();
        let mut next = 0i16;
        let mut expect = 0i16;
        for round in 0..20 {
            // The worker writes 1.5 frames, the callback reads one: the ring wraps.
            while ends.playout.slots() >= FRAME_SAMPLES / 2
                && ends.playout.buffer().capacity() - ends.playout.slots() < FRAME_SAMPLES * 3
            {
                for _ in 0..FRAME_SAMPLES / 2 {
                    let _ = ends.playout.push(next);
                    next = next.wrapping_add(1);
                }
            }
            let mut out = [0i16; FRAME_SAMPLES];
            path.pull(&mut out);
            for s in out {
                assert_eq!(s, expect, "round {round}");
                expect = expect.wrapping_add(1);
            }
        }
        assert_eq!(path.counters.underruns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn capture_beyond_the_ring_is_dropped_not_blocked_and_mute_sends_zeros() {
        let (path, mut ends) = AudioPath::new();
        let pcm = [5i16; FRAME_SAMPLES];
        for _ in 0..CAPTURE_CAPACITY / FRAME_SAMPLES + 3 {
            path.push(&pcm);
        }
        assert_eq!(ends.capture.slots(), CAPTURE_CAPACITY);
        assert_eq!(path.counters.capture_drops.load(Ordering::Relaxed), 3);
        while ends.capture.pop().is_ok() {}
        path.set_mic_muted(true);
        path.push(&pcm);
        let got: Vec<i16> = std::iter::from_fn(|| ends.capture.pop().ok()).collect();
        assert_eq!(got, vec![0; FRAME_SAMPLES]);
    }
}
