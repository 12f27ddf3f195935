//! Human-readable timeline or JSON lines, one place for all output of the emulator.

use samtale_core::{CallState, PublicError};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Prints timeline events as text or JSON lines.
#[derive(Clone)]
pub struct Reporter {
    json: bool,
    origin: Instant,
    lock: Arc<Mutex<()>>,
}

impl Reporter {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            origin: Instant::now(),
            lock: Arc::new(Mutex::new(())),
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    fn t_ms(&self) -> u128 {
        self.origin.elapsed().as_millis()
    }

    /// A line of the timeline.
    pub fn event(&self, who: &str, event: &str, detail: serde_json::Value) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.json {
            // Wall-clock time too, so a test can line events of several processes up.
            let unix_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let mut line =
                json!({"t_ms": self.t_ms(), "unix_ms": unix_ms, "who": who, "event": event});
            if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), detail) {
                obj.extend(extra);
            }
            println!("{line}");
        } else {
            let text = match &detail {
                serde_json::Value::Object(map) if !map.is_empty() => {
                    let parts: Vec<String> = map
                        .iter()
                        .map(|(k, v)| match v {
                            serde_json::Value::String(s) => format!("{k}={s}"),
                            other => format!("{k}={other}"),
                        })
                        .collect();
                    format!("  ({})", parts.join(", "))
                }
                _ => String::new(),
            };
            println!("{:>7} ms  {:<10} {}{}", self.t_ms(), who, event, text);
        }
    }

    /// A state change of a call.
    pub fn state(&self, who: &str, state: &CallState) {
        let mut detail = json!({});
        if let CallState::Failed(err) = state {
            detail = json!({"error": err.kind()});
        }
        if let CallState::Ended(reason) = state {
            detail = json!({"reason": format!("{reason:?}")});
        }
        self.event(who, &format!("state: {}", state.name()), detail);
    }
}

/// Documented exit codes of `samtale-sim` (see README).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The call ran but media did not flow both ways, or another unexpected failure.
    pub const FAILURE: i32 = 1;
    /// Command-line usage error (returned by clap itself; listed for completeness).
    #[allow(dead_code)]
    pub const USAGE: i32 = 2;
    /// The code is malformed (offline check).
    pub const BAD_CODE: i32 = 3;
    /// The code is unknown, expired, or its meeting ended.
    pub const CODE_UNAVAILABLE: i32 = 4;
    /// The server could not be reached.
    pub const NO_NETWORK: i32 = 5;
    /// The server failed or refused.
    pub const SERVER_ERROR: i32 = 6;
    /// Too many look-ups; try later.
    pub const RATE_LIMITED: i32 = 7;
    /// The meeting is full.
    pub const MEETING_FULL: i32 = 8;
}

/// Exit code for a public error.
pub fn exit_code(err: &PublicError) -> i32 {
    match err {
        PublicError::BadCode(_) => exit::BAD_CODE,
        PublicError::CodeNotFoundOrExpired => exit::CODE_UNAVAILABLE,
        PublicError::NoNetwork => exit::NO_NETWORK,
        PublicError::ServerError => exit::SERVER_ERROR,
        PublicError::RateLimited { .. } => exit::RATE_LIMITED,
        PublicError::MeetingFull => exit::MEETING_FULL,
    }
}

/// Plain-language explanation of a public error (English; the apps use the Danish catalog).
pub fn explain(err: &PublicError) -> String {
    use samtale_core::code::CodeError;
    match err {
        PublicError::BadCode(CodeError::Empty) => "No code was entered.".into(),
        PublicError::BadCode(CodeError::NotADigit) => "The code may only contain digits.".into(),
        PublicError::BadCode(CodeError::TooFewDigits { got, expected }) => {
            format!("Too few digits: {got} of {expected}.")
        }
        PublicError::BadCode(CodeError::TooManyDigits { got, expected }) => {
            format!("Too many digits: {got} of {expected}.")
        }
        PublicError::BadCode(CodeError::WrongDigit) => "A digit is wrong — check the code.".into(),
        PublicError::CodeNotFoundOrExpired => {
            "No meeting uses this code now. It may have expired or the meeting has ended.".into()
        }
        PublicError::NoNetwork => "The server cannot be reached. Check the network.".into(),
        PublicError::ServerError => "The server failed. Try again later.".into(),
        PublicError::RateLimited { retry_after_secs } => {
            format!("Too many attempts. Try again in {retry_after_secs} s.")
        }
        PublicError::MeetingFull => "The meeting is full.".into(),
    }
}
