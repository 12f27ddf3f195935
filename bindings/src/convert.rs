//! Core types -> what the shells see. The one place where the mapping lives.

use samtale_core::code::CodeError;
use samtale_core::{CallState, EndReason, PublicError};

/// A UI-ready call state: one pictogram and one sentence per value.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum UiState {
    /// Nothing started.
    Idle,
    /// Checking the code and reaching the meeting.
    Joining,
    /// In the meeting, waiting for the caseworker.
    Waiting,
    /// Talking.
    InCall,
    /// The network hiccupped; the call comes back by itself.
    Reconnecting,
    /// Over.
    Ended {
        /// Why.
        reason: EndKind,
    },
    /// Could not be made or kept.
    Failed {
        /// What to tell the user.
        error: ErrorKind,
    },
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EndKind {
    /// The user left.
    YouLeft,
    /// The caseworker ended the meeting.
    MeetingEnded,
    /// The meeting's time ran out.
    MeetingExpired,
}

/// The few errors a shell shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ErrorKind {
    /// The code is mistyped (found offline).
    BadCode {
        /// How.
        problem: CodeProblem,
    },
    /// No meeting uses this code now.
    CodeNotFoundOrExpired,
    /// The meeting is full.
    MeetingFull,
    /// The server cannot be reached.
    NoNetwork,
    /// Something the citizen cannot fix.
    ServerError,
    /// Too many attempts; try again after this many seconds.
    RateLimited {
        /// Seconds.
        retry_after_secs: u32,
    },
    /// `rejoin()` without a remembered meeting.
    NoRememberedMeeting,
}

/// How a typed code is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CodeProblem {
    /// Nothing typed.
    Empty,
    /// Something that is not a digit.
    NotADigit,
    /// Too few digits.
    TooFewDigits {
        /// Digits typed.
        got: u32,
        /// Digits a code has.
        expected: u32,
    },
    /// Too many digits.
    TooManyDigits,
    /// A digit is wrong (the check digit does not match).
    WrongDigit,
}

fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<&CodeError> for CodeProblem {
    fn from(e: &CodeError) -> Self {
        match e {
            CodeError::Empty => CodeProblem::Empty,
            CodeError::NotADigit => CodeProblem::NotADigit,
            CodeError::TooFewDigits { got, expected } => CodeProblem::TooFewDigits {
                got: small(*got),
                expected: small(*expected),
            },
            CodeError::TooManyDigits { .. } => CodeProblem::TooManyDigits,
            CodeError::WrongDigit => CodeProblem::WrongDigit,
        }
    }
}

fn error_kind(e: &PublicError) -> ErrorKind {
    match e {
        PublicError::BadCode(c) => ErrorKind::BadCode {
            problem: CodeProblem::from(c),
        },
        PublicError::CodeNotFoundOrExpired => ErrorKind::CodeNotFoundOrExpired,
        PublicError::MeetingFull => ErrorKind::MeetingFull,
        PublicError::NoNetwork => ErrorKind::NoNetwork,
        PublicError::ServerError => ErrorKind::ServerError,
        PublicError::RateLimited { retry_after_secs } => ErrorKind::RateLimited {
            retry_after_secs: u32::try_from(*retry_after_secs).unwrap_or(u32::MAX),
        },
    }
}

/// The state a shell shows for a core state.
pub(crate) fn ui_state(s: &CallState) -> UiState {
    match s {
        CallState::Idle => UiState::Idle,
        CallState::Resolving | CallState::Connecting => UiState::Joining,
        CallState::Waiting => UiState::Waiting,
        CallState::InCall => UiState::InCall,
        CallState::Reconnecting => UiState::Reconnecting,
        CallState::Ended(r) => UiState::Ended {
            reason: match r {
                EndReason::LocalLeave => EndKind::YouLeft,
                EndReason::MeetingEnded => EndKind::MeetingEnded,
                EndReason::MeetingExpired => EndKind::MeetingExpired,
            },
        },
        CallState::Failed(e) => UiState::Failed {
            error: error_kind(e),
        },
    }
}

/// The core's rotation for the shell's.
pub(crate) fn rotation(r: crate::Rotation) -> samtale_core::Rotation {
    match r {
        crate::Rotation::None => samtale_core::Rotation::None,
        crate::Rotation::Cw90 => samtale_core::Rotation::Cw90,
        crate::Rotation::Cw180 => samtale_core::Rotation::Cw180,
        crate::Rotation::Cw270 => samtale_core::Rotation::Cw270,
    }
}

/// A platform camera frame -> an upright I420 picture (the core does the work).
pub(crate) fn camera_frame(
    f: &crate::CameraFrame,
) -> Result<samtale_core::VideoFrame, samtale_core::media::FrameError> {
    use samtale_core::media::{CameraPlanes, Plane};
    let n = |v: u32| v as usize;
    let y = Plane {
        data: &f.y,
        row_stride: n(f.y_row_stride),
        pixel_stride: 1,
    };
    let planes = match &f.chroma {
        crate::Chroma::Planar {
            u,
            v,
            row_stride,
            pixel_stride,
        } => {
            let (row_stride, pixel_stride) = (n(*row_stride), n(*pixel_stride));
            CameraPlanes {
                width: f.width,
                height: f.height,
                y,
                u: Plane {
                    data: u,
                    row_stride,
                    pixel_stride,
                },
                v: Plane {
                    data: v,
                    row_stride,
                    pixel_stride,
                },
            }
        }
        crate::Chroma::Nv12 { uv, row_stride } => CameraPlanes::nv12(
            f.width,
            f.height,
            &f.y,
            n(f.y_row_stride),
            uv,
            n(*row_stride),
        ),
        crate::Chroma::Nv21 { vu, row_stride } => CameraPlanes::nv21(
            f.width,
            f.height,
            &f.y,
            n(f.y_row_stride),
            vu,
            n(*row_stride),
        ),
    };
    samtale_core::VideoFrame::from_camera(&planes, rotation(f.rotation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_what_the_shells_show() {
        assert_eq!(ui_state(&CallState::Resolving), UiState::Joining);
        assert_eq!(
            ui_state(&CallState::Ended(EndReason::MeetingEnded)),
            UiState::Ended {
                reason: EndKind::MeetingEnded
            }
        );
        assert_eq!(
            ui_state(&CallState::Failed(PublicError::BadCode(
                CodeError::TooFewDigits {
                    got: 4,
                    expected: 10
                }
            ))),
            UiState::Failed {
                error: ErrorKind::BadCode {
                    problem: CodeProblem::TooFewDigits {
                        got: 4,
                        expected: 10
                    }
                }
            }
        );
    }
}
