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

/// Timers the FSM can ask for. At most one of each kind runs at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Next signalling (re)connection attempt.
    SignallingRetry,
    /// Give up on the first connection to the meeting.
    ConnectDeadline,
    /// Give up reconnecting.
    ReconnectDeadline,
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
    /// The peer connection for this peer could not be set up. The peer is forgotten; a later
    /// offer from it counts as a new join.
    PeerFailed(PeerId),
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
    /// Relative jitter applied to retry delays (0.25 = ±25 %).
    pub retry_jitter: f64,
    /// Give up if the first connection takes longer than this.
    pub connect_deadline: Duration,
    /// Give up if reconnecting takes longer than this.
    pub reconnect_deadline: Duration,
}

impl Default for FsmTiming {
    fn default() -> Self {
        Self {
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(4),
            retry_jitter: 0.25,
            connect_deadline: Duration::from_secs(30),
            reconnect_deadline: Duration::from_secs(120),
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
    media_up: bool,
    /// Media was connected at some point (so losing it means "reconnecting").
    was_up: bool,
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
                out.push(Action::CancelTimer(Timer::SignallingRetry));
                if !self.seated {
                    out.push(Action::CancelTimer(Timer::ConnectDeadline));
                }
                self.seated = true;
                if self.need_fresh_seat || !resumed {
                    // A fresh seat: every peer is new to us and we offer to each.
                    self.need_fresh_seat = false;
                    for old in std::mem::take(&mut self.peers).into_keys() {
                        out.push(Action::ClosePeer(old));
                    }
                    for peer in peers {
                        self.peers.insert(peer.clone(), PeerLink::default());
                        out.push(Action::CreatePeer { peer, offer: true });
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
                        self.peers.remove(&peer);
                        out.push(Action::ClosePeer(peer));
                    }
                    // A peer we do not know joined while we were away. It saw us in its
                    // `welcome.peers`, so it offers (its offer waits for us at the server).
                    for peer in peers {
                        if !self.peers.contains_key(&peer) {
                            self.peers.insert(peer.clone(), PeerLink::default());
                            out.push(Action::CreatePeer { peer, offer: false });
                        }
                    }
                }
            }
            (Phase::Active, E::SignallingDown(err)) => {
                log::info!("signalling down: {err}");
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
                    self.peers.insert(peer.clone(), PeerLink::default());
                    out.push(Action::CreatePeer { peer, offer: false });
                }
            }
            (Phase::Active, E::PeerLeft(peer)) => {
                if self.peers.remove(&peer).is_some() {
                    out.push(Action::ClosePeer(peer));
                }
            }
            (Phase::Active, E::MediaConnected(peer)) => {
                if let Some(link) = self.peers.get_mut(&peer) {
                    link.media_up = true;
                    link.was_up = true;
                }
            }
            (Phase::Active, E::PeerFailed(peer)) => {
                if self.peers.remove(&peer).is_some() {
                    out.push(Action::ClosePeer(peer));
                }
            }
            (Phase::Active, E::MediaDisconnected(peer)) => {
                if let Some(link) = self.peers.get_mut(&peer) {
                    link.media_up = false;
                }
            }
            (Phase::Active | Phase::Resolving, E::MeetingEnded(reason)) => self.finish(reason, out),
            (Phase::Idle | Phase::Resolving | Phase::Active, E::Leave) => {
                if self.phase == Phase::Active && self.link == Link::Up {
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
            .min(self.timing.retry_max);
        // xorshift64*: deterministic for a given seed, good enough for jitter.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let unit =
            (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 + self.timing.retry_jitter * (2.0 * unit - 1.0);
        base.mul_f64(factor.max(0.0))
    }

    fn update_reconnect_timer(&mut self, before: &CallState, out: &mut Vec<Action>) {
        let now = self.state();
        let reconnecting = now == CallState::Reconnecting;
        if reconnecting && !self.reconnect_timer_running {
            self.reconnect_timer_running = true;
            out.push(Action::StartTimer(
                Timer::ReconnectDeadline,
                self.timing.reconnect_deadline,
            ));
        } else if !reconnecting && self.reconnect_timer_running {
            self.reconnect_timer_running = false;
            out.push(Action::CancelTimer(Timer::ReconnectDeadline));
        }
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
        self.peers.clear();
        self.link = Link::Down;
        for timer in [
            Timer::SignallingRetry,
            Timer::ConnectDeadline,
            Timer::ReconnectDeadline,
        ] {
            out.push(Action::CancelTimer(timer));
        }
        self.reconnect_timer_running = false;
        out.push(Action::Teardown);
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
                        self.timers.insert(*t, self.now + *d);
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
                    .map(|(t, at)| (*t, *at));
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
            vec![Action::CreatePeer {
                peer: "p1".into(),
                offer: false
            }]
        );
        assert_eq!(h.state(), CallState::Connecting);
        h.send(Event::MediaConnected("p1".into()));
        assert_eq!(h.state(), CallState::InCall);
        h.send(Event::PeerLeft("p1".into()));
        assert_eq!(h.state(), CallState::Waiting);
        let actions = h.send(Event::Leave);
        assert!(actions.contains(&Action::SendLeave));
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
            vec![Action::CreatePeer {
                peer: "p2".into(),
                offer: false
            }]
        );
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
        assert_eq!(h.advance(Duration::from_secs(5)), vec![Action::Resolve]);
        assert_eq!(
            h.send(Event::Resolved),
            vec![Action::OpenSignalling { resume: false }]
        );
        let actions = h.send(Event::SignallingUp {
            resumed: false,
            peers: vec!["p1".into()],
        });
        assert_eq!(
            actions[..3],
            [
                Action::CancelTimer(Timer::SignallingRetry),
                Action::ClosePeer("p1".into()),
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
