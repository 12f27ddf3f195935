//! 100 join/leave cycles in one process: memory, sockets, threads and tasks must stay flat.
//! (webrtc-rs 0.21.0 leaked every peer connection through an Arc cycle, webrtc-rs issue #906;
//! this is the check that neither it nor we do.) Results go to docs/benchmarks.md.

use cap::Cap;
use samtale_core::CallState;
use samtale_e2e::TestServer;
use std::alloc::System;
use std::time::{Duration, Instant};

/// Counts the bytes the process holds on the heap. RSS alone cannot tell a leak from
/// fragmentation: every observer's delivery thread may get its own glibc arena, and RSS then
/// moves by 100 KiB per cycle or not at all from run to run.
#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

const CYCLES: usize = 100;
/// Cycles before the baseline: allocator arenas, codec tables and thread pools settle first.
const WARM_UP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    heap_kib: u64,
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
        heap_kib: (HEAP.allocated() / 1024) as u64,
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
    let cycles = (CYCLES - WARM_UP) as f64;
    let heap_per_cycle_kib = (end.heap_kib as f64 - base.heap_kib as f64) / cycles;
    let rss_per_cycle_kib = (end.rss_kib as f64 - base.rss_kib as f64) / cycles;
    eprintln!(
        "after {CYCLES} cycles ({:.0} s): {end:?}; heap {heap_per_cycle_kib:+.1} KiB, \
         RSS {rss_per_cycle_kib:+.1} KiB per cycle",
        started.elapsed().as_secs_f64(),
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
    // A leaked peer connection with its buffers costs far more than 100 KiB of heap; 90 of
    // them would add well over 9 MB. One leaked video frame (320x240 I420) is 112 KiB.
    assert!(
        heap_per_cycle_kib < 16.0,
        "the heap grew {heap_per_cycle_kib:.1} KiB per cycle: {base:?} -> {end:?}"
    );
    // RSS is noisier (allocator arenas), but a leak outside the Rust heap (C codecs) shows
    // only here.
    assert!(
        rss_per_cycle_kib < 400.0,
        "RSS grew {rss_per_cycle_kib:.1} KiB per cycle: {base:?} -> {end:?}"
    );
    staff.leave();
    staff.closed().await;
}
