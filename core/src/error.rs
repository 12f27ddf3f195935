//! Errors: rich internal errors for logs and tests, and the few public kinds the shells show.
//!
//! [`CoreError`] carries detail (never a code, token or name). [`PublicError`] is what a citizen's
//! screen can act on. [`CoreError::public`] is the one place where the first becomes the second.

use samtale_protocol::{ApiErrorCode, CodeError, WsErrorCode};

/// What went wrong, with enough detail to debug it. Safe to log: no codes, tokens or names.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The typed code is not a valid code (checked offline).
    #[error("invalid code: {0}")]
    InvalidCode(#[from] CodeError),
    /// The server's base URL in the configuration is not usable.
    #[error("invalid server URL: {0}")]
    InvalidServerUrl(String),
    /// Could not reach the server at all (DNS, connect, TLS, timeout).
    #[error("network: {0}")]
    Network(String),
    /// The server's certificate was refused: not signed by a trusted CA, expired, or for
    /// another name. Most often a network that intercepts (a hotel's or library's Wi-Fi login
    /// page), else a server set up wrong.
    #[error("untrusted server certificate: {0}")]
    UntrustedServer(String),
    /// The configured trust (extra CA certificates) cannot be used.
    #[error("invalid trust configuration: {0}")]
    InvalidTrust(String),
    /// The server answered with a documented API error.
    #[error("server refused ({status}): {code:?}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Machine-readable code.
        code: ApiErrorCode,
        /// For rate limiting: seconds to wait.
        retry_after_secs: Option<u64>,
    },
    /// The server answered with something that is not the documented protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The signalling server refused the socket.
    #[error("signalling refused: {code:?}")]
    Signalling {
        /// Machine-readable code.
        code: WsErrorCode,
    },
    /// The WebRTC stack failed.
    #[error("webrtc: {0}")]
    WebRtc(String),
    /// An offer or answer with a peer could not be used, ours by them or theirs by us: no
    /// media can flow (`negotiation_failed` in docs/protocol.md).
    #[error("negotiation failed: {}", .0.name())]
    Negotiation(samtale_protocol::NegotiationFailure),
    /// Nothing worked for too long.
    #[error("gave up after {0:?} without a connection")]
    GaveUp(std::time::Duration),
}

/// The error kinds a user interface distinguishes. Few on purpose: each has one clear message
/// and one clear next step for the citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicError {
    /// The code is wrong (offline check): the detail says how, so the screen can say
    /// "too few digits" or "a digit is wrong — check the code".
    BadCode(CodeError),
    /// The code is valid but no meeting uses it now (unknown, expired or ended).
    CodeNotFoundOrExpired,
    /// The meeting already has the maximum number of participants.
    MeetingFull,
    /// The device cannot reach the server (offline, captive portal, firewall).
    NoNetwork,
    /// The server misbehaved or refused for a reason the citizen cannot fix.
    ServerError,
    /// Too many attempts: wait this many seconds.
    RateLimited {
        /// Seconds to wait before trying again.
        retry_after_secs: u64,
    },
}

impl CoreError {
    /// The variant's name, for log lines that must not carry the detail text.
    pub fn kind(&self) -> &'static str {
        match self {
            CoreError::InvalidCode(_) => "invalid_code",
            CoreError::InvalidServerUrl(_) => "invalid_server_url",
            CoreError::Network(_) => "network",
            CoreError::UntrustedServer(_) => "untrusted_server",
            CoreError::InvalidTrust(_) => "invalid_trust",
            CoreError::Api { .. } => "api",
            CoreError::Protocol(_) => "protocol",
            CoreError::Signalling { .. } => "signalling",
            CoreError::WebRtc(_) => "webrtc",
            CoreError::Negotiation(_) => "negotiation",
            CoreError::GaveUp(_) => "gave_up",
        }
    }

    /// Maps a rich internal error to the public kind a shell shows. The only such mapping.
    pub fn public(&self) -> PublicError {
        match self {
            CoreError::InvalidCode(e) => PublicError::BadCode(e.clone()),
            CoreError::InvalidServerUrl(_) | CoreError::InvalidTrust(_) => PublicError::ServerError,
            // The citizen's next step is the same as offline: check the connection (log in to
            // the Wi-Fi), or call the help line.
            CoreError::Network(_) | CoreError::GaveUp(_) | CoreError::UntrustedServer(_) => {
                PublicError::NoNetwork
            }
            CoreError::Api {
                code,
                retry_after_secs,
                ..
            } => match code {
                ApiErrorCode::BadCode => PublicError::BadCode(CodeError::WrongDigit),
                ApiErrorCode::CodeUnavailable | ApiErrorCode::Gone | ApiErrorCode::NotFound => {
                    PublicError::CodeNotFoundOrExpired
                }
                ApiErrorCode::RateLimited => PublicError::RateLimited {
                    retry_after_secs: retry_after_secs.unwrap_or(1).max(1),
                },
                ApiErrorCode::BadRequest | ApiErrorCode::Unauthorized | ApiErrorCode::Internal => {
                    PublicError::ServerError
                }
            },
            CoreError::Signalling { code } => match code {
                WsErrorCode::MeetingFull => PublicError::MeetingFull,
                WsErrorCode::MeetingClosed => PublicError::CodeNotFoundOrExpired,
                _ => PublicError::ServerError,
            },
            // Nothing the citizen can fix: the help line (the screen says so).
            CoreError::Protocol(_) | CoreError::WebRtc(_) | CoreError::Negotiation(_) => {
                PublicError::ServerError
            }
        }
    }
}

/// Wraps a WebRTC stack error. Its text names states and parse failures, never credentials.
pub(crate) fn webrtc_err(e: impl std::fmt::Display) -> CoreError {
    CoreError::WebRtc(e.to_string())
}

impl std::fmt::Display for PublicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl PublicError {
    /// Stable machine-readable name (used by the sim's JSON output and exit codes).
    pub fn kind(&self) -> &'static str {
        match self {
            PublicError::BadCode(_) => "bad_code",
            PublicError::CodeNotFoundOrExpired => "code_not_found_or_expired",
            PublicError::MeetingFull => "meeting_full",
            PublicError::NoNetwork => "no_network",
            PublicError::ServerError => "server_error",
            PublicError::RateLimited { .. } => "rate_limited",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_total_and_sane() {
        let cases = [
            (
                CoreError::InvalidCode(CodeError::Empty),
                PublicError::BadCode(CodeError::Empty),
            ),
            (CoreError::Network("refused".into()), PublicError::NoNetwork),
            (
                CoreError::UntrustedServer("unknown issuer".into()),
                PublicError::NoNetwork,
            ),
            (
                CoreError::InvalidTrust("no certificate".into()),
                PublicError::ServerError,
            ),
            (
                CoreError::Api {
                    status: 404,
                    code: ApiErrorCode::CodeUnavailable,
                    retry_after_secs: None,
                },
                PublicError::CodeNotFoundOrExpired,
            ),
            (
                CoreError::Api {
                    status: 429,
                    code: ApiErrorCode::RateLimited,
                    retry_after_secs: Some(4),
                },
                PublicError::RateLimited {
                    retry_after_secs: 4,
                },
            ),
            (
                CoreError::Api {
                    status: 500,
                    code: ApiErrorCode::Internal,
                    retry_after_secs: None,
                },
                PublicError::ServerError,
            ),
            (
                CoreError::Signalling {
                    code: WsErrorCode::MeetingFull,
                },
                PublicError::MeetingFull,
            ),
            (
                CoreError::Signalling {
                    code: WsErrorCode::MeetingClosed,
                },
                PublicError::CodeNotFoundOrExpired,
            ),
            (
                CoreError::Protocol("html instead of json".into()),
                PublicError::ServerError,
            ),
            (
                CoreError::Negotiation(samtale_protocol::NegotiationFailure::NoCommonCodec),
                PublicError::ServerError,
            ),
        ];
        for (internal, public) in cases {
            assert_eq!(internal.public(), public, "{internal}");
        }
    }
}
