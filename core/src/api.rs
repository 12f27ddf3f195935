//! HTTP client for the documented server API (`docs/protocol.md`).
//!
//! Citizens only ever call [`ApiClient::resolve`]. The staff calls exist for the emulator's
//! caseworker bot and the tests; the caseworker web page speaks the same API.

use crate::error::CoreError;
use samtale_protocol::{ApiError, JoinCode, ResolveRequest, Ticket};
#[cfg(feature = "emulator")]
use samtale_protocol::{CreateMeetingRequest, Meeting, MeetingList};
use std::time::Duration;
use url::Url;

/// Installs the `ring` crypto provider for rustls once per process (TLS for HTTPS and WSS).
pub(crate) fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A small client for the server's HTTP API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: Url,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for the server at `base_url` (e.g. `https://samtale.example.dk`), trusting the
    /// platform's roots (a plain `http://` server also works without any).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, CoreError> {
        match crate::tls::client_config(None) {
            Ok(tls) => Self::with_tls(base_url, timeout, tls),
            Err(_) if base_url.starts_with("http://") => Self::plain(base_url, timeout),
            Err(e) => Err(e),
        }
    }

    /// A client with this TLS configuration (see [`crate::tls::client_config`]).
    pub fn with_tls(
        base_url: &str,
        timeout: Duration,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Self, CoreError> {
        Self::build(base_url, timeout, Some(tls))
    }

    /// A client for a plain `http://` server, without TLS trust (a machine without a CA
    /// store); `https://` URLs fail to connect.
    pub fn plain(base_url: &str, timeout: Duration) -> Result<Self, CoreError> {
        Self::build(base_url, timeout, Some(crate::tls::trusting_nothing()))
    }

    fn build(
        base_url: &str,
        timeout: Duration,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<Self, CoreError> {
        // reqwest's own TLS set-up would read the system store too (and fail without one).
        let tls = tls.unwrap_or_else(crate::tls::trusting_nothing);
        ensure_crypto_provider();
        let mut base =
            Url::parse(base_url).map_err(|e| CoreError::InvalidServerUrl(format!("{e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(CoreError::InvalidServerUrl(format!(
                "scheme {} is not http(s)",
                base.scheme()
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| CoreError::Network(format!("http client: {e}")))?;
        Ok(Self { base, http })
    }

    fn url(&self, path: &str) -> Result<Url, CoreError> {
        self.base
            .join(path)
            .map_err(|e| CoreError::InvalidServerUrl(format!("{e}")))
    }

    /// `POST /api/v1/join`: turns a (validated) code into a ticket.
    pub async fn resolve(&self, code: &JoinCode) -> Result<Ticket, CoreError> {
        let body = ResolveRequest {
            code: code.digits().to_owned(),
        };
        let req = self.http.post(self.url("api/v1/join")?).json(&body);
        send_json(req).await
    }

    /// `POST /api/v1/rejoin`: a fresh ticket for the meeting a pairing token belongs to.
    pub async fn rejoin(&self, pairing_token: &str) -> Result<Ticket, CoreError> {
        let body = samtale_protocol::RejoinRequest {
            pairing_token: pairing_token.to_owned(),
        };
        let req = self.http.post(self.url("api/v1/rejoin")?).json(&body);
        send_json(req).await
    }

    /// `POST /api/v1/presence`: whether staff are in the paired room; held by the server while
    /// the answer equals `known` (so this client's timeout must exceed the server's hold time).
    pub async fn presence(
        &self,
        pairing_token: &str,
        known: Option<bool>,
        closing: bool,
    ) -> Result<samtale_protocol::Presence, CoreError> {
        let body = samtale_protocol::PresenceRequest {
            pairing_token: pairing_token.to_owned(),
            known,
            closing,
        };
        let req = self.http.post(self.url("api/v1/presence")?).json(&body);
        send_json(req).await
    }

    /// `POST /api/v1/meetings` with every field (staff): a standing room, a label.
    #[cfg(feature = "emulator")]
    pub async fn create(
        &self,
        staff_token: &str,
        request: &CreateMeetingRequest,
    ) -> Result<Meeting, CoreError> {
        let req = self
            .http
            .post(self.url("api/v1/meetings")?)
            .bearer_auth(staff_token)
            .json(request);
        send_json(req).await
    }

    /// `POST /api/v1/meetings` (staff).
    #[cfg(feature = "emulator")]
    pub async fn create_meeting(
        &self,
        staff_token: &str,
        ttl_minutes: Option<u32>,
    ) -> Result<Meeting, CoreError> {
        let req = self
            .http
            .post(self.url("api/v1/meetings")?)
            .bearer_auth(staff_token)
            .json(&CreateMeetingRequest {
                ttl_minutes,
                ..CreateMeetingRequest::default()
            });
        send_json(req).await
    }

    /// `GET /api/v1/meetings` (staff).
    #[cfg(feature = "emulator")]
    pub async fn list_meetings(&self, staff_token: &str) -> Result<MeetingList, CoreError> {
        let req = self
            .http
            .get(self.url("api/v1/meetings")?)
            .bearer_auth(staff_token);
        send_json(req).await
    }

    /// `DELETE /api/v1/meetings/{id}` (staff).
    #[cfg(feature = "emulator")]
    pub async fn end_meeting(
        &self,
        staff_token: &str,
        meeting_id: &str,
    ) -> Result<Meeting, CoreError> {
        let req = self
            .http
            .delete(self.url(&format!("api/v1/meetings/{meeting_id}"))?)
            .bearer_auth(staff_token);
        send_json(req).await
    }

    /// `POST /api/v1/meetings/{id}/tickets` (staff).
    #[cfg(feature = "emulator")]
    pub async fn staff_ticket(
        &self,
        staff_token: &str,
        meeting_id: &str,
    ) -> Result<Ticket, CoreError> {
        let req = self
            .http
            .post(self.url(&format!("api/v1/meetings/{meeting_id}/tickets"))?)
            .bearer_auth(staff_token)
            .json(&serde_json::json!({}));
        send_json(req).await
    }
}

async fn send_json<T: serde::de::DeserializeOwned>(
    req: reqwest::RequestBuilder,
) -> Result<T, CoreError> {
    let resp = req.send().await.map_err(|e| {
        // reqwest's Display never includes the body; the URL holds no secrets.
        if crate::tls::is_certificate_error(&e) {
            CoreError::UntrustedServer(format!("{e}"))
        } else {
            CoreError::Network(format!("{e}"))
        }
    })?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| CoreError::Network(format!("reading response: {e}")))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| CoreError::Protocol(format!("unexpected {status} body: {e}")));
    }
    match serde_json::from_slice::<ApiError>(&bytes) {
        Ok(err) => Err(CoreError::Api {
            status: status.as_u16(),
            code: err.error,
            retry_after_secs: err.retry_after_secs.or(retry_after),
        }),
        Err(_) => Err(CoreError::Protocol(format!(
            "HTTP {status} without a protocol error body"
        ))),
    }
}
