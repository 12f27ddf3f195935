//! One trust store for HTTPS and WSS (issue 12): a server behind TLS with a certificate from
//! a private CA (a municipality's own) is trusted when the CA is configured, for the code
//! look-up and for signalling alike, and refused with the public error a citizen can act on
//! when it is not.

use samtale_core::api::ApiClient;
use samtale_core::code::JoinCode;
use samtale_core::error::CoreError;
use samtale_core::{Call, CallState, PublicError};
use samtale_e2e::tls::TestCa;
use samtale_e2e::{TestServer, TestServerOptions};
use std::time::Duration;

async fn tls_server() -> TestServer {
    TestServer::start_with(TestServerOptions {
        tls: Some(TestCa::new()),
        ..TestServerOptions::default()
    })
    .await
}

/// Joins with `extra_ca_pem` as the trust and returns the final state it fails with.
async fn fails_with(server: &TestServer, code: &str, extra_ca_pem: Option<String>) -> CallState {
    let mut config = server.config();
    config.extra_ca_pem = extra_ca_pem;
    Call::join(config, code)
        .wait_for(Duration::from_secs(15), |s| {
            matches!(s, CallState::Failed(_))
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_for_https_and_wss_when_configured() {
    let server = tls_server().await;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    // Both sides trust the CA (server.config() carries it): look-up over HTTPS, signalling
    // over WSS, then media.
    let (meeting, staff) = server.host().await;
    let citizen = server.citizen_in_call(&meeting.code).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while citizen.media_stats().audio.decoded_frames == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audio over the TLS server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    citizen.leave();
    staff.leave();
    citizen.closed().await;
    staff.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_is_refused_with_no_network_not_a_hang() {
    let server = tls_server().await;
    let (meeting, staff) = server.host().await;
    // The platform store alone does not know the municipality's CA.
    assert_eq!(
        fails_with(&server, &meeting.code, None).await,
        CallState::Failed(PublicError::NoNetwork)
    );
    // Internally it is told apart from being offline (for logs and support).
    let api = ApiClient::new(&server.url(), Duration::from_secs(5)).expect("client");
    let code = JoinCode::parse(&meeting.code).expect("code");
    let err = api.resolve(&code).await.expect_err("refused");
    assert!(matches!(err, CoreError::UntrustedServer(_)), "{err:?}");
    // Another CA's certificate is no better than none.
    assert_eq!(
        fails_with(&server, &meeting.code, Some(TestCa::new().ca_pem)).await,
        CallState::Failed(PublicError::NoNetwork)
    );
    // A configuration whose CA text is not a certificate is the app's mistake: ServerError.
    assert_eq!(
        fails_with(
            &server,
            &meeting.code,
            Some("-----BEGIN NONSENSE-----".into())
        )
        .await,
        CallState::Failed(PublicError::ServerError)
    );
    staff.leave();
    staff.closed().await;
}
