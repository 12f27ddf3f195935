//! Logs never contain codes, tokens, secrets or SDP.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use tracing_subscriber::EnvFilter;

#[tokio::test]
async fn logs_never_contain_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Everything at TRACE, except the WebSocket library (capped exactly like the binary does).
    let mut filter = EnvFilter::new("trace");
    for directive in samtale_server::PRIVACY_LOG_DIRECTIVES {
        filter = filter.add_directive(directive.parse().unwrap());
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();

    let server = start(config()).await;
    let server_addr = server.addr().to_string();
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let staff_ticket = staff.ticket(&m.meeting_id).await;
    let mut a = join(&staff_ticket).await;
    let ticket = staff.resolve(&m.code_display).await;
    let b = join(&ticket).await;
    expect_peer_joined(&mut a.ws, &b.id).await;
    let mut b = b;
    let sdp = "v=0 o=- SDP-MARKER-4711 2 IN IP4 127.0.0.1";
    b.ws.signal(&a.id, sdp).await;
    a.ws.expect_signal(&b.id, sdp).await;
    drop(b.ws);
    let b2 = resume(&server.signalling_url(), &b.id, &b.secret).await;
    assert!(b2.resumed);
    // Failed look-ups and refused hellos are logged too; without the secrets.
    let wrong = staff.resolve_raw("000 000 0000").await;
    assert_ne!(wrong.status(), 200);
    let mut bad = Ws::connect(&server.signalling_url()).await;
    bad.send(json!({"type": "hello", "v": 1, "token": "t_guessed-token-value"}))
        .await;
    bad.expect_fatal("invalid_token").await;
    // A standing room's staff-only note, the name the citizen sees and the owner: never logged.
    let room = staff
        .create(json!({"kind": "room", "label": "NOTE-MARKER-17", "display_name": "NAME-MARKER-18", "owner": "OWNER-MARKER-19"}))
        .await;
    let room_ticket = staff.resolve(&room.code).await;
    let pairing = room_ticket.pairing_token.clone().unwrap();
    let http = http();
    let resp = http
        .patch(format!(
            "{}/api/v1/meetings/{}",
            staff.base, room.meeting_id
        ))
        .bearer_auth(STAFF_TOKEN)
        .json(&json!({"owner": "OWNER-MARKER-20", "label": "NOTE-MARKER-21"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = http
        .post(format!("{}/api/v1/presence", staff.base))
        .json(&json!({"pairing_token": pairing}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    a.ws.send(json!({"type": "leave"})).await;
    a.ws.skip_until_closed().await;
    assert_eq!(staff.end(&m.meeting_id).await.status(), 200);
    server.shutdown().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    if std::env::var_os("SAMTALE_PRINT_TEST_LOGS").is_some() {
        eprintln!("{logs}");
    }
    assert!(logs.contains(&m.meeting_id), "meeting ids are logged");
    assert!(logs.contains("meeting created"));
    assert!(logs.contains("seat joined"));
    assert!(logs.contains("seat resumed"));
    assert!(logs.contains("socket rejected"));
    let secrets = [
        m.code.as_str(),
        m.code_display.as_str(),
        &m.code[..5],
        ticket.join_token.as_str(),
        &ticket.join_token[2..],
        staff_ticket.join_token.as_str(),
        a.secret.as_str(),
        b.secret.as_str(),
        "SDP-MARKER-4711",
        "guessed-token-value",
        STAFF_TOKEN,
        "NOTE-MARKER",
        "NAME-MARKER",
        "OWNER-MARKER",
        pairing.as_str(),
        room.code.as_str(),
    ];
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs: {secret}"
        );
    }
    // No client address in server-side lines (the test's own HTTP client logs are ignored).
    // Clients connect from 127.0.0.1 too, so the server's own address is masked first.
    for line in logs.lines() {
        let server_side = ["samtale_server", " axum", " hyper::", " tower"]
            .iter()
            .any(|t| line.contains(t));
        if server_side {
            let masked = line.replace(&server_addr, "<server>");
            assert!(
                !masked.contains("127.0.0.1"),
                "client address logged: {line}"
            );
        }
    }
}
