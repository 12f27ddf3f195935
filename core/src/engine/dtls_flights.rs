//! Keeps a DTLS handshake from stalling when a datagram is lost, at the socket.
//!
//! webrtc-rs 0.21.1's DTLS (rtc-dtls) loses its retransmission timer whenever a handshake
//! datagram arrives that does not complete the flight it waits for: a repeat of the peer's
//! previous flight (RFC 6347 4.2.4 says: send ours again; it clears the timer instead), or the
//! first half of the peer's next flight. After that only the peer's own timer can move the
//! handshake on, and the peer of a last flight (the DTLS server's flight 6) has none. So one
//! lost datagram could keep a call from ever getting media: about one call in ten under 10 %
//! loss (issue 21; the logs are in docs/benchmarks.md).
//!
//! [`FlightGuard`] does below the stack what its handshaker misses. Per peer it keeps our latest
//! flight (the DTLS handshake datagrams we sent since the peer last sent something new) and:
//! - when a datagram arrives whose handshake records were all seen before (the peer repeating
//!   itself, so ours was lost), it sends ours again, byte for byte: the peer's replay window
//!   drops what it has, the lost datagrams complete its flight;
//! - while our side has not finished (no SRTP sent yet), a flight that got no new answer for
//!   400 ms, 800 ms, 1.6 s, then every 3.2 s is sent again: the timer the stack lost.
//!
//! Once our side sends media, the DTLS client never re-sends; the server still answers the
//! client's repeats with its last flight. Re-sends are rate-limited and capped per peer.
//! [`GuardedRuntime`] puts a guard on every UDP socket the stack binds. Only datagrams whose
//! first byte says DTLS (RFC 7983: 20..=63, also inside TURN ChannelData) are parsed; media
//! passes after one comparison and, once the handshake is done, one atomic load.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const RECORD_HEADER: usize = 13;
/// Our datagrams kept per peer: a flight is at most a handful.
const MAX_KEPT: usize = 16;
/// Record keys remembered per peer: a whole handshake is about ten records.
const MAX_SEEN: usize = 64;
/// Flights re-sent per peer at most.
const MAX_RESENDS: u32 = 32;
/// At most one re-send per peer this often (a repeat answered twice starts a ping-pong).
const MIN_RESEND_GAP: Duration = Duration::from_millis(300);
/// A flight with no new answer for this long is sent again; doubled per silent re-send, up to
/// [`SILENCE_MAX`]. Shorter than rtc-dtls's fixed 1 s, longer than a mobile round trip.
const SILENCE_FIRST: Duration = Duration::from_millis(400);
const SILENCE_MAX: Duration = Duration::from_millis(3200);

/// Who a datagram is from or to: the address, and the TURN channel it is framed in, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PeerKey {
    addr: SocketAddr,
    channel: Option<u16>,
}

struct PeerFlights {
    /// Keys of the peer's epoch-0 handshake records we have received.
    seen: HashSet<u64>,
    /// Our latest flight: the handshake datagrams we sent since the peer last sent news.
    ours: Vec<Vec<u8>>,
    /// Keys of the epoch-0 handshake records in `ours` (our own retransmissions add nothing).
    ours_keys: HashSet<u64>,
    /// The peer sent something new since our last send: our next send starts a new flight.
    peer_moved: bool,
    /// We sent the ClientHello: once done we never need to send again.
    we_are_client: bool,
    /// Our last handshake send or the peer's last news.
    last_activity: Instant,
    last_resend: Option<Instant>,
    /// Re-sends since the peer's last news (the back-off step).
    silent_resends: u32,
    resends: u32,
}

impl PeerFlights {
    fn new(now: Instant) -> Self {
        Self {
            seen: HashSet::new(),
            ours: Vec::new(),
            ours_keys: HashSet::new(),
            peer_moved: false,
            we_are_client: false,
            last_activity: now,
            last_resend: None,
            silent_resends: 0,
            resends: 0,
        }
    }

    fn may_resend(&self, now: Instant) -> bool {
        !self.ours.is_empty()
            && self.resends < MAX_RESENDS
            && self
                .last_resend
                .is_none_or(|at| now.saturating_duration_since(at) >= MIN_RESEND_GAP)
    }

    fn resend(&mut self, now: Instant) -> Vec<Vec<u8>> {
        self.resends += 1;
        self.last_resend = Some(now);
        self.last_activity = now;
        self.ours.clone()
    }
}

/// The pure part: what to send again when. No sockets; the caller tells the time.
#[derive(Default)]
pub(crate) struct FlightGuard {
    peers: HashMap<PeerKey, PeerFlights>,
    /// Our side sent media: our handshake is complete.
    done: bool,
}

/// The DTLS payload of a datagram and the TURN channel it came in, if it is DTLS at all.
fn dtls_payload(datagram: &[u8]) -> Option<(&[u8], Option<u16>)> {
    match *datagram.first()? {
        20..=63 => Some((datagram, None)),
        // TURN ChannelData (RFC 8656 12.4): channel number, length, then the peer's datagram.
        0x40..=0x4f => {
            let inner = channel_data(datagram)?;
            matches!(inner.first(), Some(20..=63))
                .then_some((inner, Some(u16::from_be_bytes([datagram[0], datagram[1]]))))
        }
        _ => None,
    }
}

fn channel_data(datagram: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes([*datagram.get(2)?, *datagram.get(3)?]));
    datagram.get(4..4 + len)
}

/// SRTP or SRTCP (RFC 7983: 128..=191), bare or in TURN ChannelData.
fn is_media(datagram: &[u8]) -> bool {
    match datagram.first() {
        Some(128..=191) => true,
        Some(0x40..=0x4f) => matches!(
            channel_data(datagram).and_then(|d| d.first()),
            Some(128..=191)
        ),
        _ => false,
    }
}

/// What the records of one DTLS datagram say about the handshake.
struct Records {
    /// Keys of epoch-0 handshake records: content type, epoch and body, not the record
    /// sequence number (a retransmission has a new one).
    keys: Vec<u64>,
    /// Any handshake or change-cipher-spec record at all (later epochs are encrypted).
    handshake: bool,
    client_hello: bool,
}

fn records(payload: &[u8]) -> Records {
    let mut out = Records {
        keys: Vec::new(),
        handshake: false,
        client_hello: false,
    };
    let mut rest = payload;
    while rest.len() >= RECORD_HEADER {
        let content_type = rest[0];
        let epoch = u16::from_be_bytes([rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let Some(body) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
            break;
        };
        if content_type == HANDSHAKE || content_type == CHANGE_CIPHER_SPEC {
            out.handshake = true;
        }
        if content_type == HANDSHAKE && epoch == 0 {
            out.client_hello |= body.first() == Some(&CLIENT_HELLO);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (content_type, epoch, body).hash(&mut h);
            out.keys.push(h.finish());
        }
        rest = &rest[RECORD_HEADER + len..];
    }
    out
}

impl FlightGuard {
    /// Our side sends media from now on: its handshake is complete.
    pub(crate) fn set_done(&mut self) {
        self.done = true;
    }

    /// We are sending `datagram` to `to`: keep it if it belongs to our handshake flight.
    pub(crate) fn on_send(&mut self, to: SocketAddr, datagram: &[u8], now: Instant) {
        let Some((payload, channel)) = dtls_payload(datagram) else {
            return;
        };
        let recs = records(payload);
        if !recs.handshake {
            return;
        }
        let peer = self
            .peers
            .entry(PeerKey { addr: to, channel })
            .or_insert_with(|| PeerFlights::new(now));
        peer.we_are_client |= recs.client_hello;
        peer.last_activity = now;
        if peer.peer_moved {
            peer.peer_moved = false;
            peer.ours.clear();
            peer.ours_keys.clear();
        }
        let fresh = recs.keys.is_empty() || recs.keys.iter().any(|k| !peer.ours_keys.contains(k));
        if !fresh || peer.ours.len() == MAX_KEPT {
            return; // our stack retransmitting what we keep already
        }
        peer.ours_keys.extend(recs.keys);
        peer.ours.push(datagram.to_vec());
    }

    /// `datagram` arrived from `from`. Returns our datagrams to send again when it repeats
    /// what the peer sent before (so ours was lost); empty otherwise.
    pub(crate) fn on_recv(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
    ) -> Vec<Vec<u8>> {
        let Some((payload, channel)) = dtls_payload(datagram) else {
            return Vec::new();
        };
        let recs = records(payload);
        if recs.keys.is_empty() {
            return Vec::new();
        }
        let done = self.done;
        let peer = self
            .peers
            .entry(PeerKey {
                addr: from,
                channel,
            })
            .or_insert_with(|| PeerFlights::new(now));
        let mut new = false;
        for key in recs.keys {
            if !peer.seen.contains(&key) {
                new = true;
                if peer.seen.len() < MAX_SEEN {
                    peer.seen.insert(key);
                }
            }
        }
        if new {
            peer.peer_moved = true;
            peer.last_activity = now;
            peer.silent_resends = 0;
            return Vec::new();
        }
        if (done && peer.we_are_client) || !peer.may_resend(now) {
            return Vec::new();
        }
        peer.resend(now)
    }

    /// Time passed: flights that got no new answer for too long, to send again (until our
    /// side is done).
    pub(crate) fn on_tick(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<Vec<u8>>)> {
        if self.done {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (key, peer) in &mut self.peers {
            let silence = SILENCE_FIRST
                .saturating_mul(1 << peer.silent_resends.min(3))
                .min(SILENCE_MAX);
            if now.saturating_duration_since(peer.last_activity) >= silence && peer.may_resend(now)
            {
                peer.silent_resends += 1;
                out.push((key.addr, peer.resend(now)));
            }
        }
        out
    }
}

/// A UDP socket of the stack's with a [`FlightGuard`] on it.
struct GuardedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    guard: Mutex<FlightGuard>,
    /// Our side sent media: no more timed re-sends (read without the lock on the media path).
    done: AtomicBool,
}

impl fmt::Debug for GuardedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedSocket")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// DTLS, bare or in TURN ChannelData: the only datagrams the guard looks into (media relayed
/// through TURN is ChannelData too, and passes without the lock).
fn is_dtls(datagram: &[u8]) -> bool {
    dtls_payload(datagram).is_some()
}

impl GuardedSocket {
    fn guard(&self) -> std::sync::MutexGuard<'_, FlightGuard> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends again without waiting: a datagram the socket cannot take now is lost, as any
    /// datagram may be; the next repeat or silence asks again.
    fn resend(&self, to: SocketAddr, datagrams: Vec<Vec<u8>>) {
        let mut cx = Context::from_waker(Waker::noop());
        let count = datagrams.len();
        for datagram in datagrams {
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents: &datagram,
                segment_size: None,
                src_ip: None,
            };
            let _ = self.inner.poll_send(&mut cx, &transmit);
        }
        log::debug!("DTLS flight sent again ({count} datagrams)");
    }
}

impl AsyncUdpSocket for GuardedSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let result = self.inner.poll_send(cx, transmit);
        if let Poll::Ready(Ok(_)) = result {
            let contents = transmit.contents;
            let segment = transmit.segment_size.unwrap_or(contents.len()).max(1);
            for datagram in contents.chunks(segment) {
                if !self.done.load(Ordering::Relaxed) && is_media(datagram) {
                    self.done.store(true, Ordering::Relaxed);
                    self.guard().set_done();
                } else if is_dtls(datagram) {
                    self.guard()
                        .on_send(transmit.destination, datagram, Instant::now());
                }
            }
        }
        result
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let result = self.inner.poll_recv(cx, bufs, meta);
        if let Poll::Ready(Ok(n)) = result {
            let now = Instant::now();
            for (buf, m) in bufs.iter().zip(meta.iter()).take(n) {
                let filled = &buf[..m.len.min(buf.len())];
                for datagram in filled.chunks(m.stride.max(1)) {
                    if !is_dtls(datagram) {
                        continue;
                    }
                    let again = self.guard().on_recv(m.addr, datagram, now);
                    if !again.is_empty() {
                        self.resend(m.addr, again);
                    }
                }
            }
            // Anything arriving (ICE checks every 250 ms) is the clock for timed re-sends.
            if n > 0 && !self.done.load(Ordering::Relaxed) {
                let due = self.guard().on_tick(now);
                for (to, again) in due {
                    self.resend(to, again);
                }
            }
        }
        result
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

/// The stack's default runtime with a [`FlightGuard`] on every UDP socket; everything else
/// is the default runtime's.
pub(crate) struct GuardedRuntime {
    inner: Arc<dyn Runtime>,
}

impl GuardedRuntime {
    /// `None` if webrtc-rs was built without a runtime (this crate enables tokio's).
    pub(crate) fn default_guarded() -> Option<Arc<dyn Runtime>> {
        let inner = webrtc::runtime::default_runtime()?;
        Some(Arc::new(GuardedRuntime { inner }))
    }
}

impl fmt::Debug for GuardedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedRuntime")
            .field("inner", &self.inner)
            .finish()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for GuardedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(Arc::new(GuardedSocket {
            inner,
            guard: Mutex::new(FlightGuard::default()),
            done: AtomicBool::new(false),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> std::time::Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "samtale-guarded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// A DTLS record: type, version 1.2, epoch, sequence number, body.
    fn record(content_type: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&seq.to_be_bytes()[2..]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    /// The client's flight 3 (a ClientHello: handshake type 1), as sent `seq`-th.
    fn hello(seq: u64) -> Vec<u8> {
        record(HANDSHAKE, 0, seq, b"\x01 client hello with cookie")
    }

    /// A server's flight 4 in two datagrams.
    fn flight4(seq: u64) -> [Vec<u8>; 2] {
        [
            record(HANDSHAKE, 0, seq, b"\x02 server hello + certificate"),
            record(HANDSHAKE, 0, seq + 1, b"\x0c key exchange + hello done"),
        ]
    }

    fn flight5(seq: u64) -> Vec<u8> {
        [
            record(HANDSHAKE, 0, seq, b"\x0b certificate + key exchange"),
            record(CHANGE_CIPHER_SPEC, 0, seq + 1, &[1]),
            record(HANDSHAKE, 1, 0, b"encrypted finished"),
        ]
        .concat()
    }

    fn flight6() -> [Vec<u8>; 2] {
        [
            record(CHANGE_CIPHER_SPEC, 0, 7, &[1]),
            record(HANDSHAKE, 1, 0, b"encrypted server finished"),
        ]
    }

    #[test]
    fn a_repeated_flight_is_answered_with_ours() {
        // Issue 21: flight 4's second datagram is lost, the client repeats flight 3.
        let t0 = Instant::now();
        let mut server = FlightGuard::default();
        let client = addr(1000);
        assert!(server.on_recv(client, &hello(1), t0).is_empty());
        let ours = flight4(1);
        for d in &ours {
            server.on_send(client, d, t0);
        }
        // The repeat has a new record sequence number, the same handshake message.
        let again = server.on_recv(client, &hello(2), ms(t0, 1000));
        assert_eq!(again, ours.to_vec());
        // Our own stack retransmitting adds nothing to what is kept.
        for d in flight4(3) {
            server.on_send(client, &d, ms(t0, 1001));
        }
        assert_eq!(server.on_recv(client, &hello(3), ms(t0, 2000)).len(), 2);
    }

    #[test]
    fn a_half_received_last_flight_is_asked_for_again_by_silence() {
        // The second stall of issue 21: the client gets half of flight 6 (its stack then loses
        // its timer) and the server never re-sends a last flight on its own.
        let t0 = Instant::now();
        let mut client = FlightGuard::default();
        let server = addr(2000);
        client.on_send(server, &hello(1), t0);
        for d in flight4(1) {
            client.on_recv(server, &d, ms(t0, 10));
        }
        let f5 = flight5(2);
        client.on_send(server, &f5, ms(t0, 20));
        // Half of flight 6 arrives: news, nothing to answer yet.
        assert!(client.on_recv(server, &flight6()[0], ms(t0, 30)).is_empty());
        assert!(client.on_tick(ms(t0, 300)).is_empty());
        // 400 ms without news: flight 5 again; then 800 ms, 1.6 s, 3.2 s, 3.2 s.
        assert_eq!(
            client.on_tick(ms(t0, 430)),
            vec![(server, vec![f5.clone()])]
        );
        assert!(client.on_tick(ms(t0, 1000)).is_empty());
        assert_eq!(client.on_tick(ms(t0, 1230)).len(), 1);
        assert!(client.on_tick(ms(t0, 2800)).is_empty());
        assert_eq!(client.on_tick(ms(t0, 2830)).len(), 1);
        assert_eq!(client.on_tick(ms(t0, 6030)).len(), 1);
        assert_eq!(client.on_tick(ms(t0, 9230)).len(), 1);
        // Done (our side sends media): no more timed re-sends, and repeats are not answered.
        client.set_done();
        assert!(client.on_tick(ms(t0, 20_000)).is_empty());
        assert!(
            client
                .on_recv(server, &flight6()[0], ms(t0, 20_001))
                .is_empty()
        );
    }

    #[test]
    fn the_server_answers_repeats_of_flight_5_with_flight_6_even_when_done() {
        let t0 = Instant::now();
        let mut server = FlightGuard::default();
        let client = addr(1000);
        server.on_recv(client, &hello(1), t0);
        for d in flight4(1) {
            server.on_send(client, &d, t0);
        }
        // Flight 5 arrives: flight 4 is forgotten once we send flight 6.
        assert!(server.on_recv(client, &flight5(2), ms(t0, 10)).is_empty());
        let f6 = flight6();
        for d in &f6 {
            server.on_send(client, d, ms(t0, 11));
        }
        server.set_done();
        assert!(
            server.on_tick(ms(t0, 5000)).is_empty(),
            "a last flight waits for repeats"
        );
        assert_eq!(
            server.on_recv(client, &flight5(9), ms(t0, 1011)),
            f6.to_vec()
        );
        // Rate-limited: a second repeat right after is not answered again.
        assert!(
            server
                .on_recv(client, &flight5(11), ms(t0, 1100))
                .is_empty()
        );
        assert_eq!(server.on_recv(client, &flight5(13), ms(t0, 1400)).len(), 2);
    }

    #[test]
    fn media_and_other_peers_are_left_alone() {
        let t0 = Instant::now();
        let mut guard = FlightGuard::default();
        let (a, b) = (addr(1000), addr(2000));
        guard.on_recv(a, &hello(1), t0);
        for d in flight4(1) {
            guard.on_send(a, &d, t0);
        }
        // SRTP (first byte 0x80) and STUN (0x00) are not DTLS.
        assert!(guard.on_recv(a, &[0x80, 0x60, 0, 1, 2, 3], t0).is_empty());
        assert!(guard.on_recv(a, &[0x00, 0x01, 0, 0], t0).is_empty());
        assert!(is_media(&[0x80, 0x60]) && !is_media(&[0x16, 0xfe]));
        // The same message from another address is that peer's first.
        assert!(guard.on_recv(b, &hello(7), t0).is_empty());
        // Application data (type 23) is never a repeat.
        assert!(guard.on_recv(a, &record(23, 1, 9, b"data"), t0).is_empty());
        assert_eq!(guard.on_recv(a, &hello(2), ms(t0, 1000)).len(), 2);
    }

    #[test]
    fn dtls_inside_turn_channel_data_is_guarded_per_channel() {
        let channel = |n: u16, inner: &[u8]| {
            let mut d = n.to_be_bytes().to_vec();
            d.extend_from_slice(&(inner.len() as u16).to_be_bytes());
            d.extend_from_slice(inner);
            d
        };
        let t0 = Instant::now();
        let mut guard = FlightGuard::default();
        let relay = addr(3478);
        guard.on_recv(relay, &channel(0x4000, &hello(1)), t0);
        let ours = channel(0x4000, &flight4(1)[0]);
        guard.on_send(relay, &ours, t0);
        assert!(
            guard
                .on_recv(relay, &channel(0x4001, &hello(2)), ms(t0, 900))
                .is_empty()
        );
        assert_eq!(
            guard.on_recv(relay, &channel(0x4000, &hello(3)), ms(t0, 1000)),
            vec![ours]
        );
        assert!(is_media(&channel(0x4000, &[0x80, 0x60])));
    }

    #[test]
    fn resends_are_bounded_and_truncated_records_ignored() {
        let t0 = Instant::now();
        let mut guard = FlightGuard::default();
        let client = addr(1000);
        guard.on_recv(client, &hello(1), t0);
        guard.on_send(client, &flight4(1)[0], t0);
        let sent: usize = (0..100)
            .map(|i| {
                guard
                    .on_recv(client, &hello(2 + i), ms(t0, 1000 * (i + 1)))
                    .len()
            })
            .sum();
        assert_eq!(sent, MAX_RESENDS as usize);
        let mut cut = hello(1);
        cut.truncate(20);
        assert!(guard.on_recv(addr(5), &cut, t0).is_empty());
    }
}
