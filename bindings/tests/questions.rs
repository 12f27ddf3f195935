//! The questions the core asks over a call's screens (issue 13): permissions before the first
//! call, the refused microphone (never a dead end), and "hang up?" when back is pressed during
//! a call. Real server, real call.

mod common;

use common::{Screens, WAIT};
use samtale_e2e::TestServer;
use samtale_ffi::{ActionKind, AppConfig, CallObserver, LogLevel, Permission, Samtale, UiState};
use std::sync::Arc;

fn core(url: String, dir: &std::path::Path) -> (Arc<Samtale>, Arc<Screens>) {
    let screens = Arc::new(Screens::default());
    let samtale = Samtale::new(
        AppConfig {
            server_url: url,
            brand_id: "test".into(),
            storage_dir: dir.to_string_lossy().into_owned(),
            log_level: LogLevel::Warn,
            extra_ca_pem: None,
            brand_toml: include_str!("../../brands/eksempel/brand.toml").into(),
            language: Some("en".into()),
        },
        Arc::clone(&screens) as Arc<dyn CallObserver>,
        None,
    )
    .expect("core");
    (samtale, screens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_asked_before_the_first_call_and_a_refused_microphone_is_no_dead_end() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let storage = tempfile::tempdir().expect("tmp");
    let (samtale, screens) = core(server.url(), storage.path());
    samtale.set_permissions(Permission::NotAsked, Permission::NotAsked);
    samtale.paste_code(meeting.code.clone());
    samtale.act(ActionKind::JoinWithCode);
    let s = screens.until("the permission question", WAIT, |s| s.id == "permissions");
    assert_eq!(s.primary.map(|a| a.kind), Some(ActionKind::AskPermissions));
    assert_eq!(s.state, UiState::Idle, "nothing started before the answer");
    // The citizen refuses the microphone: how to turn it on, and a way back.
    samtale.set_permissions(Permission::Denied, Permission::NotAsked);
    let s = screens.until("microphone-off", WAIT, |s| s.id == "microphone-off");
    assert_eq!(s.primary.map(|a| a.kind), Some(ActionKind::OpenSettings));
    assert_eq!(s.secondary.map(|a| a.kind), Some(ActionKind::BackToStart));
    samtale.act(ActionKind::BackToStart);
    let s = screens.until("the code entry", WAIT, |s| s.id == "code-entry");
    assert_eq!(
        s.code.map(|c| c.digits),
        Some(10),
        "the typed code survives the question"
    );
    // The big button again: still refused, so the same help at once (no dialog the phone
    // would not show any more).
    samtale.act(ActionKind::JoinWithCode);
    screens.until("microphone-off again", WAIT, |s| s.id == "microphone-off");
    // Back from the settings with the microphone on (the camera still refused): the call
    // starts by itself, with the camera off.
    samtale.set_permissions(Permission::Granted, Permission::Denied);
    let s = screens.until("in the call", WAIT, |s| s.state == UiState::InCall);
    let camera = s.toggles.iter().find(|t| t.id == "camera").expect("camera");
    assert!(
        !camera.on && !s.show_self_view,
        "a refused camera: audio only"
    );
    samtale.shutdown();
    staff.leave();
    staff.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_during_a_call_asks_before_hanging_up() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let storage = tempfile::tempdir().expect("tmp");
    let (samtale, screens) = core(server.url(), storage.path());
    assert!(
        !samtale.back(),
        "on the start screen back is the platform's"
    );
    samtale.join(meeting.code.clone());
    screens.until("in the call", WAIT, |s| s.state == UiState::InCall);
    assert!(samtale.back());
    let s = screens.until("hang up?", WAIT, |s| s.id == "confirm-leave");
    assert_eq!(s.primary.map(|a| a.kind), Some(ActionKind::Leave));
    assert_eq!(s.secondary.map(|a| a.kind), Some(ActionKind::StayInCall));
    assert_eq!(s.state, UiState::InCall, "the call goes on while asking");
    // Back again, or "no": still in the call.
    assert!(samtale.back());
    screens.until("the call again", WAIT, |s| s.id == "in-call");
    assert!(samtale.back());
    screens.until("hang up? again", WAIT, |s| s.id == "confirm-leave");
    samtale.act(ActionKind::StayInCall);
    screens.until("the call again", WAIT, |s| s.id == "in-call");
    assert!(samtale.back());
    screens.until("hang up? once more", WAIT, |s| s.id == "confirm-leave");
    samtale.act(ActionKind::Leave);
    screens.until("ended", WAIT, |s| s.id == "ended");
    // After the call, back goes to the start (the one big button).
    assert!(samtale.back());
    screens.until("home", WAIT, |s| s.id == "home");
    let texts = samtale.shell_texts();
    assert_eq!(texts.notification_title.text, "You are in a call");
    samtale.shutdown();
    staff.leave();
    staff.closed().await;
}

#[test]
fn previews_hold_every_screen_the_apps_can_show() {
    let brand = include_str!("../../brands/eksempel/brand.toml").to_owned();
    for lang in ["da", "en"] {
        let screens = samtale_ffi::preview_screens(brand.clone(), lang.into()).expect("previews");
        let ids: std::collections::BTreeSet<&str> = screens.iter().map(|s| s.id.as_str()).collect();
        for id in [
            "code-entry",
            "home",
            "joining",
            "waiting",
            "in-call",
            "reconnecting",
            "ended",
            "failed-bad-code",
            "failed-code-unavailable",
            "failed-meeting-full",
            "failed-no-network",
            "failed-server",
            "failed-rate-limited",
            "permissions",
            "microphone-off",
            "confirm-leave",
        ] {
            assert!(ids.contains(id), "{lang}: no preview of {id}");
        }
        assert!(screens.iter().all(|s| s.lang == lang));
    }
    assert!(samtale_ffi::preview_screens("not a brand".into(), "da".into()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_brand_is_reported_as_such_even_on_an_async_thread() {
    let storage = tempfile::tempdir().expect("tmp");
    let result = Samtale::new(
        AppConfig {
            server_url: "http://127.0.0.1:9".into(),
            brand_id: "test".into(),
            storage_dir: storage.path().to_string_lossy().into_owned(),
            log_level: LogLevel::Warn,
            extra_ca_pem: None,
            brand_toml: "id = \"x\"".into(),
            language: None,
        },
        Arc::new(Screens::default()) as Arc<dyn CallObserver>,
        None,
    );
    assert!(
        matches!(result, Err(samtale_ffi::SamtaleError::BadBrand { .. })),
        "{result:?}"
    );
}
