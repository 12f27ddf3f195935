//! Real media end to end on loopback: Opus and H.264 encoded by one core, sent over real
//! WebRTC, decoded by the other, measured against what was sent.

use samtale_core::devices::{DeviceOptions, Devices};
use samtale_core::media::testsrc::{MARK_GUARD_MS, MARK_MS};
use samtale_core::{Call, CallState, InboundFilter, MediaStats};
use samtale_e2e::{STAFF_TOKEN, TestServer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

/// Polls `f` every 50 ms until it returns `Some`, at most `limit`; panics with `what`.
async fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tick.tick().await;
    }
}

/// Normalised cross-correlation of `a` against `b` shifted by `lag` samples, over `len`.
/// Normalised correlation of `a[..len]` with `b[lag..lag + len]`, leaving out the samples where
/// `keep(i)` is false (the timing marks: loud, and what the latency was measured with, so they
/// would line up whatever happened to the speech).
fn correlation(a: &[i16], b: &[i16], lag: usize, len: usize, keep: impl Fn(usize) -> bool) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..len {
        if !keep(i) {
            continue;
        }
        let (x, y) = (f64::from(a[i]), f64::from(b[i + lag]));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

/// The best correlation of `sent[start..start + window]` with `played` at lags within ±150 ms
/// of `center` (coarse every 4 samples, then fine), marks left out: (correlation, lag - center).
fn best_match(
    sent: &[i16],
    played: &[i16],
    start: usize,
    window: usize,
    center: i64,
    speech: &impl Fn(usize) -> bool,
) -> (f64, i64) {
    let at = |delta: i64| {
        let lag = center + delta;
        (lag >= 0 && lag as usize + window <= played.len() && start + window <= sent.len()).then(
            || {
                correlation(&sent[start..], played, lag as usize, window, |i| {
                    speech(start + i)
                })
            },
        )
    };
    let mut best = (f64::MIN, 0i64);
    for delta in (-7_200i64..=7_200).step_by(4) {
        if let Some(c) = at(delta).filter(|c| *c > best.0) {
            best = (c, delta);
        }
    }
    for delta in best.1 - 3..=best.1 + 3 {
        if let Some(c) = at(delta).filter(|c| *c > best.0) {
            best = (c, delta);
        }
    }
    best
}

async fn staff_and_citizen(
    server: &TestServer,
    citizen_filter: Option<InboundFilter>,
) -> (Call, Devices, Call, Devices) {
    let meeting = server.create_meeting().await;
    let ticket = server
        .api()
        .staff_ticket(STAFF_TOKEN, &meeting.meeting_id)
        .await
        .expect("ticket");
    let record = DeviceOptions {
        record: true,
        ..DeviceOptions::default()
    };
    let staff = Call::join_with_ticket(server.config(), ticket);
    let staff_devices = Devices::attach(&staff, record.clone());
    let mut config = server.config();
    config.inbound_filter = citizen_filter;
    let citizen = Call::join(config, &meeting.code);
    let citizen_devices = Devices::attach(&citizen, record);
    for call in [&staff, &citizen] {
        assert_eq!(
            call.wait_for(LONG, |s| *s == CallState::InCall).await,
            CallState::InCall
        );
    }
    (staff, staff_devices, citizen, citizen_devices)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_media_matches_what_was_sent() {
    let server = TestServer::start().await;
    let (staff, staff_devices, citizen, citizen_devices) = staff_and_citizen(&server, None).await;

    // Enough for several timing marks (one a second) and ~60 pictures.
    let report = eventually(LONG, "marks and pictures at the citizen", || {
        let r = citizen_devices.report();
        let marks = r.audio_latency_ms.map_or(0, |s| s.count);
        (marks >= 4 && r.frames_with_code >= 60).then_some(r)
    })
    .await;

    // Video: every received picture is compared with the pattern the caseworker's camera drew.
    let psnr = report.psnr_db.expect("psnr");
    assert!(psnr.mean >= 32.0, "mean PSNR {psnr:?}");
    assert!(psnr.min >= 25.0, "worst PSNR {psnr:?}");
    // Latency is a benchmark (docs/benchmarks.md), not a test: here it only has to exist.
    let video_latency = report.video_latency_ms.expect("video latency");

    // Audio: the speaker plays what the microphone captured, shifted by the mouth-to-ear delay.
    let audio_latency = report.audio_latency_ms.expect("audio latency");
    let (sent, _) = staff_devices.recorded_audio();
    let (_, played) = citizen_devices.recorded_audio();
    let (sent_start, _) = staff_devices.recording_starts();
    let (_, played_start) = citizen_devices.recording_starts();
    let (sent_start, played_start) = (sent_start.expect("sent"), played_start.expect("played"));
    // Where in `played` the sent sample 0 should be heard.
    let expected = (sent_start as f64 + audio_latency.median - played_start as f64) * 48.0;
    // Sample `i` of `sent` is speech, not a timing mark or the silence around it (marks are
    // at every whole wall-clock second; `sent_start` is the wall time of sample 0).
    let guard = MARK_MS + MARK_GUARD_MS + 10;
    let speech = |i: usize| {
        let into = (sent_start + i as u64 / 48) % 1000;
        into >= guard && into < 1000 - guard
    };
    // The jitter buffer may still move the delay by 10 ms steps while it settles (more so in a
    // loaded debug build, where the median mark latency and the delay during a given second
    // differ by up to ~100 ms on a slow machine, and the buffer drops or stretches 10 ms here
    // and there): 100 ms stretches of speech from 1.5 s to 3.5 s are each matched at their own
    // lag within ±150 ms of the measured latency. Most of those with speech in them must be
    // the same speech.
    let window = 4_800;
    let starts: Vec<usize> = (0..20)
        .map(|k| 72_000 + k * 4_800)
        .filter(|&start| (start..start + window).filter(|&i| speech(i)).count() > window / 2)
        .collect();
    let tried: Vec<(usize, (f64, i64))> = starts
        .iter()
        .map(|&start| {
            let center = expected as i64 + start as i64;
            (
                start / 48,
                best_match(&sent, &played, start, window, center, &speech),
            )
        })
        .collect();
    let matched = tried.iter().filter(|(_, (c, _))| *c > 0.5).count();
    let with_speech = tried.iter().filter(|(_, (c, _))| *c != 0.0).count();
    eprintln!("speech stretches (ms into the recording, (correlation, lag - expected)): {tried:?}");
    assert!(
        with_speech >= 8 && matched * 3 >= with_speech * 2,
        "sent and played speech are not recognisably the same: (ms into the recording, (correlation, samples from the expected lag)) {tried:?}, latency {audio_latency:?}"
    );
    let best = tried
        .iter()
        .map(|(_, b)| *b)
        .fold((f64::MIN, 0), |a, b| if b.0 > a.0 { b } else { a });
    // The same search for stretches half a second off does not match them like that (the test
    // can fail).
    let unrelated: Vec<f64> = starts
        .iter()
        .map(|&start| {
            let center = expected as i64 + start as i64 + 24_000;
            best_match(&sent, &played, start, window, center, &speech).0
        })
        .collect();
    let unrelated_matched = unrelated.iter().filter(|c| **c > 0.5).count();
    assert!(
        unrelated_matched * 3 < with_speech,
        "unrelated stretches match as often: {unrelated:?}"
    );
    eprintln!(
        "matched {matched} of {with_speech} stretches with speech; unrelated: {unrelated_matched}"
    );

    let m: MediaStats = citizen.media_stats();
    assert!(m.audio.decoded_frames > 200, "{m:?}");
    assert!(m.audio.level_dbfs > -40.0, "{m:?}");
    eprintln!(
        "quality: PSNR mean {:.1} dB min {:.1} dB; video latency median {} ms; audio latency median {} ms; audio correlation {:.2} at {} samples from the expected lag",
        psnr.mean, psnr.min, video_latency.median, audio_latency.median, best.0, best.1
    );
    for call in [&citizen, &staff] {
        call.leave();
        call.closed().await;
    }
}

/// Drops every packet of the first keyframe the caseworker sends after `armed` is set —
/// retransmissions included — as if the network had eaten it.
fn lose_next_keyframe(armed: Arc<Mutex<(bool, Option<u32>)>>) -> InboundFilter {
    Arc::new(move |kind, packet| {
        if kind != samtale_core::media::MediaKind::Video {
            return true;
        }
        let mut g = armed.lock().unwrap_or_else(|p| p.into_inner());
        let p = &packet.payload;
        let is_key = match p.first().map(|b| b & 0x1f) {
            Some(24) | Some(5) => true,
            Some(28) => p.get(1).is_some_and(|h| h & 0x1f == 5),
            _ => false,
        };
        if g.0 && g.1.is_none() && is_key {
            g.1 = Some(packet.header.timestamp);
        }
        if g.1 == Some(packet.header.timestamp) {
            g.0 = false;
            return false;
        }
        true
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_keyframe_is_requested_with_pli_and_the_picture_recovers() {
    let server = TestServer::start().await;
    let armed = Arc::new(Mutex::new((false, None)));
    let filter = lose_next_keyframe(Arc::clone(&armed));
    let (staff, _sd, citizen, _cd) = staff_and_citizen(&server, Some(filter)).await;
    eventually(LONG, "first pictures", || {
        (citizen.media_stats().video.frames_decoded > 20).then_some(())
    })
    .await;
    let before = citizen.media_stats();
    let staff_before = staff.media_stats();

    // The caseworker's camera goes off and on: the next picture is a keyframe, and it is lost.
    armed.lock().unwrap_or_else(|p| p.into_inner()).0 = true;
    staff.set_camera_enabled(false);
    staff.set_camera_enabled(true);
    eventually(LONG, "the keyframe to be lost", || {
        armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .map(|_| ())
    })
    .await;

    // The citizen asks for a new keyframe, the caseworker sends one, pictures come back.
    let after = eventually(LONG, "recovery", || {
        let m = citizen.media_stats();
        (m.video.keyframes_received > before.video.keyframes_received
            && m.video.frames_decoded > before.video.frames_decoded + 30)
            .then_some(m)
    })
    .await;
    assert!(after.video.plis_sent > before.video.plis_sent, "{after:?}");
    assert!(
        after.video.frames_dropped > before.video.frames_dropped,
        "{after:?}"
    );
    let s = staff.media_stats();
    assert!(
        s.send.plis_received > staff_before.send.plis_received,
        "{s:?}"
    );
    assert!(s.send.keyframes >= staff_before.send.keyframes + 2, "{s:?}");
    for call in [&citizen, &staff] {
        call.leave();
        call.closed().await;
    }
}
