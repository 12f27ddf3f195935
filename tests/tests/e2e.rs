//! End to end: a real server, real cores, real WebRTC peer connections on loopback.

use futures_util::{SinkExt, StreamExt};
use samtale_core::code::{CodeError, JoinCode};
use samtale_core::{Call, CallConfig, CallState, EndReason, PublicError};
use samtale_e2e::{
    ParticipantLog, STAFF_TOKEN, TestServer, TestServerOptions, media_keeps_flowing, received_from,
    wait_media_from, wait_stats, with_devices,
};
use samtale_server::Clock;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const LONG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cores_meet_and_media_flows_both_ways() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    // Typed the way people type: with spaces and a trailing newline.
    let citizen = server
        .citizen_in_call(&format!("{}\n", meeting.code_display))
        .await;
    assert_eq!(
        staff.wait_for(LONG, |s| *s == CallState::InCall).await,
        CallState::InCall
    );
    let c = media_keeps_flowing(&citizen, &Default::default(), 25, "staff -> citizen").await;
    media_keeps_flowing(&staff, &Default::default(), 25, "citizen -> staff").await;
    assert!(c.resolved_ms.is_some() && c.connected_ms.is_some());
    assert!(c.first_audio_ms.is_some() && c.first_video_ms.is_some());
    // Real media: decoded pictures and audio both ways.
    for (call, who) in [(&citizen, "citizen"), (&staff, "staff")] {
        let m = call.media_stats();
        assert!(
            m.send.audio_packets > 0 && m.send.video_frames > 0,
            "{who}: {m:?}"
        );
        assert!(
            m.video.frames_decoded > 0 && m.audio.decoded_frames > 0,
            "{who}: {m:?}"
        );
    }
    assert_eq!(staff.participants().len(), 1);
    assert_eq!(citizen.participants().len(), 1);

    citizen.leave();
    citizen.closed().await;
    assert_eq!(citizen.state(), CallState::Ended(EndReason::LocalLeave));
    // The staff side sees the citizen leave and waits again.
    assert_eq!(
        staff.wait_for(LONG, |s| *s == CallState::Waiting).await,
        CallState::Waiting
    );
    staff.leave();
    staff.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_participant_joins_and_leaves() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let first = server.citizen_in_call(&meeting.code).await;
    let second = server.citizen_in_call(&meeting.code).await;
    let first_id = first.participant_id().expect("seated");
    let second_id = second.participant_id().expect("seated");
    let staff_id = staff.participant_id().expect("seated");

    // Everyone receives media from both others (mesh).
    for (call, others) in [
        (&staff, [&first_id, &second_id]),
        (&first, [&staff_id, &second_id]),
        (&second, [&staff_id, &first_id]),
    ] {
        wait_stats(call, LONG, "media from both others", |s| {
            others.iter().all(|id| received_from(s, id, 10, 3))
        })
        .await;
    }

    second.leave();
    second.closed().await;
    for call in [&staff, &first] {
        let deadline = tokio::time::Instant::now() + LONG;
        while call.participants().len() != 1 {
            assert!(tokio::time::Instant::now() < deadline, "third never left");
            let mut rx = call.watch();
            let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
        }
        assert_eq!(call.state(), CallState::InCall);
    }
    let before = first.stats();
    media_keeps_flowing(&first, &before, 20, "media after the third left").await;
    first.leave();
    staff.leave();
    first.closed().await;
    staff.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_unknown_expired_and_ended_codes_fail_cleanly() {
    let clock = Clock::manual(1_800_000_000);
    let server = TestServer::start_with(TestServerOptions {
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    let (meeting, staff) = server.host().await;
    let citizen = server.citizen_in_call(&meeting.code).await;

    // Offline checks: the server URL is unreachable, so any network call would say NoNetwork.
    let offline = CallConfig::new("http://127.0.0.1:9").loopback();
    for (typed, expected) in [
        ("", CodeError::Empty),
        (
            "482 193",
            CodeError::TooFewDigits {
                got: 6,
                expected: 10,
            },
        ),
        ("12a4567890", CodeError::NotADigit),
        (
            "482 193 7750 12",
            CodeError::TooManyDigits {
                got: 12,
                expected: 10,
            },
        ),
    ] {
        let call = Call::join(offline.clone(), typed);
        let s = call.wait_for(LONG, |s| s.is_final()).await;
        assert_eq!(
            s,
            CallState::Failed(PublicError::BadCode(expected)),
            "{typed:?}"
        );
    }
    // A single wrong digit of the real code.
    let mut wrong: Vec<u8> = meeting.code.bytes().collect();
    wrong[4] = if wrong[4] == b'9' { b'0' } else { wrong[4] + 1 };
    let wrong = String::from_utf8(wrong).expect("ascii");
    let s = Call::join(offline.clone(), &wrong)
        .wait_for(LONG, |s| s.is_final())
        .await;
    assert_eq!(
        s,
        CallState::Failed(PublicError::BadCode(CodeError::WrongDigit))
    );

    // A valid code that no meeting uses.
    let unknown = loop {
        let c = JoinCode::generate();
        if c.digits() != meeting.code {
            break c;
        }
    };
    let s = Call::join(server.config(), unknown.digits())
        .wait_for(LONG, |s| s.is_final())
        .await;
    assert_eq!(s, CallState::Failed(PublicError::CodeNotFoundOrExpired));

    // An ended meeting's code.
    let other = server.create_meeting().await;
    server
        .api()
        .end_meeting(STAFF_TOKEN, &other.meeting_id)
        .await
        .expect("end");
    let s = Call::join(server.config(), &other.code)
        .wait_for(LONG, |s| s.is_final())
        .await;
    assert_eq!(s, CallState::Failed(PublicError::CodeNotFoundOrExpired));

    // The running call was not disturbed by any of it.
    let before = citizen.stats();
    media_keeps_flowing(&citizen, &before, 10, "media during bad joins").await;
    assert_eq!(citizen.state(), CallState::InCall);

    // Expiry: move the server's clock past the meeting's end. The call ends with the reason and
    // the code stops resolving.
    clock.advance(meeting.expires_at - meeting.created_at + 1);
    let s = citizen.wait_for(LONG, |s| s.is_final()).await;
    assert_eq!(s, CallState::Ended(EndReason::MeetingExpired));
    let s = Call::join(server.config(), &meeting.code)
        .wait_for(LONG, |s| s.is_final())
        .await;
    assert_eq!(s, CallState::Failed(PublicError::CodeNotFoundOrExpired));
    staff.wait_for(LONG, |s| s.is_final()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_ending_the_meeting_ends_the_citizens_call() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let citizen = server.citizen_in_call(&meeting.code).await;
    server
        .api()
        .end_meeting(STAFF_TOKEN, &meeting.meeting_id)
        .await
        .expect("end");
    assert_eq!(
        citizen.wait_for(LONG, |s| s.is_final()).await,
        CallState::Ended(EndReason::MeetingEnded)
    );
    assert_eq!(
        staff.wait_for(LONG, |s| s.is_final()).await,
        CallState::Ended(EndReason::MeetingEnded)
    );
    citizen.closed().await;
}

/// A caseworker and a citizen in a call with media flowing, and what watches for trouble.
struct Watched {
    meeting: samtale_core::protocol::Meeting,
    staff: Call,
    citizen: Call,
    citizen_id: String,
    staff_log: ParticipantLog,
    states: StateLog,
    before: samtale_core::CallStats,
}

impl Watched {
    /// The citizen kept its seat, the caseworker never saw it leave, and the citizen's screen
    /// never showed trouble.
    fn assert_untroubled(&self) {
        assert_eq!(
            self.citizen.participant_id().as_deref(),
            Some(self.citizen_id.as_str())
        );
        assert!(
            !self.staff_log.ever_lost(&self.citizen_id),
            "staff saw the citizen leave"
        );
        assert!(
            !self
                .states
                .saw(|s| matches!(s, CallState::Reconnecting | CallState::Failed(_))),
            "the citizen must not see trouble while media flows: {:?}",
            self.states.all()
        );
    }
}

async fn watched_call(server: &TestServer) -> Watched {
    let (meeting, staff) = server.host().await;
    let citizen = server.citizen_in_call(&meeting.code).await;
    let citizen_id = citizen.participant_id().expect("seated");
    let staff_log = ParticipantLog::record(&staff);
    let states = record_states(&citizen);
    let before = media_keeps_flowing(&citizen, &Default::default(), 10, "media before").await;
    Watched {
        meeting,
        staff,
        citizen,
        citizen_id,
        staff_log,
        states,
        before,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_meeting_rejoins_with_one_tap_until_it_ends() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("brand").join("remembered-meeting");
    let mut config = server.config();
    config.remember = Some(Arc::new(samtale_core::remember::FileStore::new(
        path.clone(),
    )));

    let first = Call::join(config.clone(), &meeting.code);
    assert_eq!(
        first.wait_for(LONG, |s| *s == CallState::InCall).await,
        CallState::InCall
    );
    // Saved off the call's task, as soon as the look-up succeeded.
    let deadline = tokio::time::Instant::now() + LONG;
    let token = loop {
        if let Some(token) = samtale_core::remember::load(&path) {
            break token;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the meeting is remembered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stored = std::fs::read_to_string(&path).expect("file");
    assert!(
        !stored.contains(&meeting.code),
        "the code itself is never stored"
    );
    first.leave();
    first.closed().await;

    // One tap: back in the same meeting without the code.
    let again = Call::rejoin(config.clone(), token.clone());
    assert_eq!(
        again.wait_for(LONG, |s| *s == CallState::InCall).await,
        CallState::InCall
    );
    again.leave();
    again.closed().await;

    // The meeting ends: the token is refused, and forgotten.
    server
        .api()
        .end_meeting(STAFF_TOKEN, &meeting.meeting_id)
        .await
        .expect("end");
    let late = Call::rejoin(config, token);
    assert_eq!(
        late.wait_for(LONG, |s| s.is_final()).await,
        CallState::Failed(PublicError::CodeNotFoundOrExpired)
    );
    assert_eq!(samtale_core::remember::load(&path), None);
    staff.leave();
    staff.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_changed_replaces_the_signalling_socket_at_once_and_keeps_the_seat() {
    let server = TestServer::start().await;
    let w = watched_call(&server).await;
    assert_eq!(w.citizen.stats().signalling_reconnects, 0);

    w.citizen.network_changed();
    // A new socket, the same seat; nobody saw the citizen leave; media goes on.
    wait_stats(&w.citizen, LONG, "a new signalling socket", |s| {
        s.signalling_reconnects >= 1
    })
    .await;
    media_keeps_flowing(&w.citizen, &w.before, 25, "media after the network change").await;
    w.assert_untroubled();
    // The staff side never lost its own socket.
    assert_eq!(w.staff.stats().signalling_reconnects, 0);
    for call in [&w.citizen, &w.staff] {
        call.leave();
        call.closed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_signalling_socket_resumes_seat_and_media_keeps_flowing() {
    let server = TestServer::start().await;
    let w = watched_call(&server).await;
    let (meeting, staff, citizen, before) = (&w.meeting, &w.staff, &w.citizen, &w.before);

    let killed = server.proxy.kill_all();
    assert!(
        killed >= 2,
        "both signalling sockets go through the proxy ({killed})"
    );

    // Both sides reconnect and resume their seats.
    for call in [citizen, staff] {
        wait_stats(call, LONG, "signalling resumed", |s| {
            s.signalling_reconnects >= 1
        })
        .await;
    }
    let after = media_keeps_flowing(citizen, before, 25, "media after the cut").await;
    media_keeps_flowing(staff, &Default::default(), 25, "media to staff").await;
    w.assert_untroubled();
    assert!(after.audio_packets_received > before.audio_packets_received);

    // Signalling really works again: a new participant can join and reach both.
    let third = server.citizen_in_call(&meeting.code).await;
    let third_id = third.participant_id().expect("seated");
    wait_stats(citizen, LONG, "media from the newcomer", |s| {
        s.per_peer.get(&third_id).is_some_and(|(a, _)| *a > 5)
    })
    .await;
    for call in [&third, citizen, staff] {
        call.leave();
        call.closed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_call_keeps_media_and_seats() {
    let mut server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let citizen = server.citizen_in_call(&meeting.code).await;
    let citizen_id = citizen.participant_id().expect("seated");
    let staff_id = staff.participant_id().expect("seated");
    let staff_log = ParticipantLog::record(&staff);
    let citizen_log = ParticipantLog::record(&citizen);
    let before = media_keeps_flowing(&citizen, &Default::default(), 10, "media before").await;

    server.stop().await;
    // While the server is down, peer-to-peer media goes on.
    let during = media_keeps_flowing(&citizen, &before, 25, "media while the server is down").await;
    assert_eq!(citizen.state(), CallState::InCall);

    server.restart().await;
    for call in [&citizen, &staff] {
        wait_stats(call, LONG, "signalling resumed after restart", |s| {
            s.signalling_reconnects >= 1
        })
        .await;
    }
    assert_eq!(
        citizen.participant_id().as_deref(),
        Some(citizen_id.as_str())
    );
    assert_eq!(staff.participant_id().as_deref(), Some(staff_id.as_str()));
    media_keeps_flowing(&citizen, &during, 25, "media after restart").await;
    assert!(!staff_log.ever_lost(&citizen_id));
    assert!(!citizen_log.ever_lost(&staff_id));
    // The meeting and its code survived the restart.
    let ticket = server
        .api()
        .resolve(&JoinCode::parse(&meeting.code).expect("code"))
        .await
        .expect("code still resolves");
    assert_eq!(ticket.meeting_id, meeting.meeting_id);
    for call in [&citizen, &staff] {
        call.leave();
        call.closed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_code_lookups_gets_429() {
    let server = TestServer::start_with(TestServerOptions {
        lookup_burst: 5,
        ..Default::default()
    })
    .await;
    let meeting = server.create_meeting().await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..30 {
        let resp = http
            .post(format!("{}/api/v1/join", server.url()))
            .json(&serde_json::json!({"code": JoinCode::generate().digits()}))
            .send()
            .await
            .expect("http");
        if resp.status() == 429 {
            retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
        }
        statuses.push(resp.status().as_u16());
    }
    // Burst of 5, refill one per 2 s: the first 5 pass (404: unknown codes), the rest are
    // refused, give or take one refill if the loop is slow.
    let passed = statuses.iter().filter(|s| **s == 404).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!((5..=6).contains(&passed), "{statuses:?}");
    assert_eq!(passed + limited, 30, "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s >= 1));
    // The core reports it as a public error, even for a real code.
    let s = Call::join(server.config(), &meeting.code)
        .wait_for(LONG, |s| s.is_final())
        .await;
    assert!(
        matches!(s, CallState::Failed(PublicError::RateLimited { retry_after_secs }) if retry_after_secs >= 1),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_websocket_clients_do_not_disturb_a_meeting() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let citizen = server.citizen_in_call(&meeting.code).await;
    let citizen_id = citizen.participant_id().expect("seated");
    let staff_log = ParticipantLog::record(&staff);
    let ws_url = format!("ws://{}/api/v1/signal", server.proxy.addr());

    let garbage: Vec<Message> = vec![
        Message::text("this is not json"),
        Message::binary(vec![0u8, 159, 146, 150]),
        Message::text(r#"{"type":"signal","to":"p_x","payload":{"kind":"offer","sdp":"v=0"}}"#),
        Message::text(r#"{"type":"launch_missiles"}"#),
        Message::text(r#"{"type":"hello","v":99,"token":"t"}"#),
        Message::text(r#"{"type":"hello","v":1,"token":"t_forged"}"#),
        Message::text(
            r#"{"type":"hello","v":1,"resume":{"participant_id":"PID","resume_secret":"guess"}}"#
                .replace("PID", &citizen_id),
        ),
        Message::text("x".repeat(200_000)),
    ];
    for msg in garbage {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .expect("upgrade");
        let _ = ws.send(msg).await;
        // The server answers with an error and closes this socket only.
        let closed = tokio::time::timeout(LONG, async {
            while let Some(Ok(m)) = ws.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "server should close a garbage socket");
    }
    let before = citizen.stats();
    media_keeps_flowing(&citizen, &before, 20, "media after garbage").await;
    assert_eq!(citizen.state(), CallState::InCall);
    assert_eq!(staff.state(), CallState::InCall);
    assert!(!staff_log.ever_lost(&citizen_id));
    assert_eq!(
        citizen.stats().signalling_reconnects,
        0,
        "our own socket was untouched"
    );
    for call in [&citizen, &staff] {
        call.leave();
        call.closed().await;
    }
}

/// Records every state a call goes through.
struct StateLog {
    states: std::sync::Arc<std::sync::Mutex<Vec<CallState>>>,
    _sub: samtale_core::Subscription,
}

impl StateLog {
    fn saw(&self, pred: impl Fn(&CallState) -> bool) -> bool {
        self.all().iter().any(pred)
    }

    fn all(&self) -> Vec<CallState> {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn record_states(call: &Call) -> StateLog {
    let states = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = std::sync::Arc::clone(&states);
    let sub = call.subscribe(move |state| {
        s.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(state.clone())
    });
    StateLog { states, _sub: sub }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_reaches_a_participant_whose_socket_was_down() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    // This citizen reconnects slowly, so a newcomer joins while its seat is in grace.
    let mut slow = server.config();
    slow.timing.retry_initial = Duration::from_secs(2);
    slow.timing.retry_max = Duration::from_secs(2);
    let away = with_devices(Call::join(slow, &meeting.code));
    assert_eq!(
        away.wait_for(LONG, |s| *s == CallState::InCall).await,
        CallState::InCall
    );
    let away_log = ParticipantLog::record(&away);

    server.proxy.kill_all();
    // The staff resumes within ~100 ms; the newcomer joins while `away` is still away.
    wait_stats(&staff, LONG, "staff resumed", |s| {
        s.signalling_reconnects >= 1
    })
    .await;
    assert_eq!(away.stats().signalling_reconnects, 0, "still away");
    let newcomer = server.citizen_in_call(&meeting.code).await;
    let newcomer_id = newcomer.participant_id().expect("seated");

    // `away` resumes, learns of the newcomer from `welcome.peers`, and answers its queued offer.
    wait_media_from(&away, &newcomer_id, "media from the newcomer").await;
    let away_id = away.participant_id().expect("seated");
    wait_media_from(&newcomer, &away_id, "media from the one who was away").await;
    assert!(!away_log.ever_lost(&staff.participant_id().expect("seated")));
    for call in [&newcomer, &away, &staff] {
        call.leave();
        call.closed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_restarting_at_once_settle_the_glare_and_media_resumes() {
    let server = TestServer::start().await;
    let w = watched_call(&server).await;
    let staff_before = media_keeps_flowing(&w.staff, &Default::default(), 10, "staff media").await;
    // Both platforms report a network change at the same moment: both sides restart ICE and
    // their offers cross. One rolls back and answers; nobody deadlocks.
    w.citizen.network_changed();
    w.staff.network_changed();
    for call in [&w.citizen, &w.staff] {
        wait_stats(call, LONG, "an ICE restart offered", |s| {
            s.ice_restarts >= 1
        })
        .await;
    }
    media_keeps_flowing(
        &w.citizen,
        &w.before,
        25,
        "citizen media after the restarts",
    )
    .await;
    let collisions = w.citizen.stats().offer_collisions + w.staff.stats().offer_collisions;
    assert!(
        collisions >= 1,
        "the restarts did not cross: no glare tested"
    );
    media_keeps_flowing(
        &w.staff,
        &staff_before,
        25,
        "staff media after the restarts",
    )
    .await;
    // Pictures are decoded again on both sides after the restarts.
    for call in [&w.citizen, &w.staff] {
        let decoded = call.media_stats().video.frames_decoded;
        let deadline = std::time::Instant::now() + LONG;
        while call.media_stats().video.frames_decoded < decoded + 10 {
            assert!(std::time::Instant::now() < deadline, "no new pictures");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(call.state(), CallState::InCall);
        // Settled by ICE restarts on the existing connections, not by new ones.
        assert_eq!(call.stats().renegotiations, 0, "{:?}", call.stats());
    }
    for call in [&w.citizen, &w.staff] {
        call.leave();
        call.closed().await;
    }
}

/// Issue 16: a peer that accepts an ICE restart and then sends nothing on that connection,
/// while its transport stays up (ICE answers consent checks, so ICE alone would call it
/// connected). The other side must not sit in a silent "in call": its flow watch sees
/// nothing arrive for `samtale_core::flow::STALL_MS`, the call shows "reconnecting", and the
/// recovery ladder's first step is a new connection (an ICE restart would connect again and
/// change nothing), on which media flows again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_sending_after_an_ice_restart_is_recovered_with_a_new_connection() {
    use samtale_core::flow::STALL_MS;
    let server = TestServer::start().await;
    let meeting = server.create_meeting().await;
    let ticket = server
        .api()
        .staff_ticket(STAFF_TOKEN, &meeting.meeting_id)
        .await
        .expect("staff ticket");
    let mut stuck = server.config();
    stuck.freeze_after_ice_restart = true;
    let staff = with_devices(Call::join_with_ticket(stuck, ticket));
    staff.wait_for(LONG, |s| *s == CallState::Waiting).await;
    let citizen = server.citizen_in_call(&meeting.code).await;
    let staff_id = staff.participant_id().expect("seated");
    let first = wait_media_from(&citizen, &staff_id, "media before the fault").await;
    // Long enough for statuses to have come (one a second): only a peer that has sent one is
    // judged (a peer without the status channel might just be silent).
    let before = media_keeps_flowing(&citizen, &first, 150, "three seconds of media").await;

    // Every state the citizen goes through from here, with its time.
    let start = std::time::Instant::now();
    let states: Arc<std::sync::Mutex<Vec<(u128, CallState)>>> = Arc::default();
    let s = Arc::clone(&states);
    let _sub = citizen.subscribe(move |state| {
        s.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((start.elapsed().as_millis(), state.clone()));
    });
    // The citizen's network changes: it restarts ICE, the caseworker's side accepts and
    // stops sending on that connection.
    citizen.network_changed();
    let reconnecting = citizen
        .wait_for(Duration::from_millis(STALL_MS + 8_000), |s| {
            *s == CallState::Reconnecting
        })
        .await;
    let story = || format!("{:?}", states.lock().unwrap_or_else(|p| p.into_inner()));
    assert_eq!(
        reconnecting,
        CallState::Reconnecting,
        "never said: {}",
        story()
    );
    let told_at = start.elapsed();
    // The ladder: a new connection.
    let back = citizen
        .wait_for(Duration::from_secs(45), |s| *s == CallState::InCall)
        .await;
    assert_eq!(back, CallState::InCall, "not recovered: {}", story());
    let recovered_at = start.elapsed();
    let stats = citizen.stats();
    assert!(stats.renegotiations >= 1, "no new connection: {stats:?}");
    // The network change's own restart only: none after the stall.
    assert_eq!(stats.ice_restarts, 1, "{stats:?}");
    // Media flows again from the caseworker, on the new connection.
    media_keeps_flowing(&citizen, &citizen.stats(), 25, "media after recovery").await;
    println!(
        "stalled media: reconnecting after {} ms, in call again after {} ms ({} ICE restarts, {} new connections); states: {}",
        told_at.as_millis(),
        recovered_at.as_millis(),
        stats.ice_restarts,
        stats.renegotiations,
        story()
    );
    assert!(stats.audio_packets_received > before.audio_packets_received);
    // Nobody left the meeting meanwhile.
    assert_eq!(citizen.participants().len(), 1);
    for call in [&citizen, &staff] {
        call.leave();
        call.closed().await;
    }
}
