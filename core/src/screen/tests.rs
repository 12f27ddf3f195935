use super::catalog::{self, Catalog, LOCALES};
use super::plain;
use super::*;
use crate::device_watch::DeviceProblem;
use std::collections::{BTreeMap, BTreeSet};

fn brand(pictograms: bool, self_view: bool) -> BrandView {
    BrandView {
        municipality: "Eksempel Kommune".into(),
        help_phone: "+45 70 12 34 56".into(),
        help_hours: "Hverdage kl. 8-15".into(),
        help_url: None,
        self_view,
        pictograms,
    }
}

fn input(situation: Situation, remembered: bool) -> ScreenInput {
    ScreenInput {
        situation,
        remembered,
        typed: String::new(),
        from_link: false,
        microphone_on: true,
        camera_on: true,
        overlay: None,
        presence: None,
        device_problem: None,
        hearing: Default::default(),
        network: Default::default(),
        server_unreachable: false,
    }
}

fn situations() -> Vec<Situation> {
    vec![
        Situation::Idle,
        Situation::Joining,
        Situation::Waiting,
        Situation::InCall,
        Situation::Reconnecting,
        Situation::Ended(EndReason::LocalLeave),
        Situation::Ended(EndReason::MeetingEnded),
        Situation::Ended(EndReason::MeetingExpired),
        Situation::Failed(PublicError::BadCode(CodeError::WrongDigit)),
        Situation::Failed(PublicError::CodeNotFoundOrExpired),
        Situation::Failed(PublicError::MeetingFull),
        Situation::Failed(PublicError::NoNetwork),
        Situation::Failed(PublicError::ServerError),
        Situation::Failed(PublicError::RateLimited {
            retry_after_secs: 30,
        }),
    ]
}

/// (screen id, primary action) expected for each situation, not remembered / remembered.
fn expected(s: &Situation, remembered: bool) -> (&'static str, Option<ActionKind>) {
    use ActionKind as A;
    match s {
        Situation::Idle if remembered => ("home", Some(A::Rejoin)),
        Situation::Idle => ("code-entry", Some(A::JoinWithCode)),
        Situation::Joining => ("joining", Some(A::Leave)),
        Situation::Waiting => ("waiting", Some(A::Leave)),
        Situation::InCall => ("in-call", Some(A::Leave)),
        Situation::Reconnecting => ("reconnecting", Some(A::Leave)),
        Situation::Ended(EndReason::LocalLeave) if remembered => ("ended", Some(A::Rejoin)),
        Situation::Ended(_) => ("ended", Some(A::BackToStart)),
        Situation::Failed(PublicError::BadCode(_)) => ("failed-bad-code", Some(A::FixCode)),
        Situation::Failed(PublicError::CodeNotFoundOrExpired) => {
            ("failed-code-unavailable", Some(A::CallHelp))
        }
        Situation::Failed(PublicError::MeetingFull) => ("failed-meeting-full", Some(A::CallHelp)),
        Situation::Failed(PublicError::NoNetwork) => ("failed-no-network", Some(A::Retry)),
        Situation::Failed(PublicError::ServerError) => ("failed-server", Some(A::CallHelp)),
        Situation::Failed(PublicError::RateLimited { .. }) => {
            ("failed-rate-limited", Some(A::Retry))
        }
    }
}

fn shell_list(t: &ShellTexts) -> [&Text; 5] {
    [
        &t.notification_channel,
        &t.notification_title,
        &t.notification_body,
        &t.remote_video,
        &t.self_view,
    ]
}

fn all_texts(s: &Screen) -> Vec<&Text> {
    let mut out = vec![
        &s.headline,
        &s.body,
        &s.help.title,
        &s.help.call,
        &s.help.hours,
    ];
    out.extend(s.notice.iter());
    out.extend(s.primary.iter().map(|a| &a.label));
    out.extend(s.secondary.iter().map(|a| &a.label));
    out.extend(s.toggles.iter().map(|t| &t.label));
    if let Some(c) = &s.code {
        out.push(&c.delete_label);
        out.extend(c.problem.iter());
    }
    out
}

#[test]
fn every_state_remembered_and_language_has_its_screen() {
    for (lang, src) in LOCALES {
        let catalog = Catalog::new(lang, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        for remembered in [false, true] {
            for situation in situations() {
                let s = screen(
                    &input(situation.clone(), remembered),
                    &brand(true, true),
                    &catalog,
                );
                let (id, primary) = expected(&situation, remembered);
                let what = format!("{lang} {situation:?} remembered={remembered}");
                assert_eq!(s.id, id, "{what}");
                assert_eq!(s.primary.as_ref().map(|a| a.kind), primary, "{what}");
                assert_eq!(s.lang, *lang);
                // Help on every screen, the same: the number to dial and its label.
                assert_eq!(s.help.dial, "+4570123456", "{what}");
                assert!(
                    s.help.call.text.contains("70\u{a0}12\u{a0}34\u{a0}56"),
                    "{what}"
                );
                assert!(!s.announce.trim().is_empty(), "{what}: nothing to announce");
                // Headline and sentence together are plain language too (as written in the
                // catalog: a variable such as the municipality's name counts as one word).
                let raw = catalog::texts(src);
                let together = format!(
                    "{}. {}",
                    raw[s.headline.id].trim_end_matches('.'),
                    raw[s.body.id]
                );
                let p = plain::problems(&together, *lang == "da");
                assert!(p.is_empty(), "{what}: \"{together}\": {p:?}");
                for t in all_texts(&s) {
                    assert!(
                        !t.text.is_empty() && t.text != t.id,
                        "{what}: {} missing",
                        t.id
                    );
                    assert!(
                        !t.text.contains('{'),
                        "{what}: {} not filled: {}",
                        t.id,
                        t.text
                    );
                }
                assert!(s.pictogram.is_some());
                let calling = matches!(
                    situation,
                    Situation::Waiting | Situation::InCall | Situation::Reconnecting
                );
                assert_eq!(s.toggles.len(), if calling { 2 } else { 0 }, "{what}");
                assert_eq!(
                    s.show_remote_video,
                    matches!(situation, Situation::InCall | Situation::Reconnecting),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn the_reconnecting_screen_says_there_is_nothing_to_do_and_announces_it() {
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let s = screen(
        &input(Situation::Reconnecting, true),
        &brand(true, true),
        &da,
    );
    assert_eq!(s.headline.text, "Vi forbinder igen");
    assert_eq!(s.body.text, "Du skal ikke gøre noget.");
    assert_eq!(s.announce, "Vi forbinder igen. Du skal ikke gøre noget.");
}

#[test]
fn the_code_is_grouped_as_typed_and_judged_only_when_complete() {
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let mut i = input(Situation::Idle, false);
    i.typed = "4821937".into();
    let s = screen(&i, &brand(true, true), &da);
    let code = s.code.clone().unwrap_or_else(|| panic!("code entry"));
    assert_eq!(code.grouped, "482 193 7");
    assert_eq!((code.digits, code.needed), (7, 10));
    assert_eq!(code.problem, None, "no message while typing");
    assert_eq!(s.primary.as_ref().map(|a| a.enabled), Some(false));
    // All ten digits: right or wrong check digit.
    let good = (0..10)
        .map(|last| format!("482193775{last}"))
        .find(|c| JoinCode::parse(c).is_ok())
        .unwrap_or_else(|| panic!("a valid code"));
    let bad = format!("{}{}", &good[..9], (good.as_bytes()[9] - b'0' + 1) % 10);
    i.typed = good;
    let s = screen(&i, &brand(true, true), &da);
    assert_eq!(s.code.as_ref().and_then(|c| c.problem.clone()), None);
    assert_eq!(s.primary.as_ref().map(|a| a.enabled), Some(true));
    i.typed = bad;
    let s = screen(&i, &brand(true, true), &da);
    let problem = s.code.as_ref().and_then(|c| c.problem.clone());
    assert_eq!(problem.as_ref().map(|p| p.id), Some("code-wrong"));
    assert_eq!(s.announce, "Koden passer ikke. Tjek tallene.");
    assert_eq!(s.primary.as_ref().map(|a| a.enabled), Some(false));
}

#[test]
fn a_link_fills_the_code_and_waits_for_one_tap_even_with_a_remembered_meeting() {
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let mut i = input(Situation::Idle, true);
    i.from_link = true;
    let s = screen(&i, &brand(true, true), &da);
    assert_eq!(s.id, "code-entry");
    assert_eq!(s.body.id, "code-link-body");
}

#[test]
fn brand_switches_pictograms_and_self_view() {
    let en = Catalog::new("en", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let s = screen(&input(Situation::InCall, true), &brand(false, false), &en);
    assert_eq!(s.pictogram, None);
    assert!(!s.show_self_view);
    let s = screen(&input(Situation::InCall, true), &brand(true, true), &en);
    assert!(s.show_self_view);
    let mut camera_off = input(Situation::InCall, true);
    camera_off.camera_on = false;
    let s = screen(&camera_off, &brand(true, true), &en);
    assert!(!s.show_self_view);
    assert_eq!(s.toggles[1].label.text, "Turn camera on");
}

#[test]
fn every_catalog_key_is_used_by_some_screen() {
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let mut used = BTreeSet::new();
    for remembered in [false, true] {
        for situation in situations() {
            for (mic, cam, link) in [(true, true, false), (false, false, true)] {
                let mut i = input(situation.clone(), remembered);
                (i.microphone_on, i.camera_on, i.from_link) = (mic, cam, link);
                for typed in ["", "4821937750", "4821937751"] {
                    i.typed = typed.into();
                    for overlay in [
                        None,
                        Some(Overlay::Permissions),
                        Some(Overlay::MicrophoneOff),
                        Some(Overlay::ConfirmLeave),
                    ] {
                        i.overlay = overlay;
                        for present in [None, Some(false), Some(true)] {
                            i.presence = present.map(|staff_present| PresenceView {
                                staff_present,
                                display_name: None,
                            });
                            for problem in [
                                None,
                                Some(DeviceProblem::MicrophoneSilent),
                                Some(DeviceProblem::CameraDark),
                            ] {
                                i.device_problem = problem;
                                for t in all_texts(&screen(&i, &brand(true, true), &da)) {
                                    used.insert(t.id.to_owned());
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // What the silent checks say: a network that blocks calls (waiting), a server the home
    // screen cannot reach.
    {
        let mut i = input(Situation::Waiting, true);
        i.network = crate::precheck::NetworkCheck::Blocked;
        used.extend(
            all_texts(&screen(&i, &brand(true, true), &da))
                .into_iter()
                .map(|t| t.id.to_owned()),
        );
        let mut i = input(Situation::Idle, true);
        i.server_unreachable = true;
        used.extend(
            all_texts(&screen(&i, &brand(true, true), &da))
                .into_iter()
                .map(|t| t.id.to_owned()),
        );
    }
    // What the others' statuses say, in the call.
    {
        use crate::hearing::{Hearing, HearingProblem};
        let mut i = input(Situation::InCall, true);
        for h in [
            Some(HearingProblem::PeerCannotHearYou),
            Some(HearingProblem::YouCannotHearPeer),
            Some(HearingProblem::PeerCannotSeeYou),
        ] {
            i.hearing = Hearing {
                problem: h,
                ..Hearing::default()
            };
            used.extend(
                all_texts(&screen(&i, &brand(true, true), &da))
                    .into_iter()
                    .map(|t| t.id.to_owned()),
            );
        }
        for (peer_muted, peer_camera_off) in [(true, false), (false, true)] {
            i.hearing = Hearing {
                peer_muted,
                peer_camera_off,
                ..Hearing::default()
            };
            used.extend(
                all_texts(&screen(&i, &brand(true, true), &da))
                    .into_iter()
                    .map(|t| t.id.to_owned()),
            );
        }
    }
    for t in shell_list(&shell_texts(&brand(true, true), &da)) {
        used.insert(t.id.to_owned());
    }
    for t in usage_descriptions(&brand(true, true), &da) {
        used.insert(t.id.to_owned());
    }
    // Not a text of its own: the default for `{ $name }`.
    used.insert("contact-person".to_owned());
    let keys: BTreeSet<String> = catalog::keys(LOCALES[0].1).into_iter().collect();
    let unused: Vec<_> = keys.difference(&used).collect();
    assert!(unused.is_empty(), "catalog keys no screen uses: {unused:?}");
    let missing: Vec<_> = used.difference(&keys).collect();
    assert!(
        missing.is_empty(),
        "screens use keys the catalog lacks: {missing:?}"
    );
}

#[test]
fn questions_over_the_call_have_their_screens_two_answers_and_plain_words() {
    for (lang, src) in LOCALES {
        let catalog = Catalog::new(lang, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let raw = catalog::texts(src);
        let cases = [
            (
                Overlay::Permissions,
                Situation::Idle,
                "permissions",
                ActionKind::AskPermissions,
                None,
            ),
            (
                Overlay::MicrophoneOff,
                Situation::Idle,
                "microphone-off",
                ActionKind::OpenSettings,
                Some(ActionKind::BackToStart),
            ),
            (
                Overlay::ConfirmLeave,
                Situation::InCall,
                "confirm-leave",
                ActionKind::Leave,
                Some(ActionKind::StayInCall),
            ),
        ];
        for (overlay, situation, id, primary, secondary) in cases {
            let mut i = input(situation, true);
            i.overlay = Some(overlay);
            let s = screen(&i, &brand(true, true), &catalog);
            assert_eq!(s.id, id);
            assert_eq!(s.layout, Layout::Message, "{id}: a question, not the call");
            assert_eq!(s.primary.as_ref().map(|a| a.kind), Some(primary), "{id}");
            assert_eq!(s.secondary.as_ref().map(|a| a.kind), secondary, "{id}");
            assert!(s.toggles.is_empty() && !s.show_remote_video && !s.show_self_view);
            assert_eq!(s.help.dial, "+4570123456", "{id}: help in the same place");
            let together = format!(
                "{}. {}",
                raw[s.headline.id].trim_end_matches(['.', '?']),
                raw[s.body.id]
            );
            let p = plain::problems(&together, *lang == "da");
            assert!(p.is_empty(), "{lang} {id}: \"{together}\": {p:?}");
            for t in all_texts(&s) {
                let p = plain::problems(&raw[t.id], *lang == "da");
                assert!(p.is_empty(), "{lang} {id} {}: {p:?}", t.id);
            }
        }
        for t in shell_list(&shell_texts(&brand(true, true), &catalog)) {
            assert!(
                !t.text.is_empty() && !t.text.contains('{'),
                "{lang} {}",
                t.id
            );
            let p = plain::problems(&t.text, *lang == "da");
            assert!(p.is_empty(), "{lang} {}: {p:?}", t.id);
        }
    }
}

#[test]
fn home_says_whether_the_contact_person_is_in_the_room_and_lights_the_button() {
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let raw = catalog::texts(LOCALES[0].1);
    let mut i = input(Situation::Idle, true);
    let unknown = screen(&i, &brand(true, true), &da);
    assert_eq!((unknown.id, unknown.lit), ("home", false));
    i.presence = Some(PresenceView {
        staff_present: true,
        display_name: Some("Mette fra bostøtten".into()),
    });
    let present = screen(&i, &brand(true, true), &da);
    assert_eq!(present.id, "home");
    assert!(present.lit);
    assert_eq!(present.headline.text, "Mette fra bostøtten venter på dig");
    assert_eq!(
        present.primary.as_ref().map(|a| a.kind),
        Some(ActionKind::Rejoin)
    );
    assert!(
        present
            .announce
            .starts_with("Mette fra bostøtten venter på dig.")
    );
    i.presence = Some(PresenceView {
        staff_present: false,
        display_name: None,
    });
    let alone = screen(&i, &brand(true, true), &da);
    assert!(!alone.lit);
    assert_eq!(
        alone.body.text,
        "Din kontaktperson er her ikke endnu. Du kan gå ind og vente."
    );
    assert_eq!(
        alone.primary.as_ref().map(|a| a.label.text.as_str()),
        Some("Gå ind og vent")
    );
    // Plain language, as written (the name counts as one word).
    for s in [&present, &alone] {
        let together = format!("{}. {}", raw[s.headline.id], raw[s.body.id]);
        assert!(plain::problems(&together, true).is_empty(), "{together}");
    }
    // During a call, or without a remembered meeting, presence changes nothing.
    let mut call = input(Situation::InCall, true);
    call.presence = i.presence.clone();
    assert!(!screen(&call, &brand(true, true), &da).lit);
}

#[test]
fn a_device_that_gives_nothing_is_said_on_the_calls_screens_only() {
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let b = brand(true, true);
    let mut i = input(Situation::InCall, true);
    i.device_problem = Some(DeviceProblem::MicrophoneSilent);
    let s = screen(&i, &b, &da);
    let notice = s.notice.as_ref().expect("a notice");
    assert_eq!(notice.id, "notice-microphone-silent");
    assert_eq!(s.id, "in-call", "the same screen: the call goes on");
    assert!(s.announce.ends_with(&notice.text), "{}", s.announce);
    i.device_problem = Some(DeviceProblem::CameraDark);
    assert_eq!(
        screen(&i, &b, &da).notice.map(|n| n.id),
        Some("notice-camera-dark")
    );
    // Muted or camera off by the citizen: not a fault.
    i.camera_on = false;
    assert_eq!(screen(&i, &b, &da).notice, None);
    i.device_problem = Some(DeviceProblem::MicrophoneSilent);
    i.microphone_on = false;
    assert_eq!(screen(&i, &b, &da).notice, None);
    i.microphone_on = true;
    // A question over the call, or after the call: not there.
    i.overlay = Some(Overlay::ConfirmLeave);
    assert_eq!(screen(&i, &b, &da).notice, None);
    i.overlay = None;
    for situation in [
        Situation::Waiting,
        Situation::Joining,
        Situation::Reconnecting,
    ] {
        i.situation = situation;
        assert!(screen(&i, &b, &da).notice.is_some());
    }
    i.situation = Situation::Ended(EndReason::LocalLeave);
    assert_eq!(screen(&i, &b, &da).notice, None);
    i.situation = Situation::Idle;
    assert_eq!(screen(&i, &b, &da).notice, None);
}

#[test]
fn what_the_others_say_is_one_notice_own_devices_first_and_mute_is_not_a_fault() {
    use crate::hearing::{Hearing, HearingProblem};
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let b = brand(true, true);
    let notice = |i: &ScreenInput| screen(i, &b, &da).notice.map(|n| n.id);
    let mut i = input(Situation::InCall, true);
    i.hearing = Hearing {
        problem: Some(HearingProblem::PeerCannotHearYou),
        peer_muted: true,
        ..Hearing::default()
    };
    assert_eq!(notice(&i), Some("notice-peer-cannot-hear"));
    let s = screen(&i, &b, &da);
    assert!(s.announce.contains("kan ikke høre dig"), "{}", s.announce);
    assert_eq!(s.id, "in-call", "the call goes on");
    // The citizen's own silent microphone comes first: they can fix it.
    i.device_problem = Some(DeviceProblem::MicrophoneSilent);
    assert_eq!(notice(&i), Some("notice-microphone-silent"));
    i.device_problem = None;
    // The citizen muted: not being heard is expected.
    i.microphone_on = false;
    assert_eq!(notice(&i), Some("notice-peer-muted"));
    i.microphone_on = true;
    i.hearing.problem = Some(HearingProblem::YouCannotHearPeer);
    assert_eq!(notice(&i), Some("notice-peer-not-heard"));
    i.hearing.problem = Some(HearingProblem::PeerCannotSeeYou);
    assert_eq!(notice(&i), Some("notice-peer-cannot-see"));
    i.camera_on = false;
    assert_eq!(notice(&i), Some("notice-peer-muted"));
    i.hearing = Hearing {
        peer_camera_off: true,
        ..Hearing::default()
    };
    assert_eq!(notice(&i), Some("notice-peer-camera-off"));
    i.hearing = Hearing::default();
    assert_eq!(notice(&i), None);
    // A question over the call, or after it: nothing.
    i.hearing.peer_muted = true;
    i.overlay = Some(Overlay::ConfirmLeave);
    assert_eq!(notice(&i), None);
    i.overlay = None;
    i.situation = Situation::Ended(EndReason::LocalLeave);
    assert_eq!(notice(&i), None);
}

#[test]
fn a_network_that_blocks_calls_is_said_before_the_call_only() {
    use crate::precheck::NetworkCheck;
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let b = brand(true, true);
    let mut i = input(Situation::Waiting, true);
    i.network = NetworkCheck::Blocked;
    let s = screen(&i, &b, &da);
    let notice = s.notice.as_ref().expect("a notice");
    assert_eq!(notice.id, "notice-network-blocked");
    assert_eq!(
        s.id, "waiting",
        "the same screen: the citizen can still wait"
    );
    assert!(
        notice.text.contains("70\u{a0}12\u{a0}34\u{a0}56"),
        "what to do includes the help line: {}",
        notice.text
    );
    assert!(s.announce.ends_with(&notice.text), "{}", s.announce);
    i.situation = Situation::Joining;
    assert_eq!(
        screen(&i, &b, &da).notice.map(|n| n.id),
        Some("notice-network-blocked")
    );
    // Once in the call the question is answered; on the start screens there is no call.
    for situation in [Situation::InCall, Situation::Reconnecting, Situation::Idle] {
        i.situation = situation;
        assert_eq!(screen(&i, &b, &da).notice, None, "{:?}", i.situation);
    }
    // UDP blocked but TCP works, or nothing to test: not the citizen's problem.
    i.situation = Situation::Waiting;
    for n in [
        NetworkCheck::UdpBlocked,
        NetworkCheck::Ok,
        NetworkCheck::Untested,
    ] {
        i.network = n;
        assert_eq!(screen(&i, &b, &da).notice, None, "{n:?}");
    }
    // The citizen's own device comes first (they can fix it).
    i.network = NetworkCheck::Blocked;
    i.device_problem = Some(DeviceProblem::MicrophoneSilent);
    assert_eq!(
        screen(&i, &b, &da).notice.map(|n| n.id),
        Some("notice-microphone-silent")
    );
}

#[test]
fn an_unreachable_server_is_said_on_the_home_screen_only() {
    let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let b = brand(true, true);
    let mut i = input(Situation::Idle, true);
    assert_eq!(screen(&i, &b, &da).notice, None);
    i.server_unreachable = true;
    let s = screen(&i, &b, &da);
    assert_eq!(s.id, "home");
    assert_eq!(
        s.notice.as_ref().map(|n| n.id),
        Some("notice-server-unreachable")
    );
    assert!(s.announce.ends_with(&s.notice.expect("notice").text));
    // The button still works (the citizen may try anyway; the call says what fails).
    assert_eq!(s.primary.map(|a| a.kind), Some(ActionKind::Rejoin));
    // A question over it, or the code screen (no presence is asked there): nothing.
    i.overlay = Some(Overlay::Permissions);
    assert_eq!(screen(&i, &b, &da).notice, None);
    i.overlay = None;
    let code_entry = input(Situation::Idle, false);
    assert_eq!(
        screen(
            &ScreenInput {
                server_unreachable: true,
                ..code_entry
            },
            &b,
            &da
        )
        .notice,
        None
    );
}
