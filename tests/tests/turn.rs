//! TURN credentials in tickets, checked by a real coturn: the ones the server mints allocate a
//! relay over UDP and TCP; a tampered or an expired one is refused.

use samtale_core::code::JoinCode;
use samtale_e2e::coturn::Coturn;
use samtale_e2e::{TestServer, TestServerOptions};
use samtale_server::Clock;
use std::time::Duration;

/// Whether coturn gives `user`/`password` a relay allocation (coturn's own test client), over
/// UDP or, with `tcp`, over TCP as for networks that block UDP.
async fn allocates(turn: &Coturn, user: &str, password: &str, tcp: bool) -> bool {
    let mut cmd = tokio::process::Command::new("turnutils_uclient");
    if tcp {
        cmd.arg("-t");
    }
    let out = cmd
        .args(["-y", "-n", "1", "-m", "1", "-l", "100"])
        .args(["-u", user, "-w", password, "-p", &turn.port().to_string()])
        .arg(turn.ip())
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
    let mut server = TestServer::start_with(TestServerOptions {
        turn: Some(turn.config(600)),
        clock,
        ..TestServerOptions::default()
    })
    .await;
    let meeting = server.create_meeting().await;
    let code = JoinCode::parse(&meeting.code).expect("code");
    let ticket = server.api().resolve(&code).await.expect("ticket");
    server.stop().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_credentials_allocate_and_tampered_or_expired_ones_do_not() {
    let turn = Coturn::start("127.0.0.1", "turn-test-shared-secret").await;
    let (urls, user, password) = credentials(&turn, Clock::system()).await;
    assert_eq!(urls, turn.urls());
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
    let (_, old_user, old_password) = credentials(&turn, Clock::manual(now - 7_200)).await;
    assert!(
        !allocates(&turn, &old_user, &old_password, false).await,
        "coturn took expired credentials"
    );
}

/// The silent pre-call check (issue 16) against a real coturn: a citizen waiting in the meeting
/// finds the relay over UDP (`ok`), and with a TURN server that cannot be reached over UDP or
/// TCP says `blocked` — to its own screen model (`Call::network_check`) and to the staff API
/// the caseworker's page shows — while still waiting in the meeting (the check never stops it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_call_check_finds_the_relay_or_says_that_none_can_be_reached() {
    use samtale_core::precheck::NetworkCheck;
    use samtale_core::{Call, CallState};
    use samtale_e2e::{STAFF_TOKEN, wait_citizen_check, with_devices};
    let turn = Coturn::start("127.0.0.1", "precheck-test-shared-secret").await;
    let dead_port = samtale_e2e::coturn::free_port("127.0.0.1");
    let dead = samtale_server::TurnConfig {
        urls: ["udp", "tcp"]
            .iter()
            .map(|t| format!("turn:127.0.0.1:{dead_port}?transport={t}"))
            .collect(),
        secret: "nobody-listens".into(),
        ttl_secs: 600,
    };
    // Only TURN over TCP in the tickets (a relay behind a firewall that lets only TCP out).
    let mut tcp_only = turn.config(600);
    tcp_only.urls.retain(|u| u.ends_with("transport=tcp"));
    for (config, want) in [
        (turn.config(600), NetworkCheck::Ok),
        (tcp_only, NetworkCheck::Ok),
        (dead, NetworkCheck::Blocked),
    ] {
        let mut server = TestServer::start_with(TestServerOptions {
            turn: Some(config),
            ..TestServerOptions::default()
        })
        .await;
        let meeting = server.create_meeting().await;
        let citizen = with_devices(Call::join(server.config(), &meeting.code));
        let s = citizen
            .wait_for(Duration::from_secs(20), |s| *s == CallState::Waiting)
            .await;
        assert_eq!(
            s,
            CallState::Waiting,
            "the check must not keep the citizen out"
        );
        let found = wait_citizen_check(
            &server.url(),
            STAFF_TOKEN,
            Some(&meeting.meeting_id),
            Duration::from_secs(15),
            |c| c.network != NetworkCheck::Untested,
        )
        .await;
        let (check, after) = found.unwrap_or_else(|last| panic!("no verdict; last {last:?}"));
        eprintln!(
            "pre-call check: {:?} on the staff API {after:?} after waiting",
            check.network
        );
        assert_eq!(check.network, want);
        assert_eq!(citizen.network_check(), want);
        assert_eq!(citizen.state(), CallState::Waiting);
        citizen.leave();
        citizen.closed().await;
        server.stop().await;
    }
}
