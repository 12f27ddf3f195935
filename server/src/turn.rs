//! Time-limited TURN credentials, minted per ticket with coturn's shared-secret scheme ("TURN
//! REST API", `use-auth-secret` + `static-auth-secret` in coturn): the username is
//! `<unix expiry>:<random id>` and the password is `base64(HMAC-SHA1(secret, username))`. coturn
//! checks both without asking us, and refuses the pair after the expiry. The random id carries
//! no personal data (no meeting, code or name).

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use samtale_protocol::IceServer;
use sha1::Sha1;

/// Shortest and longest credential lifetime accepted, in seconds.
pub const TURN_TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=7 * 86_400;

/// TURN relays offered in every ticket.
#[derive(Clone)]
pub struct TurnConfig {
    /// `turn:` / `turns:` URLs, e.g. `turn:turn.example.dk:3478?transport=udp` and
    /// `turn:turn.example.dk:3478?transport=tcp`.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// Credential lifetime in seconds (it must outlast a call: rejoin gets new ones).
    pub ttl_secs: u64,
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

impl TurnConfig {
    /// Checks the URLs, the secret and the lifetime.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            return Err("TURN needs at least one turn: URL".into());
        }
        if let Some(bad) = self
            .urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(format!("not a turn: or turns: URL: {bad}"));
        }
        if self.secret.trim().is_empty() {
            return Err("the TURN secret must not be empty".into());
        }
        if !TURN_TTL_RANGE.contains(&self.ttl_secs) {
            return Err(format!(
                "the TURN credential lifetime must be within {}..={} seconds",
                TURN_TTL_RANGE.start(),
                TURN_TTL_RANGE.end()
            ));
        }
        Ok(())
    }

    /// Fresh credentials valid until `now_unix + ttl_secs`.
    pub(crate) fn mint(&self, now_unix: u64) -> IceServer {
        let username = format!(
            "{}:{:016x}",
            now_unix.saturating_add(self.ttl_secs),
            rand::random::<u64>()
        );
        IceServer {
            urls: self.urls.clone(),
            credential: Some(credential(&self.secret, &username)),
            username: Some(username),
        }
    }
}

/// `base64(HMAC-SHA1(secret, username))`, as coturn computes it.
pub(crate) fn credential(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_matches_a_known_answer() {
        // printf '%s' '1700000000:0123456789abcdef' | openssl dgst -sha1 -hmac 'north-secret' -binary | base64
        assert_eq!(
            credential("north-secret", "1700000000:0123456789abcdef"),
            KNOWN
        );
    }

    const KNOWN: &str = "EbqP+CUAhpDVdnQoq4ZF3iy+1us=";

    #[test]
    fn minted_usernames_expire_after_the_ttl_and_carry_no_data() {
        let config = TurnConfig {
            urls: vec!["turn:10.0.0.1:3478?transport=udp".into()],
            secret: "s3cret".into(),
            ttl_secs: 600,
        };
        let a = config.mint(1_000_000);
        let b = config.mint(1_000_000);
        let user = a.username.clone().expect("test");
        let (expiry, id) = user.split_once(':').expect("test");
        assert_eq!(expiry, "1000600");
        assert_eq!(id.len(), 16);
        assert_ne!(a.username, b.username, "a fresh id per ticket");
        assert_eq!(a.credential.expect("test"), credential("s3cret", &user));
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn bad_configs_are_refused() {
        let ok = TurnConfig {
            urls: vec!["turn:10.0.0.1:3478".into()],
            secret: "x".into(),
            ttl_secs: 3600,
        };
        assert!(ok.validate().is_ok());
        let bad = |f: fn(&mut TurnConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().is_err()
        };
        assert!(bad(|c| c.urls = vec!["stun:10.0.0.1".into()]));
        assert!(bad(|c| c.urls.clear()));
        assert!(bad(|c| c.secret = " ".into()));
        assert!(bad(|c| c.ttl_secs = 10));
    }
}
