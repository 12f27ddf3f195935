//! Wire messages shared by the core and the reference server (protocol version 1).
//!
//! Every type here is documented in `docs/protocol.md`; change both together and bump
//! [`PROTOCOL_VERSION`] for incompatible changes. All JSON fields are `snake_case`; unknown
//! fields are ignored by both sides so that minor additions stay compatible.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the HTTP and WebSocket protocol described in `docs/protocol.md`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest WebSocket text message either side accepts, in bytes.
pub const MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest number of participants in one meeting.
pub const MAX_PARTICIPANTS: usize = 4;
/// Largest number of citizen seats in one meeting: one seat is always left for staff, so
/// whoever holds the code cannot lock the caseworker out.
pub const MAX_CITIZEN_SEATS: usize = MAX_PARTICIPANTS - 1;

/// Who a participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A citizen who joined with a code.
    Citizen,
    /// A caseworker/support worker who joined with the staff credential.
    Staff,
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// `POST /api/v1/meetings` body (staff).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateMeetingRequest {
    /// How long the code stays valid, in minutes (1..=10080). Server default if absent. For a
    /// one-off meeting also the meeting's lifetime; a standing room outlives its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_minutes: Option<u32>,
    /// A one-off meeting (the default) or a standing room for one citizen relationship.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MeetingKind>,
    /// Staff only: initials and purpose ("MJ, bostøtte"), never a full name or CPR number.
    /// At most [`MAX_LABEL_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Shown to the paired citizen's app ("Mette fra bostøtten"), if set. At most
    /// [`MAX_LABEL_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Staff only: the caseworker responsible (initials or a staff handle). Handing the room
    /// to a colleague changes it (`PATCH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Longest `label`, `display_name` and `owner`, in characters.
pub const MAX_LABEL_CHARS: usize = 60;

/// A one-off meeting or a standing room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    /// Lives `ttl_minutes`; its code and every pairing end with it.
    #[default]
    Meeting,
    /// One citizen relationship: open until closed by staff or until it has seen no call for
    /// the server's idle period (90 days by default); pairings stay valid all that time.
    Room,
}

/// `PATCH /api/v1/meetings/{meeting_id}` body (staff): the fields given are changed, an empty
/// string clears one. Handing a standing room to a colleague is a new `owner`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateMeetingRequest {
    /// New staff-only label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// New name shown to the citizen's app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New responsible caseworker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `POST /api/v1/presence` body (a paired citizen app): is someone from the municipality in my
/// room? With `known`, the server holds the request until the answer differs from it or its
/// hold time passes (a long poll), so an open app learns of a change at once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceRequest {
    /// The pairing token from an earlier ticket.
    pub pairing_token: String,
    /// The `staff_present` the app shows now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<bool>,
    /// The app goes to the background or closes: the caseworker's list stops showing it as open
    /// at once (otherwise after the window). Answered without holding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closing: bool,
}

impl fmt::Debug for PresenceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresenceRequest")
            .field("pairing_token", &"<redacted>")
            .field("known", &self.known)
            .field("closing", &self.closing)
            .finish()
    }
}

/// `POST /api/v1/presence` response: nothing about the room but whether staff are in it and the
/// name the caseworker chose to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Someone from the municipality holds a seat in the room now.
    pub staff_present: bool,
    /// The room's `display_name`, if the caseworker set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Lifecycle of a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingState {
    /// Joinable.
    Open,
    /// Ended by staff.
    Ended,
    /// Its code expired.
    Expired,
}

/// A meeting as the staff API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    /// Opaque random id (not secret, not guessable).
    pub meeting_id: String,
    /// The 10-digit join code, digits only.
    pub code: String,
    /// The code grouped for display, e.g. `482 193 7750`.
    pub code_display: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which the code no longer resolves.
    pub expires_at: i64,
    /// Current state.
    pub state: MeetingState,
    /// Seats currently held (connected or within the resume grace period).
    pub participants: u32,
    /// One-off meeting or standing room.
    #[serde(default)]
    pub kind: MeetingKind,
    /// Unix seconds after which the code no longer pairs a new device (for a one-off meeting
    /// the same as `expires_at`; a room's code can be issued again).
    #[serde(default)]
    pub code_expires_at: i64,
    /// Staff only (see [`CreateMeetingRequest::label`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Shown to the paired citizen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The responsible caseworker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Unix seconds of the last seat taken in it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_call_at: Option<i64>,
    /// A paired citizen's app is open now (it asked about presence within the last
    /// `presence_window_secs`).
    #[serde(default)]
    pub citizen_app_open: bool,
    /// Someone from the municipality holds a seat in it now.
    #[serde(default)]
    pub staff_present: bool,
    /// What the pre-call check of a citizen in the meeting found (the latest `check` of a
    /// citizen seat held now), so the page can say "the citizen's microphone gives no sound"
    /// before the call starts. Absent when no citizen seat sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen_check: Option<CheckReport>,
}

/// `welcome.features` holds this when the server takes `check` messages.
pub const FEATURE_CHECK: &str = "check";

/// What a participant's silent pre-call check found (the `check` message), in the status
/// channel's words for the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckReport {
    /// Whether the meeting's TURN server could be reached.
    pub network: NetworkCheck,
    /// The sender's microphone.
    pub microphone: crate::status::MicrophoneState,
    /// The sender's camera.
    pub camera: crate::status::CameraState,
}

/// Whether a call can get through the network the participant is on: a TURN allocation tried
/// over UDP and over TCP, as a call would use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkCheck {
    /// Not known (yet), or the server offers no TURN to try.
    #[default]
    Untested,
    /// A TURN allocation over UDP works.
    Ok,
    /// UDP is blocked but TURN over TCP works: the call goes through the relay over TCP
    /// (a little more delay, but it works).
    UdpBlocked,
    /// No TURN allocation works, over UDP or TCP: a call only works if a direct path exists.
    Blocked,
}

/// `GET /api/v1/meetings` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingList {
    /// Open meetings, newest first.
    pub meetings: Vec<Meeting>,
}

/// `POST /api/v1/join` body (citizen).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveRequest {
    /// The join code; the server normalises it the same way the core does.
    pub code: String,
}

impl fmt::Debug for ResolveRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResolveRequest { code: <redacted> }")
    }
}

/// An ICE server (STUN or TURN) as in the W3C `RTCIceServer` dictionary.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN username (time-limited), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl fmt::Debug for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What a participant needs to enter a meeting: returned by `POST /api/v1/join` (citizen) and
/// `POST /api/v1/meetings/{meeting_id}/tickets` (staff).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Protocol version the server speaks.
    pub protocol: u32,
    /// Meeting id.
    pub meeting_id: String,
    /// Role the seat will have.
    pub role: Role,
    /// Absolute `ws://` or `wss://` URL of the signalling endpoint.
    pub signalling_url: String,
    /// Single-use token for the WebSocket `hello`; short-lived.
    pub join_token: String,
    /// Unix seconds after which `join_token` is refused.
    pub token_expires_at: i64,
    /// ICE servers for the peer connections.
    pub ice_servers: Vec<IceServer>,
    /// Citizen tickets from `POST /api/v1/join` and `/rejoin` only: a long random token that
    /// rejoins the same meeting with one tap (`POST /api/v1/rejoin`) while it is open. The app
    /// stores it instead of the code. Absent in staff tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_token: Option<String>,
}

/// Body of `POST /api/v1/rejoin`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejoinRequest {
    /// The pairing token from an earlier ticket.
    pub pairing_token: String,
}

impl fmt::Debug for RejoinRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RejoinRequest(<redacted>)")
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("protocol", &self.protocol)
            .field("meeting_id", &self.meeting_id)
            .field("role", &self.role)
            .field("signalling_url", &self.signalling_url)
            .field("join_token", &"<redacted>")
            .field("ice_servers", &self.ice_servers)
            .field(
                "pairing_token",
                &self.pairing_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Machine-readable error codes of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// Malformed request (400).
    BadRequest,
    /// The code is not a valid code (wrong length or check digit) (400).
    BadCode,
    /// No open meeting has this code: unknown, expired or ended — deliberately not told apart (404).
    CodeUnavailable,
    /// Missing or wrong staff credential (401).
    Unauthorized,
    /// No such meeting id (404, staff API only).
    NotFound,
    /// The meeting has ended or expired (410, staff API only).
    Gone,
    /// Too many requests from this address (429, with `Retry-After`).
    RateLimited,
    /// Unexpected server failure (500).
    Internal,
}

/// Error body of every non-2xx HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable code.
    pub error: ApiErrorCode,
    /// English explanation for developers (never shown to citizens as-is).
    pub message: String,
    /// For `rate_limited`: seconds to wait (same as the `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// WebSocket signalling
// ---------------------------------------------------------------------------------------------

/// Credentials to take back a seat after the socket dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The participant id the seat had.
    pub participant_id: String,
    /// The secret from `welcome`.
    pub resume_secret: String,
}

impl fmt::Debug for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resume")
            .field("participant_id", &self.participant_id)
            .field("resume_secret", &"<redacted>")
            .finish()
    }
}

/// SDP and ICE payloads relayed between two participants. The server does not look inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalPayload {
    /// An SDP offer.
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// An SDP answer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// A trickled ICE candidate (W3C `RTCIceCandidateInit`).
    Candidate {
        /// `candidate:...` attribute string.
        candidate: String,
        /// Media section id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// Media section index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
    /// The recipient's last offer or answer can never be used (no common codec, not SDP): no
    /// media will flow on this connection. Both sides end the call with a clear error instead
    /// of a silent one. Not sent for a description refused only in passing (wrong signalling
    /// state during glare or a restart): recovery deals with those.
    NegotiationFailed {
        /// Why.
        reason: NegotiationFailure,
    },
}

/// Why an offer or answer could not be used (`negotiation_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegotiationFailure {
    /// No codec both sides support (Samtale sends Opus and H.264 Constrained Baseline).
    NoCommonCodec,
    /// The description could not be parsed.
    Malformed,
}

impl NegotiationFailure {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            NegotiationFailure::NoCommonCodec => "no_common_codec",
            NegotiationFailure::Malformed => "malformed",
        }
    }
}

/// Client -> server messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on every socket: either a fresh `token` or a `resume`.
    Hello {
        /// Protocol version the client speaks.
        v: u32,
        /// `join_token` from a ticket (fresh seat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Take back an existing seat.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Resume>,
    },
    /// Relay `payload` to participant `to`.
    Signal {
        /// Recipient participant id.
        to: String,
        /// What to relay.
        payload: SignalPayload,
    },
    /// Keep-alive; answered with `pong` carrying the same `id`.
    Ping {
        /// Echoed back.
        id: u64,
    },
    /// Leave the meeting for good (the seat is freed, peers get `peer_left`).
    Leave,
    /// What this participant's pre-call check found; the latest one is kept for the seat. Only
    /// to a server whose `welcome.features` has [`FEATURE_CHECK`].
    Check(CheckReport),
}

/// A participant as other participants see it (no names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Participant id.
    pub participant_id: String,
    /// Role.
    pub role: Role,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// It sent `leave`.
    Left,
    /// Its socket dropped and it did not resume within the grace period.
    Timeout,
}

/// Why a meeting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Staff ended it.
    EndedByStaff,
    /// Its time ran out.
    Expired,
}

/// Machine-readable WebSocket error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WsErrorCode {
    /// Not JSON, unknown type, or a message not allowed now (e.g. `signal` before `hello`).
    Malformed,
    /// Message larger than the limit.
    TooLarge,
    /// Unsupported protocol version.
    UnsupportedVersion,
    /// Token unknown, expired or already used.
    InvalidToken,
    /// Resume refused: seat unknown, expired or secret wrong. Get a new ticket.
    ResumeRejected,
    /// The meeting already has the maximum number of participants.
    MeetingFull,
    /// The meeting has ended or expired.
    MeetingClosed,
    /// `signal.to` names no participant of this meeting.
    UnknownPeer,
    /// More messages on this socket than any client sends (a flood): the socket is closed
    /// (fatal), the seat is kept as after a drop; a client may resume after a pause.
    RateLimited,
}

/// Server -> client messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to a successful `hello`.
    Welcome {
        /// Protocol version the server speaks.
        v: u32,
        /// This participant's id.
        participant_id: String,
        /// Secret for `hello.resume`.
        resume_secret: String,
        /// Whether an existing seat was taken back.
        resumed: bool,
        /// The other participants holding a seat now.
        peers: Vec<PeerInfo>,
        /// Send `ping` at least this often (seconds).
        keepalive_secs: u64,
        /// How long a dropped seat is kept for `resume` (seconds).
        resume_grace_secs: u64,
        /// Additions to v1 this server takes (e.g. [`FEATURE_CHECK`]); older servers send none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// Another participant took a new seat (not sent for resumed seats).
    PeerJoined {
        /// Who.
        peer: PeerInfo,
    },
    /// Another participant left (not sent while it is within its resume grace period).
    PeerLeft {
        /// Who.
        participant_id: String,
        /// Why.
        reason: LeaveReason,
    },
    /// A relayed payload.
    Signal {
        /// Sender participant id.
        from: String,
        /// The payload, unchanged.
        payload: SignalPayload,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// The meeting is over; the server closes the socket after this.
    MeetingEnded {
        /// Why.
        reason: EndReason,
    },
    /// Something was wrong. If `fatal`, the server closes the socket after this.
    Error {
        /// Machine-readable code.
        code: WsErrorCode,
        /// English explanation.
        message: String,
        /// Whether the socket is being closed.
        fatal: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T>(value: &T, expected: serde_json::Value)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        let v = serde_json::to_value(value).expect("serialize");
        assert_eq!(v, expected);
        let back: T = serde_json::from_value(v).expect("deserialize");
        assert_eq!(&back, value);
    }

    #[test]
    fn client_messages_round_trip() {
        round_trip(
            &ClientMessage::Hello {
                v: 1,
                token: Some("t".into()),
                resume: None,
            },
            json!({"type": "hello", "v": 1, "token": "t"}),
        );
        round_trip(
            &ClientMessage::Hello {
                v: 1,
                token: None,
                resume: Some(Resume {
                    participant_id: "p".into(),
                    resume_secret: "s".into(),
                }),
            },
            json!({"type": "hello", "v": 1, "resume": {"participant_id": "p", "resume_secret": "s"}}),
        );
        round_trip(
            &ClientMessage::Signal {
                to: "p2".into(),
                payload: SignalPayload::Candidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                },
            },
            json!({"type": "signal", "to": "p2", "payload": {"kind": "candidate",
                "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
                "sdp_mid": "0", "sdp_mline_index": 0}}),
        );
        round_trip(
            &ClientMessage::Ping { id: 7 },
            json!({"type": "ping", "id": 7}),
        );
        round_trip(&ClientMessage::Leave, json!({"type": "leave"}));
        round_trip(
            &ClientMessage::Check(CheckReport {
                network: NetworkCheck::UdpBlocked,
                microphone: crate::status::MicrophoneState::Silent,
                camera: crate::status::CameraState::On,
            }),
            json!({"type": "check", "network": "udp_blocked", "microphone": "silent",
                "camera": "on"}),
        );
        // Missing fields take their defaults (a later client may send fewer or more).
        let sparse: ClientMessage =
            serde_json::from_value(json!({"type": "check", "camera": "dark", "later": 1}))
                .expect("sparse check");
        assert_eq!(
            sparse,
            ClientMessage::Check(CheckReport {
                camera: crate::status::CameraState::Dark,
                ..CheckReport::default()
            })
        );
    }

    #[test]
    fn server_messages_round_trip() {
        round_trip(
            &ServerMessage::Welcome {
                v: 1,
                participant_id: "p1".into(),
                resume_secret: "s".into(),
                resumed: false,
                peers: vec![PeerInfo {
                    participant_id: "p0".into(),
                    role: Role::Staff,
                }],
                keepalive_secs: 10,
                resume_grace_secs: 30,
                features: Vec::new(),
            },
            json!({"type": "welcome", "v": 1, "participant_id": "p1", "resume_secret": "s",
                "resumed": false, "peers": [{"participant_id": "p0", "role": "staff"}],
                "keepalive_secs": 10, "resume_grace_secs": 30}),
        );
        round_trip(
            &ServerMessage::Welcome {
                v: 1,
                participant_id: "p1".into(),
                resume_secret: "s".into(),
                resumed: true,
                peers: Vec::new(),
                keepalive_secs: 10,
                resume_grace_secs: 30,
                features: vec![FEATURE_CHECK.into()],
            },
            json!({"type": "welcome", "v": 1, "participant_id": "p1", "resume_secret": "s",
                "resumed": true, "peers": [], "keepalive_secs": 10, "resume_grace_secs": 30,
                "features": ["check"]}),
        );
        round_trip(
            &ServerMessage::Signal {
                from: "p0".into(),
                payload: SignalPayload::Offer { sdp: "v=0".into() },
            },
            json!({"type": "signal", "from": "p0", "payload": {"kind": "offer", "sdp": "v=0"}}),
        );
        round_trip(
            &ServerMessage::PeerLeft {
                participant_id: "p0".into(),
                reason: LeaveReason::Timeout,
            },
            json!({"type": "peer_left", "participant_id": "p0", "reason": "timeout"}),
        );
        round_trip(
            &ServerMessage::MeetingEnded {
                reason: EndReason::EndedByStaff,
            },
            json!({"type": "meeting_ended", "reason": "ended_by_staff"}),
        );
        round_trip(
            &ServerMessage::Error {
                code: WsErrorCode::MeetingFull,
                message: "full".into(),
                fatal: true,
            },
            json!({"type": "error", "code": "meeting_full", "message": "full", "fatal": true}),
        );
    }

    #[test]
    fn http_types_round_trip() {
        round_trip(
            &Ticket {
                protocol: 1,
                meeting_id: "m".into(),
                role: Role::Citizen,
                signalling_url: "ws://127.0.0.1:1/api/v1/signal".into(),
                join_token: "t".into(),
                token_expires_at: 5,
                ice_servers: vec![IceServer {
                    urls: vec!["stun:127.0.0.1:3478".into()],
                    username: None,
                    credential: None,
                }],
                pairing_token: None,
            },
            json!({"protocol": 1, "meeting_id": "m", "role": "citizen",
                "signalling_url": "ws://127.0.0.1:1/api/v1/signal", "join_token": "t",
                "token_expires_at": 5, "ice_servers": [{"urls": ["stun:127.0.0.1:3478"]}]}),
        );
        round_trip(
            &ApiError {
                error: ApiErrorCode::RateLimited,
                message: "slow down".into(),
                retry_after_secs: Some(3),
            },
            json!({"error": "rate_limited", "message": "slow down", "retry_after_secs": 3}),
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"ping","id":1,"extra":true}"#).expect("parse");
        assert_eq!(m, ClientMessage::Ping { id: 1 });
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let r = ResolveRequest {
            code: "4821937750".into(),
        };
        assert!(!format!("{r:?}").contains("4821937750"));
        let res = Resume {
            participant_id: "p".into(),
            resume_secret: "very-secret".into(),
        };
        assert!(!format!("{res:?}").contains("very-secret"));
    }
}
