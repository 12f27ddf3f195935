//! Guessing join codes (issue 17, item 4): failed look-ups are limited per host, per prefix
//! (IPv4 /24, IPv6 /48) and watched over everyone, with an alarm and a back-off; a citizen with
//! the right code still gets in. Addresses are played through a trusted proxy header.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use samtale_server::{ForwardedHeader, ServerConfig, TrustedProxies};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// A valid code (check digit right) that no meeting has.
const WRONG: &str = "000 000 0000";

async fn look_up(base: &str, code: &str, from: &str) -> reqwest::Response {
    http()
        .post(format!("{base}/api/v1/join"))
        .header("x-forwarded-for", from)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

async fn status(base: &str, code: &str, from: &str) -> u16 {
    look_up(base, code, from).await.status().as_u16()
}

async fn stats(staff: &Staff) -> Value {
    let resp = staff
        .http
        .get(format!("{}/api/v1/stats", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["guessing"].clone()
}

fn config_behind_proxy() -> ServerConfig {
    ServerConfig {
        // The plain look-up bucket is out of the way: what is tested is the failure layers.
        lookup_burst: 10_000,
        trusted_proxies: TrustedProxies::parse(["127.0.0.1/32"], ForwardedHeader::XForwardedFor)
            .unwrap(),
        ..common::config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_look_ups_are_limited_per_host_and_per_prefix() {
    let server = start(config_behind_proxy()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let base = server.base_url();

    // One host: five failures, then refused before any look-up, for five minutes.
    for _ in 0..5 {
        assert_eq!(status(&base, WRONG, "203.0.113.7").await, 404);
    }
    let refused = look_up(&base, WRONG, "203.0.113.7").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((290..=300).contains(&retry), "Retry-After {retry}");
    // ... even with the right code: the host has spent its tries.
    assert_eq!(status(&base, &m.code, "203.0.113.7").await, 429);
    // A neighbour in the same /24 is not that host, and a citizen elsewhere gets in.
    assert_eq!(status(&base, &m.code, "203.0.113.8").await, 200);
    assert_eq!(status(&base, &m.code, "198.51.100.1").await, 200);

    // One IPv6 /48 is one bucket however many /64s it has: 20 failures from 20 /64s, then the
    // 21st /64 is refused although it never failed.
    for i in 0..20 {
        assert_eq!(
            status(&base, WRONG, &format!("2001:db8:5:{i:x}::1")).await,
            404
        );
    }
    assert_eq!(status(&base, WRONG, "2001:db8:5:ff::1").await, 429);
    assert_eq!(
        status(&base, &m.code, "2001:db8:6::1").await,
        200,
        "another /48"
    );

    let s = stats(&staff).await;
    assert_eq!(s["failed_lookups"], 25, "{s}");
    assert_eq!(s["refused_lookups"], 3, "{s}");
    assert_eq!(
        s["alarm_on"], false,
        "25 failures a minute is under the alarm: {s}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_botnet_raises_the_alarm_within_a_minute_and_is_slowed_without_locking_citizens_out() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("samtale_server=info"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();
    let server = start(config_behind_proxy()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let base = server.base_url();

    // 40 addresses in 40 different /24s, one wrong code each: no address nor prefix is over
    // its limit, but together they are over the alarm rate (30 a minute).
    let started = std::time::Instant::now();
    for i in 0..40 {
        assert_eq!(status(&base, WRONG, &format!("10.{i}.0.1")).await, 404);
    }
    let s = stats(&staff).await;
    assert_eq!(s["alarm_on"], true, "{s}");
    assert_eq!(s["alarms"], 1, "{s}");
    assert!(started.elapsed().as_secs() < 60);
    let alarm_lines = captured.count("someone may be guessing join codes");
    assert_eq!(
        alarm_lines, 1,
        "one alarm line per minute, not one per failure"
    );
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(!log.contains("10.3.0.1"), "no address in the log");
    assert!(
        log.contains("client_group="),
        "a keyed hash of the network instead"
    );

    // The back-off: a fresh address under the alarm gets one failure, not five.
    assert_eq!(status(&base, WRONG, "192.0.2.50").await, 404);
    assert_eq!(status(&base, WRONG, "192.0.2.50").await, 429);
    // A citizen with the right code is not locked out.
    assert_eq!(status(&base, &m.code, "192.0.2.99").await, 200);
    server.shutdown().await;
}
