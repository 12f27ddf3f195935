//! What each participant tells the others, peer to peer, about what it hears and sends
//! (issue 16: "they can't hear you" noticed by the app, not by the citizen).
//!
//! Carried on a WebRTC data channel, never through the server: label [`STATUS_CHANNEL_LABEL`],
//! negotiated out of band with stream id [`STATUS_CHANNEL_ID`] (both sides create it before
//! the first offer, so there is no in-band DCEP handshake to lose), unordered with no
//! retransmissions: each message replaces the previous one, about once a
//! [`STATUS_INTERVAL_MS`]. One UTF-8 JSON object per message. Unknown fields are ignored and
//! missing ones take their defaults, so later versions may add fields; `v` changes only when
//! a field's meaning does. A peer that never sends a status (an older client) is simply not
//! judged: nothing is concluded without a fresh status.

use serde::{Deserialize, Serialize};

/// The data channel's label.
pub const STATUS_CHANNEL_LABEL: &str = "samtale-status";
/// The data channel's SCTP stream id (negotiated out of band).
pub const STATUS_CHANNEL_ID: u16 = 0;
/// How often a status is sent (ms).
pub const STATUS_INTERVAL_MS: u64 = 1_000;
/// The status format's version.
pub const STATUS_VERSION: u32 = 1;
/// Statuses larger than this are ignored (bytes).
pub const STATUS_MAX_BYTES: usize = 2_048;

/// The sender's microphone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MicrophoneState {
    /// On and delivering sound.
    #[default]
    On,
    /// Muted by its user.
    Muted,
    /// On, but delivering digital silence (blocked by the phone, taken by another app).
    Silent,
    /// The sender has no microphone or no permission to use it.
    None,
}

/// The sender's camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// On and delivering pictures.
    #[default]
    On,
    /// Turned off by its user.
    Off,
    /// On, but delivering no pictures.
    Dark,
    /// The sender has no camera or no permission to use it.
    None,
}

/// One status message, from its sender to one recipient. Counters are cumulative since the
/// sender's media with this recipient started (they may restart from 0 when the sender
/// rebuilds it: a recipient compares for change, not for growth).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerStatus {
    /// [`STATUS_VERSION`].
    pub v: u32,
    /// The sender's microphone.
    pub microphone: MicrophoneState,
    /// The sender's camera.
    pub camera: CameraState,
    /// The sender's own microphone picked up speech during the last interval (not muted).
    pub speaking: bool,
    /// RTP audio packets received from the recipient.
    pub audio_packets: u64,
    /// 10 ms frames decoded from the recipient's audio with sound in them (not silence,
    /// not concealment).
    pub audio_sound: u64,
    /// Level of the recipient's audio as the sender plays it (dBFS, smoothed; -100 silent).
    pub audio_level_dbfs: f64,
    /// Pictures decoded from the recipient's video.
    pub video_frames: u64,
}

impl PeerStatus {
    /// The message as sent.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A received message, or `None` when it is too large or not a status.
    pub fn parse(text: &[u8]) -> Option<Self> {
        if text.len() > STATUS_MAX_BYTES {
            return None;
        }
        serde_json::from_slice(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_default() {
        let s =
            PeerStatus::parse(br#"{"v":2,"microphone":"muted","future":[1,2]}"#).expect("a status");
        assert_eq!(s.v, 2);
        assert_eq!(s.microphone, MicrophoneState::Muted);
        assert_eq!(s.camera, CameraState::On);
        assert_eq!(s.audio_packets, 0);
        assert!(PeerStatus::parse(b"not json").is_none());
        assert!(PeerStatus::parse(&vec![b' '; STATUS_MAX_BYTES + 1]).is_none());
    }

    #[test]
    fn a_status_survives_the_wire() {
        let s = PeerStatus {
            v: STATUS_VERSION,
            microphone: MicrophoneState::Silent,
            camera: CameraState::Dark,
            speaking: true,
            audio_packets: 7,
            audio_sound: 5,
            audio_level_dbfs: -31.5,
            video_frames: 3,
        };
        assert_eq!(PeerStatus::parse(s.to_json().as_bytes()), Some(s));
    }
}
