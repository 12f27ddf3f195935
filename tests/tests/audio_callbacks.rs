//! The audio callbacks are real-time: `push_audio` and `pull_audio` neither allocate nor wait,
//! while a real call runs (issue 12). A test thread plays the citizen's audio device: every
//! 10 ms it pushes 10 ms of a tone and pulls 10 ms of the mix, inside `assert_no_alloc`, whose
//! allocator counts any allocation on that thread. The p99 time of `pull_audio` is printed
//! for docs/benchmarks.md (it is not asserted: timing belongs in benchmarks).

use assert_no_alloc::{AllocDisabler, assert_no_alloc, reset_violation_count, violation_count};
use samtale_core::media::FRAME_SAMPLES;
use samtale_core::{Call, CallState};
use samtale_e2e::TestServer;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// 3 s of callbacks.
const CALLBACKS: usize = 300;

struct Played {
    violations: u32,
    pull_ns: Vec<u64>,
    push_ns: Vec<u64>,
    loud_frames: usize,
}

fn play(call: Call) -> Played {
    let mut pull_ns = Vec::with_capacity(CALLBACKS);
    let mut push_ns = Vec::with_capacity(CALLBACKS);
    let mut loud_frames = 0;
    let mut tone = [0i16; FRAME_SAMPLES];
    let mut out = [0i16; FRAME_SAMPLES];
    let mut phase = 0f32;
    let started = Instant::now();
    reset_violation_count();
    for i in 0..CALLBACKS {
        for s in tone.iter_mut() {
            *s = (phase.sin() * 8000.0) as i16;
            phase += 2.0 * std::f32::consts::PI * 440.0 / 48_000.0;
        }
        let (push, pull) = assert_no_alloc(|| {
            let t0 = Instant::now();
            call.push_audio(&tone);
            let t1 = Instant::now();
            call.pull_audio(&mut out);
            (t1 - t0, t1.elapsed())
        });
        push_ns.push(push.as_nanos() as u64);
        pull_ns.push(pull.as_nanos() as u64);
        if out.iter().any(|s| s.unsigned_abs() > 1000) {
            loud_frames += 1;
        }
        // The audio device's clock: one callback every 10 ms.
        let next = started + Duration::from_millis(10 * (i as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Played {
        violations: violation_count(),
        pull_ns,
        push_ns,
        loud_frames,
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_callbacks_neither_allocate_nor_wait_during_a_call() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    // The citizen has no emulator devices: this test is its audio device.
    let citizen = Call::join(server.config(), &meeting.code);
    assert_eq!(
        citizen
            .wait_for(Duration::from_secs(20), |s| *s == CallState::InCall)
            .await,
        CallState::InCall
    );
    let c = citizen.clone();
    let played = tokio::task::spawn_blocking(move || play(c))
        .await
        .expect("audio thread");
    let mut pull = played.pull_ns.clone();
    pull.sort_unstable();
    let mut push = played.push_ns.clone();
    push.sort_unstable();
    let stats = citizen.media_stats();
    eprintln!(
        "{CALLBACKS} callbacks: pull_audio p50 {} ns, p99 {} ns, max {} ns; push_audio p50 {} \
         ns, p99 {} ns, max {} ns; {} frames with the caseworker's voice; audio {:?}",
        percentile(&pull, 0.5),
        percentile(&pull, 0.99),
        pull[pull.len() - 1],
        percentile(&push, 0.5),
        percentile(&push, 0.99),
        push[push.len() - 1],
        played.loud_frames,
        stats.audio,
    );
    assert_eq!(
        played.violations, 0,
        "push_audio/pull_audio allocated {} times in {CALLBACKS} callbacks",
        played.violations
    );
    // The callbacks really carried the call: the caseworker's speech came out...
    assert!(
        played.loud_frames > CALLBACKS / 4,
        "only {} of {CALLBACKS} pulled frames had sound; {:?}",
        played.loud_frames,
        stats.audio
    );
    assert_eq!(stats.audio.pulled_frames, CALLBACKS as u64);
    // ...and the tone went in: the caseworker receives the citizen's audio.
    let deadline = Instant::now() + Duration::from_secs(10);
    while staff.media_stats().audio.decoded_frames < 100 {
        assert!(
            Instant::now() < deadline,
            "the caseworker never heard the citizen: {:?}",
            staff.media_stats().audio
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    citizen.leave();
    staff.leave();
    citizen.closed().await;
    staff.closed().await;
}
