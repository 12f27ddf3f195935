//! Whatever a client does, the log stays small (issue 17, "logs fill the disk"): signals to a
//! disconnected seat, wrong staff tokens and rate-limited look-ups each write a few lines a
//! minute, however many there are.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use samtale_server::ServerConfig;
use tracing_subscriber::EnvFilter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_writes_a_few_lines_not_one_per_message() {
    let captured = Captured::default();
    let writer = captured.clone();
    let mut filter = EnvFilter::new("info");
    for directive in samtale_server::PRIVACY_LOG_DIRECTIVES {
        filter = filter.add_directive(directive.parse().unwrap());
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();
    let server = start(ServerConfig {
        lookup_burst: 5,
        resume_grace_secs: 30,
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let b = join(&staff.resolve(&m.code_display).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;
    // Two more citizens (the meeting's four seats).
    let mut c = join(&staff.resolve(&m.code_display).await).await;
    let mut d = join(&staff.resolve(&m.code_display).await).await;
    // b's socket drops: its seat is kept for resume, with a bounded queue (256 signals). The
    // others flood it, each just under its socket's burst (200 messages), so 329 are dropped.
    drop(b.ws);
    let per_socket = 195;
    let flood = 3 * per_socket;
    for ws in [&mut a.ws, &mut c.ws, &mut d.ws] {
        for i in 0..per_socket {
            // Candidates: a new offer replaces the sender's queued signals, candidates pile up.
            ws.send(serde_json::json!({"type": "signal", "to": b.id, "payload": {
                "kind": "candidate", "candidate": format!("candidate:{i} 1 udp 1 127.0.0.1 9 typ host")}}))
                .await;
        }
        // Answered after every signal before it was handled.
        ws.ping_through(7).await;
    }
    // Wrong staff tokens and look-ups beyond the address' budget.
    let http = http();
    for _ in 0..300 {
        let r = http
            .get(format!("{}/api/v1/meetings", staff.base))
            .bearer_auth("wrong-token")
            .send()
            .await
            .unwrap();
        // 401 for the address' ten tries, then 429 (wrong tokens are limited too).
        assert!([401, 429].contains(&r.status().as_u16()), "{}", r.status());
    }
    let mut limited = 0;
    for _ in 0..300 {
        if staff.resolve_raw("000 000 0000").await.status() == 429 {
            limited += 1;
        }
    }
    assert!(limited > 250, "the look-ups were rate limited ({limited})");
    let dropped = captured.count("signal queue of a disconnected seat is full");
    let refused = captured.count("staff request refused");
    let rate_limited = captured.count("look-up rate limited");
    println!(
        "log lines: {dropped} for {flood} signals to a disconnected seat (256 queued), {refused} for 300 refused staff requests, {rate_limited} for {limited} rate-limited look-ups"
    );
    assert!(
        (1..=10).contains(&dropped),
        "{dropped} lines for dropped signals"
    );
    assert!(
        (1..=10).contains(&refused),
        "{refused} lines for refused staff requests"
    );
    assert!(
        (1..=10).contains(&rate_limited),
        "{rate_limited} lines for rate limiting"
    );
    let total = captured.0.lock().unwrap().len();
    assert!(total < 64 * 1024, "the whole log is {total} bytes");
    server.shutdown().await;
}
