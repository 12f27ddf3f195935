//! Behind a reverse proxy (issue 17, item 3): with the proxy trusted, look-ups are limited per
//! citizen (the address the proxy forwards), not per proxy; nobody else can choose their
//! bucket by sending the header; the proxy is not held to the per-address connection cap.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use samtale_server::{ForwardedHeader, ServerConfig, TrustedProxies};
use serde_json::json;

/// An HTTP client whose connections come from `src` (127.0.0.1 plays the proxy).
fn client_from(src: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(common::WAIT)
        .local_address(src.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn look_up(http: &reqwest::Client, base: &str, code: &str, forwarded: Option<&str>) -> u16 {
    let mut req = http
        .post(format!("{base}/api/v1/join"))
        .json(&json!({ "code": code }));
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap().status().as_u16()
}

fn limited(trusted: TrustedProxies) -> ServerConfig {
    ServerConfig {
        lookup_burst: 3,
        lookup_refill_secs: 600.0,
        trusted_proxies: trusted,
        ..common::config()
    }
}

/// (what the guesser got, what 10 citizens behind the same proxy got afterwards)
async fn guesser_then_citizens(trusted: TrustedProxies) -> (Vec<u16>, Vec<u16>) {
    let server = common::start(limited(trusted)).await;
    let staff = common::Staff::new(&server);
    let meeting = staff.meeting().await;
    let base = server.base_url();
    let proxy = client_from("127.0.0.1");
    // One address behind the proxy guesses as fast as it can.
    let mut guesser = Vec::new();
    for _ in 0..20 {
        guesser.push(look_up(&proxy, &base, "000 000 0000", Some("203.0.113.66")).await);
    }
    // Then ten real citizens come through the same proxy with the real code.
    let mut citizens = Vec::new();
    for i in 1..=10 {
        let forwarded = format!("198.51.100.{i}");
        citizens.push(look_up(&proxy, &base, &meeting.code, Some(&forwarded)).await);
    }
    server.shutdown().await;
    (guesser, citizens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_one_guesser_does_not_lock_out_the_citizens() {
    let trusted = TrustedProxies::parse(["127.0.0.1/32"], ForwardedHeader::XForwardedFor).unwrap();
    let (guesser, citizens) = guesser_then_citizens(trusted).await;
    // The guesser gets its burst (wrong codes: 404), then 429s.
    assert_eq!(&guesser[..3], &[404, 404, 404], "{guesser:?}");
    assert!(guesser[3..].iter().all(|s| *s == 429), "{guesser:?}");
    assert_eq!(
        citizens,
        vec![200; 10],
        "citizens behind the proxy: {citizens:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_everyone_behind_the_proxy_shares_one_bucket() {
    // What the README's proxy set-up gave before the setting: the finding, kept as a test so
    // the default (trust nobody) stays as documented.
    let (_, citizens) = guesser_then_citizens(TrustedProxies::none()).await;
    assert_eq!(citizens, vec![429; 10], "{citizens:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_from_anyone_else_is_ignored() {
    let trusted = TrustedProxies::parse(["127.0.0.1"], ForwardedHeader::XForwardedFor).unwrap();
    let server = common::start(limited(trusted)).await;
    let base = server.base_url();
    // Not the proxy: a new made-up address per request does not buy new tokens.
    let direct = client_from("127.0.0.2");
    let mut answers = Vec::new();
    for i in 0..8 {
        let forged = format!("192.0.2.{i}");
        answers.push(look_up(&direct, &base, "000 000 0000", Some(&forged)).await);
    }
    assert_eq!(&answers[..3], &[404, 404, 404], "{answers:?}");
    assert!(answers[3..].iter().all(|s| *s == 429), "{answers:?}");
    // Through the proxy, a client's own X-Forwarded-For prefix is not believed either: nginx
    // appends the address it saw, and that one is charged.
    let proxy = client_from("127.0.0.1");
    let mut chained = Vec::new();
    for i in 0..8 {
        let forwarded = format!("192.0.2.{i}, 198.51.100.99");
        chained.push(look_up(&proxy, &base, "000 000 0000", Some(&forwarded)).await);
    }
    assert!(chained[3..].iter().all(|s| *s == 429), "{chained:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trusted_proxy_is_not_held_to_the_connection_cap() {
    async fn connect_from(src: &str, to: std::net::SocketAddr) -> tokio::net::TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{src}:0").parse().unwrap()).unwrap();
        socket.connect(to).await.unwrap()
    }
    /// Still open after `wait` (the server closes a refused connection at once).
    async fn open_after(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 8];
        tokio::time::timeout(wait, stream.read(&mut buf))
            .await
            .is_err()
    }
    let trusted = TrustedProxies::parse(["127.0.0.1"], ForwardedHeader::XForwardedFor).unwrap();
    let server = common::start(ServerConfig {
        max_connections_per_address: 5,
        ..limited(trusted)
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..12 {
        held.push(connect_from("127.0.0.1", server.addr()).await);
    }
    for stream in &mut held {
        assert!(
            open_after(stream, Duration::from_millis(200)).await,
            "the proxy's connection was closed"
        );
    }
    // Anyone else still is.
    let mut other = Vec::new();
    for _ in 0..6 {
        other.push(connect_from("127.0.0.2", server.addr()).await);
    }
    assert!(
        !open_after(&mut other[5], Duration::from_secs(2)).await,
        "a sixth connection from an untrusted address was kept"
    );
    server.shutdown().await;
}
