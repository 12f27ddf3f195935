//! The `samtale-sim` binary as testers use it: real process, real server, documented exit codes.

use samtale_core::api::ApiClient;
use samtale_core::{Call, CallConfig, CallState};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

const TOKEN: &str = "cli-test-staff-token";

async fn server(dir: &tempfile::TempDir) -> samtale_server::RunningServer {
    samtale_server::start(samtale_server::ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        db_path: dir.path().join("db.sqlite").to_string_lossy().into_owned(),
        staff_token: TOKEN.into(),
        lookup_burst: 100,
        ..Default::default()
    })
    .await
    .expect("server")
}

async fn sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_samtale-sim"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run samtale-sim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_exchanges_media_and_leaves_before_the_process_exits() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = server(&dir).await;
    let url = server.base_url();
    let api = ApiClient::new(&url, Duration::from_secs(5)).expect("api");
    let meeting = api.create_meeting(TOKEN, None).await.expect("meeting");
    let ticket = api
        .staff_ticket(TOKEN, &meeting.meeting_id)
        .await
        .expect("ticket");
    let staff = Call::join_with_ticket(CallConfig::new(url.clone()).loopback(), ticket);
    let _devices = samtale_core::devices::Devices::attach(&staff, Default::default());
    assert_eq!(
        staff
            .wait_for(Duration::from_secs(20), |s| *s == CallState::Waiting)
            .await,
        CallState::Waiting
    );

    let (code, stdout) = sim(&[
        "join",
        "--server",
        &url,
        "--code",
        &meeting.code_display,
        "--seconds",
        "2",
        "--loopback",
        "--json",
    ])
    .await;
    assert_eq!(code, 0, "{stdout}");
    let summary: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["event"] == "summary")
        .expect("summary line");
    assert!(
        summary["stats"]["audio_packets_received"].as_u64() > Some(20),
        "{summary}"
    );
    assert!(
        summary["stats"]["video_packets_received"].as_u64() > Some(5),
        "{summary}"
    );
    // The citizen went through the phones' API (samtale-ffi): it saw the phones' screens,
    // and its microphone and camera went through the phones' entry points.
    let screens: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "screen")
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        screens.starts_with(&["code-entry".to_owned()]) && screens.contains(&"in-call".to_owned()),
        "{screens:?}"
    );
    assert!(
        staff.media_stats().video.frames_decoded > 5,
        "the camera reached the caseworker"
    );

    // The process has exited; its `leave` reached the server, so the caseworker is alone again
    // at once (a dropped socket would keep the seat for the 30 s grace period).
    assert_eq!(
        staff
            .wait_for(Duration::from_secs(5), |s| *s == CallState::Waiting)
            .await,
        CallState::Waiting
    );
    assert!(staff.participants().is_empty());
    assert!(staff.stats().audio_packets_received > 20);
    staff.leave();
    staff.closed().await;
    server.shutdown().await;
}

/// A microphone that gives digital silence and a camera that is on but gives nothing (a
/// phone's privacy switch, another app holding the device): the citizen's call screens say so
/// by themselves, in the screen model's words, within the device watch's windows, and the call
/// goes on (issue 16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_notices_a_silent_microphone_and_a_dark_camera() {
    use samtale_core::device_watch::{CAMERA_DARK_MS, MICROPHONE_SILENT_MS};
    let dir = tempfile::tempdir().expect("tmp");
    let server = server(&dir).await;
    let url = server.base_url();
    let api = ApiClient::new(&url, Duration::from_secs(5)).expect("api");
    let meeting = api.create_meeting(TOKEN, None).await.expect("meeting");
    let ticket = api
        .staff_ticket(TOKEN, &meeting.meeting_id)
        .await
        .expect("ticket");
    let staff = Call::join_with_ticket(CallConfig::new(url.clone()).loopback(), ticket);
    let _devices = samtale_core::devices::Devices::attach(&staff, Default::default());
    staff
        .wait_for(Duration::from_secs(20), |s| *s == CallState::Waiting)
        .await;
    let wav = dir.path().join("silence.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).expect("wav");
    for _ in 0..48_000 {
        w.write_sample(0i16).expect("sample");
    }
    w.finalize().expect("wav");
    let seconds = (MICROPHONE_SILENT_MS / 1000 + 4).to_string();
    let wav = wav.to_string_lossy().into_owned();
    let (code, stdout) = sim(&[
        "join",
        "--server",
        &url,
        "--code",
        &meeting.code_display,
        "--seconds",
        &seconds,
        "--loopback",
        "--json",
        "--audio",
        &wav,
        "--no-camera",
    ])
    .await;
    assert_eq!(code, 0, "the call went on: {stdout}");
    let screens: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "screen")
        .collect();
    let first = |notice: &str| {
        screens
            .iter()
            .find(|v| v["notice"] == notice)
            .unwrap_or_else(|| panic!("no {notice}: {screens:?}"))
    };
    let joining = screens
        .iter()
        .find(|v| v["id"] == "joining")
        .and_then(|v| v["t_ms"].as_u64())
        .expect("joining");
    // The camera first (its window is shorter), then the microphone (sound comes first).
    let dark = first("notice-camera-dark");
    let silent = first("notice-microphone-silent");
    for (v, window) in [(dark, CAMERA_DARK_MS), (silent, MICROPHONE_SILENT_MS)] {
        let after = v["t_ms"].as_u64().unwrap_or(0).saturating_sub(joining);
        println!("{}: {after} ms after joining", v["notice"]);
        assert!(
            (window..=window + 3_000).contains(&after),
            "{} after {after} ms (window {window} ms)",
            v["notice"]
        );
        let announce = v["announce"].as_str().unwrap_or("");
        assert!(
            announce.contains("ikke er slået fra"),
            "the screen reader hears it too: {announce}"
        );
    }
    assert!(
        screens
            .iter()
            .any(|v| v["id"] == "in-call" && v["notice"] == "notice-microphone-silent"),
        "in the call with the notice: {screens:?}"
    );
    // Working devices (the emulator's speech-like microphone, with its pauses, and its
    // camera), longer than both windows: nothing is said.
    staff
        .wait_for(Duration::from_secs(10), |s| *s == CallState::Waiting)
        .await;
    let (code, stdout) = sim(&[
        "join",
        "--server",
        &url,
        "--code",
        &meeting.code_display,
        "--seconds",
        &seconds,
        "--loopback",
        "--json",
    ])
    .await;
    assert_eq!(code, 0, "{stdout}");
    let noticed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"event\":\"screen\"") && l.contains("\"notice\":\"notice-"))
        .collect();
    assert!(noticed.is_empty(), "a working device reported: {noticed:?}");
    assert!(stdout.contains("\"in-call\""), "{stdout}");
    staff.leave();
    staff.closed().await;
    server.shutdown().await;
}

/// Exit code of `samtale-sim join --server SERVER --code CODE`.
async fn join_exit_code(server: &str, code: &str) -> i32 {
    sim(&["join", "--server", server, "--code", code]).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_exit_codes() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = server(&dir).await;
    let url = server.base_url();
    let nobody = "http://127.0.0.1:9";
    // 3: bad code (offline; the server address does not matter).
    assert_eq!(join_exit_code(nobody, "482 193").await, 3);
    // 4: a valid code no meeting uses.
    assert_eq!(join_exit_code(&url, "1234567894").await, 4);
    // 5: nothing listens there.
    assert_eq!(join_exit_code(nobody, "1234567894").await, 5);
    // 2: usage error.
    assert_eq!(sim(&["join", "--server", &url]).await.0, 2);
    server.shutdown().await;
}
