//! Join codes and wire messages shared by every Samtale component.
//!
//! Kept free of networking and media dependencies so that the server builds without the WebRTC
//! stack. The core re-exports both modules.

pub mod code;
pub mod status;
pub mod wire;

pub use code::{CodeError, JoinCode};
pub use wire::*;
