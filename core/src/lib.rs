//! Samtale core: the call engine behind the citizen apps.
//!
//! - [`code`]: join codes (offline check digit) — re-exported from `samtale-protocol`.
//! - [`protocol`]: wire messages — re-exported from `samtale-protocol`.
//! - [`fsm`]: the call state machine (pure, virtual-clock tested).
//! - [`engine`]: the edge — HTTP, WebSocket, WebRTC peer connections, timers, media tasks.
//! - [`media`]: the media engine (Opus, H.264, jitter buffer, frame assembly, rate control).
//! - [`devices`]: emulated microphone, camera, speaker and screen (emulator and tests).
//! - [`precheck`]: the silent pre-call check's verdicts (network via TURN, devices).
//! - [`error`]: rich internal errors and the few public kinds, mapped in one place.
//!
//! No FFI here: the uniffi bindings wrap this crate.

pub mod api;
pub mod brand;
pub mod device_watch;
#[cfg(feature = "emulator")]
pub mod devices;
pub mod engine;
pub mod error;
pub mod flow;
pub mod fsm;
pub mod hearing;
pub mod media;
pub mod observer;
pub mod precheck;
pub mod presence;
pub mod remember;
pub mod screen;
pub mod stats;
pub mod tls;

pub use samtale_protocol::code;
pub use samtale_protocol::wire as protocol;

pub use engine::{Call, CallConfig, IceTuning, InboundFilter, MediaStats, Participant};
pub use error::{CoreError, PublicError};
pub use fsm::{CallState, EndReason, FsmTiming};
pub use media::{DecodedFrame, Rotation, VideoFrame};
pub use observer::Subscription;
pub use stats::CallStats;
