//! TURN credentials in tickets, checked by a real coturn (Debian `coturn`): the ones the server
//! mints allocate a relay; a tampered or an expired one is refused.

mod common;

use common::{Staff, config, start};
use samtale_server::{Clock, ServerConfig, TurnConfig};
use std::process::Stdio;
use std::time::{Duration, Instant};

struct Coturn {
    _child: tokio::process::Child,
    port: u16,
    /// Its pid file and user database live here, not in /var.
    _dir: tempfile::TempDir,
}

const SECRET: &str = "turn-test-shared-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn coturn() -> Coturn {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tmp");
    let child = tokio::process::Command::new("turnserver")
        .arg(format!(
            "--pidfile={}",
            dir.path().join("turnserver.pid").display()
        ))
        .arg(format!("--userdb={}", dir.path().join("turndb").display()))
        .args([
            "-n",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--log-file=stdout",
        ])
        .args(["--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
        .arg(format!("--listening-port={port}"))
        .args([
            "--min-port=49700",
            "--max-port=49800",
            "--allow-loopback-peers",
        ])
        .args(["--use-auth-secret", "--realm=samtale"])
        .arg(format!("--static-auth-secret={SECRET}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("turnserver (Debian package coturn) must be installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "coturn did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Coturn {
        _child: child,
        port,
        _dir: dir,
    }
}

/// Whether coturn gives `user`/`password` a relay allocation (coturn's own test client), over
/// UDP or, with `tcp`, over TCP as for networks that block UDP.
async fn allocates(turn: &Coturn, user: &str, password: &str, tcp: bool) -> bool {
    let mut cmd = tokio::process::Command::new("turnutils_uclient");
    if tcp {
        cmd.arg("-t");
    }
    let out = cmd
        .args(["-y", "-n", "1", "-m", "1", "-l", "100"])
        .args(["-u", user, "-w", password, "-p", &turn.port.to_string()])
        .arg("127.0.0.1")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(20), out).await {
        Ok(Ok(out)) => out.status.success(),
        Ok(Err(e)) => panic!("turnutils_uclient (coturn) must be installed: {e}"),
        Err(_) => false,
    }
}

/// The TURN entry of a citizen's ticket from a server with `clock`.
async fn credentials(turn: &Coturn, clock: Clock) -> (Vec<String>, String, String) {
    let server = start(ServerConfig {
        turn: Some(TurnConfig {
            urls: vec![
                format!("turn:127.0.0.1:{}?transport=udp", turn.port),
                format!("turn:127.0.0.1:{}?transport=tcp", turn.port),
            ],
            secret: SECRET.into(),
            ttl_secs: 600,
        }),
        clock,
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let meeting = staff.meeting().await;
    let ticket = staff.resolve(&meeting.code).await;
    server.shutdown().await;
    let entry = ticket
        .ice_servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .expect("a TURN entry in the ticket")
        .clone();
    (
        entry.urls,
        entry.username.expect("username"),
        entry.credential.expect("credential"),
    )
}

#[tokio::test]
async fn minted_credentials_allocate_and_tampered_or_expired_ones_do_not() {
    let turn = coturn().await;
    let (urls, user, password) = credentials(&turn, Clock::system()).await;
    assert_eq!(urls.len(), 2, "{urls:?}");
    let (expiry, id) = user.split_once(':').expect("<expiry>:<id>");
    let expiry: i64 = expiry.parse().expect("a unix time");
    let now = Clock::system().now_unix();
    assert!((now + 590..=now + 610).contains(&expiry), "{user}");
    assert_eq!(id.len(), 16, "{user}");
    for tcp in [false, true] {
        assert!(
            allocates(&turn, &user, &password, tcp).await,
            "coturn refused fresh credentials (tcp: {tcp})"
        );
    }
    assert!(
        !allocates(&turn, &user, &format!("x{password}"), false).await,
        "coturn took a tampered password"
    );
    // Minted two hours ago with a 10-minute lifetime: expired.
    let past = Clock::manual(now - 7_200);
    let (_, old_user, old_password) = credentials(&turn, past).await;
    assert!(
        !allocates(&turn, &old_user, &old_password, false).await,
        "coturn took expired credentials"
    );
}
