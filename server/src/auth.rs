//! Staff authentication and secret hashing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of a secret; what the database stores instead of tokens and resume secrets.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two digests in constant time.
pub(crate) fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The configured staff token, kept only as a digest.
#[derive(Clone)]
pub(crate) struct StaffToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for StaffToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffToken(<redacted>)")
    }
}

impl StaffToken {
    /// Wraps the configured token.
    pub(crate) fn new(token: &str) -> Self {
        Self {
            digest: sha256(token.as_bytes()),
        }
    }

    /// Whether an `Authorization` header value carries the staff token. Comparing digests keeps
    /// the comparison constant-time and independent of the token's length.
    pub(crate) fn check_header(&self, header: Option<&[u8]>) -> bool {
        let Some(value) = header else {
            return false;
        };
        let Some(token) = strip_bearer(value) else {
            return false;
        };
        digests_equal(&sha256(token), &self.digest)
    }
}

fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    if value.len() < SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = value[SCHEME.len()..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_check() {
        let t = StaffToken::new("secret-token");
        assert!(t.check_header(Some(b"Bearer secret-token")));
        assert!(t.check_header(Some(b"bearer secret-token")));
        assert!(!t.check_header(Some(b"Bearer secret-tokeN")));
        assert!(!t.check_header(Some(b"Bearer ")));
        assert!(!t.check_header(Some(b"Basic secret-token")));
        assert!(!t.check_header(Some(b"secret-token")));
        assert!(!t.check_header(None));
    }
}
