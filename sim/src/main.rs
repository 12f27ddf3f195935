//! `samtale-sim`: runs the real Samtale core without a phone.
//!
//! - `demo`: everything in one process with no set-up (server, caseworker bot, citizen).
//! - `host`: create a meeting on a running server and stay in it as the caseworker.
//! - `join`: join a meeting by code as a citizen.
//! - `bench-join`: time join() -> first remote media packet over repeated runs.

mod files;
mod report;

use clap::{Args, Parser, Subcommand};
use report::{Reporter, exit};
use samtale_core::api::ApiClient;
use samtale_core::devices::{AudioInput, DeviceOptions, Devices, MediaPort, VideoInput};
use samtale_core::{Call, CallConfig, CallState, CallStats};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "samtale-sim",
    version,
    about = "Samtale emulator: the real core, no phone"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The emulated devices and network binding of one participant.
#[derive(Args, Clone, Debug, Default)]
struct MediaArgs {
    /// Bind media to 127.0.0.1 only.
    #[arg(long)]
    loopback: bool,
    /// Bind media sockets to this local IP (default: every interface).
    #[arg(long, value_name = "IP")]
    bind: Option<String>,
    /// Camera: play this Y4M file (4:2:0), looped, instead of the test pattern.
    #[arg(long, value_name = "FILE.y4m")]
    video: Option<PathBuf>,
    /// Microphone: play this WAV file, looped, instead of the speech-like test signal.
    #[arg(long, value_name = "FILE.wav")]
    audio: Option<PathBuf>,
    /// Camera: deliver no pictures at all (a camera that is on but shows nothing).
    #[arg(long, conflicts_with = "video")]
    no_camera: bool,
    /// A fault on the way in: drop every received packet of this kind on arrival, as if the
    /// network lost it (not mute). The other side is told that it cannot be heard or seen.
    #[arg(long, value_name = "KIND", value_enum)]
    drop_incoming: Option<DropKind>,
    /// A fault on the way out: once this side has accepted an ICE restart on a connection,
    /// that connection sends nothing any more (no media, no statuses) while it stays up, as a
    /// stuck peer would. The other side must notice, show "reconnecting" and build a new
    /// connection, which sends again.
    #[arg(long)]
    freeze_after_ice_restart: bool,
    /// (host) Start with the microphone muted and the camera off.
    #[arg(long)]
    muted: bool,
    /// Write what was sent and heard (sent-audio.wav, received-audio.wav) and a received
    /// picture per second (video-NNNN.png) into DIR.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// (join) The brand folder whose screens the citizen gets (default: brands/eksempel,
    /// built in).
    #[arg(long, value_name = "DIR")]
    brand: Option<PathBuf>,
}

/// What `--drop-incoming` drops.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DropKind {
    /// Every audio packet.
    Audio,
    /// Every video packet.
    Video,
}

#[derive(Subcommand)]
enum Command {
    /// Start a server in-process, host a meeting, join it by code, exchange media, leave.
    Demo {
        /// Seconds of media after both are in the call.
        #[arg(long, default_value_t = 4)]
        seconds: u64,
        /// JSON lines instead of a readable timeline.
        #[arg(long)]
        json: bool,
        /// Write the citizen's recordings (see `join --record`) into DIR.
        #[arg(long, value_name = "DIR")]
        record: Option<PathBuf>,
    },
    /// Create a meeting on a server, print its code and stay in it as the caseworker.
    Host {
        /// Server base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        server: String,
        /// Staff token of that server.
        #[arg(long, env = "SAMTALE_STAFF_TOKEN")]
        token: String,
        /// Stay this many seconds (0 = until Ctrl-C or the meeting ends).
        #[arg(long, default_value_t = 0)]
        seconds: u64,
        #[command(flatten)]
        media: MediaArgs,
        /// JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Join a meeting by code as a citizen.
    Join {
        /// Server base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        server: String,
        /// The join code, typed any way (`482 193 7750`).
        #[arg(long)]
        code: String,
        /// Stay this many seconds in the call (0 = until Ctrl-C or the meeting ends).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// After the call, stay this many seconds on the home screen with the app open, as a
        /// phone would (presence: the screens say whether the caseworker is in the room).
        #[arg(long, default_value_t = 0)]
        home_secs: u64,
        #[command(flatten)]
        media: MediaArgs,
        /// JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark join() -> first remote media packet on loopback.
    BenchJoin {
        /// Number of joins.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The core logs through the `log` facade; RUST_LOG=samtale_core=debug shows it on stderr.
    // Core log lines never contain codes, tokens or names.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off"))
        .format_timestamp_millis()
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE as u8);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Demo {
                seconds,
                json,
                record,
            } => demo(seconds, record, Reporter::new(json)).await,
            Command::Host {
                server,
                token,
                seconds,
                media,
                json,
            } => host(&server, &token, seconds, &media, Reporter::new(json)).await,
            Command::Join {
                server,
                code,
                seconds,
                home_secs,
                media,
                json,
            } => {
                join(
                    &server,
                    &code,
                    seconds,
                    home_secs,
                    &media,
                    Reporter::new(json),
                )
                .await
            }
            Command::BenchJoin { runs, json } => bench_join(runs, json).await,
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn config(server: &str, loopback: bool) -> CallConfig {
    let config = CallConfig::new(server);
    if loopback { config.loopback() } else { config }
}

fn media_config(server: &str, media: &MediaArgs) -> CallConfig {
    let mut config = CallConfig::new(server);
    bind_media(&mut config, media.loopback, media.bind.as_deref());
    drop_incoming(&mut config, media.drop_incoming);
    config.freeze_after_ice_restart = media.freeze_after_ice_restart;
    config
}

/// `--drop-incoming`: the core's inbound filter drops that kind.
fn drop_incoming(config: &mut CallConfig, kind: Option<DropKind>) {
    let Some(kind) = kind else { return };
    let dropped = match kind {
        DropKind::Audio => samtale_core::media::MediaKind::Audio,
        DropKind::Video => samtale_core::media::MediaKind::Video,
    };
    config.inbound_filter = Some(Arc::new(move |k, _| k != dropped));
}

/// Where media sockets bind: loopback, one address, or (default) every interface.
fn bind_media(config: &mut CallConfig, loopback: bool, bind: Option<&str>) {
    if loopback {
        config.bind_addrs = vec!["127.0.0.1:0".to_owned()];
    }
    if let Some(ip) = bind {
        config.bind_addrs = vec![match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, 0).to_string(),
            Err(_) => format!("{ip}:0"),
        }];
    }
}

/// The devices of one participant: files if given, else the test pattern and speech.
fn device_options(media: &MediaArgs) -> Result<DeviceOptions, String> {
    let mut options = DeviceOptions {
        record: media.record.is_some(),
        ..DeviceOptions::default()
    };
    if let Some(path) = &media.video {
        let (frames, fps) = files::read_y4m(path)?;
        options.video = VideoInput::Frames(Arc::new(frames));
        options.fps = fps.unwrap_or(15);
    }
    if let Some(path) = &media.audio {
        options.audio = AudioInput::Samples(Arc::new(files::read_wav(path)?));
    }
    if media.no_camera {
        options.video = VideoInput::None;
    }
    if let Some(dir) = &media.record {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(options)
}

/// Writes the recordings of `devices` into `dir`.
fn save_recordings(devices: &Devices, dir: &std::path::Path) -> Result<(), String> {
    let (sent, played) = devices.recorded_audio();
    files::write_wav(&dir.join("sent-audio.wav"), &sent)?;
    files::write_wav(&dir.join("received-audio.wav"), &played)?;
    for (i, frame) in devices.snapshots().iter().enumerate() {
        files::write_png(&dir.join(format!("video-{i:04}.png")), frame)?;
    }
    Ok(())
}

/// The `media` object of the summary (see README: the JSON summary).
fn media_summary(call: &Call, devices: &Devices) -> serde_json::Value {
    let stats = call.stats();
    let m = call.media_stats();
    let d = devices.report();
    let spread = |s: Option<samtale_core::devices::Spread>| {
        s.map(|s| json!({"count": s.count, "median": s.median, "p95": s.p95, "mean": (s.mean * 10.0).round() / 10.0, "min": s.min}))
    };
    json!({
        "audio": {
            "packets_received": stats.audio_packets_received,
            "pulled_frames": m.audio.pulled_frames,
            "decoded_frames": m.audio.decoded_frames,
            "fec_frames": m.audio.fec_frames,
            "plc_frames": m.audio.plc_frames,
            "audible_frames": d.audible_frames,
            "level_dbfs": m.audio.level_dbfs,
            "max_gap_ms": m.audio.max_gap_ms,
            "max_loss_run": m.audio.max_loss_run,
            "target_delay_ms": m.audio.target_delay_ms,
            "latency_ms": spread(d.audio_latency_ms),
        },
        "video": {
            "packets_received": stats.video_packets_received,
            "frames_decoded": m.video.frames_decoded,
            "width": m.video.width,
            "height": m.video.height,
            "latency_ms": spread(d.video_latency_ms),
            "psnr_db": spread(d.psnr_db),
            "freezes": m.video.freezes,
            "freeze_ms": m.video.freeze_ms,
            "plis_sent": m.video.plis_sent,
            "keyframes_received": m.video.keyframes_received,
            "frames_dropped": m.video.frames_dropped,
        },
        "send": {
            "estimate_kbps": m.send.estimate_kbps,
            "video_target_kbps": m.send.video_target_kbps,
            "video_width": m.send.video_width,
            "video_height": m.send.video_height,
            "video_paused_ms": m.send.video_paused_ms,
            "audio_bps": m.send.audio_bps,
            "audio_frames_sent": m.send.audio_packets,
            "audio_written": m.send.audio_written,
            "audio_queue_drops": m.send.audio_queue_drops,
            "video_frames_sent": m.send.video_frames,
            "keyframes": m.send.keyframes,
            "plis_received": m.send.plis_received,
            "nacks_received": m.send.nacks_received,
            "retransmissions": m.send.retransmissions,
        },
    })
}

/// Prints what the others' statuses say whenever it changes ("hearing": whether they hear and
/// see us, whether we hear them, their devices, mute and camera; see `samtale_core::hearing`).
fn report_hearing(call: &Call, who: &'static str, rep: &Reporter) -> samtale_core::Subscription {
    let rep = rep.clone();
    call.subscribe_hearing(move |h| {
        let problem = h.problem.map(|p| match p {
            samtale_core::hearing::HearingProblem::PeerCannotHearYou => "peer_cannot_hear_you",
            samtale_core::hearing::HearingProblem::YouCannotHearPeer => "you_cannot_hear_peer",
            samtale_core::hearing::HearingProblem::PeerCannotSeeYou => "peer_cannot_see_you",
        });
        let device = h.peer_device.map(|d| match d {
            samtale_core::device_watch::DeviceProblem::MicrophoneSilent => "microphone_silent",
            samtale_core::device_watch::DeviceProblem::CameraDark => "camera_dark",
        });
        rep.event(
            who,
            "hearing",
            json!({"problem": problem, "peer_device": device,
                   "peer_muted": h.peer_muted, "peer_camera_off": h.peer_camera_off}),
        );
    })
}

/// Prints every state change of `call` as `who`.
fn trace(call: &Call, who: &'static str, rep: &Reporter) -> samtale_core::Subscription {
    let rep = rep.clone();
    call.subscribe(move |s| rep.state(who, s))
}

/// Reports the first decoded picture after a gap of more than 200 ms ("video resumed", with
/// `gap_ms`; three frame times at 15 fps), so tests and benchmarks can time recoveries.
fn report_video_gaps(call: &Call, who: &'static str, rep: &Reporter) -> samtale_core::Subscription {
    const GAP: Duration = Duration::from_millis(200);
    let rep = rep.clone();
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    call.subscribe_video(move |_| {
        let now = std::time::Instant::now();
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(before) = *last
            && now - before > GAP
        {
            let gap_ms = (now - before).as_millis() as u64;
            rep.event(who, "video resumed", json!({ "gap_ms": gap_ms }));
        }
        *last = Some(now);
    })
}

/// On Unix, SIGUSR1 tells the call the network changed (what a phone's platform reports on a
/// Wi-Fi/cellular switch): `kill -USR1 <pid>`. Never returns.
async fn network_changes(call: &Call, who: &'static str, rep: &Reporter) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut usr1) = signal(SignalKind::user_defined1()) {
            while usr1.recv().await.is_some() {
                rep.event(who, "network changed", json!({}));
                call.network_changed();
            }
        }
    }
    let _ = (call, who, rep);
    std::future::pending::<()>().await
}

/// Network (TCP/UDP) sockets this process still has open and Tokio tasks still alive, once the
/// call is closed: both should drop to zero within a few seconds (tests check that nothing
/// leaks). Unix sockets (Tokio's signal pipe) do not count.
async fn leftovers() -> (usize, usize) {
    let count = || {
        let mut inet = std::collections::HashSet::new();
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            let text =
                std::fs::read_to_string(format!("/proc/self/net/{table}")).unwrap_or_default();
            inet.extend(
                text.lines()
                    .skip(1)
                    .filter_map(|l| l.split_whitespace().nth(9).map(str::to_owned)),
            );
        }
        let sockets = std::fs::read_dir("/proc/self/fd")
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .filter_map(|t| {
                        let t = t.to_string_lossy().into_owned();
                        Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                    })
                    .filter(|inode| inet.contains(inode))
                    .count()
            })
            .unwrap_or(0);
        let tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        (sockets, tasks)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = count();
        if now == (0, 0) || std::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_up(s: &CallState) -> bool {
    matches!(s, CallState::Waiting | CallState::InCall)
}

async fn start_local_server()
-> Result<(samtale_server::RunningServer, tempfile::TempDir, String), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let token = format!("demo-{:032x}", rand::random::<u128>());
    let config = samtale_server::ServerConfig {
        listen: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        db_path: dir
            .path()
            .join("samtale.sqlite")
            .to_string_lossy()
            .into_owned(),
        staff_token: token.clone(),
        // Everything comes from 127.0.0.1 here: let bench-join's repeated look-ups through.
        lookup_burst: 10_000,
        ..Default::default()
    };
    let server = samtale_server::start(config)
        .await
        .map_err(|e| format!("server: {e}"))?;
    Ok((server, dir, token))
}

async fn demo(seconds: u64, record: Option<PathBuf>, rep: Reporter) -> i32 {
    let (server, _dir, token) = match start_local_server().await {
        Ok(v) => v,
        Err(e) => {
            rep.event("sim", "error", json!({"message": e}));
            return exit::FAILURE;
        }
    };
    let base = server.base_url();
    rep.event("server", "listening", json!({"url": base}));
    let result = demo_call(&base, &token, seconds, record, &rep).await;
    server.shutdown().await;
    rep.event("server", "stopped", json!({}));
    result
}

async fn demo_call(
    base: &str,
    token: &str,
    seconds: u64,
    record: Option<PathBuf>,
    rep: &Reporter,
) -> i32 {
    let api = match ApiClient::new(base, Duration::from_secs(10)) {
        Ok(a) => a,
        Err(e) => {
            rep.event("sim", "error", json!({"message": e.to_string()}));
            return exit::FAILURE;
        }
    };
    let meeting = match api.create_meeting(token, None).await {
        Ok(m) => m,
        Err(e) => {
            rep.event("caseworker", "error", json!({"message": e.to_string()}));
            return exit::SERVER_ERROR;
        }
    };
    rep.event(
        "caseworker",
        "meeting created",
        json!({"code": meeting.code_display}),
    );
    let ticket = match api.staff_ticket(token, &meeting.meeting_id).await {
        Ok(t) => t,
        Err(e) => {
            rep.event("caseworker", "error", json!({"message": e.to_string()}));
            return exit::SERVER_ERROR;
        }
    };
    let citizen_media = MediaArgs {
        loopback: true,
        record,
        ..MediaArgs::default()
    };
    let citizen_options = match device_options(&citizen_media) {
        Ok(o) => o,
        Err(e) => {
            rep.event("citizen", "error", json!({"message": e}));
            return exit::FAILURE;
        }
    };
    let staff = Call::join_with_ticket(config(base, true), ticket);
    let staff_devices = Devices::attach(&staff, DeviceOptions::default());
    let _staff_trace = trace(&staff, "caseworker", rep);
    let s = staff.wait_for(Duration::from_secs(20), is_up).await;
    if !is_up(&s) {
        return finish_failed(rep, "caseworker", &s);
    }

    let citizen = Call::join(config(base, true), &meeting.code_display);
    let citizen_devices = Devices::attach(&citizen, citizen_options);
    let _citizen_trace = trace(&citizen, "citizen", rep);
    let s = citizen
        .wait_for(Duration::from_secs(20), |s| *s == CallState::InCall)
        .await;
    if s != CallState::InCall {
        return finish_failed(rep, "citizen", &s);
    }
    let _ = staff
        .wait_for(Duration::from_secs(10), |s| *s == CallState::InCall)
        .await;
    rep.event("sim", "media flowing", json!({"seconds": seconds}));
    tokio::time::sleep(Duration::from_secs(seconds)).await;

    let citizen_stats = citizen.stats();
    let staff_stats = staff.stats();
    let citizen_media_json = media_summary(&citizen, &citizen_devices);
    let staff_media_json = media_summary(&staff, &staff_devices);
    if let Some(dir) = &citizen_media.record
        && let Err(e) = save_recordings(&citizen_devices, dir)
    {
        rep.event("citizen", "error", json!({"message": e}));
    }
    citizen.leave();
    citizen.closed().await;
    staff.leave();
    staff.closed().await;
    summary(
        rep,
        (&citizen_stats, &citizen_media_json),
        (&staff_stats, &staff_media_json),
    )
}

fn finish_failed(rep: &Reporter, who: &str, state: &CallState) -> i32 {
    match state {
        CallState::Failed(err) => {
            rep.event(
                who,
                "failed",
                json!({"error": err.kind(), "why": report::explain(err)}),
            );
            report::exit_code(err)
        }
        other => {
            rep.event(who, "timed out", json!({"state": other.name()}));
            exit::FAILURE
        }
    }
}

/// Whether decoded audio and video arrived.
fn media_ok(media: &serde_json::Value) -> bool {
    let n = |a: &str, b: &str| media[a][b].as_u64().unwrap_or(0);
    n("audio", "decoded_frames") > 0 && n("video", "frames_decoded") > 0
}

fn summary(
    rep: &Reporter,
    citizen: (&CallStats, &serde_json::Value),
    staff: (&CallStats, &serde_json::Value),
) -> i32 {
    let ok = media_ok(citizen.1) && media_ok(staff.1);
    if rep.json() {
        println!(
            "{}",
            json!({"event": "summary", "ok": ok,
                "citizen": {"stats": citizen.0, "media": citizen.1},
                "caseworker": {"stats": staff.0, "media": staff.1}})
        );
    } else {
        let ms = |v: Option<u64>| v.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into());
        let c = citizen.0;
        println!();
        println!(
            "Summary ({})",
            if ok {
                "call succeeded"
            } else {
                "MEDIA WAS NOT DECODED BOTH WAYS"
            }
        );
        println!("  citizen join -> code resolved      {}", ms(c.resolved_ms));
        println!(
            "  citizen join -> in the meeting     {}",
            ms(c.signalling_ms)
        );
        println!(
            "  citizen join -> media connected    {}",
            ms(c.connected_ms)
        );
        println!(
            "  citizen join -> first remote audio {}",
            ms(c.first_audio_ms)
        );
        println!(
            "  citizen join -> first remote video {}",
            ms(c.first_video_ms)
        );
        for (label, media) in [
            ("caseworker -> citizen", citizen.1),
            ("citizen -> caseworker", staff.1),
        ] {
            println!("  {label}:");
            println!("    {}", describe_media(media));
        }
    }
    if ok { exit::OK } else { exit::FAILURE }
}

/// One readable line about received media.
fn describe_media(m: &serde_json::Value) -> String {
    let lat = |v: &serde_json::Value| {
        v["median"]
            .as_f64()
            .map(|x| format!("{x:.0} ms"))
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "video {} frames decoded ({}x{}), latency {}, PSNR {} dB, {} freezes; audio {} x 10 ms decoded, level {} dBFS, latency {}",
        m["video"]["frames_decoded"],
        m["video"]["width"],
        m["video"]["height"],
        lat(&m["video"]["latency_ms"]),
        m["video"]["psnr_db"]["mean"]
            .as_f64()
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "-".into()),
        m["video"]["freezes"],
        m["audio"]["decoded_frames"],
        m["audio"]["level_dbfs"],
        lat(&m["audio"]["latency_ms"]),
    )
}

async fn host(server: &str, token: &str, seconds: u64, media: &MediaArgs, rep: Reporter) -> i32 {
    let options = match device_options(media) {
        Ok(o) => o,
        Err(e) => {
            rep.event("caseworker", "error", json!({"message": e}));
            return exit::FAILURE;
        }
    };
    let api = match ApiClient::new(server, Duration::from_secs(10)) {
        Ok(a) => a,
        Err(e) => {
            rep.event("caseworker", "error", json!({"message": e.to_string()}));
            return report::exit_code(&e.public());
        }
    };
    let meeting = match api.create_meeting(token, None).await {
        Ok(m) => m,
        Err(e) => {
            rep.event("caseworker", "error", json!({"message": e.to_string()}));
            return report::exit_code(&e.public());
        }
    };
    let ticket = match api.staff_ticket(token, &meeting.meeting_id).await {
        Ok(t) => t,
        Err(e) => {
            rep.event("caseworker", "error", json!({"message": e.to_string()}));
            return report::exit_code(&e.public());
        }
    };
    rep.event(
        "caseworker",
        "meeting created",
        json!({"code": meeting.code_display, "meeting_id": meeting.meeting_id}),
    );
    let call = Call::join_with_ticket(media_config(server, media), ticket);
    if media.muted {
        call.set_microphone_muted(true);
        call.set_camera_enabled(false);
    }
    stay(call, options, media, "caseworker", seconds, &rep).await
}

/// The example brand, for a citizen without `--brand`.
const EXAMPLE_BRAND: &str = include_str!("../../brands/eksempel/brand.toml");

/// Reports the citizen's screens (what a phone would draw) as JSON events.
struct ScreenReporter {
    rep: Reporter,
    last: std::sync::Mutex<String>,
}

impl samtale_ffi::CallObserver for ScreenReporter {
    fn on_screen(&self, screen: samtale_ffi::Screen) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // A new screen, or the home button lighting up or going out (presence).
        let notice = screen.notice.as_ref().map(|n| n.id.clone());
        let key = format!("{} {} {notice:?}", screen.id, screen.lit);
        if *last != key && self.rep.json() {
            self.rep.event(
                "citizen",
                "screen",
                json!({"id": screen.id, "lit": screen.lit, "notice": notice, "announce": screen.announce}),
            );
        }
        *last = key;
    }

    fn on_remote_video(&self, _frame: samtale_ffi::RemoteVideoFrame) {}
}

/// The citizen joins through `samtale-ffi`, the API the phones call: the same code look-up,
/// screens, pairing-token store, audio and camera entry points. The call itself is watched
/// for statistics.
async fn join(
    server: &str,
    code: &str,
    seconds: u64,
    home_secs: u64,
    media: &MediaArgs,
    rep: Reporter,
) -> i32 {
    let fail = |message: String| {
        rep.event("citizen", "error", json!({ "message": message }));
        exit::FAILURE
    };
    let options = match device_options(media) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let brand_toml = match &media.brand {
        Some(dir) => match std::fs::read_to_string(dir.join("brand.toml")) {
            Ok(t) => t,
            Err(e) => return fail(format!("{}: {e}", dir.display())),
        },
        None => EXAMPLE_BRAND.to_owned(),
    };
    let storage = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return fail(format!("no storage directory: {e}")),
    };
    let app = samtale_ffi::AppConfig {
        server_url: server.to_owned(),
        brand_id: "samtale-sim".to_owned(),
        storage_dir: storage.path().to_string_lossy().into_owned(),
        log_level: samtale_ffi::LogLevel::Info,
        brand_toml,
        language: None,
        extra_ca_pem: None,
    };
    let (loopback, bind, drop) = (media.loopback, media.bind.clone(), media.drop_incoming);
    let freeze = media.freeze_after_ice_restart;
    let tune: samtale_ffi::Tune = Arc::new(move |c: &mut CallConfig| {
        bind_media(c, loopback, bind.as_deref());
        drop_incoming(c, drop);
        c.freeze_after_ice_restart = freeze;
    });
    let observer = Arc::new(ScreenReporter {
        rep: rep.clone(),
        last: std::sync::Mutex::new(String::new()),
    });
    let samtale = match samtale_ffi::Samtale::new_tuned(app, Arc::clone(&observer) as _, None, tune)
    {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    samtale.join(code.to_owned());
    let Some(call) = samtale.current_call() else {
        return fail("the core did not start a call".into());
    };
    let port: Arc<dyn MediaPort> = Arc::new(samtale_ffi::emulator::PhonePort(Arc::clone(&samtale)));
    let code = stay_with(call, Some(port), options, media, "citizen", seconds, &rep).await;
    // The presenter draws the call's last screen (ended, or why it failed) on its own thread:
    // report it before the process exits, so the output ends with what the phone would show.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let screen = samtale.current_screen();
        let live = matches!(
            screen.id.as_str(),
            "joining" | "waiting" | "in-call" | "reconnecting"
        );
        if !live || tokio::time::Instant::now() >= deadline {
            samtale_ffi::CallObserver::on_screen(&*observer, screen);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if home_secs > 0 {
        // Back to the start (the one big button), the app left open.
        samtale.back();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(home_secs)) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        // The app closes: the caseworker's page stops showing it open.
        samtale.app_closed().await;
    }
    samtale.shutdown();
    code
}

/// Stays in a call for `seconds` (0 = until Ctrl-C or the end), then leaves and reports.
async fn stay(
    call: Call,
    options: DeviceOptions,
    media: &MediaArgs,
    who: &'static str,
    seconds: u64,
    rep: &Reporter,
) -> i32 {
    stay_with(call, None, options, media, who, seconds, rep).await
}

/// As [`stay`], the devices going through `port` when given (the phones' API).
async fn stay_with(
    call: Call,
    port: Option<Arc<dyn MediaPort>>,
    options: DeviceOptions,
    media: &MediaArgs,
    who: &'static str,
    seconds: u64,
    rep: &Reporter,
) -> i32 {
    let port = port.unwrap_or_else(|| Arc::new(call.clone()));
    let devices = Devices::attach_port(&call, port, options);
    let _trace = trace(&call, who, rep);
    let _gaps = report_video_gaps(&call, who, rep);
    let _hearing = report_hearing(&call, who, rep);
    let s = call.wait_for(Duration::from_secs(60), is_up).await;
    if !is_up(&s) {
        return finish_failed(rep, who, &s);
    }
    let until_end = async {
        let _ = call
            .wait_for(Duration::from_secs(u64::MAX / 4), |s| s.is_final())
            .await;
    };
    // Ctrl-C (SIGINT) leaves cleanly however long the stay was meant to be.
    let limit = async {
        if seconds == 0 {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    };
    let network_changes = network_changes(&call, who, rep);
    // In JSON mode, a line a second about what is being received (tests watch it, e.g. for the
    // other side muting its microphone).
    let ticks = async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            if rep.json() {
                let m = call.media_stats();
                let d = devices.report();
                rep.event(
                    who,
                    "media",
                    json!({
                        "audio_level_dbfs": m.audio.level_dbfs,
                        "audible_frames": d.audible_frames,
                        "audio_decoded_frames": m.audio.decoded_frames,
                        "video_frames_decoded": m.video.frames_decoded,
                        "ice_restarts": call.stats().ice_restarts,
                    }),
                );
            }
        }
    };
    tokio::select! {
        _ = until_end => {}
        _ = limit => {}
        _ = ticks => {}
        _ = network_changes => {}
    }
    let stats = call.stats();
    let media_json = media_summary(&call, &devices);
    if let Some(dir) = &media.record
        && let Err(e) = save_recordings(&devices, dir)
    {
        rep.event(who, "error", json!({"message": e}));
    }
    drop(devices);
    call.leave();
    call.closed().await;
    let final_state = call.state();
    if rep.json() {
        let (sockets, tasks) = leftovers().await;
        println!(
            "{}",
            json!({"event": "summary", "who": who, "stats": stats, "media": media_json,
                   "state": final_state.name(),
                   "leftover": {"sockets": sockets, "tasks": tasks}})
        );
    } else {
        println!();
        println!(
            "{who}: received {} audio + {} video packets",
            stats.audio_packets_received, stats.video_packets_received
        );
        println!("  {}", describe_media(&media_json));
    }
    match final_state {
        CallState::Failed(err) => report::exit_code(&err),
        _ => exit::OK,
    }
}

async fn bench_join(runs: usize, json_out: bool) -> i32 {
    let rep = Reporter::new(json_out);
    let (server, _dir, token) = match start_local_server().await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return exit::FAILURE;
        }
    };
    let base = server.base_url();
    let result = bench_runs(&base, &token, runs.max(1), &rep).await;
    server.shutdown().await;
    match result {
        Ok(samples) => {
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            let pct = |p: f64| {
                let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
                sorted[idx.min(sorted.len() - 1)]
            };
            let (median, p95, min, max) =
                (pct(0.5), pct(0.95), sorted[0], sorted[sorted.len() - 1]);
            if json_out {
                println!(
                    "{}",
                    json!({"runs": samples.len(), "samples_ms": samples, "median_ms": median, "p95_ms": p95, "min_ms": min, "max_ms": max})
                );
            } else {
                println!(
                    "bench-join: {} runs, join() -> first remote media packet",
                    samples.len()
                );
                println!("  median {median} ms, p95 {p95} ms, min {min} ms, max {max} ms");
                println!("  samples: {samples:?}");
            }
            exit::OK
        }
        Err(code) => code,
    }
}

async fn bench_runs(base: &str, token: &str, runs: usize, rep: &Reporter) -> Result<Vec<u64>, i32> {
    let api = ApiClient::new(base, Duration::from_secs(10)).map_err(|_| exit::FAILURE)?;
    let meeting = api
        .create_meeting(token, None)
        .await
        .map_err(|_| exit::SERVER_ERROR)?;
    let ticket = api
        .staff_ticket(token, &meeting.meeting_id)
        .await
        .map_err(|_| exit::SERVER_ERROR)?;
    let staff = Call::join_with_ticket(config(base, true), ticket);
    // The caseworker talks and shows video; the citizen measures when the first packet arrives.
    let _staff_devices = Devices::attach(&staff, DeviceOptions::default());
    let s = staff.wait_for(Duration::from_secs(20), is_up).await;
    if !is_up(&s) {
        return Err(finish_failed(rep, "caseworker", &s));
    }
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        let citizen = Call::join(config(base, true), &meeting.code);
        let mut rx = citizen.watch();
        // Wait for the first remote packet: poll stats on every state change and every 5 ms
        // tick until a packet shows up or 20 s pass.
        let first = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let st = citizen.stats();
                if let Some(ms) = [st.first_audio_ms, st.first_video_ms]
                    .into_iter()
                    .flatten()
                    .min()
                {
                    return Ok(ms);
                }
                if citizen.state().is_final() {
                    return Err(citizen.state());
                }
                tokio::select! {
                    _ = rx.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(2)) => {}
                }
            }
        })
        .await;
        match first {
            Ok(Ok(ms)) => {
                let st = citizen.stats();
                rep.event(
                    "bench",
                    "run",
                    json!({"run": run + 1, "first_media_ms": ms, "resolved_ms": st.resolved_ms,
                        "signalling_ms": st.signalling_ms, "connected_ms": st.connected_ms}),
                );
                samples.push(ms);
            }
            Ok(Err(state)) => return Err(finish_failed(rep, "citizen", &state)),
            Err(_) => {
                rep.event(
                    "bench",
                    "timeout",
                    json!({"run": run + 1, "after_ms": started.elapsed().as_millis() as u64}),
                );
                return Err(exit::FAILURE);
            }
        }
        citizen.leave();
        citizen.closed().await;
        // The caseworker sees the citizen leave before the next run starts.
        let _ = staff
            .wait_for(Duration::from_secs(5), |s| *s == CallState::Waiting)
            .await;
    }
    staff.leave();
    staff.closed().await;
    Ok(samples)
}
