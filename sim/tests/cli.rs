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
    let (staff, _devices, meeting_code) = waiting_staff(&url).await;
    assert_eq!(staff.state(), CallState::Waiting);

    let (code, stdout) = sim(&[
        "join",
        "--server",
        &url,
        "--code",
        &meeting_code,
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
    let (staff, _devices, meeting_code) = waiting_staff(&url).await;
    // The caseworker learns it from the citizen's status.
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _hearing = {
        let told = std::sync::Arc::clone(&told);
        staff.subscribe_hearing(move |h| {
            if let Some(d) = h.peer_device {
                told.lock().unwrap_or_else(|p| p.into_inner()).push(d);
            }
        })
    };
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
        &meeting_code,
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
    {
        use samtale_core::device_watch::DeviceProblem;
        let told = told.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert!(
            told.contains(&DeviceProblem::MicrophoneSilent)
                && told.contains(&DeviceProblem::CameraDark),
            "the caseworker was told about both devices: {told:?}"
        );
    }
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
        &meeting_code,
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

/// A staff call on loopback with the emulator's devices, waiting in a new meeting; and the
/// meeting's code.
async fn waiting_staff(url: &str) -> (Call, samtale_core::devices::Devices, String) {
    let api = ApiClient::new(url, Duration::from_secs(5)).expect("api");
    let meeting = api.create_meeting(TOKEN, None).await.expect("meeting");
    let ticket = api
        .staff_ticket(TOKEN, &meeting.meeting_id)
        .await
        .expect("ticket");
    let staff = Call::join_with_ticket(CallConfig::new(url.to_owned()).loopback(), ticket);
    let devices = samtale_core::devices::Devices::attach(&staff, Default::default());
    staff
        .wait_for(Duration::from_secs(20), |s| *s == CallState::Waiting)
        .await;
    (staff, devices, meeting.code_display)
}

/// Every change of the staff side's `hearing`, and when its call first was in the call (ms
/// since `start`).
#[derive(Default, Clone)]
struct Record {
    hearing: Vec<(u64, samtale_core::hearing::Hearing)>,
    in_call: Option<u64>,
}
type Recorded = std::sync::Arc<std::sync::Mutex<Record>>;

fn record_hearing(call: &Call) -> (Vec<samtale_core::Subscription>, Recorded) {
    let start = std::time::Instant::now();
    let ms = move || u64::try_from(start.elapsed().as_millis()).unwrap_or(0);
    let rec: Recorded = Default::default();
    let (a, b) = (std::sync::Arc::clone(&rec), std::sync::Arc::clone(&rec));
    let subs = vec![
        call.subscribe_hearing(move |v| {
            a.lock()
                .unwrap_or_else(|p| p.into_inner())
                .hearing
                .push((ms(), *v));
        }),
        call.subscribe(move |s| {
            let mut r = b.lock().unwrap_or_else(|p| p.into_inner());
            if *s == CallState::InCall && r.in_call.is_none() {
                r.in_call = Some(ms());
            }
        }),
    ];
    (subs, rec)
}

/// The citizen's screen events of a `--json` run.
fn screen_events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "screen")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_or_pictures_dropped_on_the_way_are_told_and_mute_is_not_a_fault() {
    use samtale_core::hearing::{HearingProblem, UNHEARD_MS, UNSEEN_MS};
    let dir = tempfile::tempdir().expect("tmp");
    let server = server(&dir).await;
    let url = server.base_url();
    let seconds = (UNHEARD_MS / 1000 + 8).to_string();

    // The citizen's phone loses every audio packet from the caseworker (a filter, not mute).
    let (staff, _devices, code) = waiting_staff(&url).await;
    let (_subs, rec) = record_hearing(&staff);
    let (exit, stdout) = sim(&[
        "join",
        "--server",
        &url,
        "--code",
        &code,
        "--seconds",
        &seconds,
        "--loopback",
        "--json",
        "--drop-incoming",
        "audio",
    ])
    .await;
    assert_eq!(exit, 0, "the call went on: {stdout}");
    let screens = screen_events(&stdout);
    let in_call = screens
        .iter()
        .find(|v| v["id"] == "in-call")
        .and_then(|v| v["unix_ms"].as_u64())
        .unwrap_or_else(|| panic!("never in the call: {screens:?}"));
    // The citizen: no sound comes from the caseworker.
    let not_heard = screens
        .iter()
        .find(|v| v["notice"] == "notice-peer-not-heard")
        .unwrap_or_else(|| panic!("the citizen was not told: {screens:?}"));
    let after = not_heard["unix_ms"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(in_call);
    println!("citizen told {after} ms after the call started");
    assert!(after <= UNHEARD_MS + 4_000, "told after {after} ms");
    assert!(
        not_heard["announce"]
            .as_str()
            .unwrap_or("")
            .contains("ingen lyd"),
        "{not_heard}"
    );
    // The caseworker: the citizen cannot hear them. The picture got through all along.
    let rec = rec.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let heard = rec.hearing;
    let told = heard
        .iter()
        .find(|(_, h)| h.problem == Some(HearingProblem::PeerCannotHearYou))
        .unwrap_or_else(|| panic!("the caseworker was not told: {heard:?}"));
    let after = told.0.saturating_sub(rec.in_call.expect("in the call"));
    println!("caseworker told {after} ms after the call started");
    assert!(after <= UNHEARD_MS + 4_000, "{heard:?}");
    assert!(
        heard
            .iter()
            .all(|(_, h)| h.problem != Some(HearingProblem::PeerCannotSeeYou)),
        "video was fine: {heard:?}"
    );
    staff.leave();
    staff.closed().await;

    // The citizen's phone loses every video packet: the caseworker is told it is not seen.
    let (staff, _devices, code) = waiting_staff(&url).await;
    let (_subs, rec) = record_hearing(&staff);
    let (exit, stdout) = sim(&[
        "join",
        "--server",
        &url,
        "--code",
        &code,
        "--seconds",
        &seconds,
        "--loopback",
        "--json",
        "--drop-incoming",
        "video",
    ])
    .await;
    assert_eq!(exit, 0, "{stdout}");
    let rec = rec.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let told = rec
        .hearing
        .iter()
        .find(|(_, h)| h.problem == Some(HearingProblem::PeerCannotSeeYou))
        .unwrap_or_else(|| panic!("the caseworker was not told: {:?}", rec.hearing));
    let after = told.0.saturating_sub(rec.in_call.expect("in the call"));
    println!("caseworker told it is not seen {after} ms after the call started");
    assert!(after <= UNSEEN_MS + 4_000, "{:?}", rec.hearing);
    staff.leave();
    staff.closed().await;

    // The caseworker mutes and turns the camera off: said as that, never as a fault, on
    // either side.
    let (staff, _devices, code) = waiting_staff(&url).await;
    staff.set_microphone_muted(true);
    staff.set_camera_enabled(false);
    let (_subs, rec) = record_hearing(&staff);
    let (exit, stdout) = sim(&[
        "join",
        "--server",
        &url,
        "--code",
        &code,
        "--seconds",
        &seconds,
        "--loopback",
        "--json",
    ])
    .await;
    assert_eq!(exit, 0, "{stdout}");
    let screens = screen_events(&stdout);
    let notices: Vec<&str> = screens
        .iter()
        .filter_map(|v| v["notice"].as_str())
        .collect();
    assert!(notices.contains(&"notice-peer-muted"), "{screens:?}");
    assert!(
        notices.iter().all(|n| *n == "notice-peer-muted"),
        "only mute was said: {notices:?}"
    );
    let heard = rec
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .hearing
        .clone();
    assert!(
        heard.iter().all(|(_, h)| h.problem.is_none()),
        "the citizen was heard and seen: {heard:?}"
    );
    staff.leave();
    staff.closed().await;
    server.shutdown().await;
}

/// A caseworker that is only a signalling socket: it says what it is told to, no WebRTC.
struct RawPeer {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawPeer {
    async fn join(ticket: &samtale_core::protocol::Ticket) -> (Self, serde_json::Value) {
        let (ws, _) = tokio_tungstenite::connect_async(ticket.signalling_url.as_str())
            .await
            .expect("connect");
        let mut me = RawPeer { ws };
        me.send(serde_json::json!({"type": "hello", "v": 1, "token": ticket.join_token}))
            .await;
        let welcome = me.next("welcome").await;
        (me, welcome)
    }

    async fn send(&mut self, v: serde_json::Value) {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next server message of `kind` (others are skipped), within 30 s.
    async fn next(&mut self, kind: &str) -> serde_json::Value {
        use futures_util::StreamExt;
        let wait = async {
            while let Some(Ok(msg)) = self.ws.next().await {
                if let Ok(v) =
                    serde_json::from_str::<serde_json::Value>(msg.to_text().unwrap_or(""))
                {
                    let signal_kind = v["payload"]["kind"].as_str().unwrap_or("");
                    if v["type"] == kind || (v["type"] == "signal" && signal_kind == kind) {
                        return v;
                    }
                }
            }
            panic!("the socket closed before {kind}");
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("no {kind} within 30 s"))
    }
}

/// An offer of what Samtale does not send: PCMU audio and VP8 video only.
const VP8_PCMU_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:rawp\r\n\
a=ice-pwd:rawpeerrawpeerrawpeer0123\r\n\
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:rawp\r\n\
a=ice-pwd:rawpeerrawpeerrawpeer0123\r\n\
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF\r\n\
a=setup:actpass\r\n\
a=mid:1\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negotiation_that_cannot_work_ends_both_sides_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = server(&dir).await;
    let url = server.base_url();
    let api = ApiClient::new(&url, Duration::from_secs(5)).expect("api");
    let citizen = |code: String| {
        let url = url.clone();
        tokio::spawn(async move {
            sim(&[
                "join",
                "--server",
                &url,
                "--code",
                &code,
                "--seconds",
                "30",
                "--loopback",
                "--json",
            ])
            .await
        })
    };
    let failed_screen = |stdout: &str| {
        screen_events(stdout)
            .last()
            .map(|v| v["id"].as_str().unwrap_or("").to_owned())
    };

    // 1. The caseworker comes after the citizen and offers codecs the core does not have.
    for (offer, reason) in [
        (VP8_PCMU_OFFER, "no_common_codec"),
        ("v=0\r\nthis is not SDP\r\n", "malformed"),
    ] {
        let meeting = api.create_meeting(TOKEN, None).await.expect("meeting");
        let run = citizen(meeting.code_display.clone());
        // The citizen is waiting (its seat shows in the meeting) before the caseworker comes.
        let mut waited = 0;
        let seated = || async {
            api.list_meetings(TOKEN).await.map_or(0, |l| {
                l.meetings
                    .iter()
                    .find(|m| m.meeting_id == meeting.meeting_id)
                    .map_or(0, |m| m.participants)
            })
        };
        while seated().await == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
            assert!(waited < 400, "the citizen never took a seat");
        }
        let ticket = api
            .staff_ticket(TOKEN, &meeting.meeting_id)
            .await
            .expect("ticket");
        let (mut raw, welcome) = RawPeer::join(&ticket).await;
        let citizen_id = welcome["peers"][0]["participant_id"]
            .as_str()
            .expect("the citizen in welcome.peers")
            .to_owned();
        raw.send(serde_json::json!({"type": "signal", "to": citizen_id,
            "payload": {"kind": "offer", "sdp": offer}}))
            .await;
        // The core says why, instead of never answering.
        let told = raw.next("negotiation_failed").await;
        assert_eq!(told["payload"]["reason"], reason, "{told}");
        let (exit, stdout) = run.await.expect("sim");
        assert_eq!(
            exit, 6,
            "the emulator exits with the server-error code: {stdout}"
        );
        assert_eq!(
            failed_screen(&stdout).as_deref(),
            Some("failed-server"),
            "the citizen's screen says so: {stdout}"
        );
    }

    // 2. The citizen comes after the caseworker and offers; the caseworker cannot use it.
    let meeting = api.create_meeting(TOKEN, None).await.expect("meeting");
    let ticket = api
        .staff_ticket(TOKEN, &meeting.meeting_id)
        .await
        .expect("ticket");
    let (mut raw, _) = RawPeer::join(&ticket).await;
    let run = citizen(meeting.code_display.clone());
    let offer = raw.next("offer").await;
    let from = offer["from"].as_str().expect("from").to_owned();
    raw.send(serde_json::json!({"type": "signal", "to": from,
        "payload": {"kind": "negotiation_failed", "reason": "no_common_codec"}}))
        .await;
    let (exit, stdout) = run.await.expect("sim");
    assert_eq!(exit, 6, "{stdout}");
    assert_eq!(
        failed_screen(&stdout).as_deref(),
        Some("failed-server"),
        "{stdout}"
    );
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
