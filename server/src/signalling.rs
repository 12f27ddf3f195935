//! WebSocket signalling: the in-memory hub of seats and one task per socket.
//!
//! The hub keeps, per open meeting, the seats in the order they were taken. A seat is either
//! connected (it has a channel to its socket task) or within its resume grace period (it has a
//! queue of relayed signals). Seats are also stored in the database so that they survive a
//! restart; the connection state lives only here.
//!
//! Locking: the hub's mutex is never held across an `.await`. When it is held together with
//! the database mutex, the hub's is always taken first.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use samtale_protocol::{
    CheckReport, ClientMessage, EndReason, FEATURE_CHECK, LeaveReason, MAX_CITIZEN_SEATS,
    MAX_PARTICIPANTS, MAX_WS_MESSAGE_BYTES, MeetingState, PROTOCOL_VERSION, PeerInfo, Resume, Role,
    ServerMessage, SignalPayload, WsErrorCode,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{digests_equal, sha256};
use crate::clock::Clock;
use crate::db::{Db, DbError, SeatRow, TakeSeat};
use crate::http::AppState;
use crate::ids;

/// Time a client has to send `hello` after the upgrade.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Signals queued for a seat within its grace period, at most.
pub(crate) const MAX_QUEUED_SIGNALS: usize = 256;
/// Messages waiting for one socket task, at most; a client that reads slower than this is
/// disconnected (and may resume).
const OUTGOING_CAPACITY: usize = 256;
/// Messages one socket may send in a burst, and per second after it (pings included). A real
/// client sends a few dozen at a join or an ICE restart (candidates) and one ping every few
/// seconds; a flood pinned a core and pushed its peer out of the meeting (issue 17, item 6).
pub(crate) const MESSAGE_BURST: u32 = 200;
/// See [`MESSAGE_BURST`].
pub(crate) const MESSAGES_PER_SEC: u32 = 20;
/// Bytes tungstenite reads at a time (its default, 128 KiB, was most of what an idle session
/// cost); messages are at most 64 KiB and are read in several chunks when larger.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Unsent bytes a socket may have buffered before writing fails (a client that never reads).
const MAX_WRITE_BUFFER_BYTES: usize = 512 * 1024;
/// Longest time one frame may take to be written before the socket counts as dead.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the client's answer to our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Hard limit the WebSocket library enforces. Larger than the protocol limit on purpose: a
/// message up to this size is read completely, so it can be refused with a proper
/// `too_large` error and a clean close handshake; anything larger is cut off by the library.
const LIBRARY_MESSAGE_LIMIT: usize = 2 * MAX_WS_MESSAGE_BYTES;

/// WebSocket close codes used by the server.
mod close_code {
    /// Normal closure (leave, meeting ended, replaced by a newer connection).
    pub(super) const NORMAL: u16 = 1000;
    /// Going away (the client was silent too long).
    pub(super) const GOING_AWAY: u16 = 1001;
    /// Invalid frame payload data (a text frame that is not UTF-8).
    pub(super) const INVALID: u16 = 1007;
    /// Policy violation (malformed message, refused hello).
    pub(super) const POLICY: u16 = 1008;
    /// Message too big.
    pub(super) const TOO_BIG: u16 = 1009;
    /// Internal error.
    pub(super) const INTERNAL: u16 = 1011;
}

/// What the hub asks a socket task to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Send this message.
    Msg(ServerMessage),
    /// Send `meeting_ended` and close; the seat is already gone.
    End(EndReason),
    /// Another socket resumed this seat: close without touching the seat.
    Replaced,
}

/// Identifies one socket's hold on a seat.
#[derive(Debug, Clone)]
pub(crate) struct SeatKey {
    meeting_id: String,
    participant_id: String,
    conn_id: u64,
}

/// A socket task's end of a seat after a successful `hello`.
#[derive(Debug)]
pub(crate) struct Session {
    key: SeatKey,
    rx: mpsc::Receiver<Outgoing>,
    kill: CancellationToken,
}

/// A refused `hello`.
#[derive(Debug)]
pub(crate) enum HelloError {
    /// Refused with a protocol error code.
    Refused(WsErrorCode, &'static str),
    /// The database failed.
    Db(DbError),
}

impl From<DbError> for HelloError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// `signal` to a participant that holds no seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnknownPeer;

#[derive(Debug)]
struct Conn {
    id: u64,
    tx: mpsc::Sender<Outgoing>,
    kill: CancellationToken,
}

impl Conn {
    /// Queues `out` for the socket task; a full or closed channel kills the connection (the
    /// socket task then reports the drop and the seat enters its grace period).
    fn push(&self, out: Outgoing) {
        if self.tx.try_send(out).is_err() {
            self.kill.cancel();
        }
    }
}

#[derive(Debug)]
enum Link {
    Connected(Conn),
    Grace {
        epoch: u64,
        deadline: Instant,
        queue: VecDeque<ServerMessage>,
    },
}

#[derive(Debug)]
struct Seat {
    participant_id: String,
    role: Role,
    secret_hash: Vec<u8>,
    link: Link,
    /// The seat's latest pre-call check (memory only, forgotten with the seat) and when it
    /// came (the newest citizen check is the one staff see).
    check: Option<(CheckReport, u64)>,
}

impl Seat {
    fn peer_info(&self) -> PeerInfo {
        PeerInfo {
            participant_id: self.participant_id.clone(),
            role: self.role,
        }
    }

    fn conn_id(&self) -> Option<u64> {
        match &self.link {
            Link::Connected(c) => Some(c.id),
            Link::Grace { .. } => None,
        }
    }

    /// Sends to a connected seat; seats within their grace period are not told.
    fn notify(&self, msg: &ServerMessage) {
        if let Link::Connected(c) = &self.link {
            c.push(Outgoing::Msg(msg.clone()));
        }
    }
}

#[derive(Debug, Default)]
struct Room {
    /// In the order the seats were taken; at most [`MAX_PARTICIPANTS`].
    seats: Vec<Seat>,
}

impl Room {
    fn position(&self, participant_id: &str) -> Option<usize> {
        self.seats
            .iter()
            .position(|s| s.participant_id == participant_id)
    }

    fn notify_others(&self, except: &str, msg: &ServerMessage) {
        for seat in self.seats.iter().filter(|s| s.participant_id != except) {
            seat.notify(msg);
        }
    }

    fn peers_of(&self, participant_id: &str) -> Vec<PeerInfo> {
        self.seats
            .iter()
            .filter(|s| s.participant_id != participant_id)
            .map(Seat::peer_info)
            .collect()
    }
}

#[derive(Debug, Default)]
struct HubState {
    /// Open meetings with at least one held seat, by meeting id.
    rooms: HashMap<String, Room>,
    /// Meeting id of every held seat, by participant id.
    seat_index: HashMap<String, String>,
}

/// Settings the hub needs.
#[derive(Debug, Clone)]
pub(crate) struct HubConfig {
    pub(crate) clock: Clock,
    pub(crate) resume_grace: Duration,
    pub(crate) keepalive_secs: u64,
}

/// All seats of all open meetings and their connections.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    db: Arc<Db>,
    config: HubConfig,
    tracker: TaskTracker,
    cancel: CancellationToken,
    next_id: AtomicU64,
    /// Bumped whenever a seat is taken or freed anywhere: presence long polls wake on it and
    /// look at their own room again.
    seats_changed: tokio::sync::watch::Sender<u64>,
    /// Messages per seat ([`MESSAGE_BURST`], [`MESSAGES_PER_SEC`]): kept across the seat's
    /// sockets, so that resuming after a `rate_limited` close does not buy a new burst.
    message_limiter: governor::DefaultKeyedRateLimiter<String>,
}

impl Hub {
    /// Takes one message from `participant_id`'s budget.
    fn charge_message(&self, participant_id: &str) -> bool {
        self.message_limiter
            .check_key(&participant_id.to_owned())
            .is_ok()
    }

    /// Forgets seats' message budgets that have refilled (periodic housekeeping).
    pub(crate) fn prune(&self) {
        self.message_limiter.retain_recent();
    }

    /// A hub with no seats. `tracker` and `cancel` are the server's: grace timers are tracked
    /// and stop at shutdown.
    pub(crate) fn new(
        db: Arc<Db>,
        config: HubConfig,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Self {
        let nonzero = |n: u32| std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
        let quota = governor::Quota::per_second(nonzero(MESSAGES_PER_SEC))
            .allow_burst(nonzero(MESSAGE_BURST));
        Self {
            state: Mutex::new(HubState::default()),
            db,
            config,
            tracker,
            cancel,
            next_id: AtomicU64::new(1),
            seats_changed: tokio::sync::watch::Sender::new(0),
            message_limiter: governor::DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    fn seats_changed(&self) {
        self.seats_changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Wakes when any seat is taken or freed (then ask [`Hub::staff_present`] again).
    pub(crate) fn watch_seats(&self) -> tokio::sync::watch::Receiver<u64> {
        self.seats_changed.subscribe()
    }

    /// Whether someone from the municipality holds a seat in `meeting_id` now (connected or
    /// within the resume grace period).
    pub(crate) fn staff_present(&self, meeting_id: &str) -> bool {
        self.lock()
            .rooms
            .get(meeting_id)
            .is_some_and(|r| r.seats.iter().any(|s| s.role == Role::Staff))
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn new_conn(&self) -> (Conn, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(OUTGOING_CAPACITY);
        let conn = Conn {
            id: self.next_id(),
            tx,
            kill: self.cancel.child_token(),
        };
        (conn, rx)
    }

    fn grace_link(self: &Arc<Self>, participant_id: &str) -> Link {
        let epoch = self.next_id();
        let deadline = Instant::now() + self.config.resume_grace;
        let hub = Arc::clone(self);
        let cancel = self.cancel.clone();
        let pid = participant_id.to_owned();
        self.tracker.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep_until(deadline) => hub.grace_over(&pid, epoch),
            }
        });
        Link::Grace {
            epoch,
            deadline,
            queue: VecDeque::new(),
        }
    }

    /// Loads every held seat of every open meeting after a (re)start. Each starts a fresh grace
    /// period now. Returns the number of seats restored.
    pub(crate) fn restore(self: &Arc<Self>) -> Result<usize, DbError> {
        let seats = self.db.held_seats()?;
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut restored = 0;
        for row in seats {
            let room = st.rooms.entry(row.meeting_id.clone()).or_default();
            if room.seats.len() >= MAX_PARTICIPANTS
                || st.seat_index.contains_key(&row.participant_id)
            {
                continue;
            }
            let link = self.grace_link(&row.participant_id);
            room.seats.push(Seat {
                participant_id: row.participant_id.clone(),
                role: row.role,
                secret_hash: row.secret_hash,
                link,
                check: None,
            });
            st.seat_index.insert(row.participant_id, row.meeting_id);
            restored += 1;
        }
        Ok(restored)
    }

    fn welcome(
        &self,
        participant_id: &str,
        resume_secret: &str,
        resumed: bool,
        peers: Vec<PeerInfo>,
    ) -> ServerMessage {
        ServerMessage::Welcome {
            v: PROTOCOL_VERSION,
            participant_id: participant_id.to_owned(),
            resume_secret: resume_secret.to_owned(),
            resumed,
            peers,
            keepalive_secs: self.config.keepalive_secs,
            resume_grace_secs: self.config.resume_grace.as_secs(),
            features: vec![FEATURE_CHECK.to_owned()],
        }
    }

    /// Keeps `report` as the seat's latest pre-call check (from the socket that holds it).
    pub(crate) fn set_check(&self, from: &SeatKey, report: CheckReport) {
        let mut guard = self.lock();
        let Some(room) = guard.rooms.get_mut(&from.meeting_id) else {
            return;
        };
        let Some(i) = room.position(&from.participant_id) else {
            return;
        };
        if room.seats[i].conn_id() == Some(from.conn_id) {
            let order = self.next_id.fetch_add(1, Ordering::Relaxed);
            room.seats[i].check = Some((report, order));
        }
    }

    /// The newest pre-call check of a citizen seat held in `meeting_id` now.
    pub(crate) fn citizen_check(&self, meeting_id: &str) -> Option<CheckReport> {
        self.lock().rooms.get(meeting_id).and_then(|r| {
            r.seats
                .iter()
                .filter(|s| s.role == Role::Citizen)
                .filter_map(|s| s.check)
                .max_by_key(|(_, order)| *order)
                .map(|(report, _)| report)
        })
    }

    /// `hello` with a join token: takes a fresh seat.
    pub(crate) fn hello_token(self: &Arc<Self>, token: &str) -> Result<Session, HelloError> {
        use HelloError::Refused;
        let token_hash = sha256(token.as_bytes());
        let now = self.config.clock.now_unix();
        let mut guard = self.lock();
        let st = &mut *guard;

        let ticket = self
            .db
            .ticket(&token_hash)?
            .filter(|t| !t.used && t.expires_at > now)
            .ok_or(Refused(
                WsErrorCode::InvalidToken,
                "the join token is unknown, expired or already used",
            ))?;
        let closed = Refused(WsErrorCode::MeetingClosed, "the meeting has ended");
        let open = self
            .db
            .meeting(&ticket.meeting_id)?
            .is_some_and(|m| m.effective_state(now) == MeetingState::Open);
        if !open {
            return Err(closed);
        }
        let (seats_held, citizens) = st.rooms.get(&ticket.meeting_id).map_or((0, 0), |r| {
            let citizens = r.seats.iter().filter(|s| s.role == Role::Citizen).count();
            (r.seats.len(), citizens)
        });
        // The last seat is kept for staff: citizens (or whoever has the code) cannot take it.
        let full = seats_held >= MAX_PARTICIPANTS
            || (ticket.role == Role::Citizen && citizens >= MAX_CITIZEN_SEATS);
        if full {
            return Err(Refused(
                WsErrorCode::MeetingFull,
                "the meeting already has the maximum number of participants",
            ));
        }

        let participant_id = ids::participant_id();
        let resume_secret = ids::resume_secret();
        let row = SeatRow {
            participant_id: participant_id.clone(),
            meeting_id: ticket.meeting_id.clone(),
            role: ticket.role,
            secret_hash: sha256(resume_secret.as_bytes()).to_vec(),
        };
        match self.db.take_seat(&token_hash, &row, now)? {
            TakeSeat::Taken => {}
            TakeSeat::TokenUsed => {
                return Err(Refused(
                    WsErrorCode::InvalidToken,
                    "the join token is unknown, expired or already used",
                ));
            }
            TakeSeat::MeetingClosed => return Err(closed),
        }

        let (conn, rx) = self.new_conn();
        let key = SeatKey {
            meeting_id: ticket.meeting_id.clone(),
            participant_id: participant_id.clone(),
            conn_id: conn.id,
        };
        let kill = conn.kill.clone();
        let room = st.rooms.entry(ticket.meeting_id.clone()).or_default();
        conn.push(Outgoing::Msg(self.welcome(
            &participant_id,
            &resume_secret,
            false,
            room.peers_of(&participant_id),
        )));
        let seat = Seat {
            participant_id: participant_id.clone(),
            role: ticket.role,
            secret_hash: row.secret_hash,
            link: Link::Connected(conn),
            check: None,
        };
        room.notify_others(
            &participant_id,
            &ServerMessage::PeerJoined {
                peer: seat.peer_info(),
            },
        );
        room.seats.push(seat);
        st.seat_index
            .insert(participant_id.clone(), ticket.meeting_id.clone());
        self.seats_changed();
        tracing::info!(
            meeting_id = %ticket.meeting_id,
            participant_id = %participant_id,
            role = %crate::db::role_str(ticket.role),
            seats = room.seats.len(),
            "seat joined"
        );
        Ok(Session { key, rx, kill })
    }

    /// `hello` with `resume`: takes back a held seat.
    pub(crate) fn hello_resume(self: &Arc<Self>, resume: &Resume) -> Result<Session, HelloError> {
        use HelloError::Refused;
        let rejected = Refused(
            WsErrorCode::ResumeRejected,
            "the seat cannot be resumed; get a new ticket",
        );
        let closed = Refused(WsErrorCode::MeetingClosed, "the meeting has ended");
        let provided = sha256(resume.resume_secret.as_bytes());
        let now = self.config.clock.now_unix();
        let mut guard = self.lock();
        let st = &mut *guard;

        let Some(meeting_id) = st.seat_index.get(&resume.participant_id).cloned() else {
            // Not held (left, timed out, or its meeting is over). Say `meeting_closed` only to
            // the seat's owner, and only when that is the reason.
            if let Some(row) = self.db.seat(&resume.participant_id)?
                && digests_equal(&row.secret_hash, &provided)
                && self
                    .db
                    .meeting(&row.meeting_id)?
                    .is_some_and(|m| m.effective_state(now) != MeetingState::Open)
            {
                return Err(closed);
            }
            return Err(rejected);
        };
        let Some(room) = st.rooms.get_mut(&meeting_id) else {
            return Err(rejected);
        };
        let Some(index) = room.position(&resume.participant_id) else {
            return Err(rejected);
        };
        if !digests_equal(&room.seats[index].secret_hash, &provided) {
            return Err(rejected);
        }
        if let Link::Grace { deadline, .. } = &room.seats[index].link
            && *deadline <= Instant::now()
        {
            return Err(rejected);
        }
        let open = self
            .db
            .meeting(&meeting_id)?
            .is_some_and(|m| m.effective_state(now) == MeetingState::Open);
        if !open {
            return Err(closed);
        }

        let (conn, rx) = self.new_conn();
        let key = SeatKey {
            meeting_id: meeting_id.clone(),
            participant_id: resume.participant_id.clone(),
            conn_id: conn.id,
        };
        let kill = conn.kill.clone();
        conn.push(Outgoing::Msg(self.welcome(
            &resume.participant_id,
            &resume.resume_secret,
            true,
            room.peers_of(&resume.participant_id),
        )));
        let seat = &mut room.seats[index];
        let previous = std::mem::replace(&mut seat.link, Link::Connected(conn));
        match previous {
            Link::Connected(old) => {
                old.push(Outgoing::Replaced);
                tracing::info!(
                    meeting_id = %meeting_id,
                    participant_id = %seat.participant_id,
                    "seat resumed on a new connection; the old connection is closed"
                );
            }
            Link::Grace { queue, .. } => {
                let queued = queue.len();
                for msg in queue {
                    seat.notify(&msg);
                }
                tracing::info!(
                    meeting_id = %meeting_id,
                    participant_id = %seat.participant_id,
                    queued_signals = queued,
                    "seat resumed"
                );
            }
        }
        Ok(Session { key, rx, kill })
    }

    /// Relays a `signal` from `from` to participant `to` of the same meeting.
    pub(crate) fn relay(
        &self,
        from: &SeatKey,
        to: &str,
        payload: SignalPayload,
    ) -> Result<(), UnknownPeer> {
        let mut guard = self.lock();
        let Some(room) = guard.rooms.get_mut(&from.meeting_id) else {
            return Err(UnknownPeer);
        };
        // A socket that was replaced by a resume no longer speaks for the seat.
        let sender_holds_seat = room
            .position(&from.participant_id)
            .is_some_and(|i| room.seats[i].conn_id() == Some(from.conn_id));
        if !sender_holds_seat {
            return Ok(());
        }
        if to == from.participant_id {
            return Err(UnknownPeer);
        }
        let Some(index) = room.position(to) else {
            return Err(UnknownPeer);
        };
        let is_offer = matches!(payload, SignalPayload::Offer { .. });
        let msg = ServerMessage::Signal {
            from: from.participant_id.clone(),
            payload,
        };
        match &mut room.seats[index].link {
            Link::Connected(conn) => conn.push(Outgoing::Msg(msg)),
            Link::Grace { queue, .. } => {
                if is_offer {
                    // A new offer replaces everything the sender queued before it (older
                    // offers of a restart that was retried, their candidates): delivering
                    // those on resume would only restart the connection again and again.
                    queue.retain(|queued| {
                        !matches!(queued, ServerMessage::Signal { from: f, .. } if *f == from.participant_id)
                    });
                }
                if queue.len() < MAX_QUEUED_SIGNALS {
                    queue.push_back(msg);
                } else if let Some(left_out) = QUEUE_FULL_LOG.allow() {
                    tracing::warn!(
                        meeting_id = %from.meeting_id,
                        participant_id = %to,
                        left_out,
                        "signal queue of a disconnected seat is full; signal dropped"
                    );
                }
            }
        }
        Ok(())
    }

    /// Removes a seat for good and tells the connected peers. `conn_id` (if given) must still
    /// hold the seat.
    fn free_seat(
        &self,
        st: &mut HubState,
        meeting_id: &str,
        participant_id: &str,
        holder: impl Fn(&Seat) -> bool,
        reason: LeaveReason,
    ) -> bool {
        let Some(room) = st.rooms.get_mut(meeting_id) else {
            return false;
        };
        let Some(index) = room.position(participant_id) else {
            return false;
        };
        if !holder(&room.seats[index]) {
            return false;
        }
        room.seats.remove(index);
        self.seats_changed();
        room.notify_others(
            participant_id,
            &ServerMessage::PeerLeft {
                participant_id: participant_id.to_owned(),
                reason,
            },
        );
        let remaining = room.seats.len();
        if remaining == 0 {
            st.rooms.remove(meeting_id);
        }
        st.seat_index.remove(participant_id);
        if let Err(e) = self
            .db
            .leave_seat(participant_id, self.config.clock.now_unix())
        {
            tracing::error!(error = %e, %meeting_id, %participant_id, "storing a freed seat failed");
        }
        true
    }

    /// `leave`: frees the seat and tells the peers.
    pub(crate) fn leave(&self, key: &SeatKey) {
        let mut guard = self.lock();
        let freed = self.free_seat(
            &mut guard,
            &key.meeting_id,
            &key.participant_id,
            |s| s.conn_id() == Some(key.conn_id),
            LeaveReason::Left,
        );
        if freed {
            tracing::info!(
                meeting_id = %key.meeting_id,
                participant_id = %key.participant_id,
                "seat left"
            );
        }
    }

    /// The socket closed without `leave`: keep the seat for the grace period.
    pub(crate) fn dropped(self: &Arc<Self>, key: &SeatKey) {
        let mut guard = self.lock();
        let Some(room) = guard.rooms.get_mut(&key.meeting_id) else {
            return;
        };
        let Some(index) = room.position(&key.participant_id) else {
            return;
        };
        if room.seats[index].conn_id() != Some(key.conn_id) {
            return;
        }
        room.seats[index].link = self.grace_link(&key.participant_id);
        tracing::info!(
            meeting_id = %key.meeting_id,
            participant_id = %key.participant_id,
            grace_secs = self.config.resume_grace.as_secs(),
            "seat disconnected; kept for resume"
        );
    }

    /// A grace timer fired.
    fn grace_over(&self, participant_id: &str, epoch: u64) {
        let mut guard = self.lock();
        let Some(meeting_id) = guard.seat_index.get(participant_id).cloned() else {
            return;
        };
        let freed = self.free_seat(
            &mut guard,
            &meeting_id,
            participant_id,
            |s| matches!(s.link, Link::Grace { epoch: e, .. } if e == epoch),
            LeaveReason::Timeout,
        );
        if freed {
            tracing::info!(
                %meeting_id,
                %participant_id,
                "seat timed out"
            );
        }
    }

    /// The meeting was ended or expired: tell every connected seat and drop all seats.
    pub(crate) fn close_room(&self, meeting_id: &str, reason: EndReason) -> usize {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(room) = st.rooms.remove(meeting_id) else {
            return 0;
        };
        self.seats_changed();
        let mut connected = 0;
        for seat in room.seats {
            st.seat_index.remove(&seat.participant_id);
            if let Link::Connected(conn) = seat.link {
                conn.push(Outgoing::End(reason));
                connected += 1;
            }
        }
        connected
    }
}

// ---------------------------------------------------------------------------------------------
// Socket task
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/signal`: upgrades and runs the socket task, tracked so that shutdown stops it.
pub(crate) async fn ws_handler(
    State(state): State<Arc<AppState>>,
    ws: WebSocketUpgrade,
) -> Response {
    let hub = Arc::clone(&state.hub);
    let cancel = state.cancel.clone();
    let tracker = state.tracker.clone();
    ws.max_message_size(LIBRARY_MESSAGE_LIMIT)
        .max_frame_size(LIBRARY_MESSAGE_LIMIT)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                // Biased: at shutdown the socket is dropped at once, without any goodbye.
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => {}
                    () = run_socket(hub, socket) => {}
                }
            })
        })
}

/// A frame that matters to the protocol.
enum Incoming {
    Text(axum::extract::ws::Utf8Bytes),
    Binary,
    /// Closed by the client, or the connection failed.
    Gone,
    /// The library refused an oversized message.
    TooLarge,
    /// A text frame that is not UTF-8 (the library refuses it; the connection is still open).
    BadUtf8,
}

/// Next frame from the client. Control frames (ping/pong) are answered by the library and
/// count only as activity.
async fn next_frame(socket: &mut WebSocket) -> Option<Incoming> {
    match socket.recv().await {
        Some(Ok(Message::Text(t))) => Some(Incoming::Text(t)),
        Some(Ok(Message::Binary(_))) => Some(Incoming::Binary),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
        Some(Ok(Message::Close(_))) | None => Some(Incoming::Gone),
        Some(Err(e)) => {
            // The library reports an oversized message as a capacity error; it is not otherwise
            // exposed as a type through axum.
            let e = e.to_string();
            if e.contains("too long") {
                Some(Incoming::TooLarge)
            } else if e.contains("UTF-8") {
                Some(Incoming::BadUtf8)
            } else {
                Some(Incoming::Gone)
            }
        }
    }
}

/// A message refused with a fatal error.
struct Refusal {
    code: WsErrorCode,
    message: &'static str,
    /// The WebSocket close code that follows the `error`.
    close: u16,
}

impl Refusal {
    fn new(code: WsErrorCode, message: &'static str) -> Self {
        let close = match code {
            WsErrorCode::TooLarge => close_code::TOO_BIG,
            _ => close_code::POLICY,
        };
        Self {
            code,
            message,
            close,
        }
    }

    fn malformed(message: &'static str) -> Self {
        Self::new(WsErrorCode::Malformed, message)
    }

    fn too_large() -> Self {
        Self::new(WsErrorCode::TooLarge, "message larger than 65536 bytes")
    }

    /// A text frame that is not UTF-8: `malformed`, closed with 1007 (RFC 6455 section 7.4.1).
    fn bad_utf8() -> Self {
        Self {
            close: close_code::INVALID,
            ..Self::malformed("a text frame is not valid UTF-8")
        }
    }

    fn close_code(&self) -> u16 {
        self.close
    }

    fn reason(&self) -> &'static str {
        match self.code {
            WsErrorCode::Malformed => "malformed",
            WsErrorCode::TooLarge => "too_large",
            WsErrorCode::UnsupportedVersion => "unsupported_version",
            WsErrorCode::InvalidToken => "invalid_token",
            WsErrorCode::ResumeRejected => "resume_rejected",
            WsErrorCode::MeetingFull => "meeting_full",
            WsErrorCode::MeetingClosed => "meeting_closed",
            WsErrorCode::UnknownPeer => "unknown_peer",
            WsErrorCode::RateLimited => "rate_limited",
        }
    }
}

/// Parses a text frame into a client message.
fn parse_client_message(text: &str) -> Result<ClientMessage, Refusal> {
    if text.len() > MAX_WS_MESSAGE_BYTES {
        return Err(Refusal::too_large());
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| Refusal::malformed("the message is not valid JSON"))?;
    let Some(kind) = value.get("type").and_then(serde_json::Value::as_str) else {
        return Err(Refusal::malformed(
            "the message is not a JSON object with a string \"type\"",
        ));
    };
    if !matches!(kind, "hello" | "signal" | "ping" | "leave" | "check") {
        return Err(Refusal::malformed("unknown message type"));
    }
    serde_json::from_value(value)
        .map_err(|_| Refusal::malformed("the message has missing or invalid fields"))
}

async fn send_msg(socket: &mut WebSocket, msg: &ServerMessage) -> bool {
    let Ok(text) = serde_json::to_string(msg) else {
        return false;
    };
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// Sends a close frame and waits (briefly) for the client's answer, so the close is clean.
async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    if !matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

/// Lines about dropped signals for disconnected seats (one per signal before: ~100 MB/s).
static QUEUE_FULL_LOG: crate::log_budget::LogBudget = crate::log_budget::LogBudget::new(10, 60);
/// Lines about refused sockets (a client can open them as fast as it likes).
static REFUSED_LOG: crate::log_budget::LogBudget = crate::log_budget::LogBudget::new(20, 60);

/// Sends a fatal `error` and closes.
async fn refuse(mut socket: WebSocket, refusal: Refusal, phase: &'static str) {
    if let Some(left_out) = REFUSED_LOG.allow() {
        tracing::info!(reason = %refusal.reason(), %phase, left_out, "socket rejected");
    }
    let msg = ServerMessage::Error {
        code: refusal.code,
        message: refusal.message.to_owned(),
        fatal: true,
    };
    if send_msg(&mut socket, &msg).await {
        close(socket, refusal.close_code(), refusal.reason()).await;
    }
}

/// How the hello phase ended without a seat.
enum HelloEnd {
    /// Refuse with this error.
    Refused(Refusal),
    /// No hello in time.
    Timeout,
    /// The client went away.
    Gone,
    /// The database failed.
    Internal,
}

/// How the meeting phase ended.
enum PhaseEnd {
    /// The client closed or the connection failed.
    Dropped,
    /// The client sent something fatal.
    Refused(Refusal),
    /// The client sent `leave`.
    Left,
    /// No message for 3 × keep-alive.
    Idle,
    /// The meeting ended.
    Ended(EndReason),
    /// Another socket resumed the seat.
    Replaced,
    /// The hub gave up on this connection (it read too slowly).
    Killed,
}

/// Runs one socket from the upgrade to the close.
async fn run_socket(hub: Arc<Hub>, mut socket: WebSocket) {
    let mut session = match hello_phase(&hub, &mut socket).await {
        Ok(session) => session,
        Err(HelloEnd::Refused(refusal)) => {
            refuse(socket, refusal, "hello").await;
            return;
        }
        Err(HelloEnd::Timeout) => {
            refuse(
                socket,
                Refusal::malformed("no hello within 10 seconds"),
                "hello",
            )
            .await;
            return;
        }
        Err(HelloEnd::Gone) => return,
        Err(HelloEnd::Internal) => {
            if let Some(left_out) = REFUSED_LOG.allow() {
                tracing::info!(reason = %"internal", phase = %"hello", left_out, "socket rejected");
            }
            close(socket, close_code::INTERNAL, "internal error").await;
            return;
        }
    };
    match meeting_phase(&hub, &mut socket, &mut session).await {
        PhaseEnd::Dropped | PhaseEnd::Killed => hub.dropped(&session.key),
        PhaseEnd::Refused(refusal) => {
            hub.dropped(&session.key);
            refuse(socket, refusal, "meeting").await;
        }
        PhaseEnd::Left => {
            hub.leave(&session.key);
            close(socket, close_code::NORMAL, "left").await;
        }
        PhaseEnd::Idle => {
            tracing::info!(
                meeting_id = %session.key.meeting_id,
                participant_id = %session.key.participant_id,
                "socket silent too long; closing"
            );
            hub.dropped(&session.key);
            close(socket, close_code::GOING_AWAY, "keep-alive timeout").await;
        }
        PhaseEnd::Ended(reason) => {
            if send_msg(&mut socket, &ServerMessage::MeetingEnded { reason }).await {
                close(socket, close_code::NORMAL, "meeting ended").await;
            }
        }
        PhaseEnd::Replaced => {
            close(socket, close_code::NORMAL, "resumed on another connection").await;
        }
    }
}

/// Waits for `hello` and takes or resumes the seat.
async fn hello_phase(hub: &Arc<Hub>, socket: &mut WebSocket) -> Result<Session, HelloEnd> {
    let deadline = Instant::now() + HELLO_TIMEOUT;
    let frame = loop {
        match tokio::time::timeout_at(deadline, next_frame(socket)).await {
            Err(_) => return Err(HelloEnd::Timeout),
            Ok(None) => continue,
            Ok(Some(frame)) => break frame,
        }
    };
    let text = match frame {
        Incoming::Text(text) => text,
        Incoming::Binary => {
            return Err(HelloEnd::Refused(Refusal::malformed(
                "binary frames are not allowed",
            )));
        }
        Incoming::TooLarge => return Err(HelloEnd::Refused(Refusal::too_large())),
        Incoming::BadUtf8 => return Err(HelloEnd::Refused(Refusal::bad_utf8())),
        Incoming::Gone => return Err(HelloEnd::Gone),
    };
    let (v, token, resume) = match parse_client_message(text.as_str()) {
        Ok(ClientMessage::Hello { v, token, resume }) => (v, token, resume),
        Ok(_) => {
            return Err(HelloEnd::Refused(Refusal::malformed(
                "the first message must be hello",
            )));
        }
        Err(refusal) => return Err(HelloEnd::Refused(refusal)),
    };
    if v != PROTOCOL_VERSION {
        return Err(HelloEnd::Refused(Refusal::new(
            WsErrorCode::UnsupportedVersion,
            "this server speaks protocol version 1",
        )));
    }
    let result = match (token, resume) {
        (Some(token), None) => hub.hello_token(&token),
        (None, Some(resume)) => hub.hello_resume(&resume),
        _ => {
            return Err(HelloEnd::Refused(Refusal::malformed(
                "hello needs exactly one of token and resume",
            )));
        }
    };
    result.map_err(|e| match e {
        HelloError::Refused(code, message) => HelloEnd::Refused(Refusal::new(code, message)),
        HelloError::Db(e) => {
            tracing::error!(error = %e, "hello failed on a database error");
            HelloEnd::Internal
        }
    })
}

/// Relays messages between the client and the hub until the socket ends.
/// Lines about flooding sockets (clients decide how many there are).
static FLOOD_LOG: crate::log_budget::LogBudget = crate::log_budget::LogBudget::new(10, 60);

async fn meeting_phase(hub: &Arc<Hub>, socket: &mut WebSocket, session: &mut Session) -> PhaseEnd {
    let idle_limit = Duration::from_secs(hub.config.keepalive_secs.saturating_mul(3).max(1));
    let mut idle_deadline = Instant::now() + idle_limit;
    loop {
        tokio::select! {
            biased;
            () = session.kill.cancelled() => return PhaseEnd::Killed,
            out = session.rx.recv() => match out {
                Some(Outgoing::Msg(msg)) => {
                    if !send_msg(socket, &msg).await {
                        return PhaseEnd::Dropped;
                    }
                }
                Some(Outgoing::End(reason)) => return PhaseEnd::Ended(reason),
                Some(Outgoing::Replaced) | None => return PhaseEnd::Replaced,
            },
            frame = next_frame(socket) => {
                idle_deadline = Instant::now() + idle_limit;
                // Every frame counts, WebSocket pings included.
                if !hub.charge_message(&session.key.participant_id) {
                    if let Some(left_out) = FLOOD_LOG.allow() {
                        tracing::warn!(
                            meeting_id = %session.key.meeting_id,
                            left_out,
                            "socket closed: more messages than any client sends"
                        );
                    }
                    return PhaseEnd::Refused(Refusal::new(
                        WsErrorCode::RateLimited,
                        "too many messages on this socket",
                    ));
                }
                let text = match frame {
                    None => continue,
                    Some(Incoming::Text(text)) => text,
                    Some(Incoming::Binary) => {
                        return PhaseEnd::Refused(Refusal::malformed(
                            "binary frames are not allowed",
                        ));
                    }
                    Some(Incoming::TooLarge) => return PhaseEnd::Refused(Refusal::too_large()),
                    Some(Incoming::BadUtf8) => return PhaseEnd::Refused(Refusal::bad_utf8()),
                    Some(Incoming::Gone) => return PhaseEnd::Dropped,
                };
                match parse_client_message(text.as_str()) {
                    Err(refusal) => return PhaseEnd::Refused(refusal),
                    Ok(ClientMessage::Hello { .. }) => {
                        return PhaseEnd::Refused(Refusal::malformed("hello was already sent"));
                    }
                    Ok(ClientMessage::Leave) => return PhaseEnd::Left,
                    Ok(ClientMessage::Check(report)) => hub.set_check(&session.key, report),
                    Ok(ClientMessage::Ping { id }) => {
                        if !send_msg(socket, &ServerMessage::Pong { id }).await {
                            return PhaseEnd::Dropped;
                        }
                    }
                    Ok(ClientMessage::Signal { to, payload }) => {
                        if hub.relay(&session.key, &to, payload).is_err() {
                            let msg = ServerMessage::Error {
                                code: WsErrorCode::UnknownPeer,
                                message: "no participant of this meeting has that id".to_owned(),
                                fatal: false,
                            };
                            if !send_msg(socket, &msg).await {
                                return PhaseEnd::Dropped;
                            }
                        }
                    }
                }
            }
            () = tokio::time::sleep_until(idle_deadline) => return PhaseEnd::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert!(matches!(
            parse_client_message(r#"{"type":"ping","id":3}"#),
            Ok(ClientMessage::Ping { id: 3 })
        ));
        for bad in [
            "not json",
            "[]",
            r#"{"type":"dance"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":5}"#,
        ] {
            let Err(r) = parse_client_message(bad) else {
                panic!("accepted {bad}");
            };
            assert_eq!(r.code, WsErrorCode::Malformed);
        }
        let big = format!(
            r#"{{"type":"ping","id":1,"pad":"{}"}}"#,
            "x".repeat(MAX_WS_MESSAGE_BYTES)
        );
        let Err(r) = parse_client_message(&big) else {
            panic!("accepted an oversized message");
        };
        assert_eq!(r.code, WsErrorCode::TooLarge);
    }
}
