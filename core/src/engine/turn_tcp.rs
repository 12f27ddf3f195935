//! TURN over TCP, for networks that block UDP.
//!
//! webrtc-rs 0.21.1 only speaks TURN over UDP (it skips `?transport=tcp` and `turns:` URLs), so
//! for each `turn:…?transport=tcp` URL the core runs this bridge: a UDP socket on loopback that
//! the stack's TURN client uses as its "server", and one TCP connection to the real TURN server
//! per client socket (one allocation each, as TURN requires). Datagrams go out framed as TURN
//! over TCP frames them (RFC 8656 §12.5: STUN messages as they are, ChannelData padded to a
//! multiple of 4 bytes) and frames coming back are split into datagrams again.
//!
//! The relay still only sees DTLS-SRTP: what crosses the bridge is the TURN client's traffic,
//! and the media inside it is encrypted end to end.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Datagrams queued per client while its TCP connection is being made.
const QUEUE: usize = 256;
/// A client socket silent this long is forgotten (its TCP connection closed).
const IDLE: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed connection, a client's datagrams are dropped this long (no connect storm while
/// the TURN server is down; ICE retries anyway).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Largest TURN frame: a 16-bit length plus header.
const MAX_FRAME: usize = 4 + 65_535 + 3;

/// A running bridge; dropping it closes its socket and every TCP connection.
pub(crate) struct TcpTurnBridge {
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TcpTurnBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TcpTurnBridge {
    /// Starts a bridge to the TURN server at `server` (`host:port`, resolved per connection so
    /// a changed DNS answer or network is picked up).
    pub(crate) async fn start(server: String) -> io::Result<TcpTurnBridge> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let local = socket.local_addr()?;
        let task = tokio::spawn(run(socket, server));
        Ok(TcpTurnBridge { local, task })
    }

    /// The loopback address to give the stack as the TURN server.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

async fn run(socket: Arc<UdpSocket>, server: String) {
    let mut clients: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut failed: HashMap<SocketAddr, tokio::time::Instant> = HashMap::new();
    // Owned here: aborting the bridge drops the set, which aborts every connection task.
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (n, from) = match received {
                    Ok(ok) => ok,
                    Err(e) => {
                        log::debug!("TURN/TCP bridge receive: {e}");
                        continue;
                    }
                };
                let datagram = buf[..n].to_vec();
                let alive = clients.get(&from).is_some_and(|tx| !tx.is_closed());
                if !alive && failed.get(&from).is_some_and(|until| *until > tokio::time::Instant::now()) {
                    continue;
                }
                if !alive {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    tasks.spawn(client(Arc::clone(&socket), server.clone(), from, rx));
                    clients.insert(from, tx);
                }
                if let Some(tx) = clients.get(&from)
                    && tx.try_send(datagram).is_err()
                {
                    log::debug!("TURN/TCP bridge queue full: datagram dropped");
                }
            }
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(Err(from)) = ended {
                    failed.insert(from, tokio::time::Instant::now() + RETRY_AFTER);
                }
                clients.retain(|_, tx| !tx.is_closed());
                let now = tokio::time::Instant::now();
                failed.retain(|_, until| *until > now);
            }
        }
    }
}

/// One client socket's TCP connection to the TURN server. `Err(peer)` if it could not be made.
async fn client(
    socket: Arc<UdpSocket>,
    server: String,
    peer: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> Result<(), SocketAddr> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&server)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            log::debug!("TURN over TCP: cannot connect: {e}");
            return Err(peer);
        }
        Err(_) => {
            log::debug!("TURN over TCP: connect timed out");
            return Err(peer);
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let mut inbound = Vec::with_capacity(MAX_FRAME);
    let mut chunk = vec![0u8; 16_384];
    loop {
        tokio::select! {
            out = tokio::time::timeout(IDLE, rx.recv()) => {
                let Ok(Some(datagram)) = out else { return Ok(()) };
                let padding = padding_for(&datagram);
                if write.write_all(&datagram).await.is_err()
                    || (padding > 0 && write.write_all(&[0u8; 3][..padding]).await.is_err())
                {
                    return Ok(());
                }
            }
            read_result = read.read(&mut chunk) => {
                let n = match read_result {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(n) => n,
                };
                inbound.extend_from_slice(&chunk[..n]);
                loop {
                    match next_frame(&inbound) {
                        Frame::Complete { message, consumed } => {
                            let _ = socket.send_to(&inbound[..message], peer).await;
                            inbound.drain(..consumed);
                        }
                        Frame::Partial => break,
                        Frame::Invalid => {
                            log::info!("TURN over TCP: the server sent something that is not TURN");
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// Zero bytes to add after a datagram on TCP: ChannelData is padded to 4 bytes there (STUN
/// messages always are a multiple of 4).
fn padding_for(datagram: &[u8]) -> usize {
    if datagram.first().is_some_and(|b| b & 0xC0 == 0x40) {
        (4 - datagram.len() % 4) % 4
    } else {
        0
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// The first `message` bytes are one datagram; `consumed` bytes (with padding) are used.
    Complete {
        message: usize,
        consumed: usize,
    },
    Partial,
    Invalid,
}

/// Splits the first TURN frame off a TCP byte stream.
fn next_frame(buf: &[u8]) -> Frame {
    if buf.len() < 4 {
        return Frame::Partial;
    }
    let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let (message, consumed) = match buf[0] >> 6 {
        // STUN: 20-byte header plus attributes (always a multiple of 4).
        0b00 => (20 + length, 20 + length),
        // ChannelData: 4-byte header plus data, padded to 4 on TCP.
        0b01 => (4 + length, (4 + length).div_ceil(4) * 4),
        _ => return Frame::Invalid,
    };
    if buf.len() < consumed {
        Frame::Partial
    } else {
        Frame::Complete { message, consumed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_as_turn_over_tcp_frames_them() {
        // A STUN binding request header with 4 bytes of attributes.
        let mut stun = vec![0x00, 0x01, 0x00, 0x04];
        stun.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            next_frame(&stun),
            Frame::Complete {
                message: 24,
                consumed: 24
            }
        );
        assert_eq!(next_frame(&stun[..10]), Frame::Partial);
        // ChannelData with 5 bytes of data: padded to 12 on TCP, 9 in the datagram.
        let mut channel = vec![0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        assert_eq!(next_frame(&channel[..9]), Frame::Partial);
        assert_eq!(
            next_frame(&channel),
            Frame::Complete {
                message: 9,
                consumed: 12
            }
        );
        assert_eq!(padding_for(&channel[..9]), 3);
        assert_eq!(padding_for(&stun), 0);
        channel[0] = 0xC0;
        assert_eq!(next_frame(&channel), Frame::Invalid);
    }

    #[tokio::test]
    async fn datagrams_cross_a_tcp_connection_and_come_back() {
        // A fake TURN server that echoes every frame it gets, padding included.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("test");
        let server = listener.local_addr().expect("test").to_string();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("test");
            let mut buf = vec![0u8; 4096];
            loop {
                let n = stream.read(&mut buf).await.expect("test");
                if n == 0 {
                    return;
                }
                stream.write_all(&buf[..n]).await.expect("test");
            }
        });
        let bridge = TcpTurnBridge::start(server).await.expect("test");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("test");
        let channel_data = [0x40u8, 0x01, 0x00, 0x03, 7, 8, 9];
        client
            .send_to(&channel_data, bridge.local_addr())
            .await
            .expect("test");
        let mut stun = vec![0x01, 0x01, 0x00, 0x00];
        stun.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        stun.extend_from_slice(&[5u8; 12]);
        client
            .send_to(&stun, bridge.local_addr())
            .await
            .expect("test");
        let mut buf = [0u8; 64];
        let (n, _) = client.recv_from(&mut buf).await.expect("test");
        assert_eq!(&buf[..n], &channel_data);
        let (n, _) = client.recv_from(&mut buf).await.expect("test");
        assert_eq!(&buf[..n], &stun[..]);
    }
}
