//! 100 join/leave cycles in one process: memory, sockets, threads and tasks must stay flat.
//! (webrtc-rs 0.21.0 leaked every peer connection through an Arc cycle, webrtc-rs issue #906;
//! this is the check that neither it nor we do.) Results go to docs/benchmarks.md.

use samtale_core::CallState;
use samtale_e2e::TestServer;
use std::time::{Duration, Instant};

const CYCLES: usize = 100;
/// Cycles before the baseline: allocator arenas, codec tables and thread pools settle first.
const WARM_UP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    rss_kib: u64,
    threads: u64,
    sockets: usize,
    tasks: usize,
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn usage() -> Usage {
    let sockets = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|t| t.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0);
    Usage {
        rss_kib: status_field("VmRSS:"),
        threads: status_field("Threads:"),
        sockets,
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
    }
}

/// Usage once sockets and tasks have settled to at most `ceiling` (or 5 s passed).
async fn settled(ceiling: Option<Usage>) -> Usage {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let u = usage();
        let done = ceiling.is_none_or(|c| u.sockets <= c.sockets && u.tasks <= c.tasks);
        if done || Instant::now() > deadline {
            return u;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_join_leave_cycles_leak_nothing() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let mut baseline = None;
    let started = Instant::now();
    for cycle in 1..=CYCLES {
        let citizen = server.citizen_in_call(&meeting.code).await;
        // Real media each time: wait for a decoded picture on both sides.
        let deadline = Instant::now() + Duration::from_secs(20);
        while citizen.media_stats().video.frames_decoded == 0 {
            assert!(Instant::now() < deadline, "cycle {cycle}: no picture");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        citizen.leave();
        citizen.closed().await;
        drop(citizen);
        assert_eq!(
            staff
                .wait_for(Duration::from_secs(20), |s| *s == CallState::Waiting)
                .await,
            CallState::Waiting,
            "cycle {cycle}: the caseworker should wait again"
        );
        if cycle == WARM_UP {
            let u = settled(None).await;
            eprintln!("after {cycle} cycles: {u:?}");
            baseline = Some(u);
        }
    }
    let base = baseline.expect("baseline");
    let end = settled(Some(base)).await;
    let per_cycle_kib = (end.rss_kib as f64 - base.rss_kib as f64) / (CYCLES - WARM_UP) as f64;
    eprintln!(
        "after {CYCLES} cycles ({:.0} s): {end:?}; RSS {:+.1} KiB per cycle",
        started.elapsed().as_secs_f64(),
        per_cycle_kib
    );
    assert!(
        end.sockets <= base.sockets,
        "sockets grew: {base:?} -> {end:?}"
    );
    assert!(end.tasks <= base.tasks, "tasks grew: {base:?} -> {end:?}");
    assert!(
        end.threads <= base.threads + 2,
        "threads grew: {base:?} -> {end:?}"
    );
    // A leaked peer connection with its buffers costs far more than 100 KiB; 90 of them would
    // add well over 9 MB.
    assert!(
        per_cycle_kib < 100.0,
        "RSS grew {per_cycle_kib:.1} KiB per cycle: {base:?} -> {end:?}"
    );
    staff.leave();
    staff.closed().await;
}
