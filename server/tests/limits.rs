//! What one client can hold of the server (issue 17, "idle connections exhaust the server"):
//! the binary raises its own soft open-file limit (every signalling socket is a file
//! descriptor; at the common default of 1024 it is full at ~500 meetings), one address holds
//! a bounded number of connections, and connections that send nothing are closed.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// (soft, hard) "Max open files" of a process, from /proc.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    let mut fields = line.split_whitespace().skip(3);
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

#[test]
fn the_server_raises_its_soft_open_file_limit_to_the_hard_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    // Started the way a distribution's default leaves it: soft limit low, hard limit higher.
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -Sn 256 && exec "$0" --listen 127.0.0.1:0 --db "$1" --staff-token limits-test-token-0123456789"#)
        .arg(env!("CARGO_BIN_EXE_samtale-server"))
        .arg(&db)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("listening on"));
    assert!(listening, "the server did not start");
    let (soft, hard) = open_file_limits(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(soft, "256", "the soft limit was left at 256 (hard {hard})");
    assert_eq!(soft, hard, "soft {soft}, hard {hard}");
}

/// Reads until the server closes the connection (EOF or reset); `false` if still open after
/// `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn connect_from(src: &str, to: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{src}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// A plain `GET /healthz` from `src` is answered 200.
async fn healthz_answers_from(src: &str, to: std::net::SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = connect_from(src, to).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: samtale\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_one_address_cannot_hold_them_all() {
    use std::time::{Duration, Instant};
    let server = common::start(samtale_server::ServerConfig {
        max_connections_per_address: 50,
        keepalive_secs: 1,
        presence_hold_secs: 1,
        ..common::config()
    })
    .await;
    let addr = server.addr();
    // One address opens its share and sends nothing.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(connect_from("127.0.0.1", addr).await);
    }
    let opened = Instant::now();
    // One more from the same address is closed at once.
    let mut extra = connect_from("127.0.0.1", addr).await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "the 51st connection from one address was kept"
    );
    // Everyone else is served meanwhile.
    healthz_answers_from("127.0.0.2", addr).await;
    // The idle ones are closed once they said nothing for the idle period (3 keep-alive
    // periods + 10 s here: 13 s).
    for stream in &mut idle {
        assert!(
            closed_within(stream, Duration::from_secs(20)).await,
            "an idle connection was kept"
        );
    }
    let after = opened.elapsed();
    println!("idle connections closed after {} ms", after.as_millis());
    assert!(
        after >= Duration::from_secs(12),
        "closed too early: {after:?}"
    );
    // Their places are free again.
    let mut again = connect_from("127.0.0.1", addr).await;
    assert!(
        !closed_within(&mut again, Duration::from_millis(500)).await,
        "a connection after the idle ones were closed was refused"
    );
    server.shutdown().await;
}

/// A client that trickles its request headers one byte a second is never idle, so the idle
/// timeout alone would let it hold its connection for ever ("slowloris"): the headers must be
/// complete 10 s after the request began, or the connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_trickled_byte_by_byte_are_cut_off_after_ten_seconds() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = common::start(common::config()).await;
    let mut slow = connect_from("127.0.0.1", server.addr()).await;
    let began = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: samtale\r\n")
        .await
        .unwrap();
    let mut closed_after = None;
    let mut buf = [0u8; 256];
    for i in 0..30u32 {
        // One more header byte a second (never the blank line that ends the headers).
        if slow.write_all(b"X").await.is_err() {
            closed_after = Some(began.elapsed());
            break;
        }
        // Anything read (an error answer, EOF or a reset) means the server gave up on it.
        if tokio::time::timeout(Duration::from_secs(1), slow.read(&mut buf))
            .await
            .is_ok()
        {
            closed_after = Some(began.elapsed());
            break;
        }
        assert!(i < 29, "still open after 30 s");
    }
    let after = closed_after.unwrap();
    println!("trickled headers cut off after {} ms", after.as_millis());
    assert!(
        after >= Duration::from_secs(9) && after <= Duration::from_secs(13),
        "cut off after {after:?}"
    );
    // A normal request on another connection is served.
    healthz_answers_from("127.0.0.1", server.addr()).await;
    server.shutdown().await;
}
