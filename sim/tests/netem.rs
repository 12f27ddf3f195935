//! Media under real network impairment: two emulator processes in their own network
//! namespaces, joined through a bridge to a server in the test process, impaired on each side's
//! egress (see `samtale_e2e::netns`). Needs root (CAP_NET_ADMIN); `./scripts/test` runs as root.

use samtale_e2e::netns::NetLab;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const TOKEN: &str = "netem-test-staff-token-0123456789abcdef";
const SIM: &str = env!("CARGO_BIN_EXE_samtale-sim");

/// The JSON lines a sim printed, parsed.
fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn summary(lines: &[Value]) -> Value {
    lines
        .iter()
        .find(|v| v["event"] == "summary")
        .cloned()
        .unwrap_or_else(|| panic!("no summary in {lines:?}"))
}

/// Runs a caseworker (host 0) and a citizen (host 1) for `seconds`; returns both summaries.
async fn call(lab: &NetLab, url: &str, seconds: u64) -> (Value, Value) {
    let host_secs = (seconds + 6).to_string();
    let mut host = lab
        .command(0, SIM)
        .args(["host", "--server", url, "--token", TOKEN, "--json"])
        .args(["--seconds", &host_secs, "--bind", &lab.ip(0)])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("host sim");
    let stdout = host.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout).lines();
    let mut host_lines = Vec::new();
    let code = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = reader.next_line().await {
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            host_lines.push(v.clone());
            if v["event"] == "meeting created" {
                return v["code"].as_str().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("the host printed no code: {host_lines:?}"));

    let citizen = lab
        .command(1, SIM)
        .args(["join", "--server", url, "--code", &code, "--json"])
        .args(["--seconds", &seconds.to_string(), "--bind", &lab.ip(1)])
        .kill_on_drop(true)
        .output()
        .await
        .expect("citizen sim");
    // The citizen left; the host stays until its own time is up.
    while let Ok(Some(line)) = reader.next_line().await {
        host_lines.push(serde_json::from_str(&line).unwrap_or(Value::Null));
    }
    let _ = host.wait().await;
    (summary(&host_lines), summary(&lines(&citizen.stdout)))
}

fn n(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64().unwrap_or(-1.0)
}

/// 10 ms frames `receiver` played from real audio (decoded or rebuilt from FEC), against the
/// number the sender sent (two per 20 ms packet; DTX silence is not sent and not counted).
fn heard_of_sent(receiver: &Value, sender: &Value) -> (f64, f64) {
    let m = &receiver["media"];
    let heard = n(m, &["audio", "decoded_frames"]) + n(m, &["audio", "fec_frames"]);
    (
        heard,
        2.0 * n(&sender["media"], &["send", "audio_frames_sent"]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces); ./scripts/test runs it"]
async fn ten_percent_loss_audio_has_no_gap_longer_than_plc_and_video_keeps_decoding() {
    let lab = NetLab::create(2);
    let dir = tempfile::tempdir().expect("tmp");
    let server = lab.start_server(&dir, TOKEN, None).await;
    for host in 0..2 {
        lab.loss(host, 10.0);
    }
    let (staff, citizen) = call(&lab, &server.base_url(), 10).await;
    for (who, s, other) in [
        ("citizen", &citizen, &staff),
        ("caseworker", &staff, &citizen),
    ] {
        let m = &s["media"];
        eprintln!("10 % loss, {who} received: {m}");
        let (heard, sent) = heard_of_sent(s, other);
        assert!(heard > 0.85 * sent, "{who}: heard {heard} of {sent}: {m}");
        assert!(
            n(m, &["audio", "fec_frames"]) > 0.0,
            "{who}: FEC never used: {m}"
        );
        // Opus PLC covers up to 100 ms (the jitter buffer's PLC window); no gap may be longer.
        let gap = n(m, &["audio", "max_gap_ms"]);
        assert!(
            (0.0..=100.0).contains(&gap),
            "{who}: audio gap of {gap} ms: {m}"
        );
        assert!(n(m, &["video", "frames_decoded"]) > 60.0, "{who}: {m}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces); ./scripts/test runs it"]
async fn at_150_kbps_video_pauses_and_audio_stays() {
    let lab = NetLab::create(2);
    let dir = tempfile::tempdir().expect("tmp");
    let server = lab.start_server(&dir, TOKEN, None).await;
    for host in 0..2 {
        // 150 kbit/s with a 200 ms queue, like a weak mobile uplink.
        lab.rate(host, 150, 200);
    }
    let (staff, citizen) = call(&lab, &server.base_url(), 20).await;
    for (who, s, other) in [
        ("citizen", &citizen, &staff),
        ("caseworker", &staff, &citizen),
    ] {
        let m = &s["media"];
        eprintln!("150 kbit/s, {who}: {m}");
        // The sender saw too little bandwidth and paused its video...
        assert!(
            n(m, &["send", "video_paused_ms"]) > 0.0,
            "{who} never paused video: {m}"
        );
        // ...while its audio kept reaching the other side.
        let (heard, sent) = heard_of_sent(other, s);
        assert!(
            heard > 0.8 * sent,
            "audio from {who} did not stay: heard {heard} of {sent}: {}",
            other["media"]
        );
    }
    server.shutdown().await;
}
