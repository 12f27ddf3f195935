//! Presence on the home screen: while the app is open and no call is on, the core asks the
//! server whether someone from the municipality is in the remembered room (`POST
//! /api/v1/presence`, a long poll: the server answers at once when the answer differs from the
//! one shown, else when it changes or its hold time passes). Each answer goes to `report`.
//!
//! The loop is here, in the core, so that both apps behave alike; the shells only say when the
//! app is in front (`Samtale.set_app_visible`).

use crate::api::ApiClient;
use crate::error::{CoreError, PublicError};
use crate::remember::TokenStore;
use crate::screen::PresenceView;
use samtale_protocol::ApiErrorCode;
use std::sync::Arc;
use std::time::Duration;

/// What the watcher learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceEvent {
    /// The server's answer.
    Known(PresenceView),
    /// The server cannot be asked now (a server problem, an older server): show the plain home.
    Unknown,
    /// The server cannot be reached at all (no network, a captive portal, a firewall): the
    /// home screen says so, so the citizen learns it before pressing the button.
    Unreachable,
    /// The pairing no longer works (the room closed, or idle too long): it was forgotten.
    Revoked,
}

/// Longer than any server's hold time (at most 60 s) plus a slow network.
pub const PRESENCE_HTTP_TIMEOUT: Duration = Duration::from_secs(75);

/// Asks about presence until the task is dropped. `active()` says whether to ask now (a
/// remembered meeting, no call on); while it is `false` the loop waits on `wake` (or 5 s).
pub async fn watch(
    api: ApiClient,
    remember: Arc<dyn TokenStore>,
    active: impl Fn() -> bool,
    wake: Arc<tokio::sync::Notify>,
    report: impl Fn(PresenceEvent),
) {
    let mut known: Option<bool> = None;
    let mut backoff = Duration::from_secs(2);
    loop {
        let token = if active() { remember.load() } else { None };
        let Some(token) = token else {
            known = None;
            let _ = tokio::time::timeout(Duration::from_secs(5), wake.notified()).await;
            continue;
        };
        match api.presence(&token, known, false).await {
            Ok(p) => {
                backoff = Duration::from_secs(2);
                known = Some(p.staff_present);
                report(PresenceEvent::Known(PresenceView {
                    staff_present: p.staff_present,
                    display_name: p.display_name,
                }));
            }
            // An older server without presence: nothing to show, and the pairing is fine.
            Err(CoreError::Api {
                code: ApiErrorCode::NotFound,
                ..
            }) => {
                log::info!("presence: the server does not offer it");
                known = None;
                report(PresenceEvent::Unknown);
                let _ = tokio::time::timeout(Duration::from_secs(600), wake.notified()).await;
            }
            Err(e) => match e.public() {
                // Only this answer means the pairing is gone (the same as /rejoin's).
                PublicError::CodeNotFoundOrExpired
                    if matches!(
                        e,
                        CoreError::Api {
                            code: ApiErrorCode::CodeUnavailable,
                            ..
                        }
                    ) =>
                {
                    log::info!("presence: the remembered meeting is closed; forgetting it");
                    remember.forget();
                    known = None;
                    report(PresenceEvent::Revoked);
                }
                PublicError::RateLimited { retry_after_secs } => {
                    tokio::time::sleep(Duration::from_secs(retry_after_secs)).await;
                }
                public => {
                    log::debug!("presence: {} ({})", e.kind(), describe(&e));
                    known = None;
                    report(if public == PublicError::NoNetwork {
                        PresenceEvent::Unreachable
                    } else {
                        PresenceEvent::Unknown
                    });
                    let _ = tokio::time::timeout(backoff, wake.notified()).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            },
        }
    }
}

/// Tells the server the app closed, so the caseworker's list stops showing it open at once
/// (best effort: otherwise the server forgets it after its window).
pub async fn closing(api: &ApiClient, remember: &dyn TokenStore) {
    if let Some(token) = remember.load()
        && let Err(e) = api.presence(&token, None, true).await
    {
        log::debug!("presence: closing not sent ({})", e.kind());
    }
}

fn describe(e: &CoreError) -> &'static str {
    match e {
        CoreError::Network(_) => "no connection",
        CoreError::UntrustedServer(_) => "untrusted certificate",
        _ => "server problem",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Memory(Mutex<Option<String>>);

    impl TokenStore for Memory {
        fn load(&self) -> Option<String> {
            self.0.lock().ok()?.clone()
        }
        fn save(&self, token: &str) -> Result<(), String> {
            *self.0.lock().map_err(|e| e.to_string())? = Some(token.to_owned());
            Ok(())
        }
        fn forget(&self) {
            if let Ok(mut t) = self.0.lock() {
                *t = None;
            }
        }
    }

    /// A server that answers every request with `status` and `body`.
    async fn answering(status: &'static str, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    }

    async fn first_event(url: String, remember: Arc<Memory>) -> PresenceEvent {
        let api = ApiClient::plain(&url, Duration::from_secs(5)).expect("client");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(watch(
            api,
            remember,
            || true,
            Arc::new(tokio::sync::Notify::new()),
            move |e| {
                let _ = tx.send(e);
            },
        ));
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event")
            .expect("the watcher runs");
        task.abort();
        event
    }

    #[tokio::test]
    async fn an_older_server_without_presence_keeps_the_pairing() {
        let url = answering(
            "404 Not Found",
            r#"{"error":"not_found","message":"no such route"}"#,
        )
        .await;
        let remember = Arc::new(Memory(Mutex::new(Some("t_paired".into()))));
        assert_eq!(
            first_event(url, Arc::clone(&remember)).await,
            PresenceEvent::Unknown
        );
        assert_eq!(
            remember.load().as_deref(),
            Some("t_paired"),
            "not forgotten"
        );
    }

    #[tokio::test]
    async fn a_closed_room_makes_the_app_forget_the_pairing() {
        let url = answering(
            "404 Not Found",
            r#"{"error":"code_unavailable","message":"no open meeting"}"#,
        )
        .await;
        let remember = Arc::new(Memory(Mutex::new(Some("t_paired".into()))));
        assert_eq!(
            first_event(url, Arc::clone(&remember)).await,
            PresenceEvent::Revoked
        );
        assert_eq!(remember.load(), None);
    }

    #[tokio::test]
    async fn an_answer_is_reported() {
        let url = answering("200 OK", r#"{"staff_present":true,"display_name":"Mette"}"#).await;
        let remember = Arc::new(Memory(Mutex::new(Some("t_paired".into()))));
        assert_eq!(
            first_event(url, remember).await,
            PresenceEvent::Known(PresenceView {
                staff_present: true,
                display_name: Some("Mette".into())
            })
        );
    }
}
