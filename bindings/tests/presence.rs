//! Presence on the one big button (issue 14), through the phones' API: a citizen paired with a
//! standing room sees on the home screen whether the caseworker is there, within a second or
//! two of the caseworker coming or going; the caseworker's list sees the app open and closed;
//! a closed room makes the app forget it. Real server, real calls.

mod common;

use common::Screens;
use samtale_core::{Call, CallState};
use samtale_e2e::{STAFF_TOKEN, TestServer, with_devices};
use samtale_ffi::{AppConfig, CallObserver, LogLevel, Samtale, UiState};
use samtale_protocol::{CreateMeetingRequest, Meeting, MeetingKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How fast a change must show: the server answers a held question the moment a seat changes.
const FLIP: Duration = Duration::from_secs(3);

async fn staff_joins(server: &TestServer, room: &Meeting) -> Call {
    let ticket = server
        .api()
        .staff_ticket(STAFF_TOKEN, &room.meeting_id)
        .await
        .expect("staff ticket");
    let call = with_devices(Call::join_with_ticket(server.config(), ticket));
    let s = call
        .wait_for(Duration::from_secs(20), |s| {
            matches!(s, CallState::Waiting | CallState::InCall)
        })
        .await;
    assert!(matches!(s, CallState::Waiting | CallState::InCall), "{s:?}");
    call
}

async fn app_open(server: &TestServer, room: &Meeting) -> bool {
    let list = server.api().list_meetings(STAFF_TOKEN).await.expect("list");
    list.meetings
        .iter()
        .any(|m| m.meeting_id == room.meeting_id && m.citizen_app_open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_big_button_lights_up_when_the_caseworker_is_in_the_room() {
    let server = TestServer::start().await;
    let room = server
        .api()
        .create(
            STAFF_TOKEN,
            &CreateMeetingRequest {
                kind: Some(MeetingKind::Room),
                label: Some("MJ bostøtte".into()),
                display_name: Some("Mette fra bostøtten".into()),
                ..CreateMeetingRequest::default()
            },
        )
        .await
        .expect("room");
    let storage = tempfile::tempdir().expect("tmp");
    let screens = Arc::new(Screens::default());
    let samtale = Samtale::new(
        AppConfig {
            server_url: server.url(),
            brand_id: "test".into(),
            storage_dir: storage.path().to_string_lossy().into_owned(),
            log_level: LogLevel::Warn,
            extra_ca_pem: None,
            brand_toml: include_str!("../../brands/eksempel/brand.toml").into(),
            language: Some("da".into()),
        },
        Arc::clone(&screens) as Arc<dyn CallObserver>,
        None,
    )
    .expect("core");

    // Pair: the first call with the code, the caseworker there; then hang up and go home.
    let caseworker = staff_joins(&server, &room).await;
    samtale.join(room.code.clone());
    screens.until("in the call", Duration::from_secs(20), |s| {
        s.state == UiState::InCall
    });
    samtale.leave();
    screens.until("ended", Duration::from_secs(10), |s| s.id == "ended");
    assert!(samtale.back());
    let t = Instant::now();
    let home = screens.until("home, lit", FLIP, |s| s.id == "home" && s.lit);
    eprintln!("lit {:?} after reaching home", t.elapsed());
    assert_eq!(home.headline.text, "Mette fra bostøtten venter på dig");
    assert!(
        app_open(&server, &room).await,
        "the caseworker's list shows the app open"
    );

    // The caseworker leaves: the button goes out (the citizen may go in and wait).
    let t = Instant::now();
    caseworker.leave();
    let alone = screens.until("home, not lit", FLIP, |s| s.id == "home" && !s.lit);
    eprintln!("out {:?} after the caseworker left", t.elapsed());
    assert_eq!(
        alone.body.text,
        "Mette fra bostøtten er her ikke endnu. Du kan gå ind og vente."
    );
    caseworker.closed().await;

    // Back again: lit again.
    let t = Instant::now();
    let caseworker = staff_joins(&server, &room).await;
    screens.until("home, lit again", FLIP, |s| s.id == "home" && s.lit);
    eprintln!("lit again {:?} after the caseworker joined", t.elapsed());

    // A dead code (an old link tapped again) says nothing about the remembered room.
    let old = server.create_meeting().await;
    server
        .api()
        .end_meeting(STAFF_TOKEN, &old.meeting_id)
        .await
        .expect("end");
    samtale.join(old.code.clone());
    screens.until("the old code fails", Duration::from_secs(10), |s| {
        s.id == "failed-code-unavailable"
    });
    assert!(
        samtale.has_remembered_meeting(),
        "the room's pairing survives a dead code"
    );
    assert!(samtale.back());
    screens.until("home, lit", FLIP, |s| s.id == "home" && s.lit);

    // The server goes away (a crash, the phone's network gone): the home screen says the app
    // cannot connect, before the citizen presses the button; back again, it says nothing.
    let mut server = server;
    let t = Instant::now();
    server.stop().await;
    let told = screens.until(
        "home says it cannot connect",
        Duration::from_secs(10),
        |s| {
            s.id == "home"
                && s.notice.as_ref().map(|n| n.id.as_str()) == Some("notice-server-unreachable")
        },
    );
    eprintln!(
        "cannot connect: said {:?} after the server stopped",
        t.elapsed()
    );
    assert!(!told.lit, "nothing is known about the room now");
    assert!(
        told.announce.ends_with("Tjek at du har internet."),
        "{}",
        told.announce
    );
    let t = Instant::now();
    server.restart().await;
    screens.until("home, lit, no notice", Duration::from_secs(40), |s| {
        s.id == "home" && s.lit && s.notice.is_none()
    });
    eprintln!(
        "back: lit again {:?} after the server restarted",
        t.elapsed()
    );

    // The app goes to the background: not asked any more, and the list shows it closed.
    samtale.set_app_visible(false);
    let end = Instant::now() + FLIP;
    while app_open(&server, &room).await {
        assert!(
            Instant::now() < end,
            "still shown open after the app closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    screens.until("plain home", FLIP, |s| s.id == "home" && !s.lit);

    // The caseworker closes the room: the app, in front again, forgets it (the code screen).
    server
        .api()
        .end_meeting(STAFF_TOKEN, &room.meeting_id)
        .await
        .expect("close");
    samtale.set_app_visible(true);
    screens.until("the code screen", FLIP, |s| s.id == "code-entry");
    assert!(!samtale.has_remembered_meeting());
    samtale.shutdown();
    caseworker.leave();
    caseworker.closed().await;
}
