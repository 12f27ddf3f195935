//! The call state machine: one file, pure logic, no I/O and no clock.
//!
//! Every input is an [`Event`]; [`CallFsm::handle`] is the one transition function and returns
//! the [`Action`]s the engine (the edge, `engine.rs`) must carry out. Timeouts are events too:
//! the FSM asks for a timer with [`Action::StartTimer`] and later receives
//! [`Event::Timeout`]. Unit tests drive it with a virtual clock (see the tests below).
//!
//! The user-visible [`CallState`] is *derived* from a few facts (is signalling up, which peers
//! are present, whose media is connected) so it can never disagree with them. An event that
//! makes no sense in the current state is logged and ignored — never a panic.

use crate::error::{CoreError, PublicError};
use std::collections::BTreeMap;
use std::time::Duration;

/// Opaque participant id assigned by the server.
pub type PeerId = String;

/// Why a call ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// This user left.
    LocalLeave,
    /// Staff ended the meeting.
    MeetingEnded,
    /// The meeting's time ran out.
    MeetingExpired,
}

/// What the user interface shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// Nothing started yet.
    Idle,
    /// Looking up the code.
    Resolving,
    /// Reaching the meeting (signalling, then media with the people present).
    Connecting,
    /// In the meeting, nobody else there yet.
    Waiting,
    /// Media is flowing with at least one other participant.
    InCall,
    /// The connection was lost; recovering by itself.
    Reconnecting,
    /// The call is over.
    Ended(EndReason),
    /// The call could not be made or kept.
    Failed(PublicError),
}

impl CallState {
    /// Whether the call is over (no more transitions).
    pub fn is_final(&self) -> bool {
        matches!(self, CallState::Ended(_) | CallState::Failed(_))
    }

    /// Stable machine-readable name.
    pub fn name(&self) -> &'static str {
        match self {
            CallState::Idle => "idle",
            CallState::Resolving => "resolving",
            CallState::Connecting => "connecting",
            CallState::Waiting => "waiting",
            CallState::InCall => "in_call",
            CallState::Reconnecting => "reconnecting",
            CallState::Ended(_) => "ended",
            CallState::Failed(_) => "failed",
        }
    }
}

/// Timers the FSM can ask for. At most one of each kind (and peer) runs at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Next signalling (re)connection attempt.
    SignallingRetry,
    /// Give up on the first connection to the meeting.
    ConnectDeadline,
    /// Give up reconnecting.
    ReconnectDeadline,
    /// Give up on media that never connected: seated with someone, but "connecting" too long.
    MediaDeadline,
    /// The next step of one peer's media recovery: its first connection took too long, or its
    /// media is still down after the last step.
    PeerRecovery(PeerId),
}

/// Inputs to the state machine.
#[derive(Debug)]
pub enum Event {
    /// The user asked to join with a code that passed the offline check.
    JoinWithCode,
    /// The user asked to join with a ticket (staff, or a remembered seat): no look-up needed.
    JoinWithTicket,
    /// The code failed the offline check.
    CodeRejected(CoreError),
    /// The code look-up returned a ticket.
    Resolved,
    /// The code look-up failed.
    ResolveFailed(CoreError),
    /// The signalling socket said `welcome`.
    SignallingUp {
        /// Whether our seat was resumed (peers are unchanged).
        resumed: bool,
        /// Peers present now.
        peers: Vec<PeerId>,
    },
    /// The signalling socket could not be opened or was lost.
    SignallingDown(CoreError),
    /// The server refused to resume our seat; a fresh seat is needed.
    ResumeRejected,
    /// The server refused the socket for good (meeting full, closed, bad token...).
    SignallingRefused(CoreError),
    /// A participant took a new seat.
    PeerJoined(PeerId),
    /// A participant left for good.
    PeerLeft(PeerId),
    /// Media with this peer is connected (ICE + DTLS up).
    MediaConnected(PeerId),
    /// Media with this peer is interrupted (ICE disconnected or failed).
    MediaDisconnected(PeerId),
    /// The transport with this peer is up but nothing comes from it, not even its statuses
    /// ([`crate::flow`]): as lost as a broken connection. A `MediaConnected` (an ICE restart
    /// that connects) does not end it; only media flowing again does.
    MediaStalled(PeerId),
    /// Something comes from this peer again after `MediaStalled`.
    MediaFlowing(PeerId),
    /// The peer connection for this peer could not be set up. The peer is forgotten; a later
    /// offer from it counts as a new join.
    PeerFailed(PeerId),
    /// An offer or answer with this peer could not be used, ours by them (they said
    /// `negotiation_failed`) or theirs by us (we told them). No media can flow with it: it is
    /// dropped, and a call left with nobody else fails at once instead of staying silent.
    NegotiationFailed(PeerId, samtale_protocol::NegotiationFailure),
    /// The platform reports a network change (another interface, a new address).
    NetworkChanged,
    /// The server answered our probe: the signalling path works right now.
    SignallingConfirmed,
    /// The peer answered our offer.
    AnswerReceived(PeerId),
    /// The meeting ended.
    MeetingEnded(EndReason),
    /// The user left.
    Leave,
    /// A timer fired.
    Timeout(Timer),
}

/// Side effects the engine must perform, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Look up the code over HTTP.
    Resolve,
    /// Open the signalling socket; `resume` says whether to take back the current seat.
    OpenSignalling {
        /// Resume the existing seat instead of using the ticket's token.
        resume: bool,
    },
    /// Create a peer connection; the offerer sends the first offer.
    CreatePeer {
        /// Which peer.
        peer: PeerId,
        /// Whether we send the offer.
        offer: bool,
    },
    /// Close one peer connection.
    ClosePeer(PeerId),
    /// Restart ICE with this peer on its existing connection: new sockets on the interfaces
    /// that exist now, new candidates, an offer with new ICE credentials. DTLS and the tracks
    /// are kept.
    RestartIce(PeerId),
    /// Ask the server for an immediate answer (a ping), to learn whether the signalling path
    /// works right now; answered by [`Event::SignallingConfirmed`] or a dropped socket.
    ProbeSignalling,
    /// Start (or restart) a timer.
    StartTimer(Timer, Duration),
    /// Cancel a timer if it runs.
    CancelTimer(Timer),
    /// Tell the server we leave for good.
    SendLeave,
    /// Close every peer connection and the signalling socket; stop media.
    Teardown,
}

/// Tunable timing of the state machine.
#[derive(Debug, Clone)]
pub struct FsmTiming {
    /// First signalling retry delay.
    pub retry_initial: Duration,
    /// Largest signalling retry delay.
    pub retry_max: Duration,
    /// Largest signalling retry delay while the call shows "reconnecting": a returning network
    /// must be noticed quickly.
    pub retry_max_reconnecting: Duration,
    /// Relative jitter applied to retry delays (0.25 = ±25 %).
    pub retry_jitter: f64,
    /// Give up if the first connection takes longer than this.
    pub connect_deadline: Duration,
    /// Give up if reconnecting takes longer than this.
    pub reconnect_deadline: Duration,
    /// A peer connection that has not connected this long after it was made starts recovery.
    pub peer_connect_timeout: Duration,
    /// Give up if the call shows "connecting" this long while seated with someone: media never
    /// connected (ICE or DTLS blocked). Long enough for the recovery ladder to build a new
    /// connection once (10 s + 4 s + 8 s, then 16 s for it).
    pub media_connect_deadline: Duration,
    /// Media with a peer has been down this long: probe our signalling socket (a dead one is
    /// replaced at once, so that we are reachable when the network returns).
    pub probe_after: Duration,
    /// Media with a peer has been down this long: start recovering it (ICE restart). Until then
    /// the old path may come back by itself (ICE keeps checking it), which a restart would end.
    /// A side that was offline itself restarts as soon as its signalling is back instead.
    pub recovery_delay: Duration,
    /// Time given to one recovery step before the next; doubles per step, capped at
    /// `recovery_step_max`, with `retry_jitter`.
    pub recovery_step: Duration,
    /// Longest time between recovery steps.
    pub recovery_step_max: Duration,
    /// ICE restarts tried before a full renegotiation (a new peer connection) each time.
    pub ice_restarts_per_renegotiation: u32,
}

impl Default for FsmTiming {
    fn default() -> Self {
        Self {
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(4),
            retry_max_reconnecting: Duration::from_secs(1),
            retry_jitter: 0.25,
            connect_deadline: Duration::from_secs(30),
            reconnect_deadline: Duration::from_secs(120),
            peer_connect_timeout: Duration::from_secs(10),
            media_connect_deadline: Duration::from_secs(45),
            probe_after: Duration::from_secs(1),
            recovery_delay: Duration::from_secs(4),
            recovery_step: Duration::from_secs(4),
            recovery_step_max: Duration::from_secs(16),
            ice_restarts_per_renegotiation: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Resolving,
    /// Ticket in hand: signalling and media.
    Active,
    Ended(EndReason),
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Down,
    Opening,
    Up,
}

#[derive(Debug, Clone, Default)]
struct PeerLink {
    /// Usable: the transport is up and media is not stalled.
    media_up: bool,
    /// ICE + DTLS connected (`MediaConnected` .. `MediaDisconnected`).
    transport_up: bool,
    /// Nothing comes although the transport is up (`MediaStalled` .. `MediaFlowing`).
    stalled: bool,
    /// Media was connected at some point (so losing it means "reconnecting").
    was_up: bool,
    /// Recovery steps taken since media was last up.
    attempts: u32,
    /// A recovery step is due as soon as the signalling path is known to work.
    wants_restart: bool,
    /// The network changed: restart even if media still seems to flow (its sockets may be
    /// bound to an address that is going away).
    network_changed: bool,
    /// Our last recovery offer is unanswered (the peer may be offline, or it was lost): the next
    /// step re-offers instead of escalating.
    awaiting_answer: bool,
    /// The early signalling probe after a media loss was done.
    probed: bool,
}

/// The call state machine. See the module docs.
#[derive(Debug)]
pub struct CallFsm {
    phase: Phase,
    failure: Option<PublicError>,
    link: Link,
    /// We got a `welcome` at least once (so a reconnect resumes the seat).
    seated: bool,
    /// The seat was refused on resume: get a fresh ticket and a fresh seat.
    need_fresh_seat: bool,
    /// Joined with a code (so a fresh ticket can be fetched again).
    has_code: bool,
    retry_attempt: u32,
    peers: BTreeMap<PeerId, PeerLink>,
    reconnect_timer_running: bool,
    media_timer_running: bool,
    /// A `ProbeSignalling` is unanswered.
    probe_outstanding: bool,
    timing: FsmTiming,
    rng: u64,
}

impl CallFsm {
    /// A new machine in `Idle`. `seed` feeds the retry jitter (fixed in tests).
    pub fn new(timing: FsmTiming, seed: u64) -> Self {
        Self {
            phase: Phase::Idle,
            failure: None,
            link: Link::Down,
            seated: false,
            need_fresh_seat: false,
            has_code: false,
            retry_attempt: 0,
            peers: BTreeMap::new(),
            reconnect_timer_running: false,
            media_timer_running: false,
            probe_outstanding: false,
            timing,
            rng: seed | 1,
        }
    }

    /// The state the user sees, derived from the facts.
    pub fn state(&self) -> CallState {
        match self.phase {
            Phase::Idle => CallState::Idle,
            Phase::Resolving => CallState::Resolving,
            Phase::Ended(reason) => CallState::Ended(reason),
            Phase::Failed => {
                CallState::Failed(self.failure.clone().unwrap_or(PublicError::ServerError))
            }
            Phase::Active => self.active_state(),
        }
    }

    fn active_state(&self) -> CallState {
        if self.peers.values().any(|p| p.media_up) {
            return CallState::InCall;
        }
        if self.link != Link::Up || self.need_fresh_seat {
            return if self.seated {
                CallState::Reconnecting
            } else {
                CallState::Connecting
            };
        }
        if self.peers.is_empty() {
            return CallState::Waiting;
        }
        if self.peers.values().any(|p| p.was_up) {
            CallState::Reconnecting
        } else {
            CallState::Connecting
        }
    }

    /// Peers currently present (for the UI's participant list).
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.peers.keys()
    }

    /// The one transition function.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        let before = self.state();
        self.transition(event, &mut actions);
        self.update_reconnect_timer(&before, &mut actions);
        actions
    }

    fn transition(&mut self, event: Event, out: &mut Vec<Action>) {
        use Event as E;
        match (self.phase, event) {
            (Phase::Idle, E::JoinWithCode) => {
                self.has_code = true;
                self.phase = Phase::Resolving;
                out.push(Action::StartTimer(
                    Timer::ConnectDeadline,
                    self.timing.connect_deadline,
                ));
                out.push(Action::Resolve);
            }
            (Phase::Idle, E::JoinWithTicket) => {
                self.phase = Phase::Active;
                self.link = Link::Opening;
                out.push(Action::StartTimer(
                    Timer::ConnectDeadline,
                    self.timing.connect_deadline,
                ));
                out.push(Action::OpenSignalling { resume: false });
            }
            (Phase::Idle, E::CodeRejected(err)) => self.fail(err.public(), out),
            (Phase::Resolving, E::Resolved) => {
                self.phase = Phase::Active;
                self.link = Link::Opening;
                out.push(Action::OpenSignalling { resume: false });
            }
            (Phase::Resolving, E::ResolveFailed(err)) => self.fail(err.public(), out),
            (Phase::Active, E::Resolved) if self.need_fresh_seat => {
                self.link = Link::Opening;
                out.push(Action::OpenSignalling { resume: false });
            }
            (Phase::Active, E::ResolveFailed(err)) if self.need_fresh_seat => {
                match err.public() {
                    // The meeting is gone for good while we were away.
                    PublicError::CodeNotFoundOrExpired if self.seated => {
                        self.finish(EndReason::MeetingEnded, out)
                    }
                    PublicError::CodeNotFoundOrExpired => {
                        self.fail(PublicError::CodeNotFoundOrExpired, out)
                    }
                    // Transient: keep trying until the reconnect deadline.
                    _ => self.schedule_retry(out),
                }
            }
            (Phase::Active, E::SignallingUp { resumed, peers }) => {
                self.link = Link::Up;
                self.retry_attempt = 0;
                self.probe_outstanding = false;
                out.push(Action::CancelTimer(Timer::SignallingRetry));
                if !self.seated {
                    out.push(Action::CancelTimer(Timer::ConnectDeadline));
                }
                self.seated = true;
                if self.need_fresh_seat || !resumed {
                    // A fresh seat: every peer is new to us and we offer to each.
                    self.need_fresh_seat = false;
                    for old in std::mem::take(&mut self.peers).into_keys() {
                        out.push(Action::CancelTimer(Timer::PeerRecovery(old.clone())));
                        out.push(Action::ClosePeer(old));
                    }
                    for peer in peers {
                        self.add_peer(peer, true, out);
                    }
                } else {
                    // Resumed: our peer connections are still valid. Reconcile with the server's
                    // view in case somebody left or joined while we were away.
                    let gone: Vec<PeerId> = self
                        .peers
                        .keys()
                        .filter(|p| !peers.contains(p))
                        .cloned()
                        .collect();
                    for peer in gone {
                        self.remove_peer(&peer, out);
                    }
                    // A peer we do not know joined while we were away. It saw us in its
                    // `welcome.peers`, so it offers (its offer waits for us at the server).
                    for peer in peers {
                        if !self.peers.contains_key(&peer) {
                            self.add_peer(peer, false, out);
                        }
                    }
                    // We were unreachable ourselves: whatever the peers sent us meanwhile may be
                    // lost, and the welcome proves our path works. Recover media now.
                    for link in self.peers.values_mut() {
                        if link.was_up && !link.media_up {
                            link.wants_restart = true;
                        }
                    }
                    self.take_recovery_steps(out);
                }
            }
            (Phase::Active, E::SignallingConfirmed) => {
                self.probe_outstanding = false;
                if self.link == Link::Up {
                    self.take_recovery_steps(out);
                }
            }
            (Phase::Active, E::NetworkChanged) => {
                // Sockets bound to the old network are useless: restart every peer's ICE as
                // soon as a new signalling socket is up (its welcome triggers the steps).
                for link in self.peers.values_mut() {
                    link.attempts = 0;
                    link.wants_restart = true;
                    link.network_changed = true;
                }
                if self.seated && !self.need_fresh_seat {
                    self.link = Link::Opening;
                    self.probe_outstanding = false;
                    out.push(Action::CancelTimer(Timer::SignallingRetry));
                    out.push(Action::OpenSignalling { resume: true });
                }
            }
            (Phase::Active, E::AnswerReceived(peer)) => {
                if let Some(link) = self.peers.get_mut(&peer) {
                    link.awaiting_answer = false;
                }
            }
            (Phase::Active, E::Timeout(Timer::PeerRecovery(peer))) => {
                let Some(link) = self.peers.get_mut(&peer) else {
                    return;
                };
                if link.media_up {
                    return;
                }
                if !link.probed {
                    // Early probe only: a dead socket of ours is replaced while the old path
                    // gets its chance to come back.
                    link.probed = true;
                    if self.link == Link::Up && !self.probe_outstanding {
                        self.probe_outstanding = true;
                        out.push(Action::ProbeSignalling);
                    }
                    let rest = self
                        .timing
                        .recovery_delay
                        .saturating_sub(self.timing.probe_after);
                    out.push(Action::StartTimer(Timer::PeerRecovery(peer), rest));
                    return;
                }
                link.wants_restart = true;
                let attempts = link.attempts;
                if self.link == Link::Up && !self.probe_outstanding {
                    // Our signalling socket may be as dead as the media path without knowing
                    // it yet: an offer sent into it would be lost. Ask first.
                    self.probe_outstanding = true;
                    out.push(Action::ProbeSignalling);
                }
                let next = self.recovery_step(attempts);
                out.push(Action::StartTimer(Timer::PeerRecovery(peer), next));
            }
            (Phase::Active, E::SignallingDown(err)) => {
                log::info!("signalling down: {err}");
                self.probe_outstanding = false;
                self.schedule_retry(out);
            }
            (Phase::Active, E::ResumeRejected) => {
                if self.has_code {
                    // Fetch a fresh ticket after the usual backoff (not at once: repeated
                    // refusals must not hammer the rate-limited look-up).
                    self.need_fresh_seat = true;
                    self.schedule_retry(out);
                } else {
                    self.fail(PublicError::ServerError, out);
                }
            }
            (Phase::Active, E::SignallingRefused(err)) => self.fail(err.public(), out),
            (Phase::Active, E::Timeout(Timer::SignallingRetry)) => {
                if self.link == Link::Down {
                    if self.need_fresh_seat {
                        out.push(Action::Resolve);
                    } else {
                        self.link = Link::Opening;
                        out.push(Action::OpenSignalling {
                            resume: self.seated,
                        });
                    }
                }
            }
            (Phase::Active, E::PeerJoined(peer)) => {
                if self.peers.contains_key(&peer) {
                    log::debug!("peer_joined for a known peer: ignored");
                } else {
                    self.add_peer(peer, false, out);
                }
            }
            (Phase::Active, E::PeerLeft(peer) | E::PeerFailed(peer)) => {
                self.remove_peer(&peer, out)
            }
            (Phase::Active, E::NegotiationFailed(peer, reason)) => {
                log::warn!("negotiation with a peer failed: {}", reason.name());
                self.remove_peer(&peer, out);
                if self.peers.is_empty() {
                    self.fail(CoreError::Negotiation(reason).public(), out);
                }
            }
            (Phase::Active, E::MediaConnected(peer)) => {
                if let Some(link) = self.peers.get_mut(&peer) {
                    link.transport_up = true;
                    if link.stalled {
                        log::info!("transport up, but media still does not flow: recovery goes on");
                    } else {
                        Self::media_up(peer, link, out);
                    }
                }
            }
            (Phase::Active, E::MediaDisconnected(peer)) => {
                if let Some(link) = self.peers.get_mut(&peer) {
                    link.transport_up = false;
                    self.media_down(peer, out);
                }
            }
            (Phase::Active, E::MediaStalled(peer)) => {
                if let Some(link) = self.peers.get_mut(&peer)
                    && !link.stalled
                {
                    log::warn!("media stalled: the transport is up but nothing comes");
                    link.stalled = true;
                    self.media_down(peer, out);
                }
            }
            (Phase::Active, E::MediaFlowing(peer)) => {
                if let Some(link) = self.peers.get_mut(&peer)
                    && link.stalled
                {
                    link.stalled = false;
                    if link.transport_up && !link.media_up {
                        log::info!("media flows again");
                        Self::media_up(peer, link, out);
                    }
                }
            }
            (Phase::Active | Phase::Resolving, E::MeetingEnded(reason)) => self.finish(reason, out),
            (Phase::Idle | Phase::Resolving | Phase::Active, E::Leave) => {
                // A socket still opening (a reconnect in progress) carries the `leave` once it
                // is welcomed: the engine flushes it before closing (up to a second). Without
                // it the peers would see this seat "reconnecting" for the whole grace period.
                // With no socket at all the seat is left to the server's grace period.
                if self.phase == Phase::Active && self.link != Link::Down {
                    out.push(Action::SendLeave);
                }
                self.finish(EndReason::LocalLeave, out);
            }
            (Phase::Resolving | Phase::Active, E::Timeout(Timer::ConnectDeadline)) => {
                if !self.seated {
                    self.fail(
                        CoreError::GaveUp(self.timing.connect_deadline).public(),
                        out,
                    );
                }
            }
            (Phase::Active, E::Timeout(Timer::MediaDeadline)) => {
                if self.state() == CallState::Connecting {
                    self.fail(
                        CoreError::GaveUp(self.timing.media_connect_deadline).public(),
                        out,
                    );
                }
            }
            (Phase::Active, E::Timeout(Timer::ReconnectDeadline)) => {
                if self.state() == CallState::Reconnecting {
                    self.fail(
                        CoreError::GaveUp(self.timing.reconnect_deadline).public(),
                        out,
                    );
                }
            }
            (phase, event) => {
                log::debug!("ignored event {event:?} in phase {phase:?}");
            }
        }
    }

    /// A new connection replaces `peer`'s: its transport starts down (a stall stays until
    /// media flows on the new one).
    fn replace_connection(&mut self, peer: &PeerId) {
        if let Some(link) = self.peers.get_mut(peer) {
            link.transport_up = false;
        }
    }

    /// Media with `peer` is usable (again): the recovery ladder stops.
    fn media_up(peer: PeerId, link: &mut PeerLink, out: &mut Vec<Action>) {
        link.media_up = true;
        link.was_up = true;
        link.attempts = 0;
        link.wants_restart = false;
        link.awaiting_answer = false;
        link.probed = false;
        out.push(Action::CancelTimer(Timer::PeerRecovery(peer)));
    }

    /// Media with `peer` was usable and is not any more: probe, then recover.
    fn media_down(&mut self, peer: PeerId, out: &mut Vec<Action>) {
        if let Some(link) = self.peers.get_mut(&peer)
            && link.media_up
        {
            link.media_up = false;
            link.probed = false;
            out.push(Action::StartTimer(
                Timer::PeerRecovery(peer),
                self.timing.probe_after,
            ));
        }
    }

    /// A new peer: its connection is made now and must connect within the connect timeout.
    fn add_peer(&mut self, peer: PeerId, offer: bool, out: &mut Vec<Action>) {
        self.peers.insert(peer.clone(), PeerLink::default());
        out.push(Action::StartTimer(
            Timer::PeerRecovery(peer.clone()),
            self.timing.peer_connect_timeout,
        ));
        out.push(Action::CreatePeer { peer, offer });
    }

    fn remove_peer(&mut self, peer: &PeerId, out: &mut Vec<Action>) {
        if self.peers.remove(peer).is_some() {
            out.push(Action::CancelTimer(Timer::PeerRecovery(peer.clone())));
            out.push(Action::ClosePeer(peer.clone()));
        }
    }

    /// The signalling path works: take the due recovery step for every peer whose media is
    /// down. ICE restarts first (cheap, keeps DTLS and tracks); every
    /// `ice_restarts_per_renegotiation + 1`-th step builds a new connection instead.
    fn take_recovery_steps(&mut self, out: &mut Vec<Action>) {
        let every = self.timing.ice_restarts_per_renegotiation.saturating_add(1);
        let mut steps = Vec::new();
        for (peer, link) in &mut self.peers {
            if link.wants_restart && (!link.media_up || link.network_changed) {
                link.wants_restart = false;
                link.network_changed = false;
                // An unanswered offer says nothing about the path: offer again, same rung.
                let reoffer = link.awaiting_answer;
                if !reoffer {
                    link.attempts = link.attempts.saturating_add(1);
                }
                link.awaiting_answer = true;
                // Nothing flows although the transport is up: ICE is not what is broken.
                let stuck = link.stalled && link.transport_up;
                steps.push((peer.clone(), link.attempts, reoffer, link.was_up, stuck));
            }
        }
        for (peer, attempts, reoffer, was_up, stuck) in steps {
            let next = self.recovery_step(attempts);
            out.push(Action::StartTimer(Timer::PeerRecovery(peer.clone()), next));
            if !was_up {
                // Never connected: its DTLS handshake may have failed for good, which an ICE
                // restart keeps (webrtc-rs then refuses the restart). Build it anew.
                log::info!(
                    "media recovery: new connection for one that never connected (step {attempts})"
                );
                self.replace_connection(&peer);
                out.push(Action::CreatePeer { peer, offer: true });
            } else if stuck {
                // An ICE restart would connect again and change nothing: start over.
                log::info!(
                    "media recovery: new connection, the transport is up but nothing flows (step {attempts})"
                );
                self.replace_connection(&peer);
                out.push(Action::CreatePeer { peer, offer: true });
            } else if reoffer {
                log::info!("media recovery: offer again (step {attempts} unanswered)");
                out.push(Action::RestartIce(peer));
            } else if attempts % every == 0 {
                log::info!("media recovery: new connection (step {attempts})");
                self.replace_connection(&peer);
                out.push(Action::CreatePeer { peer, offer: true });
            } else {
                log::info!("media recovery: ICE restart (step {attempts})");
                out.push(Action::RestartIce(peer));
            }
        }
    }

    /// Time given to recovery step `attempts` (0 = before the first): doubling, capped, jittered.
    fn recovery_step(&mut self, attempts: u32) -> Duration {
        let base = self
            .timing
            .recovery_step
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
            .min(self.timing.recovery_step_max);
        base.mul_f64(self.jitter_factor())
    }

    fn schedule_retry(&mut self, out: &mut Vec<Action>) {
        self.link = Link::Down;
        let delay = self.retry_delay();
        self.retry_attempt = self.retry_attempt.saturating_add(1);
        out.push(Action::StartTimer(Timer::SignallingRetry, delay));
    }

    /// Exponential backoff with jitter: initial * 2^attempt, capped, ± jitter.
    fn retry_delay(&mut self) -> Duration {
        let base = self
            .timing
            .retry_initial
            .saturating_mul(1u32 << self.retry_attempt.min(16))
            .min(if self.state() == CallState::Reconnecting {
                self.timing.retry_max_reconnecting
            } else {
                self.timing.retry_max
            });
        base.mul_f64(self.jitter_factor())
    }

    /// 1 ± `retry_jitter`, from a xorshift64* generator: deterministic for a given seed.
    fn jitter_factor(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let unit =
            (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        (1.0 + self.timing.retry_jitter * (2.0 * unit - 1.0)).max(0.0)
    }

    fn update_reconnect_timer(&mut self, before: &CallState, out: &mut Vec<Action>) {
        let now = self.state();
        let reconnecting = now == CallState::Reconnecting;
        let deadline = self.timing.reconnect_deadline;
        hold_timer(
            &mut self.reconnect_timer_running,
            reconnecting,
            Timer::ReconnectDeadline,
            deadline,
            out,
        );
        // Seated with someone whose media never came: not "joining" forever.
        let connecting = now == CallState::Connecting && self.seated && !self.peers.is_empty();
        let deadline = self.timing.media_connect_deadline;
        hold_timer(
            &mut self.media_timer_running,
            connecting,
            Timer::MediaDeadline,
            deadline,
            out,
        );
        if &now != before {
            log::info!("call state {} -> {}", before.name(), now.name());
        }
    }

    fn finish(&mut self, reason: EndReason, out: &mut Vec<Action>) {
        self.phase = Phase::Ended(reason);
        self.close_everything(out);
    }

    fn fail(&mut self, error: PublicError, out: &mut Vec<Action>) {
        log::info!("call failed: {}", error.kind());
        self.phase = Phase::Failed;
        self.failure = Some(error);
        self.close_everything(out);
    }

    fn close_everything(&mut self, out: &mut Vec<Action>) {
        for peer in std::mem::take(&mut self.peers).into_keys() {
            out.push(Action::CancelTimer(Timer::PeerRecovery(peer)));
        }
        self.link = Link::Down;
        for timer in [
            Timer::SignallingRetry,
            Timer::ConnectDeadline,
            Timer::ReconnectDeadline,
            Timer::MediaDeadline,
        ] {
            out.push(Action::CancelTimer(timer));
        }
        self.reconnect_timer_running = false;
        self.media_timer_running = false;
        out.push(Action::Teardown);
    }
}

/// Runs `timer` for `duration` from the moment `wanted` becomes true, cancels it when it
/// becomes false; `running` remembers which.
fn hold_timer(
    running: &mut bool,
    wanted: bool,
    timer: Timer,
    duration: Duration,
    out: &mut Vec<Action>,
) {
    if wanted && !*running {
        *running = true;
        out.push(Action::StartTimer(timer, duration));
    } else if !wanted && *running {
        *running = false;
        out.push(Action::CancelTimer(timer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samtale_protocol::{ApiErrorCode, CodeError};
    use std::collections::BTreeMap;

    /// A virtual clock: timers the FSM started, fired in deadline order as time advances.
    struct Harness {
        fsm: CallFsm,
        now: Duration,
        timers: BTreeMap<Timer, Duration>,
        log: Vec<Action>,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                fsm: CallFsm::new(FsmTiming::default(), 42),
                now: Duration::ZERO,
                timers: BTreeMap::new(),
                log: Vec::new(),
            }
        }

        fn send(&mut self, event: Event) -> Vec<Action> {
            let actions = self.fsm.handle(event);
            for a in &actions {
                match a {
                    Action::StartTimer(t, d) => {
                        self.timers.insert(t.clone(), self.now + *d);
                    }
                    Action::CancelTimer(t) => {
                        self.timers.remove(t);
                    }
                    _ => {}
                }
            }
            self.log.extend(actions.iter().cloned());
            actions
        }

        /// Advances virtual time, firing due timers as events in deadline order.
        fn advance(&mut self, by: Duration) -> Vec<Action> {
            let end = self.now + by;
            let mut all = Vec::new();
            loop {
                let next = self
                    .timers
                    .iter()
                    .filter(|(_, at)| **at <= end)
                    .min_by_key(|(_, at)| **at)
                    .map(|(t, at)| (t.clone(), *at));
                let Some((timer, at)) = next else { break };
                self.timers.remove(&timer);
                self.now = at;
                all.extend(self.send(Event::Timeout(timer)));
            }
            self.now = end;
            all
        }

        fn state(&self) -> CallState {
            self.fsm.state()
        }
    }

    fn down() -> Event {
        Event::SignallingDown(CoreError::Network("reset".into()))
    }

    fn joined_with_peer() -> Harness {
        let mut h = Harness::new();
        h.send(Event::JoinWithCode);
        h.send(Event::Resolved);
        h.send(Event::SignallingUp {
            resumed: false,
            peers: vec!["p1".into()],
        });
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
        h
    }

    #[test]
    fn happy_path_alone_then_peer_arrives() {
        let mut h = Harness::new();
        assert_eq!(h.state(), CallState::Idle);
        assert_eq!(
            h.send(Event::JoinWithCode),
            vec![
                Action::StartTimer(Timer::ConnectDeadline, Duration::from_secs(30)),
                Action::Resolve
            ]
        );
        assert_eq!(h.state(), CallState::Resolving);
        assert_eq!(
            h.send(Event::Resolved),
            vec![Action::OpenSignalling { resume: false }]
        );
        assert_eq!(h.state(), CallState::Connecting);
        h.send(Event::SignallingUp {
            resumed: false,
            peers: vec![],
        });
        assert_eq!(h.state(), CallState::Waiting);
        assert!(!h.timers.contains_key(&Timer::ConnectDeadline));
        assert_eq!(
            h.send(Event::PeerJoined("p1".into())),
            vec![
                Action::StartTimer(Timer::PeerRecovery("p1".into()), Duration::from_secs(10)),
                Action::CreatePeer {
                    peer: "p1".into(),
                    offer: false
                },
                // Connecting with someone: media must come within the deadline.
                Action::StartTimer(Timer::MediaDeadline, Duration::from_secs(45)),
            ]
        );
        assert_eq!(h.state(), CallState::Connecting);
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
        assert!(!h.timers.contains_key(&Timer::MediaDeadline));
        h.send(Event::PeerLeft("p1".into()));
        assert_eq!(h.state(), CallState::Waiting);
        let actions = h.send(Event::Leave);
        assert!(actions.contains(&Action::SendLeave));
        assert!(actions.contains(&Action::Teardown));
        assert_eq!(h.state(), CallState::Ended(EndReason::LocalLeave));
    }

    #[test]
    fn leaving_during_a_reconnect_still_says_goodbye() {
        let mut h = joined_with_peer();
        h.send(down());
        // No socket: nothing can carry the goodbye (the server's grace period frees the seat).
        let mut idle = joined_with_peer();
        idle.send(down());
        let actions = idle.send(Event::Leave);
        assert!(!actions.contains(&Action::SendLeave), "{actions:?}");
        assert!(actions.contains(&Action::Teardown));
        // A socket opening again (resume in flight): the goodbye goes with it.
        let retry = h.send(Event::Timeout(Timer::SignallingRetry));
        assert!(
            retry.contains(&Action::OpenSignalling { resume: true }),
            "{retry:?}"
        );
        let actions = h.send(Event::Leave);
        assert!(actions.contains(&Action::SendLeave), "{actions:?}");
        assert!(actions.contains(&Action::Teardown));
        assert_eq!(h.state(), CallState::Ended(EndReason::LocalLeave));
    }

    #[test]
    fn newcomer_offers_to_everyone_present() {
        let mut h = Harness::new();
        h.send(Event::JoinWithTicket);
        let actions = h.send(Event::SignallingUp {
            resumed: false,
            peers: vec!["a".into(), "b".into()],
        });
        assert!(actions.contains(&Action::CreatePeer {
            peer: "a".into(),
            offer: true
        }));
        assert!(actions.contains(&Action::CreatePeer {
            peer: "b".into(),
            offer: true
        }));
        assert_eq!(h.state(), CallState::Connecting);
    }

    #[test]
    fn resolve_errors_become_public_errors() {
        for (err, public) in [
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
                    retry_after_secs: Some(9),
                },
                PublicError::RateLimited {
                    retry_after_secs: 9,
                },
            ),
            (CoreError::Network("dns".into()), PublicError::NoNetwork),
        ] {
            let mut h = Harness::new();
            h.send(Event::JoinWithCode);
            let actions = h.send(Event::ResolveFailed(err));
            assert!(actions.contains(&Action::Teardown));
            assert_eq!(h.state(), CallState::Failed(public));
            assert!(h.timers.is_empty(), "no timer may outlive the call");
        }
        let mut h = Harness::new();
        h.send(Event::CodeRejected(CoreError::InvalidCode(
            CodeError::WrongDigit,
        )));
        assert_eq!(
            h.state(),
            CallState::Failed(PublicError::BadCode(CodeError::WrongDigit))
        );
    }

    #[test]
    fn signalling_drop_with_media_flowing_stays_in_call_and_resumes() {
        let mut h = joined_with_peer();
        let actions = h.send(down());
        assert_eq!(h.state(), CallState::InCall, "media still flows");
        assert!(!actions.iter().any(|a| matches!(a, Action::ClosePeer(_))));
        // Backoff with jitter: the first retry is 100 ms ± 25 %.
        let at = h.timers[&Timer::SignallingRetry];
        assert!(at >= Duration::from_millis(75) && at <= Duration::from_millis(125));
        let fired = h.advance(Duration::from_millis(200));
        assert_eq!(fired, vec![Action::OpenSignalling { resume: true }]);
        let actions = h.send(Event::SignallingUp {
            resumed: true,
            peers: vec!["p1".into()],
        });
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::ClosePeer(_) | Action::CreatePeer { .. }))
        );
        assert_eq!(h.state(), CallState::InCall);
    }

    #[test]
    fn newcomer_seen_on_resume_offers_to_us_not_we_to_it() {
        let mut h = joined_with_peer();
        h.send(down());
        h.advance(Duration::from_secs(1));
        let actions = h.send(Event::SignallingUp {
            resumed: true,
            peers: vec!["p1".into(), "p2".into()],
        });
        assert!(actions.contains(&Action::CreatePeer {
            peer: "p2".into(),
            offer: false
        }));
        assert!(!actions.iter().any(|a| matches!(a, Action::ClosePeer(_))));
        // A peer whose connection could not be built is forgotten; a new offer re-adds it.
        h.send(Event::PeerFailed("p2".into()));
        assert_eq!(h.fsm.peers().count(), 1);
        assert_eq!(
            h.send(Event::PeerJoined("p2".into())),
            vec![
                Action::StartTimer(Timer::PeerRecovery("p2".into()), Duration::from_secs(10)),
                Action::CreatePeer {
                    peer: "p2".into(),
                    offer: false
                }
            ]
        );
    }

    #[test]
    fn a_failed_negotiation_ends_a_call_with_nobody_else_at_once() {
        use samtale_protocol::NegotiationFailure;
        // Two peers: the one we cannot negotiate with is dropped, the call goes on.
        let mut h = joined_with_peer();
        h.send(Event::PeerJoined("p2".into()));
        let actions = h.send(Event::NegotiationFailed(
            "p2".into(),
            NegotiationFailure::NoCommonCodec,
        ));
        assert!(actions.contains(&Action::ClosePeer("p2".into())));
        assert_eq!(h.state(), CallState::InCall);
        // The only peer: the call fails now, with the help line, not after the media deadline.
        let actions = h.send(Event::NegotiationFailed(
            "p1".into(),
            NegotiationFailure::Malformed,
        ));
        assert!(actions.contains(&Action::Teardown), "{actions:?}");
        assert_eq!(h.state(), CallState::Failed(PublicError::ServerError));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut h = joined_with_peer();
        let mut delays = Vec::new();
        for _ in 0..10 {
            let start = h.now;
            h.send(down());
            let at = h.timers[&Timer::SignallingRetry];
            delays.push(at - start);
            h.advance(at - start);
        }
        assert!(delays[1] > delays[0] && delays[2] > delays[1]);
        let max = Duration::from_secs(4).mul_f64(1.25);
        assert!(delays.iter().all(|d| *d <= max), "{delays:?}");
        assert!(delays[9] >= Duration::from_secs(3), "{delays:?}");
    }

    #[test]
    fn media_loss_shows_reconnecting_and_gives_up_after_deadline() {
        let mut h = joined_with_peer();
        h.send(Event::MediaDisconnected("p1".into()));
        assert_eq!(h.state(), CallState::Reconnecting);
        assert!(h.timers.contains_key(&Timer::ReconnectDeadline));
        // Media comes back before the deadline: timer cancelled.
        h.advance(Duration::from_secs(5));
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
        assert!(!h.timers.contains_key(&Timer::ReconnectDeadline));
        // Everything gone: signalling and media.
        h.send(Event::MediaDisconnected("p1".into()));
        h.send(down());
        // Signalling keeps failing; after 120 s the call fails with a clear state.
        for _ in 0..200 {
            if h.state().is_final() {
                break;
            }
            let fired = h.advance(Duration::from_secs(1));
            if fired.contains(&Action::OpenSignalling { resume: true }) {
                h.send(down());
            }
        }
        assert_eq!(h.state(), CallState::Failed(PublicError::NoNetwork));
        assert!(h.now >= Duration::from_secs(125) && h.now <= Duration::from_secs(127));
        assert!(h.timers.is_empty());
    }

    /// Every action of `kind` in `actions`.
    fn count(actions: &[Action], pred: impl Fn(&Action) -> bool) -> usize {
        actions.iter().filter(|a| pred(a)).count()
    }

    /// Advances in 500 ms ticks for `secs`, answering every probe; with `answer`, the peer
    /// answers every recovery offer. Returns (ICE restarts, new connections).
    fn run_ladder(h: &mut Harness, secs: u64, answer: bool) -> (usize, usize) {
        let (mut restarts, mut renegotiations) = (0, 0);
        for _ in 0..secs * 2 {
            let fired = h.advance(Duration::from_millis(500));
            if fired.contains(&Action::ProbeSignalling) {
                let steps = h.send(Event::SignallingConfirmed);
                restarts += count(&steps, |a| matches!(a, Action::RestartIce(_)));
                renegotiations += count(&steps, |a| {
                    matches!(a, Action::CreatePeer { offer: true, .. })
                });
                if answer && !steps.is_empty() {
                    h.send(Event::AnswerReceived("p1".into()));
                }
            }
        }
        (restarts, renegotiations)
    }

    #[test]
    fn recovery_ladder_probes_then_restarts_ice_then_renegotiates() {
        let mut h = joined_with_peer();
        h.send(Event::MediaDisconnected("p1".into()));
        assert_eq!(h.state(), CallState::Reconnecting);
        assert!(h.advance(Duration::from_millis(900)).is_empty());
        // After 1 s: a probe of our own signalling only; the old path keeps its chance.
        let fired = h.advance(Duration::from_millis(200));
        assert!(fired.contains(&Action::ProbeSignalling), "{fired:?}");
        let steps = h.send(Event::SignallingConfirmed);
        assert!(steps.is_empty(), "{steps:?}");
        // After 4 s: probe again, and on the answer, an ICE restart.
        let fired = h.advance(Duration::from_millis(2_800));
        assert!(!fired.contains(&Action::ProbeSignalling), "{fired:?}");
        let fired = h.advance(Duration::from_millis(200));
        assert!(fired.contains(&Action::ProbeSignalling), "{fired:?}");
        let steps = h.send(Event::SignallingConfirmed);
        assert!(
            steps.contains(&Action::RestartIce("p1".into())),
            "{steps:?}"
        );
        // The peer never answers (offline): offers again, never escalates.
        let (restarts, renegotiations) = run_ladder(&mut h, 30, false);
        assert!(
            restarts >= 2 && renegotiations == 0,
            "{restarts} {renegotiations}"
        );
        // The peer answers but ICE still fails: ICE restart, then a new connection.
        h.send(Event::AnswerReceived("p1".into()));
        let (restarts, renegotiations) = run_ladder(&mut h, 60, true);
        assert!(
            restarts >= 2 && renegotiations >= 1,
            "{restarts} {renegotiations}"
        );
        // Media back: the ladder stops.
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
        assert!(!h.timers.contains_key(&Timer::PeerRecovery("p1".into())));
        assert!(!h.timers.contains_key(&Timer::ReconnectDeadline));
    }

    #[test]
    fn media_that_stops_while_the_transport_stays_up_is_recovered_with_a_new_connection() {
        let mut h = joined_with_peer();
        h.send(Event::MediaStalled("p1".into()));
        assert_eq!(h.state(), CallState::Reconnecting);
        // Every ICE restart is answered and connects, yet nothing comes: the ladder goes on.
        let mut restarts = 0;
        let mut new_connection_at = None;
        for tick in 0..120u64 {
            let fired = h.advance(Duration::from_millis(500));
            if !fired.contains(&Action::ProbeSignalling) {
                continue;
            }
            let steps = h.send(Event::SignallingConfirmed);
            if steps.contains(&Action::RestartIce("p1".into())) {
                restarts += 1;
                h.send(Event::AnswerReceived("p1".into()));
                h.send(Event::MediaConnected("p1".into()));
                assert_eq!(
                    h.state(),
                    CallState::Reconnecting,
                    "after restart {restarts}"
                );
            }
            if steps.contains(&Action::CreatePeer {
                peer: "p1".into(),
                offer: true,
            }) {
                new_connection_at = Some(tick * 500);
                break;
            }
        }
        // The transport is up: an ICE restart would change nothing. The first step (after
        // the usual 4 s in which the old path may come back) is a new connection.
        assert_eq!(restarts, 0, "ICE restarts before the new connection");
        let at = new_connection_at.unwrap_or(u64::MAX);
        assert!(at <= 4_500, "a new connection only after {at} ms");
        // The new connection connects: still nothing until media flows on it.
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::Reconnecting);
        h.send(Event::MediaFlowing("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
        assert!(!h.timers.contains_key(&Timer::PeerRecovery("p1".into())));
        assert!(!h.timers.contains_key(&Timer::ReconnectDeadline));
    }

    #[test]
    fn a_stall_that_never_ends_fails_the_call_at_the_reconnect_deadline() {
        let mut h = joined_with_peer();
        h.send(Event::MediaStalled("p1".into()));
        for _ in 0..300 {
            let fired = h.advance(Duration::from_millis(500));
            if fired.contains(&Action::ProbeSignalling) {
                let steps = h.send(Event::SignallingConfirmed);
                if !steps.is_empty() {
                    h.send(Event::AnswerReceived("p1".into()));
                    h.send(Event::MediaConnected("p1".into()));
                }
            }
            if h.state().is_final() {
                break;
            }
        }
        assert!(
            matches!(h.state(), CallState::Failed(_)),
            "never a silent call: {:?}",
            h.state()
        );
        // A stall of a peer whose transport is down anyway changes nothing more.
        let mut h = joined_with_peer();
        h.send(Event::MediaDisconnected("p1".into()));
        assert!(h.send(Event::MediaStalled("p1".into())).is_empty());
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::Reconnecting);
        h.send(Event::MediaFlowing("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
    }

    #[test]
    fn a_side_that_was_offline_restarts_as_soon_as_it_is_back() {
        let mut h = joined_with_peer();
        h.send(Event::MediaDisconnected("p1".into()));
        h.advance(Duration::from_millis(1_100));
        // The probe goes unanswered: the socket is dead.
        h.send(down());
        for _ in 0..40 {
            let fired = h.advance(Duration::from_millis(500));
            assert!(!fired.iter().any(|a| matches!(a, Action::RestartIce(_))));
            if fired.contains(&Action::OpenSignalling { resume: true }) {
                h.send(down());
                // Retries stay frequent while reconnecting (cap 1 s, jittered).
                let at = h.timers[&Timer::SignallingRetry];
                assert!(
                    at - h.now <= Duration::from_millis(1_250),
                    "{:?}",
                    at - h.now
                );
            }
        }
        let actions = h.send(Event::SignallingUp {
            resumed: true,
            peers: vec!["p1".into()],
        });
        assert!(
            actions.contains(&Action::RestartIce("p1".into())),
            "{actions:?}"
        );
    }

    #[test]
    fn a_short_blip_needs_no_recovery_step() {
        let mut h = joined_with_peer();
        h.send(Event::MediaDisconnected("p1".into()));
        h.advance(Duration::from_millis(500));
        h.send(Event::MediaConnected("p1".into()));
        let later = h.advance(Duration::from_secs(30));
        assert!(later.is_empty(), "{later:?}");
    }

    #[test]
    fn recovery_waits_for_signalling_and_steps_on_welcome() {
        let mut h = joined_with_peer();
        h.send(Event::MediaDisconnected("p1".into()));
        h.send(down());
        let fired = h.advance(Duration::from_secs(3));
        assert!(!fired.contains(&Action::ProbeSignalling), "{fired:?}");
        assert!(!fired.iter().any(|a| matches!(a, Action::RestartIce(_))));
        // The reconnect attempt succeeds: the welcome itself proves the path.
        let actions = h.send(Event::SignallingUp {
            resumed: true,
            peers: vec!["p1".into()],
        });
        assert!(
            actions.contains(&Action::RestartIce("p1".into())),
            "{actions:?}"
        );
    }

    #[test]
    fn network_change_reopens_signalling_and_restarts_every_peer_at_welcome() {
        let mut h = joined_with_peer();
        h.send(Event::PeerJoined("p2".into()));
        h.send(Event::MediaConnected("p2".into()));
        let actions = h.send(Event::NetworkChanged);
        assert!(
            actions.contains(&Action::OpenSignalling { resume: true }),
            "{actions:?}"
        );
        // Media still flows on the old path until the new socket is up: still in the call.
        assert_eq!(h.state(), CallState::InCall);
        let actions = h.send(Event::SignallingUp {
            resumed: true,
            peers: vec!["p1".into(), "p2".into()],
        });
        assert!(
            actions.contains(&Action::RestartIce("p1".into())),
            "{actions:?}"
        );
        assert!(
            actions.contains(&Action::RestartIce("p2".into())),
            "{actions:?}"
        );
        // One probe serves every peer.
        h.send(Event::MediaDisconnected("p1".into()));
        h.send(Event::MediaDisconnected("p2".into()));
        let fired = h.advance(Duration::from_millis(1100));
        assert_eq!(
            count(&fired, |a| *a == Action::ProbeSignalling),
            1,
            "{fired:?}"
        );
    }

    #[test]
    fn a_connection_that_never_connects_is_retried() {
        let mut h = Harness::new();
        h.send(Event::JoinWithTicket);
        h.send(Event::SignallingUp {
            resumed: false,
            peers: vec!["p1".into()],
        });
        assert_eq!(h.state(), CallState::Connecting);
        assert!(h.advance(Duration::from_millis(9_900)).is_empty());
        let fired = h.advance(Duration::from_millis(200));
        assert!(fired.contains(&Action::ProbeSignalling), "{fired:?}");
        h.send(Event::SignallingConfirmed);
        let fired = h.advance(Duration::from_secs(3));
        assert!(fired.contains(&Action::ProbeSignalling), "{fired:?}");
        let steps = h.send(Event::SignallingConfirmed);
        // Never connected: a new connection, not an ICE restart of one whose DTLS may be dead.
        assert!(
            steps.contains(&Action::CreatePeer {
                peer: "p1".into(),
                offer: true
            }),
            "{steps:?}"
        );
    }

    #[test]
    fn media_that_never_connects_ends_in_a_clear_failure() {
        let mut h = Harness::new();
        h.send(Event::JoinWithCode);
        h.send(Event::Resolved);
        h.send(Event::SignallingUp {
            resumed: false,
            peers: vec!["p1".into()],
        });
        assert_eq!(h.state(), CallState::Connecting);
        // The ladder keeps trying (signalling works), but never longer than the deadline.
        for _ in 0..44 {
            let fired = h.advance(Duration::from_secs(1));
            if fired.contains(&Action::ProbeSignalling) {
                h.send(Event::SignallingConfirmed);
            }
            assert_eq!(h.state(), CallState::Connecting, "at {:?}", h.now);
        }
        h.advance(Duration::from_millis(1_100));
        assert_eq!(h.state(), CallState::Failed(PublicError::NoNetwork));
        assert!(h.timers.is_empty(), "{:?}", h.timers);
    }

    #[test]
    fn the_media_deadline_waits_while_alone_and_stops_once_in_the_call() {
        let mut h = Harness::new();
        h.send(Event::JoinWithTicket);
        h.send(Event::SignallingUp {
            resumed: false,
            peers: vec![],
        });
        // Waiting for the caseworker has no deadline.
        h.advance(Duration::from_secs(600));
        assert_eq!(h.state(), CallState::Waiting);
        h.send(Event::PeerJoined("p1".into()));
        h.advance(Duration::from_secs(20));
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
        assert!(!h.timers.contains_key(&Timer::MediaDeadline));
        h.advance(Duration::from_secs(600));
        assert_eq!(h.state(), CallState::InCall);
    }

    #[test]
    fn first_connection_deadline() {
        let mut h = Harness::new();
        h.send(Event::JoinWithCode);
        h.send(Event::Resolved);
        for _ in 0..40 {
            let fired = h.advance(Duration::from_secs(1));
            if fired.contains(&Action::OpenSignalling { resume: false }) {
                h.send(down());
            }
            if h.fsm.link == Link::Opening {
                h.send(down());
            }
        }
        assert_eq!(h.state(), CallState::Failed(PublicError::NoNetwork));
    }

    #[test]
    fn resume_rejected_gets_a_fresh_seat() {
        let mut h = joined_with_peer();
        h.send(Event::MediaDisconnected("p1".into()));
        h.send(down());
        h.advance(Duration::from_secs(1));
        let actions = h.send(Event::ResumeRejected);
        assert!(matches!(
            actions[..],
            [Action::StartTimer(Timer::SignallingRetry, _)]
        ));
        assert_eq!(h.state(), CallState::Reconnecting);
        let fired = h.advance(Duration::from_secs(5));
        assert!(fired.contains(&Action::Resolve), "{fired:?}");
        // Recovery waits for signalling: no probe while it is down.
        assert!(!fired.contains(&Action::ProbeSignalling), "{fired:?}");
        assert_eq!(
            h.send(Event::Resolved),
            vec![Action::OpenSignalling { resume: false }]
        );
        let actions = h.send(Event::SignallingUp {
            resumed: false,
            peers: vec!["p1".into()],
        });
        assert_eq!(
            actions[..5],
            [
                Action::CancelTimer(Timer::SignallingRetry),
                Action::CancelTimer(Timer::PeerRecovery("p1".into())),
                Action::ClosePeer("p1".into()),
                Action::StartTimer(Timer::PeerRecovery("p1".into()), Duration::from_secs(10)),
                Action::CreatePeer {
                    peer: "p1".into(),
                    offer: true
                }
            ]
        );
    }

    #[test]
    fn meeting_end_and_refusals() {
        let mut h = joined_with_peer();
        h.send(Event::MeetingEnded(EndReason::MeetingEnded));
        assert_eq!(h.state(), CallState::Ended(EndReason::MeetingEnded));
        // Events after the end are ignored, never a panic.
        assert!(h.send(Event::PeerJoined("x".into())).is_empty());
        assert!(h.send(Event::Leave).is_empty());
        assert_eq!(h.state(), CallState::Ended(EndReason::MeetingEnded));

        let mut h = Harness::new();
        h.send(Event::JoinWithTicket);
        h.send(Event::SignallingRefused(CoreError::Signalling {
            code: samtale_protocol::WsErrorCode::MeetingFull,
        }));
        assert_eq!(h.state(), CallState::Failed(PublicError::MeetingFull));
    }

    #[test]
    fn unexpected_pairs_are_ignored() {
        let mut h = Harness::new();
        for event in [
            Event::Resolved,
            Event::PeerJoined("p".into()),
            Event::MediaConnected("p".into()),
            Event::Timeout(Timer::SignallingRetry),
            Event::SignallingUp {
                resumed: true,
                peers: vec![],
            },
        ] {
            assert!(h.send(event).is_empty());
            assert_eq!(h.state(), CallState::Idle);
        }
    }
}
