//! Server configuration.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use samtale_protocol::IceServer;

use crate::ServerError;
use crate::clock::Clock;

/// Shortest meeting lifetime a staff member may ask for, in minutes.
pub const MIN_MEETING_TTL_MINUTES: u32 = 1;
/// Longest meeting lifetime a staff member may ask for, in minutes (one week).
pub const MAX_MEETING_TTL_MINUTES: u32 = 10_080;

/// Everything [`crate::start`] needs. Build it with struct-update syntax from
/// [`ServerConfig::default`]; only `staff_token` has no usable default.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:0` (an ephemeral port).
    pub listen: SocketAddr,
    /// SQLite database file, or `":memory:"` for a throw-away database. Default
    /// `samtale.sqlite`.
    pub db_path: String,
    /// Bearer token of the staff API. Must not be empty.
    pub staff_token: String,
    /// Public base URL clients reach the server at, e.g. `https://samtale.example.dk` (a path
    /// prefix is kept). If `None`, `http://{bound address}` is used. The ticket's
    /// `signalling_url` is derived from it (`http` -> `ws`, `https` -> `wss`, plus
    /// `/api/v1/signal`).
    pub public_url: Option<String>,
    /// Default meeting lifetime in minutes (1..=10080). Default 240.
    pub meeting_ttl_minutes: u32,
    /// Lifetime of a join token in seconds. Default 300.
    pub token_ttl_secs: u64,
    /// How long a dropped seat is kept for `resume`, in seconds. Default 30.
    pub resume_grace_secs: u64,
    /// Keep-alive interval announced to clients, in seconds; a socket silent for three times
    /// this long is closed. Default 10.
    pub keepalive_secs: u64,
    /// Code look-ups a client address may make in a burst. Default 10.
    pub lookup_burst: u32,
    /// Seconds per refilled look-up token. Default 2.0.
    pub lookup_refill_secs: f64,
    /// Failed code look-ups a minute, over all clients, above which the server logs an alarm
    /// and backs off (see `guessing.rs`). Default 30.
    pub guess_alarm_per_minute: u32,
    /// Days an ended or expired meeting is kept (with its seats and tickets: when it was held,
    /// who was seated by role; no names) before every trace of it is deleted. Default 30;
    /// 1..=3650.
    pub closed_retention_days: u32,
    /// ICE servers copied into every ticket. Default empty.
    pub ice_servers: Vec<IceServer>,
    /// TURN relays; every ticket gets fresh time-limited credentials for them. Default none.
    pub turn: Option<crate::TurnConfig>,
    /// A standing room closes after this many days without a call (data minimisation), and
    /// its pairings with it. Default 90; 1..=3650.
    pub room_idle_days: u32,
    /// How long a presence question is held open while nothing changes (a long poll), in
    /// seconds. A citizen's app counts as open for this long plus 10 s after its last question.
    /// Default 25; 1..=60.
    pub presence_hold_secs: u64,
    /// Open connections one client address (IPv6: its /64) may hold; more are closed at once
    /// (0: no limit). Trusted proxies ([`Self::trusted_proxies`]) are not counted. Default
    /// 1000.
    pub max_connections_per_address: usize,
    /// Reverse proxies whose forwarded header names the client (look-up limits are then per
    /// client, not per proxy; the proxies are exempt from the connection cap). Default none:
    /// every request is charged to its TCP peer and the headers are ignored.
    pub trusted_proxies: crate::TrustedProxies,
    /// Clock for meeting and token expiry. Default [`Clock::system`].
    pub clock: Clock,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            db_path: "samtale.sqlite".to_owned(),
            staff_token: String::new(),
            public_url: None,
            meeting_ttl_minutes: 240,
            token_ttl_secs: 300,
            resume_grace_secs: 30,
            keepalive_secs: 10,
            lookup_burst: 10,
            lookup_refill_secs: 2.0,
            guess_alarm_per_minute: crate::guessing::DEFAULT_ALARM_PER_MINUTE,
            closed_retention_days: 30,
            ice_servers: Vec::new(),
            turn: None,
            room_idle_days: 90,
            presence_hold_secs: 25,
            max_connections_per_address: 1000,
            trusted_proxies: crate::TrustedProxies::none(),
            clock: Clock::system(),
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("db_path", &self.db_path)
            .field("staff_token", &"<redacted>")
            .field("public_url", &self.public_url)
            .field("meeting_ttl_minutes", &self.meeting_ttl_minutes)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("resume_grace_secs", &self.resume_grace_secs)
            .field("keepalive_secs", &self.keepalive_secs)
            .field("lookup_burst", &self.lookup_burst)
            .field("lookup_refill_secs", &self.lookup_refill_secs)
            .field("guess_alarm_per_minute", &self.guess_alarm_per_minute)
            .field("closed_retention_days", &self.closed_retention_days)
            .field("ice_servers", &self.ice_servers)
            .field("turn", &self.turn)
            .field("room_idle_days", &self.room_idle_days)
            .field("presence_hold_secs", &self.presence_hold_secs)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("clock", &self.clock)
            .finish()
    }
}

impl ServerConfig {
    /// Checks the values that do not depend on the bound address.
    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        if self.staff_token.trim().is_empty() {
            return Err(ServerError::Config(
                "a staff token is required (it must not be empty)".into(),
            ));
        }
        let chars = self.staff_token.trim().chars().count();
        if chars < crate::MIN_STAFF_TOKEN_CHARS {
            return Err(ServerError::Config(format!(
                "the staff token has {chars} characters; at least {} are needed (make one with: head -c 32 /dev/urandom | base64)",
                crate::MIN_STAFF_TOKEN_CHARS
            )));
        }
        if !(MIN_MEETING_TTL_MINUTES..=MAX_MEETING_TTL_MINUTES).contains(&self.meeting_ttl_minutes)
        {
            return Err(ServerError::Config(format!(
                "meeting_ttl_minutes must be within {MIN_MEETING_TTL_MINUTES}..={MAX_MEETING_TTL_MINUTES}"
            )));
        }
        if self.token_ttl_secs == 0 || self.token_ttl_secs > 86_400 {
            return Err(ServerError::Config(
                "token_ttl_secs must be within 1..=86400".into(),
            ));
        }
        if self.resume_grace_secs == 0 || self.resume_grace_secs > 86_400 {
            return Err(ServerError::Config(
                "resume_grace_secs must be within 1..=86400".into(),
            ));
        }
        if !(1..=3650).contains(&self.room_idle_days) {
            return Err(ServerError::Config(
                "room_idle_days must be within 1..=3650".into(),
            ));
        }
        if !(1..=60).contains(&self.presence_hold_secs) {
            return Err(ServerError::Config(
                "presence_hold_secs must be within 1..=60".into(),
            ));
        }
        if self.keepalive_secs == 0 || self.keepalive_secs > 3_600 {
            return Err(ServerError::Config(
                "keepalive_secs must be within 1..=3600".into(),
            ));
        }
        if !(1..=3650).contains(&self.closed_retention_days) {
            return Err(ServerError::Config(
                "closed_retention_days must be within 1..=3650".into(),
            ));
        }
        if self.guess_alarm_per_minute == 0 {
            return Err(ServerError::Config(
                "guess_alarm_per_minute must be at least 1".into(),
            ));
        }
        if self.lookup_burst == 0 {
            return Err(ServerError::Config(
                "lookup_burst must be at least 1".into(),
            ));
        }
        if !(self.lookup_refill_secs.is_finite()
            && self.lookup_refill_secs > 0.0
            && self.lookup_refill_secs <= 86_400.0)
        {
            return Err(ServerError::Config(
                "lookup_refill_secs must be a positive number of seconds (at most 86400)".into(),
            ));
        }
        if let Some(url) = &self.public_url {
            public_urls(url)?;
        }
        if let Some(turn) = &self.turn {
            turn.validate().map_err(ServerError::Config)?;
        }
        Ok(())
    }
}

/// The base URL (no trailing slash) and the signalling URL derived from a public URL.
pub(crate) fn public_urls(public_url: &str) -> Result<(String, String), ServerError> {
    let bad = |why: &str| ServerError::Config(format!("public_url is not usable: {why}"));
    let mut url = url::Url::parse(public_url.trim()).map_err(|e| bad(&e.to_string()))?;
    let ws_scheme = match url.scheme() {
        "http" => "ws",
        "https" => "wss",
        _ => return Err(bad("the scheme must be http or https")),
    };
    if url.host_str().is_none() {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain credentials"));
    }
    url.set_query(None);
    url.set_fragment(None);
    let prefix = url.path().trim_end_matches('/').to_owned();
    url.set_path(&prefix);
    let base = url.as_str().trim_end_matches('/').to_owned();
    let authority_and_path = base
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| bad("it has no authority"))?;
    let signalling = format!("{ws_scheme}://{authority_and_path}/api/v1/signal");
    Ok((base, signalling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_signalling_url() {
        let (base, ws) = public_urls("http://127.0.0.1:9000").expect("ok");
        assert_eq!(base, "http://127.0.0.1:9000");
        assert_eq!(ws, "ws://127.0.0.1:9000/api/v1/signal");
        let (base, ws) = public_urls("https://samtale.example.dk/").expect("ok");
        assert_eq!(base, "https://samtale.example.dk");
        assert_eq!(ws, "wss://samtale.example.dk/api/v1/signal");
        let (base, ws) = public_urls("https://example.dk:8443/kommune/samtale/?x=1").expect("ok");
        assert_eq!(base, "https://example.dk:8443/kommune/samtale");
        assert_eq!(ws, "wss://example.dk:8443/kommune/samtale/api/v1/signal");
        assert!(public_urls("ftp://example.dk").is_err());
        assert!(public_urls("not a url").is_err());
    }

    #[test]
    fn validation() {
        let ok = ServerConfig {
            staff_token: "s".repeat(20),
            ..ServerConfig::default()
        };
        assert!(ok.validate().is_ok());
        assert!(ServerConfig::default().validate().is_err());
        let bad = ServerConfig {
            lookup_refill_secs: f64::NAN,
            ..ok.clone()
        };
        assert!(bad.validate().is_err());
        assert!(!format!("{ok:?}").contains("ssssssssssssssssssss"));
        let weak = ServerConfig {
            staff_token: "a".into(),
            ..ok.clone()
        };
        assert!(weak.validate().is_err());
    }
}
