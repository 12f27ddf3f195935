//! The screen model for the shells: uniffi mirrors of `samtale_core::screen` and the one
//! conversion. The shells draw a [`Screen`] as it is: no wording, no flow of their own.

use crate::convert::{EndKind, ErrorKind, UiState};
use samtale_core::code::CodeError;
use samtale_core::screen as core;
use samtale_core::{EndReason, PublicError};

/// How a screen is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Layout {
    /// The app's own numeric keypad with the code above it.
    CodeEntry,
    /// One big button.
    BigButton,
    /// Pictogram, headline, sentence, and the primary action below.
    Message,
    /// Remote video filling the screen, controls at the bottom.
    Call,
}

/// The pictogram of a screen (file `pictogram_<name>` on Android, `Pictogram-<name>` on iOS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Pictogram {
    /// `code`.
    Code,
    /// `call`.
    Call,
    /// `wait`.
    Wait,
    /// `talk`.
    Talk,
    /// `reconnect`.
    Reconnect,
    /// `done`.
    Done,
    /// `offline`.
    Offline,
    /// `problem`.
    Problem,
}

/// What an action does. Pass it to `Samtale.act()`; `CallHelp` the shell performs itself
/// (open the dialler with `help.dial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ActionKind {
    /// Join with the typed code.
    JoinWithCode,
    /// Rejoin the remembered meeting.
    Rejoin,
    /// Leave the call.
    Leave,
    /// Try the last attempt again.
    Retry,
    /// Back to the start.
    BackToStart,
    /// Back to the code, to fix it (the typed digits are kept).
    FixCode,
    /// Dial the help line (the shell does it).
    CallHelp,
    /// Show the system dialog for the microphone and the camera (the shell does it), then
    /// report the answer with `Samtale.set_permissions()`.
    AskPermissions,
    /// Open the app's page in the phone's settings (the shell does it).
    OpenSettings,
    /// Stay in the call ("no" to "hang up?").
    StayInCall,
}

/// What the phone allows the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Permission {
    /// Allowed.
    Granted,
    /// Not asked yet (or the dialog was dismissed): the app may ask.
    NotAsked,
    /// Refused: only the phone's settings can change it.
    Denied,
}

/// Words the shells need outside the screens (same ids and words on both platforms).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ShellTexts {
    /// The notification channel's name.
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

/// A text and its stable catalog id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Text {
    /// Stable id (a catalog key): tests assert on it.
    pub id: String,
    /// The words to show.
    pub text: String,
}

/// The one primary action of a screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Action {
    /// What it does.
    pub kind: ActionKind,
    /// Its label.
    pub label: Text,
    /// Whether it can be pressed now.
    pub enabled: bool,
}

/// Microphone or camera during a call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Toggle {
    /// `microphone` or `camera`.
    pub id: String,
    /// What pressing it does now.
    pub label: Text,
    /// Whether the device is on.
    pub on: bool,
}

/// The code being typed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CodeEntry {
    /// Digits grouped as typed (`482 193 77`).
    pub grouped: String,
    /// Digits typed.
    pub digits: u32,
    /// Digits a code has.
    pub needed: u32,
    /// Shown (and announced) only when all digits are there and the code is wrong.
    pub problem: Option<Text>,
    /// The keypad's delete key.
    pub delete_label: Text,
}

/// The help line: on every screen, in the same place.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Help {
    /// "Brug for hjælp?"
    pub title: Text,
    /// The call button's label ("Ring 70 12 34 56").
    pub call: Text,
    /// Opening hours in words.
    pub hours: Text,
    /// What to dial.
    pub dial: String,
    /// More help on the web.
    pub url: Option<String>,
}

/// Everything a shell draws: the current one arrives first, then one with every change.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Screen {
    /// Stable id: `code-entry`, `home`, `joining`, `waiting`, `in-call`, `reconnecting`,
    /// `ended`, `failed-bad-code`, `failed-code-unavailable`, `failed-meeting-full`,
    /// `failed-no-network`, `failed-server`, `failed-rate-limited`; the questions `permissions`,
    /// `microphone-off`, `confirm-leave`.
    pub id: String,
    /// The call state behind it.
    pub state: UiState,
    /// `da` or `en`.
    pub lang: String,
    /// Layout.
    pub layout: Layout,
    /// Pictogram (none when the brand switched them off).
    pub pictogram: Option<Pictogram>,
    /// One short headline.
    pub headline: Text,
    /// One or two short sentences.
    pub body: Text,
    /// Something the core noticed by itself, with what to do: during the call a microphone that
    /// gives no sound (`notice-microphone-silent`), a camera that shows nothing
    /// (`notice-camera-dark`), a network where no call relay can be reached
    /// (`notice-network-blocked`, while joining or waiting); on the home screen a server the
    /// app cannot reach (`notice-server-unreachable`). Drawn below `body`; `announce` ends
    /// with it.
    pub notice: Option<Text>,
    /// At most one primary action.
    pub primary: Option<Action>,
    /// A second answer, as big as the primary one (only on a question: `confirm-leave`,
    /// `microphone-off`).
    pub secondary: Option<Action>,
    /// Microphone and camera during a call.
    pub toggles: Vec<Toggle>,
    /// The code entry (code screen only).
    pub code: Option<CodeEntry>,
    /// The help line.
    pub help: Help,
    /// What a screen reader announces when the screen appears (WCAG 4.1.3).
    pub announce: String,
    /// Show the other participant's video.
    pub show_remote_video: bool,
    /// Show the citizen's own picture.
    pub show_self_view: bool,
    /// Light up the one big button: the contact person is in the room now (home only).
    pub lit: bool,
}

fn text(t: core::Text) -> Text {
    Text {
        id: t.id.to_owned(),
        text: t.text,
    }
}

fn kind(k: core::ActionKind) -> ActionKind {
    match k {
        core::ActionKind::JoinWithCode => ActionKind::JoinWithCode,
        core::ActionKind::Rejoin => ActionKind::Rejoin,
        core::ActionKind::Leave => ActionKind::Leave,
        core::ActionKind::Retry => ActionKind::Retry,
        core::ActionKind::BackToStart => ActionKind::BackToStart,
        core::ActionKind::FixCode => ActionKind::FixCode,
        core::ActionKind::CallHelp => ActionKind::CallHelp,
        core::ActionKind::AskPermissions => ActionKind::AskPermissions,
        core::ActionKind::OpenSettings => ActionKind::OpenSettings,
        core::ActionKind::StayInCall => ActionKind::StayInCall,
    }
}

fn pictogram(p: core::Pictogram) -> Pictogram {
    match p {
        core::Pictogram::Code => Pictogram::Code,
        core::Pictogram::Call => Pictogram::Call,
        core::Pictogram::Wait => Pictogram::Wait,
        core::Pictogram::Talk => Pictogram::Talk,
        core::Pictogram::Reconnect => Pictogram::Reconnect,
        core::Pictogram::Done => Pictogram::Done,
        core::Pictogram::Offline => Pictogram::Offline,
        core::Pictogram::Problem => Pictogram::Problem,
    }
}

/// The screens' situation for a shell state.
pub(crate) fn situation(state: &UiState) -> core::Situation {
    match state {
        UiState::Idle => core::Situation::Idle,
        UiState::Joining => core::Situation::Joining,
        UiState::Waiting => core::Situation::Waiting,
        UiState::InCall => core::Situation::InCall,
        UiState::Reconnecting => core::Situation::Reconnecting,
        UiState::Ended { reason } => core::Situation::Ended(match reason {
            EndKind::YouLeft => EndReason::LocalLeave,
            EndKind::MeetingEnded => EndReason::MeetingEnded,
            EndKind::MeetingExpired => EndReason::MeetingExpired,
        }),
        UiState::Failed { error } => match error {
            // The shell sends the citizen to the code entry: that is its screen.
            ErrorKind::NoRememberedMeeting => core::Situation::Idle,
            ErrorKind::BadCode { .. } => {
                core::Situation::Failed(PublicError::BadCode(CodeError::WrongDigit))
            }
            ErrorKind::CodeNotFoundOrExpired => {
                core::Situation::Failed(PublicError::CodeNotFoundOrExpired)
            }
            ErrorKind::MeetingFull => core::Situation::Failed(PublicError::MeetingFull),
            ErrorKind::NoNetwork => core::Situation::Failed(PublicError::NoNetwork),
            ErrorKind::ServerError => core::Situation::Failed(PublicError::ServerError),
            ErrorKind::RateLimited { retry_after_secs } => {
                core::Situation::Failed(PublicError::RateLimited {
                    retry_after_secs: u64::from(*retry_after_secs),
                })
            }
        },
    }
}

fn action(a: core::Action) -> Action {
    Action {
        kind: kind(a.kind),
        label: text(a.label),
        enabled: a.enabled,
    }
}

/// The core's shell texts, for the shells.
pub(crate) fn shell_texts(t: core::ShellTexts) -> ShellTexts {
    ShellTexts {
        notification_channel: text(t.notification_channel),
        notification_title: text(t.notification_title),
        notification_body: text(t.notification_body),
        remote_video: text(t.remote_video),
        self_view: text(t.self_view),
    }
}

/// The core's screen, for the shells.
pub(crate) fn screen(s: core::Screen, state: UiState) -> Screen {
    Screen {
        id: s.id.to_owned(),
        state,
        lang: s.lang.to_owned(),
        layout: match s.layout {
            core::Layout::CodeEntry => Layout::CodeEntry,
            core::Layout::BigButton => Layout::BigButton,
            core::Layout::Message => Layout::Message,
            core::Layout::Call => Layout::Call,
        },
        pictogram: s.pictogram.map(pictogram),
        headline: text(s.headline),
        body: text(s.body),
        notice: s.notice.map(text),
        primary: s.primary.map(action),
        secondary: s.secondary.map(action),
        toggles: s
            .toggles
            .into_iter()
            .map(|t| Toggle {
                id: t.id.to_owned(),
                label: text(t.label),
                on: t.on,
            })
            .collect(),
        code: s.code.map(|c| CodeEntry {
            grouped: c.grouped,
            digits: c.digits,
            needed: c.needed,
            problem: c.problem.map(text),
            delete_label: text(c.delete_label),
        }),
        help: Help {
            title: text(s.help.title),
            call: text(s.help.call),
            hours: text(s.help.hours),
            dial: s.help.dial,
            url: s.help.url,
        },
        announce: s.announce,
        show_remote_video: s.show_remote_video,
        show_self_view: s.show_self_view,
        lit: s.lit,
    }
}

/// Every screen the model can show for a brand, in one language: for previews (a brand's
/// screenshots, the apps' screenshot tests). Each with the call state it belongs to.
pub(crate) fn every_screen(
    brand: &samtale_core::brand::Brand,
    lang: &str,
) -> Result<Vec<Screen>, String> {
    use crate::convert::{EndKind, ErrorKind};
    use core::{Overlay, ScreenInput};
    let catalog = brand.catalog(lang).map_err(|e| e.to_string())?;
    let view = brand.view(lang);
    let valid = (0..10)
        .map(|last| format!("482193775{last}"))
        .find(|c| samtale_core::code::JoinCode::parse(c).is_ok())
        .unwrap_or_default();
    let wrong = format!("{}{}", &valid[..9], (valid.as_bytes()[9] - b'0' + 1) % 10);
    let idle = UiState::Idle;
    let failed = |error| UiState::Failed { error };
    // (state, remembered, typed, from link, overlay)
    let cases: Vec<(UiState, bool, &str, bool, Option<Overlay>)> = vec![
        (idle.clone(), false, "", false, None),
        (idle.clone(), false, "48219", false, None),
        (idle.clone(), false, &wrong, false, None),
        (idle.clone(), false, &valid, true, None),
        (idle.clone(), true, "", false, None),
        (
            idle.clone(),
            false,
            &valid,
            false,
            Some(Overlay::Permissions),
        ),
        (
            idle.clone(),
            false,
            &valid,
            false,
            Some(Overlay::MicrophoneOff),
        ),
        (UiState::Joining, true, "", false, None),
        (UiState::Waiting, true, "", false, None),
        (UiState::InCall, true, "", false, None),
        (
            UiState::InCall,
            true,
            "",
            false,
            Some(Overlay::ConfirmLeave),
        ),
        (UiState::Reconnecting, true, "", false, None),
        (
            UiState::Ended {
                reason: EndKind::YouLeft,
            },
            true,
            "",
            false,
            None,
        ),
        (
            UiState::Ended {
                reason: EndKind::MeetingEnded,
            },
            false,
            "",
            false,
            None,
        ),
        (
            failed(ErrorKind::BadCode {
                problem: crate::CodeProblem::WrongDigit,
            }),
            false,
            &wrong,
            false,
            None,
        ),
        (
            failed(ErrorKind::CodeNotFoundOrExpired),
            false,
            "",
            false,
            None,
        ),
        (failed(ErrorKind::MeetingFull), false, "", false, None),
        (failed(ErrorKind::NoNetwork), false, "", false, None),
        (failed(ErrorKind::ServerError), false, "", false, None),
        (
            failed(ErrorKind::RateLimited {
                retry_after_secs: 30,
            }),
            false,
            "",
            false,
            None,
        ),
    ];
    let mut inputs: Vec<(UiState, ScreenInput)> = cases
        .into_iter()
        .map(|(state, remembered, typed, from_link, overlay)| {
            let input = ScreenInput {
                situation: situation(&state),
                remembered,
                typed: typed.to_owned(),
                from_link,
                microphone_on: true,
                camera_on: true,
                overlay,
                presence: None,
                device_problem: None,
                hearing: Default::default(),
                network: Default::default(),
                server_unreachable: false,
            };
            (state, input)
        })
        .collect();
    // Home, knowing whether the contact person is in the room: there (lit), not yet.
    for (present, name) in [(true, Some("Mette fra bostøtten")), (false, None)] {
        let (state, mut input) = inputs[4].clone();
        input.presence = Some(core::PresenceView {
            staff_present: present,
            display_name: name.map(str::to_owned),
        });
        inputs.insert(5, (state, input));
    }
    // Home, and the app cannot reach the server.
    {
        let (state, mut input) = inputs[4].clone();
        input.server_unreachable = true;
        inputs.push((state, input));
    }
    // A device that gives nothing, noticed during the call: the microphone in the call, the
    // camera while waiting.
    for (state, problem) in [
        (
            UiState::InCall,
            samtale_core::device_watch::DeviceProblem::MicrophoneSilent,
        ),
        (
            UiState::Waiting,
            samtale_core::device_watch::DeviceProblem::CameraDark,
        ),
    ] {
        if let Some((s, input)) = inputs
            .iter()
            .find(|(s, i)| *s == state && i.overlay.is_none())
        {
            let (s, mut input) = (s.clone(), input.clone());
            input.device_problem = Some(problem);
            inputs.push((s, input));
        }
    }
    // Waiting, and the silent check found no call relay reachable from this network.
    if let Some((s, input)) = inputs
        .iter()
        .find(|(s, i)| *s == UiState::Waiting && i.overlay.is_none())
    {
        let (s, mut input) = (s.clone(), input.clone());
        input.network = samtale_core::precheck::NetworkCheck::Blocked;
        inputs.push((s, input));
    }
    // The contact person cannot hear the citizen (their status says so): the longest notice.
    if let Some((s, input)) = inputs
        .iter()
        .find(|(s, i)| *s == UiState::InCall && i.overlay.is_none())
    {
        let (s, mut input) = (s.clone(), input.clone());
        input.hearing.problem = Some(samtale_core::hearing::HearingProblem::PeerCannotHearYou);
        inputs.push((s, input));
    }
    Ok(inputs
        .into_iter()
        .map(|(state, input)| screen(core::screen(&input, &view, &catalog), state))
        .collect())
}
