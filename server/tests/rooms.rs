//! Standing rooms (issue 14): one citizen relationship that outlives the one-off lifetime and a
//! restart, on a virtual clock; closing revokes the pairing, handing over keeps it, a new code
//! pairs a new phone; presence for the citizen's app and for the caseworker's list.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use samtale_protocol::{Meeting, MeetingKind, Presence};
use samtale_server::{Clock, ServerConfig};
use serde_json::{Value, json};

const DAY: i64 = 86_400;

fn room_config(clock: &Clock) -> ServerConfig {
    ServerConfig {
        clock: clock.clone(),
        // The one-off lifetime is the code's: 60 minutes.
        meeting_ttl_minutes: 60,
        room_idle_days: 90,
        presence_hold_secs: 2,
        ..config()
    }
}

async fn post(staff: &Staff, path: &str, body: Value) -> reqwest::Response {
    staff
        .http
        .post(format!("{}{path}", staff.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn rejoin(staff: &Staff, token: &str) -> u16 {
    post(staff, "/api/v1/rejoin", json!({ "pairing_token": token }))
        .await
        .status()
        .as_u16()
}

async fn patch(staff: &Staff, id: &str, body: Value) -> reqwest::Response {
    staff
        .http
        .patch(format!("{}/api/v1/meetings/{id}", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn new_code(staff: &Staff, id: &str) -> reqwest::Response {
    staff
        .http
        .post(format!("{}/api/v1/meetings/{id}/code", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap()
}

async fn list(staff: &Staff) -> Vec<Meeting> {
    let resp = staff
        .http
        .get(format!("{}/api/v1/meetings", staff.base))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap();
    let body: samtale_protocol::MeetingList = resp.json().await.unwrap();
    body.meetings
}

async fn room(staff: &Staff) -> Meeting {
    staff
        .create(json!({
            "kind": "room",
            "label": "MJ bostøtte LABEL-MARKER",
            "display_name": "Mette fra bostøtten",
            "owner": "mj"
        }))
        .await
}

#[tokio::test]
async fn a_standing_room_outlives_the_one_off_lifetime_and_a_restart_and_closes_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_800_000_000);
    let cfg = ServerConfig {
        db_path: dir.path().join("db.sqlite").to_string_lossy().into_owned(),
        ..room_config(&clock)
    };
    let server = start(cfg.clone()).await;
    let staff = Staff::new(&server);
    let r = room(&staff).await;
    assert_eq!(r.kind, MeetingKind::Room);
    assert_eq!(r.label.as_deref(), Some("MJ bostøtte LABEL-MARKER"));
    assert_eq!(
        r.code_expires_at,
        1_800_000_000 + 3600,
        "the code lives 60 minutes"
    );
    assert_eq!(
        r.expires_at,
        1_800_000_000 + 90 * DAY,
        "the room 90 days without a call"
    );
    let one_off = staff.meeting().await;
    let token = staff.resolve(&r.code).await.pairing_token.unwrap();
    let one_off_token = staff.resolve(&one_off.code).await.pairing_token.unwrap();

    // Two days later, after a restart: the one-off meeting is gone, the room is not.
    server.shutdown().await;
    clock.advance(2 * DAY);
    let server = start(cfg.clone()).await;
    let staff = Staff::new(&server);
    assert_eq!(
        rejoin(&staff, &one_off_token).await,
        404,
        "the one-off meeting expired"
    );
    assert_eq!(rejoin(&staff, &token).await, 200, "one tap, two days later");
    assert_eq!(
        staff.resolve_raw(&r.code).await.status(),
        404,
        "the code itself expired: it pairs new devices for 60 minutes only"
    );
    // A caseworker alone in the room does not keep it alive.
    let before = staff
        .get(&r.meeting_id)
        .await
        .json::<Meeting>()
        .await
        .unwrap();
    let alone = join(&staff.ticket(&r.meeting_id).await).await;
    alone.ws.close().await;
    let after = staff
        .get(&r.meeting_id)
        .await
        .json::<Meeting>()
        .await
        .unwrap();
    assert_eq!(
        after.expires_at, before.expires_at,
        "staff alone is no call"
    );
    // A call on day 2 starts another 90 days.
    let ticket: samtale_protocol::Ticket =
        post(&staff, "/api/v1/rejoin", json!({"pairing_token": token}))
            .await
            .json()
            .await
            .unwrap();
    let seat = join(&ticket).await;
    seat.ws.close().await;
    let listed = list(&staff).await;
    let again = listed
        .iter()
        .find(|m| m.meeting_id == r.meeting_id)
        .unwrap();
    assert_eq!(again.expires_at, 1_800_000_000 + 2 * DAY + 90 * DAY);
    assert!(again.last_call_at.is_some());
    // 91 days later (no call since day 2): closed, and the pairing with it.
    clock.advance(91 * DAY);
    assert_eq!(
        rejoin(&staff, &token).await,
        404,
        "idle for 91 days: closed"
    );
    assert!(
        list(&staff)
            .await
            .iter()
            .all(|m| m.meeting_id != r.meeting_id)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn closing_revokes_handing_over_keeps_and_a_new_code_pairs_a_new_phone() {
    let clock = Clock::manual(1_800_000_000);
    let server = start(room_config(&clock)).await;
    let staff = Staff::new(&server);
    let r = room(&staff).await;
    let old_phone = staff.resolve(&r.code).await.pairing_token.unwrap();

    // Holiday cover: a colleague takes the room; the citizen notices nothing.
    let resp = patch(
        &staff,
        &r.meeting_id,
        json!({"owner": "kl", "label": "KL dækker"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let m: Meeting = resp.json().await.unwrap();
    assert_eq!(m.owner.as_deref(), Some("kl"));
    assert_eq!(m.label.as_deref(), Some("KL dækker"));
    assert_eq!(
        m.display_name.as_deref(),
        Some("Mette fra bostøtten"),
        "untouched"
    );
    assert_eq!(
        rejoin(&staff, &old_phone).await,
        200,
        "handing over keeps the pairing"
    );
    let too_long = patch(&staff, &r.meeting_id, json!({"label": "x".repeat(61)})).await;
    assert_eq!(too_long.status(), 400);

    // A new phone: a new code pairs it, the old code stops, the old phone still works.
    clock.advance(3 * DAY);
    let resp = new_code(&staff, &r.meeting_id).await;
    assert_eq!(resp.status(), 200);
    let m: Meeting = resp.json().await.unwrap();
    assert_ne!(m.code, r.code);
    assert_eq!(
        staff.resolve_raw(&r.code).await.status(),
        404,
        "the old code is gone"
    );
    let new_phone = staff.resolve(&m.code).await.pairing_token.unwrap();
    assert_eq!(rejoin(&staff, &new_phone).await, 200);
    assert_eq!(
        rejoin(&staff, &old_phone).await,
        200,
        "until the room closes"
    );
    let one_off = staff.meeting().await;
    assert_eq!(
        new_code(&staff, &one_off.meeting_id).await.status(),
        400,
        "rooms only"
    );

    // Closing the room revokes every device's pairing.
    assert_eq!(staff.end(&r.meeting_id).await.status(), 200);
    assert_eq!(rejoin(&staff, &old_phone).await, 404);
    assert_eq!(rejoin(&staff, &new_phone).await, 404);
    assert_eq!(
        patch(&staff, &r.meeting_id, json!({"owner": "x"}))
            .await
            .status(),
        410
    );
    assert_eq!(new_code(&staff, &r.meeting_id).await.status(), 410);
    server.shutdown().await;
}

async fn presence(staff: &Staff, token: &str, known: Option<bool>) -> (u16, String) {
    let mut body = json!({ "pairing_token": token });
    if let Some(k) = known {
        body["known"] = json!(k);
    }
    let resp = post(staff, "/api/v1/presence", body).await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn parse(body: &str) -> Presence {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn presence_tells_the_app_when_staff_come_and_go_and_the_list_when_the_app_is_open() {
    let clock = Clock::manual(1_800_000_000);
    let server = start(room_config(&clock)).await;
    let staff = Staff::new(&server);
    let r = room(&staff).await;
    let citizen = staff.resolve(&r.code).await;
    let token = citizen.pairing_token.clone().unwrap();

    // Nobody there: said at once (no `known`), with the chosen name and nothing else.
    let (status, body) = presence(&staff, &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        parse(&body),
        Presence {
            staff_present: false,
            display_name: Some("Mette fra bostøtten".into())
        }
    );
    assert!(
        !body.contains("LABEL-MARKER") && !body.contains("\"mj\""),
        "{body}"
    );
    assert!(
        list(&staff)
            .await
            .iter()
            .any(|m| m.meeting_id == r.meeting_id && m.citizen_app_open),
        "the caseworker sees the app open"
    );

    // The app waits (known = false); the caseworker comes in: the answer arrives at once (if
    // the question arrives after the caseworker, it is answered at once anyway).
    let waiting = {
        let (staff2, token) = (Staff::new(&server), token.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let answer = presence(&staff2, &token, Some(false)).await;
            (answer, t.elapsed())
        })
    };
    let caseworker = join(&staff.ticket(&r.meeting_id).await).await;
    let ((status, body), took) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(parse(&body).staff_present);
    assert!(
        took < Duration::from_secs(2),
        "told within {took:?}, not at the hold time"
    );
    assert!(
        list(&staff)
            .await
            .iter()
            .any(|m| m.meeting_id == r.meeting_id && m.staff_present)
    );

    // Nothing changes: held for the hold time (2 s here), then the same answer.
    let t = Instant::now();
    let (_, body) = presence(&staff, &token, Some(true)).await;
    assert!(parse(&body).staff_present);
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "held {:?}",
        t.elapsed()
    );

    // The caseworker leaves: the waiting app learns it at once (held or not, the answer is
    // the same).
    let waiting = {
        let (staff2, token) = (Staff::new(&server), token.clone());
        tokio::spawn(async move { presence(&staff2, &token, Some(true)).await })
    };
    let mut ws = caseworker.ws;
    ws.send(json!({"type": "leave"})).await;
    ws.skip_until_closed().await;
    let (_, body) = waiting.await.unwrap();
    assert!(!parse(&body).staff_present);

    // The app closes while a question is held: the list stops showing it at once, and the
    // held question, answered later, does not open it again. First closed, so that the list
    // shows when the held question has arrived (it opens the app again).
    let closing = json!({"pairing_token": token, "closing": true});
    assert_eq!(
        post(&staff, "/api/v1/presence", closing.clone())
            .await
            .status(),
        200
    );
    let held = {
        let (staff2, token) = (Staff::new(&server), token.clone());
        tokio::spawn(async move { presence(&staff2, &token, Some(false)).await })
    };
    let end = Instant::now() + WAIT;
    while !list(&staff)
        .await
        .iter()
        .any(|m| m.meeting_id == r.meeting_id && m.citizen_app_open)
    {
        assert!(Instant::now() < end, "the held question never arrived");
    }
    let resp = post(
        &staff,
        "/api/v1/presence",
        json!({"pairing_token": token, "closing": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        list(&staff)
            .await
            .iter()
            .any(|m| m.meeting_id == r.meeting_id && !m.citizen_app_open)
    );

    assert_eq!(held.await.unwrap().0, 200);
    assert!(
        list(&staff)
            .await
            .iter()
            .any(|m| m.meeting_id == r.meeting_id && !m.citizen_app_open),
        "a held question from before the closing does not reopen the app"
    );

    // Unknown pairings get the code look-up's 404; questions are rate-limited per pairing.
    let (status, unknown) = presence(&staff, "t_not-a-pairing", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        unknown,
        staff.resolve_raw("0000000000").await.text().await.unwrap()
    );
    let mut limited = false;
    for _ in 0..8 {
        if presence(&staff, &token, None).await.0 == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "a burst of questions is limited");
    // The label is in no citizen-facing answer.
    let rejoined = post(&staff, "/api/v1/rejoin", json!({"pairing_token": token}))
        .await
        .text()
        .await
        .unwrap();
    let citizen_json = serde_json::to_string(&citizen).unwrap();
    for text in [rejoined, citizen_json] {
        assert!(
            !text.contains("LABEL-MARKER") && !text.contains("Mette"),
            "{text}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_version_1_database_is_migrated_with_its_meetings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE meetings (meeting_id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE,
                 created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                 state TEXT NOT NULL CHECK (state IN ('open', 'ended', 'expired')), ended_at INTEGER);
             INSERT INTO meetings VALUES ('m_old', '4821937750', 1800000000, 1800003600, 'open', NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let clock = Clock::manual(1_800_000_100);
    let server = start(ServerConfig {
        db_path: path.to_string_lossy().into_owned(),
        ..room_config(&clock)
    })
    .await;
    let staff = Staff::new(&server);
    let resp = staff.get("m_old").await;
    assert_eq!(resp.status(), 200);
    let m: Meeting = resp.json().await.unwrap();
    assert_eq!(
        (m.kind, m.code_expires_at),
        (MeetingKind::Meeting, 1_800_003_600)
    );
    let r = room(&staff).await;
    assert_eq!(r.kind, MeetingKind::Room);
    server.shutdown().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 2);
    // A version-1 server opened it again meanwhile (a downgrade resets the version to 1): the
    // migration adds nothing twice and the server starts.
    conn.execute_batch("PRAGMA user_version = 1;").unwrap();
    drop(conn);
    let server = start(ServerConfig {
        db_path: path.to_string_lossy().into_owned(),
        ..room_config(&clock)
    })
    .await;
    let staff = Staff::new(&server);
    assert_eq!(staff.get(&r.meeting_id).await.status(), 200);
    server.shutdown().await;
}
