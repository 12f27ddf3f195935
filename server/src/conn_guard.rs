//! Connections a client can open at will are bounded (issue 17, "idle connections exhaust the
//! server"): at most [`ConnLimits::max_per_address`] open connections per client address (IPv6
//! by /64, like the look-up limiter), and a connection that sends nothing for
//! [`ConnLimits::idle`] is closed, whether it never sent a request, stopped in the middle of
//! one, or is a WebSocket whose client went silent (real clients ping every few seconds; the
//! hub closes those after three keep-alive periods anyway).
//!
//! An [`axum::serve::Listener`] (served by `crate::serve`): the limits apply before any HTTP is
//! parsed.

use crate::log_budget::LogBudget;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;

/// The limits.
#[derive(Debug, Clone)]
pub(crate) struct ConnLimits {
    /// Open connections one address may hold (0: no limit).
    pub(crate) max_per_address: usize,
    /// A connection that sends nothing for this long is closed.
    pub(crate) idle: Duration,
    /// Trusted reverse proxies carry everyone's connections: not capped (they have their own
    /// limits).
    pub(crate) exempt: crate::TrustedProxies,
}

/// The key of an address: IPv4 as is, IPv6 by its /64 (one host usually owns a whole /64).
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => IpAddr::V4(
            v6.to_ipv4_mapped()
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        ),
        v4 => v4,
    }
}

type Open = Arc<Mutex<HashMap<IpAddr, usize>>>;

fn lock(m: &Mutex<HashMap<IpAddr, usize>>) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server's listener with [`ConnLimits`].
pub(crate) struct GuardedListener {
    inner: TcpListener,
    limits: ConnLimits,
    open: Open,
    refused_log: LogBudget,
    error_log: LogBudget,
}

impl GuardedListener {
    pub(crate) fn new(inner: TcpListener, limits: ConnLimits) -> Self {
        Self {
            inner,
            limits,
            open: Arc::default(),
            refused_log: LogBudget::new(10, 60),
            error_log: LogBudget::new(10, 60),
        }
    }
}

/// One accepted connection; its address's count goes down when it closes.
pub(crate) struct GuardedStream {
    io: Pin<Box<TimeoutStream<TcpStream>>>,
    open: Open,
    key: IpAddr,
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    if let Some(left_out) = self.error_log.allow() {
                        tracing::warn!(left_out, "cannot accept a connection: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let key = key(addr.ip());
            {
                let mut open = lock(&self.open);
                let n = open.entry(key).or_insert(0);
                if self.limits.max_per_address > 0
                    && *n >= self.limits.max_per_address
                    && !self.limits.exempt.contains(addr.ip())
                {
                    drop(open);
                    drop(stream);
                    if let Some(left_out) = self.refused_log.allow() {
                        tracing::warn!(
                            left_out,
                            limit = self.limits.max_per_address,
                            "connection refused: too many open from one address"
                        );
                    }
                    continue;
                }
                *n += 1;
            }
            let _ = stream.set_nodelay(true);
            let mut io = TimeoutStream::new(stream);
            io.set_read_timeout(Some(self.limits.idle));
            return (
                GuardedStream {
                    io: Box::pin(io),
                    open: Arc::clone(&self.open),
                    key,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The client's address, for handlers (`ConnectInfo<ClientAddr>`, put on every request by
/// `crate::serve`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

#[cfg(test)]
mod tests {
    use super::key;
    use std::net::IpAddr;

    #[test]
    fn ipv6_hosts_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(
            key(mapped),
            "192.0.2.7"
                .parse::<IpAddr>()
                .unwrap_or(IpAddr::from([0; 4]))
        );
    }
}
