//! The server binary as an operator starts it: it raises its own soft open-file limit (every
//! signalling socket is a file descriptor; at the common default of 1024 it is full at ~500
//! meetings).
#![allow(clippy::unwrap_used)]

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
