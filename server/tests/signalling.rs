//! WebSocket signalling against a real server.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use samtale_protocol::{EndReason, Meeting, MeetingState, Role, ServerMessage};
use samtale_server::{Clock, ServerConfig};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn hello_welcome_relay_ping_leave() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;

    let staff_ticket = staff.ticket(&m.meeting_id).await;
    let mut a = join(&staff_ticket).await;
    assert!(a.id.starts_with("p_") && a.id.len() == 18);
    assert_eq!(a.secret.len(), 43);
    assert!(!a.resumed);
    assert!(a.peers.is_empty());

    let citizen_ticket = staff.resolve(&m.code).await;
    let mut b = Ws::connect(&citizen_ticket.signalling_url).await;
    b.send(json!({"type": "hello", "v": 1, "token": citizen_ticket.join_token}))
        .await;
    let b_id = match b.recv().await {
        ServerMessage::Welcome {
            participant_id,
            peers,
            keepalive_secs,
            resume_grace_secs,
            resumed,
            ..
        } => {
            assert_eq!(peers.len(), 1);
            assert_eq!(peers[0].participant_id, a.id);
            assert_eq!(peers[0].role, Role::Staff);
            assert_eq!(keepalive_secs, 10);
            assert_eq!(resume_grace_secs, 2);
            assert!(!resumed);
            participant_id
        }
        other => panic!("expected welcome, got {other:?}"),
    };
    match a.ws.recv().await {
        ServerMessage::PeerJoined { peer } => {
            assert_eq!(peer.participant_id, b_id);
            assert_eq!(peer.role, Role::Citizen);
        }
        other => panic!("expected peer_joined, got {other:?}"),
    }
    let meeting: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(meeting.participants, 2);

    // Relay both ways, payload unchanged, including candidates.
    b.signal(&a.id, "v=0 offer").await;
    a.ws.expect_signal(&b_id, "v=0 offer").await;
    a.ws.signal(&b_id, "v=0 answer").await;
    b.expect_signal(&a.id, "v=0 answer").await;
    let candidate = json!({"kind": "candidate", "candidate": "candidate:1 1 udp 2130706431 10.0.0.2 50000 typ host", "sdp_mid": "0", "sdp_mline_index": 0});
    b.send(json!({"type": "signal", "to": a.id, "payload": candidate, "extra": "ignored"}))
        .await;
    match a.ws.recv().await {
        ServerMessage::Signal { from, payload } => {
            assert_eq!(from, b_id);
            assert_eq!(serde_json::to_value(payload).unwrap(), candidate);
        }
        other => panic!("expected signal, got {other:?}"),
    }

    // Unknown peer: non-fatal, the socket stays usable.
    for to in ["p_0000000000000000", b_id.as_str()] {
        b.signal(to, "x").await;
        match b.recv().await {
            ServerMessage::Error { code, fatal, .. } => {
                assert_eq!(serde_json::to_value(code).unwrap(), "unknown_peer");
                assert!(!fatal);
            }
            other => panic!("expected unknown_peer, got {other:?}"),
        }
    }
    b.ping(42).await;
    a.ws.ping(u64::MAX).await;

    // Leave: peers get peer_left(left), the socket is closed, the seat is freed.
    b.send(json!({"type": "leave"})).await;
    assert_eq!(b.closed().await, Some(1000));
    expect_peer_left(&mut a.ws, &b_id, "left").await;
    let meeting: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(meeting.participants, 1);
    a.ws.signal(&b_id, "late").await;
    match a.ws.recv().await {
        ServerMessage::Error { code, fatal, .. } => {
            assert_eq!(serde_json::to_value(code).unwrap(), "unknown_peer");
            assert!(!fatal);
        }
        other => panic!("expected unknown_peer, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn join_tokens_are_single_use() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let ticket = staff.resolve(&m.code).await;
    let first = join(&ticket).await;
    let mut second = Ws::connect(&ticket.signalling_url).await;
    second
        .send(json!({"type": "hello", "v": 1, "token": ticket.join_token}))
        .await;
    assert_eq!(second.expect_fatal("invalid_token").await, Some(1008));
    // Even after the first seat is gone.
    first.ws.close().await;
    let mut third = Ws::connect(&ticket.signalling_url).await;
    third
        .send(json!({"type": "hello", "v": 1, "token": ticket.join_token}))
        .await;
    third.expect_fatal("invalid_token").await;
    server.shutdown().await;
}

#[tokio::test]
async fn expired_token_is_refused() {
    let clock = Clock::manual(1_800_000_000);
    let server = start(ServerConfig {
        clock: clock.clone(),
        token_ttl_secs: 60,
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let ticket = staff.resolve(&m.code).await;
    assert_eq!(ticket.token_expires_at, 1_800_000_060);
    clock.advance(60);
    let mut ws = Ws::connect(&ticket.signalling_url).await;
    ws.send(json!({"type": "hello", "v": 1, "token": ticket.join_token}))
        .await;
    ws.expect_fatal("invalid_token").await;
    server.shutdown().await;
}

#[tokio::test]
async fn drop_and_resume_within_grace() {
    let server = start(ServerConfig {
        resume_grace_secs: 2,
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let b = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;

    // B vanishes without a close frame (like a network loss).
    drop(b.ws);
    // Signals to B while it is away are queued; a newer offer replaces what the same sender
    // queued before it (an older offer of a retried restart would only disturb B).
    a.ws.signal(&b.id, "queued 1").await;
    a.ws.signal(&b.id, "queued 2").await;
    a.ws.ping(1).await; // no error in between: the signals were accepted

    let url = server.signalling_url();
    let mut b2 = resume(&url, &b.id, &b.secret).await;
    assert!(b2.resumed);
    assert_eq!(b2.id, b.id);
    assert_eq!(b2.secret, b.secret);
    assert_eq!(b2.peers, [a.id.clone()]);
    b2.ws.expect_signal(&a.id, "queued 2").await;
    b2.ws.signal(&a.id, "after resume").await;
    a.ws.expect_signal(&b.id, "after resume").await;

    // A never hears that B was gone, not even after the original grace period.
    a.ws.silent_for(Duration::from_millis(2_500)).await;
    a.ws.ping(2).await;
    let meeting: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(meeting.participants, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn no_resume_means_peer_left_timeout() {
    let server = start(ServerConfig {
        resume_grace_secs: 1,
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let b = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;
    b.ws.close().await;
    expect_peer_left(&mut a.ws, &b.id, "timeout").await;
    let mut late = Ws::connect(&server.signalling_url()).await;
    late.send(json!({"type": "hello", "v": 1, "resume": {"participant_id": b.id, "resume_secret": b.secret}}))
        .await;
    late.expect_fatal("resume_rejected").await;
    let meeting: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(meeting.participants, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn resume_with_wrong_secret_or_unknown_seat_is_rejected() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let a = join(&staff.resolve(&m.code).await).await;
    let url = server.signalling_url();
    for (id, secret) in [
        (a.id.as_str(), "wrong"),
        (a.id.as_str(), ""),
        ("p_0000000000000000", a.secret.as_str()),
    ] {
        let mut ws = Ws::connect(&url).await;
        ws.send(json!({"type": "hello", "v": 1, "resume": {"participant_id": id, "resume_secret": secret}}))
            .await;
        ws.expect_fatal("resume_rejected").await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn duplicate_connection_is_replaced() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let mut b = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;

    let mut b2 = resume(&server.signalling_url(), &b.id, &b.secret).await;
    assert!(b2.resumed);
    assert_eq!(b.ws.closed().await, Some(1000));
    a.ws.signal(&b.id, "to the new socket").await;
    b2.ws.expect_signal(&a.id, "to the new socket").await;
    a.ws.silent_for(Duration::from_millis(300)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn citizens_cannot_lock_the_caseworker_out_and_a_fifth_gets_meeting_full() {
    use samtale_protocol::{MAX_CITIZEN_SEATS, MAX_PARTICIPANTS};
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut seats = Vec::new();
    for _ in 0..MAX_CITIZEN_SEATS {
        seats.push(join(&staff.resolve(&m.code).await).await);
    }
    // Whoever holds the code gets tickets, but no seat beyond the citizens' share.
    let extra = staff.resolve(&m.code).await;
    let mut ws = Ws::connect(&extra.signalling_url).await;
    ws.send(json!({"type": "hello", "v": 1, "token": extra.join_token}))
        .await;
    ws.expect_fatal("meeting_full").await;

    // The caseworker's seat was kept.
    let caseworker = join(&staff.ticket(&m.meeting_id).await).await;
    assert_eq!(caseworker.peers.len(), MAX_CITIZEN_SEATS);

    // Now every seat is taken: a second staff ticket is refused too.
    let second = staff.ticket(&m.meeting_id).await;
    let mut ws = Ws::connect(&second.signalling_url).await;
    ws.send(json!({"type": "hello", "v": 1, "token": second.join_token}))
        .await;
    ws.expect_fatal("meeting_full").await;
    assert_eq!(seats.len() + 1, MAX_PARTICIPANTS);

    // A citizen seat within its grace period still counts.
    let dropped = seats.pop().unwrap();
    drop(dropped.ws);
    let mut ws = Ws::connect(&extra.signalling_url).await;
    ws.send(json!({"type": "hello", "v": 1, "token": extra.join_token}))
        .await;
    ws.expect_fatal("meeting_full").await;

    // Once a citizen seat is freed, the refused ticket (never used) is good.
    let mut leaver = seats.pop().unwrap();
    leaver.ws.send(json!({"type": "leave"})).await;
    assert_eq!(leaver.ws.skip_until_closed().await, Some(1000));
    let joined = join(&extra).await;
    assert_eq!(joined.peers.len(), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_clients_are_rejected_and_the_meeting_carries_on() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let url = server.signalling_url();
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let mut b = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;

    let cases: Vec<(Message, &str, u16)> = vec![
        (Message::text("not json"), "malformed", 1008),
        (Message::text("{\"type\": 5}"), "malformed", 1008),
        (Message::text("[]"), "malformed", 1008),
        (Message::binary(vec![1u8, 2, 3]), "malformed", 1008),
        (
            Message::text(
                json!({"type": "signal", "to": a.id, "payload": {"kind": "offer", "sdp": "x"}})
                    .to_string(),
            ),
            "malformed",
            1008,
        ),
        (
            Message::text(r#"{"type":"ping","id":1}"#),
            "malformed",
            1008,
        ),
        (Message::text(r#"{"type":"dance"}"#), "malformed", 1008),
        (
            Message::text(r#"{"type":"hello","v":1}"#),
            "malformed",
            1008,
        ),
        (
            Message::text(
                r#"{"type":"hello","v":1,"token":"t_x","resume":{"participant_id":"p","resume_secret":"s"}}"#,
            ),
            "malformed",
            1008,
        ),
        (
            Message::text(r#"{"type":"hello","v":2,"token":"t_x"}"#),
            "unsupported_version",
            1008,
        ),
        (
            Message::text(r#"{"type":"hello","v":1,"token":"t_nope"}"#),
            "invalid_token",
            1008,
        ),
        (Message::text("x".repeat(70_000)), "too_large", 1009),
        // Not UTF-8 in a text frame: RFC 6455 says 1007, after the documented error.
        (not_utf8_text(), "malformed", 1007),
        (
            Message::text(r#"{"type":"hello","token":"t_x"}"#),
            "malformed",
            1008,
        ),
        (
            Message::text(r#"{"type":"hello","v":"1","token":"t_x"}"#),
            "malformed",
            1008,
        ),
    ];
    for (msg, code, close) in cases {
        let mut ws = Ws::connect(&url).await;
        ws.send_raw(msg).await;
        assert_eq!(ws.expect_fatal(code).await, Some(close), "{code}");
    }

    // A huge message is cut off by the WebSocket library; the socket just ends.
    let mut ws = Ws::connect(&url).await;
    let _ = tokio::time::timeout(
        WAIT,
        futures_util::SinkExt::send(&mut ws.inner, Message::text("y".repeat(1 << 20))),
    )
    .await;
    loop {
        match ws.event().await {
            Event::Closed(_) => break,
            Event::Msg(ServerMessage::Error { fatal: true, .. }) => {}
            Event::Msg(other) => panic!("unexpected {other:?}"),
        }
    }

    // A seated client that misbehaves is closed; its seat enters the grace period (peers are
    // not told).
    let mut c = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &c.id).await;
    expect_peer_joined(&mut b.ws, &c.id).await;
    for garbage in [
        Message::text("{"),
        Message::binary(vec![0u8]),
        Message::text(r#"{"type":"hello","v":1,"token":"t_again"}"#),
        Message::text("z".repeat(65_537)),
        not_utf8_text(),
        // The set of payload kinds is closed within v1 (docs/protocol.md).
        Message::text(
            json!({"type": "signal", "to": a.id, "payload": {"kind": "dance"}}).to_string(),
        ),
    ] {
        let too_large = matches!(&garbage, Message::Text(t) if t.len() > 65_536);
        c.ws.send_raw(garbage).await;
        let code = if too_large { "too_large" } else { "malformed" };
        c.ws.expect_fatal(code).await;
        c = resume(&url, &c.id, &c.secret).await;
        assert!(c.resumed);
    }
    // Exactly 65536 bytes is allowed.
    let pad = 65_536 - r#"{"type":"ping","id":7,"p":""}"#.len();
    let exact = format!(r#"{{"type":"ping","id":7,"p":"{}"}}"#, "p".repeat(pad));
    assert_eq!(exact.len(), 65_536);
    c.ws.send_raw(Message::text(exact)).await;
    assert!(matches!(c.ws.recv().await, ServerMessage::Pong { id: 7 }));

    // The meeting is intact.
    a.ws.signal(&b.id, "still works").await;
    b.ws.expect_signal(&a.id, "still works").await;
    b.ws.signal(&a.id, "and back").await;
    a.ws.expect_signal(&b.id, "and back").await;
    c.ws.signal(&a.id, "from c").await;
    a.ws.expect_signal(&c.id, "from c").await;
    a.ws.silent_for(Duration::from_millis(300)).await;
    b.ws.silent_for(Duration::from_millis(10)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn staff_ending_the_meeting_closes_every_socket() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let mut b = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;
    let unused = staff.resolve(&m.code).await;

    let ended: Meeting = staff.end(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(ended.state, MeetingState::Ended);
    assert_eq!(ended.participants, 0);
    for ws in [&mut a.ws, &mut b.ws] {
        assert_eq!(
            ws.recv().await,
            ServerMessage::MeetingEnded {
                reason: EndReason::EndedByStaff
            }
        );
        assert_eq!(ws.closed().await, Some(1000));
    }
    // Tokens and seats of the ended meeting are refused with meeting_closed.
    let mut ws = Ws::connect(&unused.signalling_url).await;
    ws.send(json!({"type": "hello", "v": 1, "token": unused.join_token}))
        .await;
    ws.expect_fatal("meeting_closed").await;
    let mut ws = Ws::connect(&unused.signalling_url).await;
    ws.send(json!({"type": "hello", "v": 1, "resume": {"participant_id": a.id, "resume_secret": a.secret}}))
        .await;
    ws.expect_fatal("meeting_closed").await;
    server.shutdown().await;
}

#[tokio::test]
async fn expiry_ends_the_meeting() {
    let clock = Clock::manual(1_800_000_000);
    let server = start(ServerConfig {
        clock: clock.clone(),
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let m = staff.create(json!({"ttl_minutes": 1})).await;
    let mut a = join(&staff.resolve(&m.code).await).await;
    clock.advance(60);
    assert_eq!(
        a.ws.recv().await,
        ServerMessage::MeetingEnded {
            reason: EndReason::Expired
        }
    );
    assert_eq!(a.ws.closed().await, Some(1000));
    let got: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
    assert_eq!(got.state, MeetingState::Expired);
    assert_eq!(got.participants, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn silent_socket_is_closed_and_can_resume() {
    let server = start(ServerConfig {
        keepalive_secs: 1,
        resume_grace_secs: 5,
        ..config()
    })
    .await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    // A pings; B stays silent for 3 x keep-alive.
    let mut b = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        let mut id = 0;
        loop {
            id += 1;
            a.ws.ping(id).await;
            if let Some(event) = b.ws.event_within(Duration::from_millis(500)).await {
                return event;
            }
        }
    })
    .await
    .expect("the silent socket was closed in time");
    assert!(matches!(closed, Event::Closed(Some(1001))), "{closed:?}");
    let b2 = resume(&server.signalling_url(), &b.id, &b.secret).await;
    assert!(b2.resumed);
    server.shutdown().await;
}

#[tokio::test]
async fn no_hello_within_ten_seconds_is_refused() {
    let server = start(config()).await;
    let mut ws = Ws::connect(&server.signalling_url()).await;
    // WebSocket-level pings are not a hello.
    ws.send_raw(Message::Ping(vec![1u8].into())).await;
    let started = tokio::time::Instant::now();
    let refused = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match ws.event_within(Duration::from_secs(15)).await {
                Some(Event::Msg(msg)) => return msg,
                Some(Event::Closed(code)) => panic!("closed without an error ({code:?})"),
                None => continue,
            }
        }
    })
    .await
    .expect("refused in time");
    assert!(started.elapsed() >= Duration::from_secs(9));
    match refused {
        ServerMessage::Error { code, fatal, .. } => {
            assert_eq!(serde_json::to_value(code).unwrap(), "malformed");
            assert!(fatal);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(ws.closed().await, Some(1008));
    server.shutdown().await;
}

/// Issue 17, item 6: one seat flooding signals must not pin the server or push its peer out.
/// Past 200 messages in a burst (20 a second after that) the socket is closed with
/// `rate_limited`; the seat is kept (it may resume), the peer got at most the burst and stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_socket_is_closed_and_its_peer_stays() {
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let mut a = join(&staff.ticket(&m.meeting_id).await).await;
    let b = join(&staff.resolve(&m.code).await).await;
    expect_peer_joined(&mut a.ws, &b.id).await;
    let (b_id, b_secret) = (b.id.clone(), b.secret.clone());
    let mut flooder = b.ws;
    let candidate = json!({"type": "signal", "to": a.id,
        "payload": {"kind": "candidate", "candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host"}});
    let mut sent = 0;
    for _ in 0..2_000 {
        flooder.send(candidate.clone()).await;
        sent += 1;
    }
    // The flooder is told and closed.
    let mut refused = None;
    while let Some(event) = flooder.event_within(WAIT).await {
        match event {
            Event::Msg(ServerMessage::Error { code, fatal, .. }) => refused = Some((code, fatal)),
            Event::Msg(_) => {}
            Event::Closed(code) => {
                assert_eq!(code, Some(1008));
                break;
            }
        }
    }
    assert_eq!(
        refused,
        Some((samtale_protocol::WsErrorCode::RateLimited, true)),
        "after {sent} messages"
    );
    // The peer got at most the burst, and is still in the meeting (pings answered).
    let mut relayed = 0;
    while let Some(Event::Msg(ServerMessage::Signal { .. })) =
        a.ws.event_within(Duration::from_millis(500)).await
    {
        relayed += 1;
    }
    assert!(relayed > 0 && relayed <= 201, "{relayed} relayed of {sent}");
    a.ws.send(json!({"type": "ping", "id": 7})).await;
    assert!(matches!(a.ws.recv().await, ServerMessage::Pong { id: 7 }));
    // The flooder's seat was kept: it resumes, but without a new burst (the budget is the
    // seat's, not the socket's): 100 more at once are refused again.
    let back = resume(&server.signalling_url(), &b_id, &b_secret).await;
    assert!(back.resumed);
    let mut again = back.ws;
    for _ in 0..100 {
        again.send(candidate.clone()).await;
    }
    let mut refused_again = false;
    while let Some(event) = again.event_within(WAIT).await {
        match event {
            Event::Msg(ServerMessage::Error { code, .. }) => {
                refused_again |= code == samtale_protocol::WsErrorCode::RateLimited;
            }
            Event::Msg(_) => {}
            Event::Closed(_) => break,
        }
    }
    assert!(refused_again, "a resumed seat got a new burst");
    println!(
        "flood: {sent} sent, {relayed} relayed, then closed with rate_limited; resumed and refused again"
    );
    server.shutdown().await;
}

/// A text frame whose payload is not UTF-8 (tungstenite's `Message::Text` cannot hold one).
fn not_utf8_text() -> Message {
    use tokio_tungstenite::tungstenite::protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    };
    Message::Frame(Frame::message(
        vec![b'{', 0xff, 0xfe, b'}'],
        OpCode::Data(Data::Text),
        true,
    ))
}

/// The pre-call check (issue 16): the server says it takes `check`, keeps a citizen seat's
/// latest one for the staff API (so the page can say "the citizen's microphone gives no sound"
/// before the call starts), ignores staff seats' for that, and forgets it with the seat.
#[tokio::test]
async fn a_citizens_check_reaches_the_staff_api_and_goes_with_the_seat() {
    use samtale_protocol::status::{CameraState, MicrophoneState};
    use samtale_protocol::{CheckReport, NetworkCheck};
    let server = start(config()).await;
    let staff = Staff::new(&server);
    let m = staff.meeting().await;
    let shown = || async {
        let got: Meeting = staff.get(&m.meeting_id).await.json().await.unwrap();
        got.citizen_check
    };
    assert_eq!(shown().await, None);

    let ticket = staff.resolve(&m.code).await;
    let mut ws = Ws::connect(&ticket.signalling_url).await;
    ws.send(json!({"type": "hello", "v": 1, "token": ticket.join_token}))
        .await;
    let citizen_id = match ws.recv().await {
        ServerMessage::Welcome {
            features,
            participant_id,
            ..
        } => {
            assert_eq!(features, vec!["check".to_owned()]);
            participant_id
        }
        other => panic!("expected welcome, got {other:?}"),
    };
    ws.send(json!({"type": "check", "network": "blocked", "microphone": "silent", "camera": "on"}))
        .await;
    ws.ping_through(1).await;
    let citizens = CheckReport {
        network: NetworkCheck::Blocked,
        microphone: MicrophoneState::Silent,
        camera: CameraState::On,
    };
    assert_eq!(shown().await, Some(citizens));
    let listed: samtale_protocol::MeetingList = staff
        .http
        .get(format!("{}/api/v1/meetings", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.meetings[0].citizen_check, Some(citizens));

    // The caseworker's own check is not the citizen's.
    let mut caseworker = join(&staff.ticket(&m.meeting_id).await).await;
    caseworker
        .ws
        .send(json!({"type": "check", "network": "ok", "microphone": "on", "camera": "on"}))
        .await;
    caseworker.ws.ping_through(2).await;
    assert_eq!(shown().await, Some(citizens));

    // A newer check replaces the older one; leaving forgets it.
    ws.send(json!({"type": "check", "network": "ok", "microphone": "on", "camera": "dark"}))
        .await;
    ws.ping_through(3).await;
    assert_eq!(
        shown().await.map(|c| (c.network, c.camera)),
        Some((NetworkCheck::Ok, CameraState::Dark))
    );
    ws.send(json!({"type": "leave"})).await;
    ws.skip_until_closed().await;
    expect_peer_left(&mut caseworker.ws, &citizen_id, "left").await;
    assert_eq!(shown().await, None);
}
