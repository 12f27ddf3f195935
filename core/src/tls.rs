//! One trust decision for every TLS connection the core makes: HTTPS to the server's API and
//! WSS for signalling use the same `rustls` client configuration, verified by the platform
//! (`rustls-platform-verifier`: Android's trust manager, Apple's Security framework, the
//! system store on desktop Linux), plus the extra roots a configuration brings (a
//! municipality's own CA, or a test's). So a certificate is trusted by both or by neither.
//!
//! Android: the platform verifier calls into the JVM and must be initialised once with the
//! app's `Context` before the first connection (`samtale-ffi` exports that init; see
//! docs/bindings.md). Android's verifier takes no extra roots: there a municipality's CA
//! belongs in the app's `network_security_config`, which the platform verifier honours.

use crate::error::CoreError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::{Arc, Mutex};

/// The client TLS configuration for HTTPS and WSS, trusting the platform's roots plus
/// `extra_ca_pem` (PEM certificates; ignored on Android, see the module docs). Built once per
/// process and trust (reading the system store takes 2-6 ms on desktop Linux), then shared.
pub fn client_config(extra_ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, CoreError> {
    static BUILT: Mutex<Vec<(Option<String>, Arc<rustls::ClientConfig>)>> = Mutex::new(Vec::new());
    let key = extra_ca_pem.map(str::to_owned);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, config)) = built.iter().find(|(k, _)| *k == key) {
        return Ok(Arc::clone(config));
    }
    let config = build(extra_ca_pem)?;
    if built.len() >= 4 {
        built.remove(0);
    }
    built.push((key, Arc::clone(&config)));
    Ok(config)
}

fn build(extra_ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, CoreError> {
    crate::api::ensure_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match extra_ca_pem {
        Some(pem) => parse_roots(pem)?,
        None => Vec::new(),
    };
    let verifier = platform_verifier(extra, Arc::clone(&provider))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CoreError::InvalidTrust(format!("protocol versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A configuration that trusts no certificate at all: for plain-`http://` clients on a
/// machine without a CA store, where any `https://` connection should fail, clearly.
pub(crate) fn trusting_nothing() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
    match config {
        Ok(config) => Arc::new(config),
        // The ring provider supports the default versions; this cannot fail in practice.
        Err(e) => {
            log::error!("no TLS configuration: {e}");
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        }
    }
}

fn parse_roots(pem: &str) -> Result<Vec<CertificateDer<'static>>, CoreError> {
    let roots = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CoreError::InvalidTrust(format!("extra CA: {e}")))?;
    if roots.is_empty() {
        return Err(CoreError::InvalidTrust(
            "extra CA: no certificate in the PEM text".into(),
        ));
    }
    Ok(roots)
}

#[cfg(not(target_os = "android"))]
fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, CoreError> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
        .map_err(|e| CoreError::InvalidTrust(format!("platform verifier: {e}")))
}

#[cfg(target_os = "android")]
fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, CoreError> {
    if !extra.is_empty() {
        log::warn!("extra CA roots are ignored on Android: use network_security_config");
    }
    rustls_platform_verifier::Verifier::new(provider)
        .map_err(|e| CoreError::InvalidTrust(format!("platform verifier: {e}")))
}

/// Whether `err` (or anything in its source chain) is a refused server certificate.
pub(crate) fn is_certificate_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && is_certificate_error(inner)
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_extra_roots_are_a_clear_error() {
        let err = client_config(Some("not a certificate")).err();
        assert!(
            matches!(&err, Some(CoreError::InvalidTrust(m)) if m.contains("no certificate")),
            "{err:?}"
        );
    }

    #[test]
    fn the_platform_store_alone_builds() {
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn a_refused_certificate_is_found_through_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert!(is_certificate_error(&io));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_certificate_error(&other));
    }
}
