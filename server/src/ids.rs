//! Random identifiers and secrets.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A new meeting id: `m_` and 16 random hex digits.
pub(crate) fn meeting_id() -> String {
    format!("m_{}", hex(&random_bytes::<8>()))
}

/// A new participant id: `p_` and 16 random hex digits.
pub(crate) fn participant_id() -> String {
    format!("p_{}", hex(&random_bytes::<8>()))
}

/// A new join token: `t_` and 32 random bytes, URL-safe base64 without padding.
pub(crate) fn join_token() -> String {
    format!("t_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A new resume secret: 32 random bytes, URL-safe base64 without padding.
pub(crate) fn resume_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let m = meeting_id();
        assert_eq!(m.len(), 18);
        assert!(m.starts_with("m_"));
        assert!(m[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        let p = participant_id();
        assert_eq!(p.len(), 18);
        assert!(p.starts_with("p_"));
        let t = join_token();
        assert_eq!(t.len(), 45);
        assert!(t.starts_with("t_"));
        assert_eq!(resume_secret().len(), 43);
        assert_ne!(join_token(), join_token());
    }
}
