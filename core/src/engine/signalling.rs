//! One signalling WebSocket: connect, `hello`, `welcome`, then relay messages both ways with
//! keep-alive. Every socket has a generation number so the engine can ignore news from an old one.

use super::Input;
use crate::error::CoreError;
use futures_util::{SinkExt, StreamExt};
use samtale_protocol::{ClientMessage, MAX_WS_MESSAGE_BYTES, ServerMessage, WsErrorCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long connect + hello + welcome may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A probe (see [`SignallingHandle::probe`]) unanswered this long means the socket is dead.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the actor asks of the socket task.
enum Command {
    Send(ClientMessage),
    Probe,
}

/// The engine's side of a socket task.
pub(crate) struct SignallingHandle {
    tx: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl SignallingHandle {
    /// Queues a message for sending. Returns false if the socket task is gone.
    pub(crate) fn send(&self, msg: ClientMessage) -> bool {
        self.tx.send(Command::Send(msg)).is_ok()
    }

    /// Sends a ping now. Any message from the server within [`PROBE_TIMEOUT`] reports
    /// `Input::SignallingAlive`; silence closes the socket (`Input::SignallingClosed`).
    pub(crate) fn probe(&self) {
        let _ = self.tx.send(Command::Probe);
    }

    /// Closes gracefully: queued messages (e.g. `leave`) are flushed, then a close frame.
    /// Waits at most a second; a socket that cannot finish by then is aborted.
    pub(crate) async fn close(self) {
        let SignallingHandle { tx, mut task } = self;
        drop(tx);
        if timeout(Duration::from_secs(1), &mut task).await.is_err() {
            log::debug!("signalling task did not finish in time");
            task.abort();
        }
    }

    /// Aborts at once (the socket is dead or superseded).
    pub(crate) fn abort(self) {
        self.task.abort();
    }
}

/// Opens a socket in the background. Reports to `events` tagged with `generation`.
pub(crate) fn open(
    generation: u64,
    url: String,
    hello: ClientMessage,
    tls: Option<Arc<rustls::ClientConfig>>,
    events: mpsc::UnboundedSender<Input>,
) -> SignallingHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        use futures_util::FutureExt;
        // A panic in the socket task (a bug) must not leave the call waiting for a socket that
        // is gone: it is reported like any dropped socket, and the seat is resumed.
        let reason = std::panic::AssertUnwindSafe(run(generation, &url, hello, tls, rx, &events))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                log::error!("the signalling task panicked");
                Some(CoreError::Network("signalling task panicked".into()))
            });
        if let Some(reason) = reason {
            let _ = events.send(Input::SignallingClosed(generation, reason));
        }
    });
    SignallingHandle { tx, task }
}

enum Ended {
    /// The engine closed the socket on purpose.
    Closed,
}

/// Runs the socket; returns why it ended if the engine should be told.
async fn run(
    generation: u64,
    url: &str,
    hello: ClientMessage,
    tls: Option<Arc<rustls::ClientConfig>>,
    mut outbound: mpsc::UnboundedReceiver<Command>,
    events: &mpsc::UnboundedSender<Input>,
) -> Option<CoreError> {
    crate::api::ensure_crypto_provider();
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_WS_MESSAGE_BYTES));
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let stream = match tcp_connect(url, deadline).await {
        Ok(stream) => stream,
        Err(e) => return Some(e),
    };
    let handshake = tokio_tungstenite::client_async_tls_with_config(
        url,
        stream,
        Some(config),
        tls.map(tokio_tungstenite::Connector::Rustls),
    );
    let (mut ws, _) = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) if crate::tls::is_certificate_error(&e) => {
            return Some(CoreError::UntrustedServer(format!("signalling: {e}")));
        }
        Ok(Err(e)) => return Some(CoreError::Network(format!("signalling connect: {e}"))),
        Err(_) => return Some(CoreError::Network("signalling connect timed out".into())),
    };
    if let Err(e) = ws.send(Message::text(to_json(&hello))).await {
        return Some(CoreError::Network(format!("signalling hello: {e}")));
    }
    // Wait for welcome (or a refusal).
    let keepalive = loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Some(CoreError::Network("no welcome in time".into())),
            Ok(None) => return Some(CoreError::Network("socket closed before welcome".into())),
            Ok(Some(Err(e))) => return Some(CoreError::Network(format!("before welcome: {e}"))),
            Ok(Some(Ok(m))) => m,
        };
        match parse(msg) {
            Parsed::Message(ServerMessage::Error { code, fatal, .. }) if fatal => {
                let _ = events.send(Input::SignallingRefused(generation, code));
                return None;
            }
            Parsed::Message(m @ ServerMessage::Welcome { .. }) => {
                let keepalive = match &m {
                    ServerMessage::Welcome { keepalive_secs, .. } => *keepalive_secs,
                    _ => 10,
                };
                if events.send(Input::Server(generation, m)).is_err() {
                    return None;
                }
                break Duration::from_secs(keepalive.clamp(1, 60));
            }
            Parsed::Message(other) => {
                return Some(CoreError::Protocol(format!(
                    "expected welcome, got {}",
                    kind_of(&other)
                )));
            }
            Parsed::Skip => {}
            Parsed::Invalid(why) => return Some(CoreError::Protocol(why)),
            Parsed::Closed => return Some(CoreError::Network("closed before welcome".into())),
        }
    };

    // In the meeting: relay both ways, ping regularly, and notice a dead socket.
    let ping_every = (keepalive / 2).max(Duration::from_millis(500));
    let mut ping_timer = tokio::time::interval(ping_every);
    ping_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ping_id: u64 = 0;
    let mut last_heard = Instant::now();
    let dead_after = keepalive * 2;
    // Set while a probe waits for an answer.
    let mut probe_deadline: Option<Instant> = None;
    let ended = loop {
        let probe_expired = async {
            match probe_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = probe_expired => {
                return Some(CoreError::Network("probe unanswered: signalling socket is dead".into()));
            }
            out = outbound.recv() => match out {
                Some(Command::Probe) => {
                    if probe_deadline.is_none() {
                        probe_deadline = Some(Instant::now() + PROBE_TIMEOUT);
                    }
                    ping_id += 1;
                    let ping = ClientMessage::Ping { id: ping_id };
                    if let Err(e) = ws.send(Message::text(to_json(&ping))).await {
                        return Some(CoreError::Network(format!("probe: {e}")));
                    }
                }
                Some(Command::Send(msg)) => {
                    let leaving = matches!(msg, ClientMessage::Leave);
                    if let Err(e) = ws.send(Message::text(to_json(&msg))).await {
                        return Some(CoreError::Network(format!("send: {e}")));
                    }
                    if leaving {
                        break Ended::Closed;
                    }
                }
                None => break Ended::Closed,
            },
            incoming = ws.next() => {
                let msg = match incoming {
                    None => return Some(CoreError::Network("signalling socket closed".into())),
                    Some(Err(e)) => return Some(CoreError::Network(format!("signalling: {e}"))),
                    Some(Ok(m)) => m,
                };
                last_heard = Instant::now();
                if probe_deadline.take().is_some()
                    && events.send(Input::SignallingAlive(generation)).is_err()
                {
                    return None;
                }
                match parse(msg) {
                    Parsed::Message(ServerMessage::Pong { .. }) | Parsed::Skip => {}
                    // After `welcome` only `meeting_closed` is final; any other fatal error
                    // (e.g. `malformed`) closes this socket but keeps the seat: resume.
                    Parsed::Message(ServerMessage::Error { code, fatal: true, .. }) => {
                        if code == WsErrorCode::MeetingClosed {
                            let _ = events.send(Input::SignallingRefused(generation, code));
                            return None;
                        }
                        return Some(CoreError::Protocol(format!(
                            "server closed the socket: {code:?}"
                        )));
                    }
                    Parsed::Message(m) => {
                        let ended = matches!(m, ServerMessage::MeetingEnded { .. });
                        if events.send(Input::Server(generation, m)).is_err() || ended {
                            return None;
                        }
                    }
                    Parsed::Invalid(why) => log::warn!("ignoring invalid server message: {why}"),
                    Parsed::Closed => {
                        return Some(CoreError::Network("server closed the socket".into()))
                    }
                }
            }
            _ = ping_timer.tick() => {
                if last_heard.elapsed() > dead_after {
                    return Some(CoreError::Network("no pong: signalling socket is dead".into()));
                }
                ping_id += 1;
                if let Err(e) = ws.send(Message::text(to_json(&ClientMessage::Ping { id: ping_id }))).await {
                    return Some(CoreError::Network(format!("ping: {e}")));
                }
            }
        }
    };
    match ended {
        Ended::Closed => {
            let _ = timeout(Duration::from_millis(500), ws.close(None)).await;
            None
        }
    }
}

/// A new TCP connection attempt this often while earlier ones are still pending.
const ATTEMPT_EVERY: Duration = Duration::from_millis(500);
/// Attempts pending at most at once.
const MAX_ATTEMPTS: usize = 6;

/// Opens the TCP connection under the WebSocket. Attempts overlap: a new one starts every
/// [`ATTEMPT_EVERY`] while earlier ones are still pending, and the first to connect wins. A
/// lost SYN is otherwise only repeated after 1, 3, 7... s, so a network that returns during an
/// outage would be noticed seconds late; a slow network still gets the whole `deadline`.
async fn tcp_connect(url: &str, deadline: Instant) -> Result<tokio::net::TcpStream, CoreError> {
    let parsed =
        url::Url::parse(url).map_err(|e| CoreError::Protocol(format!("signalling URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| CoreError::Protocol("signalling URL without a host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| CoreError::Protocol("signalling URL without a port".into()))?;
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut next = tokio::time::interval(ATTEMPT_EVERY);
    let mut last_error = None;
    loop {
        tokio::select! {
            _ = next.tick(), if pending.len() < MAX_ATTEMPTS => {
                let host = host.clone();
                pending.push(async move { tokio::net::TcpStream::connect((host.as_str(), port)).await });
            }
            Some(result) = pending.next(), if !pending.is_empty() => match result {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => last_error = Some(e),
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(CoreError::Network(match last_error {
                    Some(e) => format!("signalling connect: {e}"),
                    None => "signalling connect timed out".into(),
                }));
            }
        }
    }
}

enum Parsed {
    Message(ServerMessage),
    Skip,
    Closed,
    Invalid(String),
}

fn parse(msg: Message) -> Parsed {
    match msg {
        Message::Text(text) => match serde_json::from_str::<ServerMessage>(text.as_str()) {
            Ok(m) => Parsed::Message(m),
            // Never echo the text or serde's message (it may quote values, i.e. SDP).
            Err(e) => Parsed::Invalid(format!(
                "not a v1 server message ({:?} at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            )),
        },
        Message::Close(_) => Parsed::Closed,
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Parsed::Skip,
        Message::Binary(_) => Parsed::Invalid("binary frame".into()),
    }
}

fn kind_of(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Welcome { .. } => "welcome",
        ServerMessage::PeerJoined { .. } => "peer_joined",
        ServerMessage::PeerLeft { .. } => "peer_left",
        ServerMessage::Signal { .. } => "signal",
        ServerMessage::Pong { .. } => "pong",
        ServerMessage::MeetingEnded { .. } => "meeting_ended",
        ServerMessage::Error { .. } => "error",
    }
}

fn to_json(msg: &ClientMessage) -> String {
    // Serialising these plain enums cannot fail; fall back to a harmless ping just in case.
    serde_json::to_string(msg).unwrap_or_else(|_| r#"{"type":"ping","id":0}"#.to_owned())
}

/// Whether a refusal means "get a fresh seat" rather than "give up".
pub(crate) fn refusal_needs_fresh_seat(code: WsErrorCode) -> bool {
    matches!(
        code,
        WsErrorCode::ResumeRejected | WsErrorCode::InvalidToken
    )
}
