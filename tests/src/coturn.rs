//! A real coturn (Debian package `coturn`) for tests: TURN on one port, UDP and TCP, with
//! coturn's shared-secret scheme (the one the server mints tickets' credentials with). Its pid
//! file and user database live in a temp dir; it is killed when dropped.

use std::process::Stdio;
use std::time::{Duration, Instant};

/// A running coturn.
pub struct Coturn {
    child: tokio::process::Child,
    ip: String,
    port: u16,
    secret: String,
    _dir: tempfile::TempDir,
}

/// A free TCP port on `ip` (coturn listens on the same port for UDP and TCP).
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Coturn {
    /// Starts coturn on `ip` and a free port; returns once it accepts TCP.
    pub async fn start(ip: &str, secret: &str) -> Coturn {
        Self::start_on(ip, free_port(ip), secret).await
    }

    /// Starts coturn on `ip:port` (e.g. again after [`Coturn::stop`]).
    pub async fn start_on(ip: &str, port: u16, secret: &str) -> Coturn {
        let dir = tempfile::tempdir().expect("tmp");
        let child = tokio::process::Command::new("turnserver")
            .args([
                "-n",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--log-file=stdout",
            ])
            .arg(format!(
                "--pidfile={}",
                dir.path().join("turnserver.pid").display()
            ))
            .arg(format!("--userdb={}", dir.path().join("turndb").display()))
            .arg(format!("--listening-ip={ip}"))
            .arg(format!("--relay-ip={ip}"))
            .arg(format!("--listening-port={port}"))
            .args([
                "--min-port=49200",
                "--max-port=49400",
                "--allow-loopback-peers",
            ])
            .args(["--use-auth-secret", "--realm=samtale"])
            .arg(format!("--static-auth-secret={secret}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("turnserver (Debian package coturn) must be installed");
        // Ready when it accepts TCP: polled, since coturn says nothing we could wait on.
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect((ip, port)).await.is_err() {
            assert!(Instant::now() < deadline, "coturn did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Coturn {
            child,
            ip: ip.to_owned(),
            port,
            secret: secret.to_owned(),
            _dir: dir,
        }
    }

    /// Its address.
    pub fn ip(&self) -> &str {
        &self.ip
    }

    /// Its port (UDP and TCP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its static-auth-secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `turn:` URLs for UDP and TCP, as a server puts them in tickets.
    pub fn urls(&self) -> Vec<String> {
        ["udp", "tcp"]
            .iter()
            .map(|t| format!("turn:{}:{}?transport={t}", self.ip, self.port))
            .collect()
    }

    /// The server configuration that mints credentials for it.
    pub fn config(&self, ttl_secs: u64) -> samtale_server::TurnConfig {
        samtale_server::TurnConfig {
            urls: self.urls(),
            secret: self.secret.clone(),
            ttl_secs,
        }
    }

    /// Kills it (a relay dying mid-call).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
