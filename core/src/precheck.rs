//! The silent pre-call check (issue 16), the pure part: what a TURN allocation tried over UDP
//! and over TCP says about the network, and the report sent to the meeting so the caseworker's
//! page can say "the citizen's microphone gives no sound" before the call starts.
//!
//! The probes themselves run at the edge (`engine::relay_probe`), once per call as soon as the
//! citizen has a seat; the devices are judged by [`crate::device_watch`] as in the call. Nothing
//! here delays joining or blocks a call: it only says what it found.

pub use samtale_protocol::{CheckReport, NetworkCheck};

/// What one TURN allocation attempt gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayProbe {
    /// A relay address was allocated.
    Works,
    /// No allocation within the probe's limit (blocked, unreachable, or refused).
    Fails,
    /// The ticket has no TURN URL for this transport: nothing to try.
    NotOffered,
}

/// The network's verdict from the UDP and the TCP probe.
pub fn network_verdict(udp: RelayProbe, tcp: RelayProbe) -> NetworkCheck {
    use RelayProbe::{Fails, NotOffered, Works};
    match (udp, tcp) {
        (Works, _) | (NotOffered, Works) => NetworkCheck::Ok,
        (Fails, Works) => NetworkCheck::UdpBlocked,
        (NotOffered, NotOffered) => NetworkCheck::Untested,
        (Fails | NotOffered, Fails | NotOffered) => NetworkCheck::Blocked,
    }
}

/// Whether the citizen should be told before the call: only when no relay works at all (a call
/// then works only where a direct path exists). UDP blocked with TCP working is not the
/// citizen's problem: the call goes through TCP, and the caseworker's page says so.
pub fn network_needs_notice(network: NetworkCheck) -> bool {
    network == NetworkCheck::Blocked
}

#[cfg(test)]
mod tests {
    use super::*;
    use RelayProbe::{Fails, NotOffered, Works};

    #[test]
    fn the_verdict_says_what_a_call_can_use() {
        let cases = [
            (Works, Works, NetworkCheck::Ok),
            (Works, Fails, NetworkCheck::Ok),
            (Works, NotOffered, NetworkCheck::Ok),
            (NotOffered, Works, NetworkCheck::Ok),
            (Fails, Works, NetworkCheck::UdpBlocked),
            (Fails, Fails, NetworkCheck::Blocked),
            (Fails, NotOffered, NetworkCheck::Blocked),
            (NotOffered, Fails, NetworkCheck::Blocked),
            (NotOffered, NotOffered, NetworkCheck::Untested),
        ];
        for (udp, tcp, want) in cases {
            assert_eq!(network_verdict(udp, tcp), want, "{udp:?} {tcp:?}");
        }
    }

    #[test]
    fn only_a_network_without_any_relay_is_said_to_the_citizen() {
        assert!(network_needs_notice(NetworkCheck::Blocked));
        for n in [
            NetworkCheck::Ok,
            NetworkCheck::UdpBlocked,
            NetworkCheck::Untested,
        ] {
            assert!(!network_needs_notice(n), "{n:?}");
        }
    }
}
