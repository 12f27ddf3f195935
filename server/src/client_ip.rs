//! The client's address behind a reverse proxy (issue 17, item 3).
//!
//! Behind a TLS proxy every connection comes from the proxy, so every citizen would share one
//! look-up bucket: one address sending 2 requests a second refused 10 of 10 real citizens.
//! With trusted proxies configured (`--trusted-proxy 10.0.0.5/32`), a request whose TCP peer
//! is one of them is charged to the address the proxies forwarded in the one configured
//! header (`X-Forwarded-For` by default, or RFC 7239 `Forwarded`). The header is read from
//! the right: each trusted proxy appends the address it saw, so the right-most address that is
//! not a trusted proxy is the client; anything to its left was sent by the client and is
//! ignored. From any other peer the header is ignored, so nobody can choose their own bucket.
//!
//! The trusted proxies are also exempt from the per-address connection cap (they carry
//! everyone's connections; they enforce their own limits).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Which header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx `$proxy_add_x_forwarded_for`,
    /// HAProxy `option forwardfor`).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

impl std::str::FromStr for ForwardedHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!(
                "unknown forwarded header {other:?} (use x-forwarded-for or forwarded)"
            )),
        }
    }
}

/// The reverse proxies whose forwarded header is believed, and which header they write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// Lines about trusted proxies that forwarded nothing usable (at most a few a minute).
static NO_CLIENT_LOG: crate::log_budget::LogBudget = crate::log_budget::LogBudget::new(5, 60);

impl TrustedProxies {
    /// No proxy is trusted: every request is charged to its TCP peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses proxy addresses or networks (`10.0.0.5`, `10.0.0.0/24`, `2001:db8::/48`).
    pub fn parse<'a>(
        proxies: impl IntoIterator<Item = &'a str>,
        header: ForwardedHeader,
    ) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in proxies {
            for item in entry.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let net = match item.parse::<IpNet>() {
                    Ok(net) => net.trunc(),
                    Err(_) => item.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                        format!(
                            "trusted proxy {item:?} is not an address or a network like 10.0.0.0/24"
                        )
                    })?,
                };
                nets.push(canonical_net(net));
            }
        }
        Ok(Self { nets, header })
    }

    /// Whether any proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The address a request from `peer` with `headers` is charged to.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all(self.header.name())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut innermost = None;
        for hop in hops.iter().rev() {
            let parsed = match self.header {
                ForwardedHeader::XForwardedFor => parse_node(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop).and_then(parse_node),
            };
            let Some(ip) = parsed.map(canonical) else {
                // Garbage (or an obfuscated "unknown") before any untrusted hop: nothing
                // further left can be believed.
                innermost = None;
                break;
            };
            if !self.contains(ip) {
                return ip;
            }
            innermost = Some(ip);
        }
        // Every hop a trusted proxy: the request came from inside.
        if let Some(ip) = innermost {
            return ip;
        }
        if let Some(left_out) = NO_CLIENT_LOG.allow() {
            tracing::warn!(
                left_out,
                header = self.header.name(),
                "a trusted proxy forwarded no usable client address; charging the proxy"
            );
        }
        peer
    }
}

/// `::ffff:10.0.0.5` (or `::ffff:10.0.0.0/120`) as the IPv4 network it means: peers are
/// compared in their IPv4 form.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

/// IPv4-mapped IPv6 addresses as IPv4 (a dual-stack socket reports IPv4 clients that way).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` value of one `Forwarded` element (`for=192.0.2.60;proto=http;by=203.0.113.43`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, optionally in double quotes.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, _) = rest.split_once(']')?;
        return v6.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            if let (Ok(n), Ok(v)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                axum::http::HeaderValue::from_str(v),
            ) {
                h.append(n, v);
            }
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn peer(s: &str) -> SocketAddr {
        SocketAddr::new(ip(s), 40_000)
    }

    fn proxies(list: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::parse(list.iter().copied(), header).unwrap_or_default()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let t = proxies(&["10.0.0.5"], ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(t.client(peer("10.0.0.5"), &h), ip("198.51.100.7"));
        // Anyone else sending the header is charged to their own address.
        assert_eq!(t.client(peer("203.0.113.9"), &h), ip("203.0.113.9"));
        // Nothing trusted: the header is never read.
        assert_eq!(
            TrustedProxies::none().client(peer("10.0.0.5"), &h),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn a_client_cannot_choose_its_bucket_by_sending_the_header_itself() {
        // nginx appends the address it saw to what the client sent.
        let t = proxies(&["10.0.0.0/24"], ForwardedHeader::XForwardedFor);
        let h = headers(
            "x-forwarded-for",
            &["1.2.3.4, 5.6.7.8", "198.51.100.7, 10.0.0.6"],
        );
        assert_eq!(t.client(peer("10.0.0.5"), &h), ip("198.51.100.7"));
        let garbage = headers("x-forwarded-for", &["not an address, 198.51.100.7"]);
        assert_eq!(t.client(peer("10.0.0.5"), &garbage), ip("198.51.100.7"));
    }

    #[test]
    fn nothing_usable_charges_the_proxy() {
        let t = proxies(&["10.0.0.5"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            t.client(peer("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        let bad = headers("x-forwarded-for", &["1.2.3.4, unknown"]);
        assert_eq!(t.client(peer("10.0.0.5"), &bad), ip("10.0.0.5"));
        // Only proxies in the chain: the request came from inside.
        let inside = headers("x-forwarded-for", &["10.0.0.5"]);
        assert_eq!(t.client(peer("10.0.0.5"), &inside), ip("10.0.0.5"));
    }

    #[test]
    fn forwarded_and_ipv6_forms() {
        let t = proxies(
            &["2001:db8:ffff::/48", "10.0.0.5"],
            ForwardedHeader::Forwarded,
        );
        let h = headers(
            "forwarded",
            &["for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\";by=10.0.0.5"],
        );
        assert_eq!(t.client(peer("10.0.0.5"), &h), ip("2001:db8:cafe::17"));
        let mapped = SocketAddr::new(ip("::ffff:10.0.0.5"), 1);
        assert_eq!(t.client(mapped, &h), ip("2001:db8:cafe::17"));
        // The X-Forwarded-For header is not read when Forwarded is configured.
        let xff = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(t.client(peer("10.0.0.5"), &xff), ip("10.0.0.5"));
        assert!(t.contains(ip("2001:db8:ffff:1::1")));
        assert_eq!(parse_node("192.0.2.1:4711"), Some(ip("192.0.2.1")));
    }

    #[test]
    fn bad_configuration_is_named() {
        let err = TrustedProxies::parse(["10.0.0.0/33"], ForwardedHeader::XForwardedFor)
            .err()
            .unwrap_or_default();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!("via".parse::<ForwardedHeader>().is_err());
        let t = TrustedProxies::parse(["10.0.0.1, 10.1.0.0/16"], ForwardedHeader::Forwarded)
            .unwrap_or_default();
        assert!(t.contains(ip("10.1.2.3")) && t.contains(ip("10.0.0.1")));
        // A proxy written in its IPv4-mapped form still matches.
        let mapped = TrustedProxies::parse(["::ffff:10.0.0.5"], ForwardedHeader::XForwardedFor)
            .unwrap_or_default();
        assert!(mapped.contains(ip("10.0.0.5")));
    }
}
