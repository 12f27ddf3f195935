//! Reconnection under real network faults: a caseworker (host 0) and a citizen (host 1), each an
//! emulator process in its own network namespace, a server in the test process on the bridge,
//! and faults made with ebtables on the citizen's bridge port (see `samtale_e2e::netns`).
//! Every test asserts that media resumed after the fault: pictures decoded again on both sides,
//! not merely a state name. Needs root; `./scripts/test` runs them with `--ignored`.

use samtale_e2e::coturn::Coturn;
use samtale_e2e::netns::NetLab;
use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::watch;

const TOKEN: &str = "recovery-test-staff-token-0123456789abcdef";
const SIM: &str = env!("CARGO_BIN_EXE_samtale-sim");
const CASEWORKER: usize = 0;
const CITIZEN: usize = 1;

/// A running emulator whose JSON lines are collected as they come.
struct Sim {
    name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    seen: watch::Receiver<usize>,
}

impl Sim {
    fn spawn(name: &'static str, mut cmd: tokio::process::Command) -> Sim {
        let mut child = cmd
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("sim");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, seen) = watch::channel(0);
        let sink = Arc::clone(&lines);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                let n = {
                    let mut all = sink.lock().expect("lines");
                    all.push(v);
                    all.len()
                };
                tx.send_replace(n);
            }
        });
        Sim {
            name,
            child,
            lines,
            seen,
        }
    }

    fn lines(&self) -> Vec<Value> {
        self.lines.lock().expect("lines").clone()
    }

    /// Waits (at most `limit`) for a line after the first `from` lines that matches `pred`.
    async fn wait_line(
        &mut self,
        from: usize,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let found = tokio::time::timeout(limit, async {
            loop {
                if let Some(v) = self.lines().into_iter().skip(from).find(|v| pred(v)) {
                    return Some(v);
                }
                if self.seen.changed().await.is_err() {
                    return self.lines().into_iter().skip(from).find(|v| pred(v));
                }
            }
        })
        .await;
        found.ok().flatten()
    }

    fn count(&self) -> usize {
        self.lines.lock().expect("lines").len()
    }

    fn state_now(&self) -> String {
        self.lines()
            .iter()
            .rev()
            .find_map(|v| {
                v["event"]
                    .as_str()?
                    .strip_prefix("state: ")
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }
}

fn event_is(v: &Value, name: &str) -> bool {
    v["event"] == name
}

fn decoded(v: &Value) -> f64 {
    v["video_frames_decoded"].as_f64().unwrap_or(0.0)
}

/// A media tick showing that pictures were decoded since tick `base` (i.e. new pictures).
async fn frames_after(sim: &mut Sim, from: usize, limit: Duration) -> Option<f64> {
    let base = sim
        .lines()
        .iter()
        .take(from)
        .filter(|v| event_is(v, "media"))
        .map(decoded)
        .fold(0.0, f64::max);
    let later = sim
        .wait_line(from, limit, |v| {
            event_is(v, "media") && decoded(v) > base + 5.0
        })
        .await?;
    Some(decoded(&later) - base)
}

struct Meeting {
    lab: NetLab,
    server: samtale_server::RunningServer,
    _dir: tempfile::TempDir,
    caseworker: Sim,
    citizen: Sim,
}

/// Options for a meeting's server.
#[derive(Default)]
struct Setup {
    /// TURN relays for the tickets.
    turn: Option<samtale_server::TurnConfig>,
}

/// A caseworker and a citizen in a call with pictures decoded both ways. Media of both binds to
/// every interface (what a phone does), so a moved host gets sockets on its new address.
async fn meeting(setup: Setup) -> Meeting {
    let lab = NetLab::create(2);
    meeting_in(lab, setup).await
}

async fn meeting_in(lab: NetLab, setup: Setup) -> Meeting {
    let dir = tempfile::tempdir().expect("tmp");
    let server = lab.start_server(&dir, TOKEN, setup.turn).await;
    let url = server.base_url();
    let mut cmd = lab.command(CASEWORKER, SIM);
    cmd.args(["host", "--server", &url, "--token", TOKEN, "--json"])
        .args(["--seconds", "900"]);
    let mut caseworker = Sim::spawn("caseworker", cmd);
    let created = caseworker
        .wait_line(0, Duration::from_secs(30), |v| {
            event_is(v, "meeting created")
        })
        .await
        .expect("the caseworker printed no code");
    let code = created["code"].as_str().expect("code").to_owned();
    let mut cmd = lab.command(CITIZEN, SIM);
    cmd.args(["join", "--server", &url, "--code", &code, "--json"])
        .args(["--seconds", "900"]);
    let mut citizen = Sim::spawn("citizen", cmd);
    for sim in [&mut caseworker, &mut citizen] {
        let name = sim.name;
        assert!(
            frames_after(sim, 0, Duration::from_secs(30))
                .await
                .is_some(),
            "{name} never decoded pictures: {:?}",
            sim.lines()
        );
    }
    Meeting {
        lab,
        server,
        _dir: dir,
        caseworker,
        citizen,
    }
}

impl Meeting {
    /// Asserts that both sides, after line counts `marks` (taken before the fault), saw their
    /// pictures stop and come back ("video resumed": a decoded picture after a gap) and then
    /// kept decoding new ones, within `limit`.
    async fn assert_media_resumed(&mut self, marks: (usize, usize), limit: Duration, what: &str) {
        for (sim, from) in [
            (&mut self.caseworker, marks.0),
            (&mut self.citizen, marks.1),
        ] {
            let name = sim.name;
            let resumed = sim
                .wait_line(from, limit, |v| {
                    event_is(v, "video resumed") && v["gap_ms"].as_u64().unwrap_or(0) >= 500
                })
                .await;
            let Some(resumed) = resumed else {
                panic!(
                    "{what}: {name}'s pictures did not come back within {limit:?} (state {}); lines: {:?}",
                    sim.state_now(),
                    sim.lines().iter().skip(from).collect::<Vec<_>>()
                );
            };
            let at = sim
                .lines()
                .iter()
                .position(|v| *v == resumed)
                .unwrap_or(from);
            let got = frames_after(sim, at, limit).await;
            assert!(
                got.is_some(),
                "{what}: {name} decoded no new pictures within {limit:?} (state {}); lines: {:?}",
                sim.state_now(),
                sim.lines().iter().skip(from).collect::<Vec<_>>()
            );
            eprintln!(
                "{what}: {name} decoded {:.0} new pictures",
                got.unwrap_or(0.0)
            );
        }
    }

    fn marks(&self) -> (usize, usize) {
        (self.caseworker.count(), self.citizen.count())
    }

    /// The states a sim went through after line `from`.
    fn states_after(sim: &Sim, from: usize) -> Vec<String> {
        sim.lines()
            .iter()
            .skip(from)
            .filter_map(|v| {
                v["event"]
                    .as_str()?
                    .strip_prefix("state: ")
                    .map(str::to_owned)
            })
            .collect()
    }

    /// The citizen's cable is pulled for `secs`, then plugged back; media must come back.
    async fn outage(&mut self, secs: u64) -> (usize, usize) {
        let marks = self.marks();
        self.lab.unplug(CITIZEN, true);
        // Both sides must notice (a state change to reconnecting) before the cable returns.
        for sim in [&mut self.caseworker, &mut self.citizen] {
            let name = sim.name;
            let from = if name == "citizen" { marks.1 } else { marks.0 };
            assert!(
                sim.wait_line(from, Duration::from_secs(secs), |v| {
                    event_is(v, "state: reconnecting")
                })
                .await
                .is_some(),
                "{name} never showed reconnecting"
            );
        }
        let started = Instant::now();
        let end = Duration::from_secs(secs);
        if let Some(rest) = end.checked_sub(started.elapsed()) {
            // The outage's length is the point of the test: wait it out.
            tokio::time::sleep(rest).await;
        }
        self.lab.unplug(CITIZEN, false);
        marks
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces); ./scripts/test runs it"]
async fn outages_of_5_and_30_seconds_recover_by_themselves() {
    let mut m = meeting(Setup::default()).await;
    for secs in [5, 30] {
        let marks = m.outage(secs).await;
        let back = m.marks();
        m.assert_media_resumed(back, Duration::from_secs(20), &format!("{secs} s outage"))
            .await;
        for sim in [&m.caseworker, &m.citizen] {
            let states = Meeting::states_after(
                sim,
                if sim.name == "citizen" {
                    marks.1
                } else {
                    marks.0
                },
            );
            assert!(
                !states.iter().any(|s| s == "failed" || s == "ended"),
                "{}: {states:?}",
                sim.name
            );
            assert_eq!(sim.state_now(), "in_call", "{}: {states:?}", sim.name);
        }
    }
    m.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces); ./scripts/test runs it"]
async fn an_outage_of_150_seconds_ends_in_the_clear_final_state_without_leaks() {
    let mut m = meeting(Setup::default()).await;
    let marks = m.marks();
    m.lab.unplug(CITIZEN, true);
    let started = Instant::now();
    // The citizen gives up after 120 s of reconnecting with "no network" (the shells show one
    // "try again" button for it) and its process ends cleanly.
    let failed = m
        .citizen
        .wait_line(marks.1, Duration::from_secs(150), |v| {
            event_is(v, "state: failed")
        })
        .await
        .unwrap_or_else(|| panic!("no final state: {:?}", m.citizen.lines()));
    let took = started.elapsed();
    assert_eq!(failed["error"], "no_network", "{failed}");
    assert!(
        (Duration::from_secs(120)..Duration::from_secs(130)).contains(&took),
        "gave up after {took:?}"
    );
    let summary = m
        .citizen
        .wait_line(marks.1, Duration::from_secs(10), |v| event_is(v, "summary"))
        .await
        .expect("summary");
    assert_eq!(summary["state"], "failed", "{summary}");
    assert_eq!(
        summary["leftover"],
        serde_json::json!({"sockets": 0, "tasks": 0}),
        "sockets or tasks left after the call ended: {summary}"
    );
    let status = m.citizen.child.wait().await.expect("exit");
    assert_eq!(
        status.code(),
        Some(5),
        "exit code for no network: {status:?}"
    );
    // The rest of the 150 s, then the cable returns: the caseworker's side, which still waits
    // with the seat, is unharmed and sees the citizen gone for good.
    if let Some(rest) = Duration::from_secs(150).checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    m.lab.unplug(CITIZEN, false);
    let cw = Meeting::states_after(&m.caseworker, marks.0);
    assert!(!cw.iter().any(|s| s == "failed"), "caseworker: {cw:?}");
    m.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces); ./scripts/test runs it"]
async fn a_new_address_mid_call_restarts_ice_and_media_resumes() {
    let mut m = meeting(Setup::default()).await;
    for round in 0..2 {
        let marks = m.marks();
        // The phone moves to another network: the old address is gone and the platform says so.
        if round == 0 {
            m.lab.move_host(CITIZEN);
        } else {
            // Back to a second new address: the lab swaps between its two addresses.
            m.lab.move_host_back(CITIZEN);
        }
        let pid = m.citizen.pid();
        assert_eq!(unsafe_kill_usr1(pid), 0, "cannot signal the citizen");
        // The citizen restarted ICE (a media tick counts it)...
        let restarted = m
            .citizen
            .wait_line(marks.1, Duration::from_secs(10), |v| {
                event_is(v, "media") && v["ice_restarts"].as_u64().unwrap_or(0) > round as u64
            })
            .await;
        assert!(
            restarted.is_some(),
            "no ICE restart: {:?}",
            m.citizen.lines()
        );
        // ...and afterwards both sides decode new pictures (the old sockets are gone: these
        // came over the new path).
        let after = m.marks();
        for (sim, from) in [(&mut m.caseworker, after.0), (&mut m.citizen, after.1)] {
            let name = sim.name;
            let got = frames_after(sim, from, Duration::from_secs(15)).await;
            assert!(
                got.is_some(),
                "{name}: no pictures after the restart: {:?}",
                sim.lines().iter().skip(from).collect::<Vec<_>>()
            );
            eprintln!(
                "new address {round}: {name} decoded {:.0} new pictures",
                got.unwrap_or(0.0)
            );
        }
    }
    m.server.shutdown().await;
}

/// `kill -USR1 pid` (the sim's "network changed").
fn unsafe_kill_usr1(pid: i32) -> i32 {
    std::process::Command::new("kill")
        .args(["-USR1", &pid.to_string()])
        .status()
        .map(|s| s.code().unwrap_or(-1))
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces); ./scripts/test runs it"]
async fn with_udp_blocked_the_call_runs_over_turn_tcp_and_survives_a_turn_restart() {
    let lab = NetLab::create(2);
    let secret = format!("recovery-{}-{}", std::process::id(), unix_ms());
    let mut turn = Coturn::start(&lab.bridge_ip(), &secret).await;
    // The citizen's network lets only TCP through.
    lab.block_udp(CITIZEN, true);
    let setup = Setup {
        turn: Some(turn.config(3600)),
    };
    let mut m = meeting_in(lab, setup).await;
    // The citizen's silent pre-call check found it too, and the caseworker's page is told:
    // UDP blocked, the call goes over TCP.
    let check = samtale_e2e::wait_citizen_check(
        &m.server.base_url(),
        TOKEN,
        None,
        Duration::from_secs(20),
        |c| c.network != samtale_core::precheck::NetworkCheck::Untested,
    )
    .await;
    let (check, after) = check.unwrap_or_else(|last| panic!("no network verdict: {last:?}"));
    eprintln!(
        "pre-call check: {:?}, on the staff API {after:?} after media flowed",
        check.network
    );
    assert_eq!(
        check.network,
        samtale_core::precheck::NetworkCheck::UdpBlocked
    );
    // Media flows (checked by `meeting`), so it goes through the relay: the only way with UDP
    // blocked. Now the relay dies mid-call.
    let marks = m.marks();
    turn.stop().await;
    for sim in [&mut m.caseworker, &mut m.citizen] {
        let from = if sim.name == "citizen" {
            marks.1
        } else {
            marks.0
        };
        let name = sim.name;
        assert!(
            sim.wait_line(from, Duration::from_secs(15), |v| event_is(
                v,
                "state: reconnecting"
            ))
            .await
            .is_some(),
            "{name} did not report the relay's loss"
        );
    }
    let back = m.marks();
    let mut turn = Coturn::start_on(turn.ip(), turn.port(), turn.secret()).await;
    m.assert_media_resumed(back, Duration::from_secs(45), "TURN back")
        .await;
    turn.stop().await;
    m.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (network namespaces); ./scripts/test runs it"]
async fn twenty_percent_loss_and_300_ms_jitter_for_60_seconds() {
    let mut m = meeting(Setup::default()).await;
    let marks = m.marks();
    let mut impairers = Vec::new();
    for host in [CASEWORKER, CITIZEN] {
        impairers.push(m.lab.impair(host, 150, 75, 20.0));
    }
    // 60 s of it: audio must keep being heard most of the time, the call must hold.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let _ = m
            .citizen
            .wait_line(m.citizen.count(), Duration::from_secs(5), |_| true)
            .await;
        for sim in [&m.caseworker, &m.citizen] {
            let s = sim.state_now();
            assert!(s != "failed" && s != "ended", "{}: {s}", sim.name);
        }
    }
    drop(impairers);
    for (sim, from) in [(&m.caseworker, marks.0), (&m.citizen, marks.1)] {
        let ticks: Vec<Value> = sim
            .lines()
            .into_iter()
            .skip(from)
            .filter(|v| event_is(v, "media"))
            .collect();
        let audible = ticks
            .windows(2)
            .filter(|w| {
                w[1]["audible_frames"].as_f64().unwrap_or(0.0)
                    > w[0]["audible_frames"].as_f64().unwrap_or(0.0)
            })
            .count();
        eprintln!(
            "{}: audio heard in {audible} of {} seconds",
            sim.name,
            ticks.len()
        );
        assert!(
            audible * 10 >= ticks.len().saturating_sub(1) * 8,
            "{}: audio heard in only {audible} of {} seconds",
            sim.name,
            ticks.len()
        );
    }
    let back = m.marks();
    m.assert_media_resumed(back, Duration::from_secs(20), "after loss and jitter")
        .await;
    m.server.shutdown().await;
}

/// Milliseconds since the Unix epoch (the sims print the same clock).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One recovery measured on one side: network back -> first new picture decoded, and how long
/// the side showed "reconnecting".
struct Sample {
    to_picture_ms: u64,
    reconnecting_ms: u64,
}

/// After a fault that ended at `back_ms` (lines before it: `from`), waits for `sim`'s first
/// picture after the gap and its reconnecting time.
async fn sample(sim: &mut Sim, from: usize, back_ms: u64) -> Sample {
    let resumed = sim
        .wait_line(from, Duration::from_secs(8), |v| {
            event_is(v, "video resumed") && v["unix_ms"].as_u64().unwrap_or(0) >= back_ms
        })
        .await;
    let at = match resumed {
        Some(resumed) => resumed["unix_ms"].as_u64().unwrap_or(0),
        // No gap of 200 ms after the change (a fast restart): pictures must still be coming.
        None => {
            assert!(
                frames_after(sim, from, Duration::from_secs(5))
                    .await
                    .is_some(),
                "{}: pictures did not come back; lines: {:?}",
                sim.name,
                sim.lines().iter().skip(from).collect::<Vec<_>>()
            );
            back_ms
        }
    };
    // Let the state settle, then add up the time spent in "reconnecting".
    let _ = sim
        .wait_line(from, Duration::from_secs(10), |v| {
            event_is(v, "state: in_call")
        })
        .await;
    let mut reconnecting_ms = 0;
    let mut since = None;
    for v in sim.lines().iter().skip(from) {
        let t = v["unix_ms"].as_u64().unwrap_or(0);
        match v["event"].as_str() {
            Some("state: reconnecting") => since = Some(t),
            Some(e) if e.starts_with("state: ") => {
                if let Some(s) = since.take() {
                    reconnecting_ms += t.saturating_sub(s);
                }
            }
            _ => {}
        }
    }
    eprintln!(
        "{}: picture {} ms after the network was back, reconnecting shown {reconnecting_ms} ms",
        sim.name,
        at.saturating_sub(back_ms)
    );
    Sample {
        to_picture_ms: at.saturating_sub(back_ms),
        reconnecting_ms,
    }
}

fn percentile(values: &mut [u64], p: f64) -> u64 {
    values.sort_unstable();
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(i).copied().unwrap_or(0)
}

fn report(name: &str, samples: &[Sample]) -> String {
    let mut pic: Vec<u64> = samples.iter().map(|s| s.to_picture_ms).collect();
    let mut rec: Vec<u64> = samples.iter().map(|s| s.reconnecting_ms).collect();
    format!(
        "| {name} | {} | {} ms | {} ms | {} ms | {} ms | {} ms |",
        samples.len(),
        percentile(&mut pic, 0.5),
        percentile(&mut pic, 0.95),
        pic.iter().max().copied().unwrap_or(0),
        percentile(&mut rec, 0.5),
        percentile(&mut rec, 0.95),
    )
}

/// The recovery benchmark (`scripts/bench-recovery`, results in docs/benchmarks.md): repeated
/// faults on one meeting, timed on both sides from the moment the network is back (or the
/// address changed) to the first new picture decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; needs root: scripts/bench-recovery"]
async fn bench_recovery() {
    let reps: usize = std::env::var("SAMTALE_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut m = meeting(Setup::default()).await;
    let mut rows = Vec::new();
    for secs in [3u64, 10, 30] {
        let mut samples = Vec::new();
        for _ in 0..reps {
            eprintln!("cable pulled {secs} s");
            let marks = m.marks();
            m.lab.unplug(CITIZEN, true);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let back = unix_ms();
            m.lab.unplug(CITIZEN, false);
            samples.push(sample(&mut m.caseworker, marks.0, back).await);
            samples.push(sample(&mut m.citizen, marks.1, back).await);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        rows.push(report(&format!("cable pulled {secs} s"), &samples));
        if secs == 30 && reps > 3 {
            break;
        }
    }
    let mut samples = Vec::new();
    for round in 0..reps * 2 {
        let marks = m.marks();
        if round % 2 == 0 {
            m.lab.move_host(CITIZEN);
        } else {
            m.lab.move_host_back(CITIZEN);
        }
        let back = unix_ms();
        assert_eq!(unsafe_kill_usr1(m.citizen.pid()), 0);
        samples.push(sample(&mut m.caseworker, marks.0, back).await);
        samples.push(sample(&mut m.citizen, marks.1, back).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    rows.push(report("new address + network_changed()", &samples));
    println!(
        "| fault | samples (both sides) | back -> picture, median | p95 | max | \"reconnecting\" shown, median | p95 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    m.server.shutdown().await;
}
