//! Answers a peer's repeated DTLS handshake flight with ours, at the socket.
//!
//! RFC 6347 4.2.4: a side waiting for the next flight that receives a retransmission of the
//! peer's previous flight must retransmit its own flight, because the repeat means ours was
//! lost. webrtc-rs 0.21.1's DTLS (rtc-dtls) does not: a repeat of the peer's flight *clears*
//! its retransmission timer, so once any datagram of, say, the server's flight 4 is lost, the
//! client's repeats of flight 3 keep the server silent until the client gives up (8 s, then
//! "invalid state machine transition"). Under 10 % loss this stopped about one call in ten
//! from ever getting media (issue 21; the log is in docs/benchmarks.md).
//!
//! [`FlightGuard`] is the missing transition, done below the stack: it remembers the DTLS
//! handshake datagrams we sent since the peer last moved on, and when a datagram arrives whose
//! handshake records were all seen before (the peer repeating itself), it sends ours again,
//! byte for byte. Records the peer already has are dropped by its replay window; the lost
//! ones complete its flight. [`GuardedRuntime`] puts a guard on every UDP socket the stack
//! binds. Only datagrams whose first byte says DTLS (RFC 7983: 20..=63, also inside TURN
//! ChannelData) are looked at; media (SRTP, first byte 128..=191) passes with one comparison.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
const RECORD_HEADER: usize = 13;
/// Our datagrams kept per peer: a flight is at most a handful.
const MAX_KEPT: usize = 16;
/// Record keys remembered per peer: a whole handshake is about ten records.
const MAX_SEEN: usize = 64;
/// Flights re-sent per peer at most (the peer repeats at most 7 times per flight in 0.21.1).
const MAX_RESENDS: u32 = 32;

/// Who a datagram is from or to: the address, and the TURN channel it is framed in, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PeerKey {
    addr: SocketAddr,
    channel: Option<u16>,
}

#[derive(Default)]
struct PeerFlights {
    /// Keys of the peer's epoch-0 handshake records we have received.
    seen: HashSet<u64>,
    /// Our handshake datagrams since the peer last sent something new: our current flight.
    ours: VecDeque<Vec<u8>>,
    /// Keys of the epoch-0 handshake records in `ours` (our own retransmissions add nothing).
    ours_keys: HashSet<u64>,
    resends: u32,
}

/// The pure part: what to send again when. No sockets, no clock.
#[derive(Default)]
pub(crate) struct FlightGuard {
    peers: HashMap<PeerKey, PeerFlights>,
}

/// The DTLS payload of a datagram and the TURN channel it came in, if it is DTLS at all.
fn dtls_payload(datagram: &[u8]) -> Option<(&[u8], Option<u16>)> {
    match *datagram.first()? {
        20..=63 => Some((datagram, None)),
        // TURN ChannelData (RFC 8656 12.4): channel number, length, then the peer's datagram.
        0x40..=0x4f if datagram.len() >= 4 => {
            let channel = u16::from_be_bytes([datagram[0], datagram[1]]);
            let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
            let inner = datagram.get(4..4 + len)?;
            matches!(inner.first(), Some(20..=63)).then_some((inner, Some(channel)))
        }
        _ => None,
    }
}

/// What the records of one DTLS datagram say about the handshake.
struct Records {
    /// Keys of epoch-0 handshake records: content type, epoch and body, not the record
    /// sequence number (a retransmission has a new one).
    keys: Vec<u64>,
    /// Any handshake or change-cipher-spec record at all (later epochs are encrypted).
    handshake: bool,
}

fn records(payload: &[u8]) -> Records {
    let mut keys = Vec::new();
    let mut handshake = false;
    let mut rest = payload;
    while rest.len() >= RECORD_HEADER {
        let content_type = rest[0];
        let epoch = u16::from_be_bytes([rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let Some(body) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
            break;
        };
        if content_type == HANDSHAKE || content_type == CHANGE_CIPHER_SPEC {
            handshake = true;
        }
        if content_type == HANDSHAKE && epoch == 0 {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (content_type, epoch, body).hash(&mut h);
            keys.push(h.finish());
        }
        rest = &rest[RECORD_HEADER + len..];
    }
    Records { keys, handshake }
}

impl FlightGuard {
    /// We are sending `datagram` to `to`: keep it if it belongs to our handshake flight.
    pub(crate) fn on_send(&mut self, to: SocketAddr, datagram: &[u8]) {
        let Some((payload, channel)) = dtls_payload(datagram) else {
            return;
        };
        let recs = records(payload);
        if !recs.handshake {
            return;
        }
        let peer = self.peers.entry(PeerKey { addr: to, channel }).or_default();
        let fresh = recs.keys.is_empty() || recs.keys.iter().any(|k| !peer.ours_keys.contains(k));
        if !fresh {
            return; // our stack retransmitting what we keep already
        }
        peer.ours_keys.extend(recs.keys);
        if peer.ours.len() == MAX_KEPT {
            peer.ours.pop_front();
        }
        peer.ours.push_back(datagram.to_vec());
    }

    /// `datagram` arrived from `from`. Returns our datagrams to send again when it repeats
    /// what the peer sent before (so ours was lost); empty otherwise.
    pub(crate) fn on_recv(&mut self, from: SocketAddr, datagram: &[u8]) -> Vec<Vec<u8>> {
        let Some((payload, channel)) = dtls_payload(datagram) else {
            return Vec::new();
        };
        let recs = records(payload);
        if recs.keys.is_empty() {
            return Vec::new();
        }
        let peer = self
            .peers
            .entry(PeerKey {
                addr: from,
                channel,
            })
            .or_default();
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
            // The peer moved on: what we send next is a new flight.
            peer.ours.clear();
            peer.ours_keys.clear();
            return Vec::new();
        }
        if peer.ours.is_empty() || peer.resends >= MAX_RESENDS {
            return Vec::new();
        }
        peer.resends += 1;
        peer.ours.iter().cloned().collect()
    }
}

/// A UDP socket of the stack's with a [`FlightGuard`] on it.
struct GuardedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    guard: Mutex<FlightGuard>,
}

impl fmt::Debug for GuardedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedSocket")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// DTLS (20..=63) or TURN ChannelData (64..=79): the only datagrams the guard parses.
fn is_dtls_or_channel(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=79))
}

impl GuardedSocket {
    fn guard(&self) -> std::sync::MutexGuard<'_, FlightGuard> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends again without waiting: a datagram the socket cannot take now is lost, as any
    /// datagram may be; the peer's next repeat asks again.
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
        log::debug!("peer repeated its DTLS flight: sent ours again ({count} datagrams)");
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
                if is_dtls_or_channel(datagram) {
                    self.guard().on_send(transmit.destination, datagram);
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
            for (buf, m) in bufs.iter().zip(meta.iter()).take(n) {
                let filled = &buf[..m.len.min(buf.len())];
                for datagram in filled.chunks(m.stride.max(1)) {
                    if !is_dtls_or_channel(datagram) {
                        continue;
                    }
                    let again = self.guard().on_recv(m.addr, datagram);
                    if !again.is_empty() {
                        self.resend(m.addr, again);
                    }
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

    /// A DTLS record: type, version 1.2, epoch, sequence number, body.
    fn record(content_type: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&seq.to_be_bytes()[2..]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn hello(seq: u64) -> Vec<u8> {
        record(HANDSHAKE, 0, seq, b"client hello with cookie")
    }

    /// A server's flight 4 in two datagrams.
    fn flight4(seq: u64) -> [Vec<u8>; 2] {
        [
            record(HANDSHAKE, 0, seq, b"server hello + certificate"),
            record(HANDSHAKE, 0, seq + 1, b"key exchange + hello done"),
        ]
    }

    #[test]
    fn a_repeated_flight_is_answered_with_ours() {
        // The deadlock of issue 21: flight 4's second datagram is lost, the client repeats 3.
        let mut server = FlightGuard::default();
        let client = addr(1000);
        assert!(server.on_recv(client, &hello(1)).is_empty());
        let ours = flight4(1);
        for d in &ours {
            server.on_send(client, d);
        }
        // The client's repeat carries a new record sequence number, same handshake message.
        let again = server.on_recv(client, &hello(2));
        assert_eq!(again, ours.to_vec());
    }

    #[test]
    fn our_own_retransmission_is_not_kept_twice() {
        let mut server = FlightGuard::default();
        let client = addr(1000);
        server.on_recv(client, &hello(1));
        for d in flight4(1) {
            server.on_send(client, &d);
        }
        for d in flight4(3) {
            server.on_send(client, &d);
        }
        assert_eq!(server.on_recv(client, &hello(2)).len(), 2);
    }

    #[test]
    fn the_peer_moving_on_starts_our_next_flight() {
        let mut server = FlightGuard::default();
        let client = addr(1000);
        server.on_recv(client, &hello(1));
        for d in flight4(1) {
            server.on_send(client, &d);
        }
        // Flight 5 arrives: nothing to repeat, and flight 4 is forgotten.
        let flight5 = record(HANDSHAKE, 0, 3, b"certificate + key exchange");
        assert!(server.on_recv(client, &flight5).is_empty());
        let flight6 = [
            record(CHANGE_CIPHER_SPEC, 0, 5, &[1]),
            record(HANDSHAKE, 1, 0, b"enc"),
        ]
        .concat();
        server.on_send(client, &flight6);
        // A repeat of flight 5 gets flight 6 again, not flight 4.
        let repeat5 = record(HANDSHAKE, 0, 4, b"certificate + key exchange");
        assert_eq!(server.on_recv(client, &repeat5), vec![flight6]);
    }

    #[test]
    fn media_and_other_peers_are_left_alone() {
        let mut guard = FlightGuard::default();
        let (a, b) = (addr(1000), addr(2000));
        guard.on_recv(a, &hello(1));
        for d in flight4(1) {
            guard.on_send(a, &d);
        }
        // SRTP (first byte 0x80) and STUN (0x00) are not DTLS.
        assert!(guard.on_recv(a, &[0x80, 0x60, 0, 1, 2, 3]).is_empty());
        assert!(guard.on_recv(a, &[0x00, 0x01, 0, 0]).is_empty());
        // The same message from another address is that peer's first.
        assert!(guard.on_recv(b, &hello(7)).is_empty());
        // Application data (type 23) is never a repeat.
        assert!(guard.on_recv(a, &record(23, 1, 9, b"data")).is_empty());
        assert_eq!(guard.on_recv(a, &hello(2)).len(), 2);
    }

    #[test]
    fn dtls_inside_turn_channel_data_is_guarded_per_channel() {
        let channel = |n: u16, inner: &[u8]| {
            let mut d = n.to_be_bytes().to_vec();
            d.extend_from_slice(&(inner.len() as u16).to_be_bytes());
            d.extend_from_slice(inner);
            d
        };
        let mut guard = FlightGuard::default();
        let relay = addr(3478);
        guard.on_recv(relay, &channel(0x4000, &hello(1)));
        let ours = channel(0x4000, &flight4(1)[0]);
        guard.on_send(relay, &ours);
        assert!(guard.on_recv(relay, &channel(0x4001, &hello(2))).is_empty());
        assert_eq!(
            guard.on_recv(relay, &channel(0x4000, &hello(3))),
            vec![ours]
        );
    }

    #[test]
    fn resends_are_bounded_and_truncated_records_ignored() {
        let mut guard = FlightGuard::default();
        let client = addr(1000);
        guard.on_recv(client, &hello(1));
        guard.on_send(client, &flight4(1)[0]);
        let sent: usize = (0..100)
            .map(|i| guard.on_recv(client, &hello(2 + i)).len())
            .sum();
        assert_eq!(sent, MAX_RESENDS as usize);
        let mut cut = hello(1);
        cut.truncate(20);
        assert!(guard.on_recv(addr(5), &cut).is_empty());
    }
}
