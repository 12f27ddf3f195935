//! A server restart (crash) keeps meetings, codes and seats; seats get a fresh grace period.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use samtale_protocol::{Meeting, ServerMessage};
use samtale_server::ServerConfig;
use serde_json::json;

/// Reads what a socket gets until it closes: asserts the server said no goodbye.
async fn expect_abrupt_close(ws: &mut Ws) {
    loop {
        match ws.event().await {
            Event::Closed(code) => {
                assert_eq!(code, None, "no close frame on a crash");
                return;
            }
            Event::Msg(ServerMessage::PeerJoined { .. }) => {}
            Event::Msg(other) => panic!("unexpected goodbye {other:?}"),
        }
    }
}

#[tokio::test]
async fn restart_keeps_meetings_codes_and_seats() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir
        .path()
        .join("samtale.sqlite")
        .to_string_lossy()
        .into_owned();
    let cfg = ServerConfig {
        db_path: db_path.clone(),
        resume_grace_secs: 2,
        ..config()
    };

    let server = start(cfg.clone()).await;
    let old_addr = server.addr();
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let mut b = join(&staff.resolve(&m.code).await).await;
    let mut c = join(&staff.resolve(&m.code).await).await;
    let unused = staff.resolve(&m.code).await;
    let ended = staff.meeting().await;
    assert_eq!(staff.end(&ended.meeting_id).await.status(), 200);

    server.shutdown().await;
    for ws in [&mut a.ws, &mut b.ws, &mut c.ws] {
        expect_abrupt_close(ws).await;
    }
    assert!(
        tokio::net::TcpStream::connect(old_addr).await.is_err(),
        "the listener is gone"
    );

    let server = start(cfg).await;
    let staff = Staff::new(&server);
    // The meeting, its code and its seats are back.
    let got: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(got.code, m.code);
    assert_eq!(got.participants, 3);
    let ticket = staff.resolve(&m.code).await;
    assert_eq!(ticket.meeting_id, m.meeting_id);
    assert_eq!(staff.resolve_raw(&ended.code).await.status(), 404);

    // A and B resume with their old ids and secrets; C does not come back.
    let url = server.signalling_url();
    let mut a2 = resume(&url, &a.id, &a.secret).await;
    assert!(a2.resumed);
    assert_eq!(a2.id, a.id);
    assert_eq!(a2.peers, [b.id.clone(), c.id.clone()]);
    let mut b2 = resume(&url, &b.id, &b.secret).await;
    assert!(b2.resumed);
    assert_eq!(b2.peers, [a.id.clone(), c.id.clone()]);
    a2.ws.signal(&b.id, "after restart").await;
    b2.ws.expect_signal(&a.id, "after restart").await;
    // C is within its grace period: signals to it are accepted (queued).
    a2.ws.signal(&c.id, "for c").await;
    a2.ws.ping(1).await;

    // A never heard about B; both hear that C timed out.
    expect_peer_left(&mut a2.ws, &c.id, "timeout").await;
    expect_peer_left(&mut b2.ws, &c.id, "timeout").await;
    let mut late = Ws::connect(&url).await;
    late.send(json!({"type": "hello", "v": 1, "resume": {"participant_id": c.id, "resume_secret": c.secret}}))
        .await;
    late.expect_fatal("resume_rejected").await;

    // A ticket issued before the restart is still good, once.
    let d = join_at(
        &url,
        json!({"type": "hello", "v": 1, "token": unused.join_token}),
    )
    .await;
    assert_eq!(d.peers, [a.id.clone(), b.id.clone()]);
    expect_peer_joined(&mut a2.ws, &d.id).await;
    expect_peer_joined(&mut b2.ws, &d.id).await;
    let got: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(got.participants, 3);
    server.shutdown().await;
}

#[tokio::test]
async fn in_memory_database_starts_empty_each_time() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    server.shutdown().await;
    let server = start(config()).await;
    let staff = Staff::new(&server);
    assert_eq!(staff.get(&m.meeting_id).await.status(), 404);
    server.shutdown().await;
}
