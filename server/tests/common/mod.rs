//! Helpers shared by the integration tests: a server on an ephemeral port, an HTTP client and
//! a raw WebSocket client.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use samtale_protocol::{Meeting, ServerMessage, Ticket};
use samtale_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub const STAFF_TOKEN: &str = "test-staff-token-0123456789";
/// Longest wait for anything the server should do promptly.
pub const WAIT: Duration = Duration::from_secs(5);

/// A config for tests: in-memory database, generous rate limit, short grace.
pub fn config() -> ServerConfig {
    ServerConfig {
        db_path: ":memory:".into(),
        staff_token: STAFF_TOKEN.into(),
        lookup_burst: 1_000,
        resume_grace_secs: 2,
        ..ServerConfig::default()
    }
}

pub async fn start(config: ServerConfig) -> RunningServer {
    samtale_server::start(config).await.expect("server starts")
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("http client")
}

/// Staff API calls.
pub struct Staff {
    pub base: String,
    pub http: reqwest::Client,
}

impl Staff {
    pub fn new(server: &RunningServer) -> Self {
        Self {
            base: server.base_url(),
            http: http(),
        }
    }

    pub async fn create(&self, body: Value) -> Meeting {
        let resp = self
            .http
            .post(format!("{}/api/v1/meetings", self.base))
            .bearer_auth(STAFF_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status(), 201);
        resp.json().await.expect("meeting json")
    }

    pub async fn meeting(&self) -> Meeting {
        self.create(json!({})).await
    }

    pub async fn get(&self, id: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/api/v1/meetings/{id}", self.base))
            .bearer_auth(STAFF_TOKEN)
            .send()
            .await
            .expect("get")
    }

    pub async fn end(&self, id: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}/api/v1/meetings/{id}", self.base))
            .bearer_auth(STAFF_TOKEN)
            .send()
            .await
            .expect("delete")
    }

    pub async fn ticket(&self, id: &str) -> Ticket {
        let resp = self
            .http
            .post(format!("{}/api/v1/meetings/{id}/tickets", self.base))
            .bearer_auth(STAFF_TOKEN)
            .json(&json!({}))
            .send()
            .await
            .expect("ticket");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("ticket json")
    }

    /// Resolves a code as a citizen.
    pub async fn resolve_raw(&self, code: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/join", self.base))
            .json(&json!({ "code": code }))
            .send()
            .await
            .expect("join")
    }

    pub async fn resolve(&self, code: &str) -> Ticket {
        let resp = self.resolve_raw(code).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("ticket json")
    }
}

/// What a raw client saw next.
#[derive(Debug)]
pub enum Event {
    Msg(ServerMessage),
    /// A close frame (with its code) or the end of the stream (`None`).
    Closed(Option<u16>),
}

/// A raw WebSocket client.
pub struct Ws {
    pub inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn connect(url: &str) -> Self {
        let (inner, _) = tokio::time::timeout(WAIT, connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Self { inner }
    }

    pub async fn send(&mut self, value: Value) {
        self.send_raw(Message::text(value.to_string())).await;
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.inner.send(msg).await.expect("send");
    }

    /// The next message or close, within [`WAIT`].
    pub async fn event(&mut self) -> Event {
        self.event_within(WAIT)
            .await
            .expect("the server answered in time")
    }

    /// The next message or close within `limit`, or `None` if nothing came.
    pub async fn event_within(&mut self, limit: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.inner.next())
                .await
                .ok()?;
            return Some(match next {
                Some(Ok(Message::Text(t))) => Event::Msg(
                    serde_json::from_str(t.as_str()).expect("server sends valid messages"),
                ),
                Some(Ok(Message::Close(frame))) => Event::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => panic!("the server never sends binary frames"),
                Some(Err(_)) | None => Event::Closed(None),
            });
        }
    }

    pub async fn recv(&mut self) -> ServerMessage {
        match self.event().await {
            Event::Msg(m) => m,
            Event::Closed(code) => panic!("expected a message, the socket closed ({code:?})"),
        }
    }

    /// Expects the socket to close now (no message before the close).
    pub async fn closed(&mut self) -> Option<u16> {
        match self.event().await {
            Event::Closed(code) => code,
            Event::Msg(m) => panic!("expected a close, got {m:?}"),
        }
    }

    /// Skips messages until the socket closes; returns the close code.
    pub async fn skip_until_closed(&mut self) -> Option<u16> {
        loop {
            if let Event::Closed(code) = self.event().await {
                return code;
            }
        }
    }

    /// Asserts that nothing arrives within `limit`.
    pub async fn silent_for(&mut self, limit: Duration) {
        if let Some(e) = self.event_within(limit).await {
            panic!("expected silence, got {e:?}");
        }
    }

    /// Pings and waits for the pong, skipping other messages (peer joins and the like).
    pub async fn ping_through(&mut self, id: u64) {
        self.send(json!({"type": "ping", "id": id})).await;
        loop {
            match self.recv().await {
                ServerMessage::Pong { id: got } if got == id => return,
                ServerMessage::Pong { id: got } => panic!("pong {got}, expected {id}"),
                _ => {}
            }
        }
    }

    pub async fn ping(&mut self, id: u64) {
        self.send(json!({"type": "ping", "id": id})).await;
        match self.recv().await {
            ServerMessage::Pong { id: got } => assert_eq!(got, id),
            other => panic!("expected pong, got {other:?}"),
        }
    }

    pub async fn signal(&mut self, to: &str, sdp: &str) {
        self.send(json!({"type": "signal", "to": to, "payload": {"kind": "offer", "sdp": sdp}}))
            .await;
    }

    /// Expects a relayed offer from `from` carrying `sdp`.
    pub async fn expect_signal(&mut self, from: &str, sdp: &str) {
        match self.recv().await {
            ServerMessage::Signal {
                from: got_from,
                payload: samtale_protocol::SignalPayload::Offer { sdp: got },
            } => {
                assert_eq!(got_from, from);
                assert_eq!(got, sdp);
            }
            other => panic!("expected a signal, got {other:?}"),
        }
    }

    /// Expects a fatal error with this code, then the close.
    pub async fn expect_fatal(&mut self, code: &str) -> Option<u16> {
        match self.recv().await {
            ServerMessage::Error {
                code: got, fatal, ..
            } => {
                assert_eq!(serde_json::to_value(got).unwrap(), json!(code));
                assert!(fatal);
            }
            other => panic!("expected error {code}, got {other:?}"),
        }
        self.closed().await
    }

    pub async fn close(mut self) {
        let _ = self.inner.close(None).await;
    }
}

/// A participant that said `hello` successfully.
pub struct Joined {
    pub ws: Ws,
    pub id: String,
    pub secret: String,
    pub peers: Vec<String>,
    pub resumed: bool,
}

/// Opens a socket and says hello with the ticket's token.
pub async fn join(ticket: &Ticket) -> Joined {
    join_at(
        &ticket.signalling_url,
        json!({"type": "hello", "v": 1, "token": ticket.join_token}),
    )
    .await
}

/// Opens a socket and resumes a seat.
pub async fn resume(url: &str, id: &str, secret: &str) -> Joined {
    join_at(
        url,
        json!({"type": "hello", "v": 1, "resume": {"participant_id": id, "resume_secret": secret}}),
    )
    .await
}

pub async fn join_at(url: &str, hello: Value) -> Joined {
    let mut ws = Ws::connect(url).await;
    ws.send(hello).await;
    match ws.recv().await {
        ServerMessage::Welcome {
            v,
            participant_id,
            resume_secret,
            resumed,
            peers,
            ..
        } => {
            assert_eq!(v, 1);
            Joined {
                ws,
                id: participant_id,
                secret: resume_secret,
                peers: peers.into_iter().map(|p| p.participant_id).collect(),
                resumed,
            }
        }
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Expects `peer_joined` for `id`.
pub async fn expect_peer_joined(ws: &mut Ws, id: &str) {
    match ws.recv().await {
        ServerMessage::PeerJoined { peer } => assert_eq!(peer.participant_id, id),
        other => panic!("expected peer_joined, got {other:?}"),
    }
}

/// Expects `peer_left` for `id` with `reason` ("left" or "timeout").
pub async fn expect_peer_left(ws: &mut Ws, id: &str, reason: &str) {
    match ws.recv().await {
        ServerMessage::PeerLeft {
            participant_id,
            reason: got,
        } => {
            assert_eq!(participant_id, id);
            assert_eq!(serde_json::to_value(got).unwrap(), json!(reason));
        }
        other => panic!("expected peer_left, got {other:?}"),
    }
}

/// Log output captured in memory (a `tracing_subscriber` writer).
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Lines containing `what`.
    pub fn count(&self, what: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(what))
            .count()
    }
}
