//! What the citizen sees, decided once for both apps: a pure function from the call's
//! situation (and whether a meeting is remembered, the brand, the language, what was typed)
//! to a [`Screen`] the shells draw as it is. Every text comes from the catalog with a stable
//! id; every screen has a stable id, at most one primary action, the help line in the same
//! place, and what a screen reader announces on arrival (WCAG 4.1.3). No screen has a time
//! limit, and the typed code survives every error.

pub mod catalog;
pub mod plain;

use crate::code::{CODE_DIGITS, CodeError, JoinCode};
use crate::{EndReason, PublicError};
use catalog::{Catalog, Vars};

/// Where the call is, as far as the screens care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Situation {
    /// No call: the code entry or the home button.
    Idle,
    /// Looking the code up and reaching the meeting.
    Joining,
    /// In the meeting, nobody else there yet.
    Waiting,
    /// Talking.
    InCall,
    /// The network dropped; the core is bringing the call back.
    Reconnecting,
    /// Over; shown until the citizen acts.
    Ended(EndReason),
    /// Could not be made or kept.
    Failed(PublicError),
}

/// The layout a shell draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The app's own numeric keypad with the code above it.
    CodeEntry,
    /// One big button.
    BigButton,
    /// A message (pictogram, headline, sentence) and the primary action below.
    Message,
    /// Remote video filling the screen, the controls at the bottom.
    Call,
}

/// A pictogram (one per kind of screen; the brand may switch them off or replace them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pictogram {
    /// Keypad.
    Code,
    /// A phone handset.
    Call,
    /// An hourglass.
    Wait,
    /// A person (the contact person is there).
    Talk,
    /// Arrows going round.
    Reconnect,
    /// A tick.
    Done,
    /// No connection.
    Offline,
    /// Something is wrong (never red alarm: an information sign).
    Problem,
}

impl Pictogram {
    /// The file name stem of the pictogram (`pictograms/<name>.svg`).
    pub fn name(self) -> &'static str {
        match self {
            Pictogram::Code => "code",
            Pictogram::Call => "call",
            Pictogram::Wait => "wait",
            Pictogram::Talk => "talk",
            Pictogram::Reconnect => "reconnect",
            Pictogram::Done => "done",
            Pictogram::Offline => "offline",
            Pictogram::Problem => "problem",
        }
    }

    /// Every pictogram.
    pub const ALL: [Pictogram; 8] = [
        Pictogram::Code,
        Pictogram::Call,
        Pictogram::Wait,
        Pictogram::Talk,
        Pictogram::Reconnect,
        Pictogram::Done,
        Pictogram::Offline,
        Pictogram::Problem,
    ];
}

/// What an action does; the shell passes it back to the core (`act`), except `CallHelp`,
/// which the shell performs itself by dialling the help line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Join with the typed code.
    JoinWithCode,
    /// Rejoin the remembered meeting.
    Rejoin,
    /// Leave the call.
    Leave,
    /// Try the last attempt again.
    Retry,
    /// Back to the start (the code entry, or the home button).
    BackToStart,
    /// Back to the code entry with the typed code kept, to fix it.
    FixCode,
    /// Dial the help line (the shell does it).
    CallHelp,
    /// Ask the phone for the microphone and the camera (the shell shows the system dialog,
    /// then reports the answer with `set_permissions`).
    AskPermissions,
    /// Open the app's page in the phone's settings (the shell does it).
    OpenSettings,
    /// Stay in the call (answer "no" to "hang up?").
    StayInCall,
}

/// A question shown over the call's own screen, decided by the presenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// Before the first call: why the app needs the microphone and the camera (then the
    /// system dialog).
    Permissions,
    /// The microphone was refused: how to turn it on (never a dead end).
    MicrophoneOff,
    /// Back was pressed during a call: hang up, or stay? (Never hang up silently.)
    ConfirmLeave,
}

/// Words the shells need outside the screens: the ongoing-call notification and what a
/// screen reader says about the pictures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellTexts {
    /// The notification channel's name (phone settings list it).
    pub notification_channel: Text,
    /// The ongoing-call notification's title.
    pub notification_title: Text,
    /// Its line of text (tapping it opens the call).
    pub notification_body: Text,
    /// The other participant's video, for a screen reader.
    pub remote_video: Text,
    /// The citizen's own picture, for a screen reader.
    pub self_view: Text,
}

/// The shell texts in the catalog's language.
pub fn shell_texts(brand: &BrandView, catalog: &Catalog) -> ShellTexts {
    let vars = Vars {
        municipality: brand.municipality.clone(),
        phone: printed_phone(&brand.help_phone),
        hours: brand.help_hours.clone(),
        seconds: 0,
        name: String::new(),
    };
    let t = |id: &'static str| Text {
        id,
        text: catalog.get(id, &vars),
    };
    ShellTexts {
        notification_channel: t("notification-channel"),
        notification_title: t("notification-title"),
        notification_body: t("notification-body"),
        remote_video: t("remote-video-label"),
        self_view: t("self-view-label"),
    }
}

/// What the phone's own permission dialog says (iOS `NSMicrophoneUsageDescription`,
/// `NSCameraUsageDescription`): fixed when the app is built, so `samtale-brand` writes them
/// into the app's `InfoPlist.strings` (Android's dialog has no such text; the `permissions`
/// screen explains before it).
pub fn usage_descriptions(brand: &BrandView, catalog: &Catalog) -> [Text; 2] {
    let vars = Vars {
        municipality: brand.municipality.clone(),
        ..Vars::default()
    };
    [
        Text {
            id: "microphone-usage",
            text: catalog.get("microphone-usage", &vars),
        },
        Text {
            id: "camera-usage",
            text: catalog.get("camera-usage", &vars),
        },
    ]
}

/// A text with its stable catalog id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// Catalog key (stable: shells' tests assert on it).
    pub id: &'static str,
    /// The sentence, in the screen's language, variables filled in.
    pub text: String,
}

/// The one primary action of a screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// What it does.
    pub kind: ActionKind,
    /// Its label.
    pub label: Text,
    /// Whether it can be pressed now (the code entry's button waits for all digits).
    pub enabled: bool,
}

/// An on/off control during a call (microphone, camera): not an action, always in the same
/// place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toggle {
    /// `microphone` or `camera`.
    pub id: &'static str,
    /// The label for what pressing it does now.
    pub label: Text,
    /// Whether the device is on.
    pub on: bool,
}

/// The help line, on every screen, in the same place (WCAG 3.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Help {
    /// "Brug for hjælp?"
    pub title: Text,
    /// "Ring 70 12 34 56" (the button's label).
    pub call: Text,
    /// Opening hours in words.
    pub hours: Text,
    /// What to dial (digits and a leading `+` only).
    pub dial: String,
    /// More help on the web, if the brand has it.
    pub url: Option<String>,
}

/// The code being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeEntry {
    /// The digits, grouped as they are typed (`482 193 77`).
    pub grouped: String,
    /// How many digits are there.
    pub digits: u32,
    /// How many a code has.
    pub needed: u32,
    /// A gentle message, only once all digits are there and the check digit is wrong.
    pub problem: Option<Text>,
    /// The keypad's delete key.
    pub delete_label: Text,
}

/// Everything a shell draws for one moment of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// Stable screen id (`code-entry`, `home`, `joining`, `waiting`, `in-call`,
    /// `reconnecting`, `ended`, `failed-*`).
    pub id: &'static str,
    /// The screen's language.
    pub lang: &'static str,
    /// How to lay it out.
    pub layout: Layout,
    /// Its pictogram (`None` when the brand switched pictograms off).
    pub pictogram: Option<Pictogram>,
    /// One short headline.
    pub headline: Text,
    /// One sentence or two.
    pub body: Text,
    /// Something the core noticed by itself during the call (a microphone that gives no
    /// sound, a camera that shows nothing), in one or two plain sentences with what to do.
    pub notice: Option<Text>,
    /// At most one primary action.
    pub primary: Option<Action>,
    /// A second answer beside the primary one, as big (only on a question: "hang up?" has
    /// "no, stay"; "the microphone is off" has "back").
    pub secondary: Option<Action>,
    /// The microphone and camera during a call.
    pub toggles: Vec<Toggle>,
    /// The code entry, on the code screen.
    pub code: Option<CodeEntry>,
    /// The help line.
    pub help: Help,
    /// What a screen reader says when this screen appears.
    pub announce: String,
    /// Whether the other participant's video is shown.
    pub show_remote_video: bool,
    /// Whether the citizen's own picture is shown (a brand may switch it off).
    pub show_self_view: bool,
    /// The one big button lights up: the contact person is in the room now.
    pub lit: bool,
}

/// What the screens need to know about the brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandView {
    /// The municipality's name in this language.
    pub municipality: String,
    /// The help line as printed (`70 12 34 56`).
    pub help_phone: String,
    /// Opening hours in words, in this language.
    pub help_hours: String,
    /// More help on the web.
    pub help_url: Option<String>,
    /// Show the citizen's own picture during the call.
    pub self_view: bool,
    /// Show pictograms.
    pub pictograms: bool,
}

/// Everything the screen depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenInput {
    /// The call's situation.
    pub situation: Situation,
    /// Whether a meeting is remembered (one-tap rejoin).
    pub remembered: bool,
    /// The digits typed so far (kept across errors).
    pub typed: String,
    /// The code came from a link (`/j/<code>`): it is filled in and waits for one tap.
    pub from_link: bool,
    /// Microphone on.
    pub microphone_on: bool,
    /// Camera on.
    pub camera_on: bool,
    /// A question over the call's screen.
    pub overlay: Option<Overlay>,
    /// Whether someone from the municipality is in the remembered room, when the app knows
    /// (the home screen says so, and its button lights up).
    pub presence: Option<PresenceView>,
    /// A device that gives nothing during the call (`device_watch`): the call's screens say so.
    pub device_problem: Option<crate::device_watch::DeviceProblem>,
    /// What the others' statuses say (`hearing`): they cannot hear or see the citizen, no sound
    /// comes from them, or they muted (said as mute, not as a fault).
    pub hearing: crate::hearing::Hearing,
    /// What the silent pre-call check found about the network (`precheck`): before the call
    /// starts, a network where no relay works is said, with what to do.
    pub network: crate::precheck::NetworkCheck,
    /// On the home screen: the presence question could not reach the server (no network, a
    /// captive portal): said before the citizen presses the button.
    pub server_unreachable: bool,
}

/// What the server said about the remembered room (`POST /api/v1/presence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceView {
    /// Someone from the municipality is in the room now.
    pub staff_present: bool,
    /// The name the caseworker chose to show, if any.
    pub display_name: Option<String>,
}

/// Digits grouped 3-3-4 as a code is printed (`482 193 7750`), as far as typed.
pub fn grouped(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i == 3 || i == 6 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The help line as the screens print it: its groups joined by no-break spaces, so that a
/// large font moves the whole number to the next line instead of splitting it
/// ("+45 70 12 34" / "56" reads as two numbers).
pub fn printed_phone(phone: &str) -> String {
    phone.split_whitespace().collect::<Vec<_>>().join("\u{a0}")
}

/// What to dial for a printed phone number: digits and a leading `+`.
pub fn dial_string(phone: &str) -> String {
    let mut out = String::new();
    for (i, c) in phone.trim().chars().enumerate() {
        if c.is_ascii_digit() || (i == 0 && c == '+') {
            out.push(c);
        }
    }
    out
}

/// The screen for `input`, in the catalog's language, for this brand. Pure.
pub fn screen(input: &ScreenInput, brand: &BrandView, catalog: &Catalog) -> Screen {
    let vars = Vars {
        municipality: brand.municipality.clone(),
        phone: printed_phone(&brand.help_phone),
        hours: brand.help_hours.clone(),
        seconds: match input.situation {
            Situation::Failed(PublicError::RateLimited { retry_after_secs }) => retry_after_secs,
            _ => 0,
        },
        name: String::new(),
    };
    let vars = Vars {
        name: input
            .presence
            .as_ref()
            .and_then(|p| p.display_name.clone())
            .unwrap_or_else(|| catalog.get("contact-person", &vars)),
        ..vars
    };
    let t = |id: &'static str| Text {
        id,
        text: catalog.get(id, &vars),
    };
    let action = |kind: ActionKind, id: &'static str| {
        Some(Action {
            kind,
            label: t(id),
            enabled: true,
        })
    };
    let leave = || action(ActionKind::Leave, "leave-action");
    let call_help = || action(ActionKind::CallHelp, "call-help-action");
    let mut secondary = None;
    let overlay = match input.overlay {
        Some(Overlay::Permissions) => Some((
            "permissions",
            Layout::Message,
            Pictogram::Talk,
            t("permissions-headline"),
            t("permissions-body"),
            action(ActionKind::AskPermissions, "permissions-action"),
        )),
        Some(Overlay::MicrophoneOff) => {
            secondary = action(ActionKind::BackToStart, "done-action");
            Some((
                "microphone-off",
                Layout::Message,
                Pictogram::Problem,
                t("microphone-off-headline"),
                t("microphone-off-body"),
                action(ActionKind::OpenSettings, "open-settings-action"),
            ))
        }
        Some(Overlay::ConfirmLeave) => {
            secondary = action(ActionKind::StayInCall, "stay-action");
            Some((
                "confirm-leave",
                Layout::Message,
                Pictogram::Call,
                t("confirm-leave-headline"),
                t("confirm-leave-body"),
                action(ActionKind::Leave, "confirm-leave-action"),
            ))
        }
        None => None,
    };
    let (id, layout, pictogram, headline, body, primary) = match overlay {
        Some(o) => o,
        None => match &input.situation {
            Situation::Idle if input.remembered && !input.from_link => match &input.presence {
                Some(PresenceView {
                    staff_present: true,
                    ..
                }) => (
                    "home",
                    Layout::BigButton,
                    Pictogram::Talk,
                    t("home-present-headline"),
                    t("home-present-body"),
                    action(ActionKind::Rejoin, "home-present-action"),
                ),
                Some(_) => (
                    "home",
                    Layout::BigButton,
                    Pictogram::Call,
                    t("home-headline"),
                    t("home-alone-body"),
                    action(ActionKind::Rejoin, "home-alone-action"),
                ),
                None => (
                    "home",
                    Layout::BigButton,
                    Pictogram::Call,
                    t("home-headline"),
                    t("home-body"),
                    action(ActionKind::Rejoin, "home-action"),
                ),
            },
            Situation::Idle => {
                let complete = input.typed.len() == CODE_DIGITS;
                (
                    "code-entry",
                    Layout::CodeEntry,
                    Pictogram::Code,
                    t("code-headline"),
                    t(if input.from_link {
                        "code-link-body"
                    } else {
                        "code-body"
                    }),
                    Some(Action {
                        kind: ActionKind::JoinWithCode,
                        label: t("code-action"),
                        enabled: complete && JoinCode::parse(&input.typed).is_ok(),
                    }),
                )
            }
            Situation::Joining => (
                "joining",
                Layout::Message,
                Pictogram::Call,
                t("joining-headline"),
                t("joining-body"),
                leave(),
            ),
            Situation::Waiting => (
                "waiting",
                Layout::Call,
                Pictogram::Wait,
                t("waiting-headline"),
                t("waiting-body"),
                leave(),
            ),
            Situation::InCall => (
                "in-call",
                Layout::Call,
                Pictogram::Talk,
                t("in-call-headline"),
                t("in-call-body"),
                leave(),
            ),
            Situation::Reconnecting => (
                "reconnecting",
                Layout::Call,
                Pictogram::Reconnect,
                t("reconnecting-headline"),
                t("reconnecting-body"),
                leave(),
            ),
            Situation::Ended(reason) => {
                let (body, again) = match reason {
                    EndReason::LocalLeave => ("ended-you-left-body", input.remembered),
                    EndReason::MeetingEnded => ("ended-meeting-ended-body", false),
                    EndReason::MeetingExpired => ("ended-expired-body", false),
                };
                (
                    "ended",
                    Layout::Message,
                    Pictogram::Done,
                    t("ended-headline"),
                    t(body),
                    if again {
                        action(ActionKind::Rejoin, "again-action")
                    } else {
                        action(ActionKind::BackToStart, "done-action")
                    },
                )
            }
            Situation::Failed(error) => match error {
                PublicError::BadCode(_) => (
                    "failed-bad-code",
                    Layout::Message,
                    Pictogram::Code,
                    t("failed-code-headline"),
                    t("failed-code-body"),
                    action(ActionKind::FixCode, "fix-code-action"),
                ),
                PublicError::CodeNotFoundOrExpired => (
                    "failed-code-unavailable",
                    Layout::Message,
                    Pictogram::Problem,
                    t("failed-unavailable-headline"),
                    t("failed-unavailable-body"),
                    call_help(),
                ),
                PublicError::MeetingFull => (
                    "failed-meeting-full",
                    Layout::Message,
                    Pictogram::Problem,
                    t("failed-full-headline"),
                    t("failed-full-body"),
                    call_help(),
                ),
                PublicError::NoNetwork => (
                    "failed-no-network",
                    Layout::Message,
                    Pictogram::Offline,
                    t("failed-network-headline"),
                    t("failed-network-body"),
                    action(ActionKind::Retry, "retry-action"),
                ),
                PublicError::ServerError => (
                    "failed-server",
                    Layout::Message,
                    Pictogram::Problem,
                    t("failed-server-headline"),
                    t("failed-server-body"),
                    call_help(),
                ),
                PublicError::RateLimited { .. } => (
                    "failed-rate-limited",
                    Layout::Message,
                    Pictogram::Wait,
                    t("failed-busy-headline"),
                    t("failed-busy-body"),
                    action(ActionKind::Retry, "retry-action"),
                ),
            },
        },
    };
    let code = (id == "code-entry").then(|| {
        let problem = (input.typed.len() == CODE_DIGITS)
            .then(|| JoinCode::parse(&input.typed).err())
            .flatten()
            .map(|_: CodeError| t("code-wrong"));
        CodeEntry {
            grouped: grouped(&input.typed),
            digits: input.typed.len() as u32,
            needed: CODE_DIGITS as u32,
            problem,
            delete_label: t("code-keypad-delete"),
        }
    });
    let in_call = layout == Layout::Call;
    let toggle =
        |id: &'static str, on: bool, (on_label, off_label): (&'static str, &'static str)| Toggle {
            id,
            label: t(if on { on_label } else { off_label }),
            on,
        };
    let toggles = if in_call {
        vec![
            toggle("microphone", input.microphone_on, ("mute-on", "mute-off")),
            toggle("camera", input.camera_on, ("camera-on", "camera-off")),
        ]
    } else {
        Vec::new()
    };
    // Only over the call's own screens (a question covers it; after the call it is moot).
    let live = matches!(
        input.situation,
        Situation::Joining | Situation::Waiting | Situation::InCall | Situation::Reconnecting
    );
    let notice = if input.overlay.is_some() {
        None
    } else if live {
        notice(input).map(t)
    } else if id == "home" && input.server_unreachable {
        Some(t("notice-server-unreachable"))
    } else {
        None
    };
    let announce = match (&code, &notice) {
        (
            Some(CodeEntry {
                problem: Some(p), ..
            }),
            _,
        ) => p.text.clone(),
        // A full stop after the headline: screen readers pause there.
        (_, Some(n)) => format!(
            "{}. {} {}",
            headline.text.trim_end_matches('.'),
            body.text,
            n.text
        ),
        _ => format!("{}. {}", headline.text.trim_end_matches('.'), body.text),
    };
    Screen {
        id,
        lang: catalog.lang(),
        layout,
        pictogram: brand.pictograms.then_some(pictogram),
        headline,
        body,
        notice,
        primary,
        secondary,
        toggles,
        code,
        help: Help {
            title: t("help-title"),
            call: t("help-call"),
            hours: t("help-hours"),
            dial: dial_string(&brand.help_phone),
            url: brand.help_url.clone(),
        },
        announce,
        show_remote_video: layout == Layout::Call
            && matches!(input.situation, Situation::InCall | Situation::Reconnecting),
        show_self_view: in_call && brand.self_view && input.camera_on,
        lit: id == "home" && input.presence.as_ref().is_some_and(|p| p.staff_present),
    }
}

/// The one notice a live call's screen shows, most useful first: the citizen's own devices
/// (they can fix those), then a network that blocks calls (before the call starts), then what
/// keeps the others from hearing or seeing them, then the
/// others' mute and camera (said as what they are, not as faults).
fn notice(input: &ScreenInput) -> Option<&'static str> {
    use crate::device_watch::DeviceProblem;
    use crate::hearing::HearingProblem;
    let own = match input.device_problem {
        Some(DeviceProblem::MicrophoneSilent) if input.microphone_on => {
            Some("notice-microphone-silent")
        }
        Some(DeviceProblem::CameraDark) if input.camera_on => Some("notice-camera-dark"),
        _ => None,
    };
    // Before the call starts (waiting, joining): a network where no relay works. Once media
    // flows the question is answered.
    let network = (matches!(input.situation, Situation::Joining | Situation::Waiting)
        && crate::precheck::network_needs_notice(input.network))
    .then_some("notice-network-blocked");
    let h = &input.hearing;
    let fault = match h.problem {
        // Muted: of course they cannot hear (the status says so, but a stale one may not).
        Some(HearingProblem::PeerCannotHearYou) if input.microphone_on => {
            Some("notice-peer-cannot-hear")
        }
        Some(HearingProblem::YouCannotHearPeer) => Some("notice-peer-not-heard"),
        Some(HearingProblem::PeerCannotSeeYou) if input.camera_on => Some("notice-peer-cannot-see"),
        _ => None,
    };
    own.or(network).or(fault).or(if h.peer_muted {
        Some("notice-peer-muted")
    } else if h.peer_camera_off {
        Some("notice-peer-camera-off")
    } else {
        None
    })
}

#[cfg(test)]
mod tests;
