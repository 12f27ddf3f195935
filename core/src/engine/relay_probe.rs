//! The network half of the silent pre-call check (issue 16): can this device get a TURN
//! allocation over UDP, and over TCP? Tried the way a call would use the relay — a peer
//! connection of the same stack, with only the ticket's TURN URLs of one transport, gathering
//! relay candidates only (TCP through the same [`super::turn_tcp`] bridge a call uses) — so a
//! "works" here means a call's relay path works. No media, no peer: the connection is closed as
//! soon as the answer is known.

use super::peer::ice_servers_for_stack;
use crate::error::{CoreError, webrtc_err};
use crate::precheck::RelayProbe;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::configuration::RTCIceTransportPolicy;
use rtc::peer_connection::state::RTCIceGatheringState;
use rtc::peer_connection::transport::RTCIceCandidateType;
use samtale_protocol::IceServer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCPeerConnectionIceEvent, SettingEngineBuilder,
};

/// How long an allocation may take before the transport counts as blocked. A TURN allocation is
/// two round trips (the unauthenticated attempt, then the signed one): well under a second on
/// any network a call could use, and a few retransmissions under heavy loss.
pub(crate) const PROBE_LIMIT: Duration = Duration::from_secs(6);

/// Which way to reach the TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// The ticket's TURN URLs for `transport` (`turn:` only; `turns:` is not used by the stack).
pub(crate) fn turn_servers(servers: &[IceServer], transport: Transport) -> Vec<IceServer> {
    servers
        .iter()
        .filter_map(|s| {
            let urls: Vec<String> = s
                .urls
                .iter()
                .filter(|u| {
                    let Some(rest) = u.strip_prefix("turn:") else {
                        return false;
                    };
                    let tcp = rest.contains("transport=tcp");
                    tcp == (transport == Transport::Tcp)
                })
                .cloned()
                .collect();
            (!urls.is_empty()).then(|| IceServer {
                urls,
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
        })
        .collect()
}

enum Heard {
    Relay,
    GatheringDone,
}

struct Handler {
    tx: mpsc::UnboundedSender<Heard>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if event.candidate.typ == RTCIceCandidateType::Relay {
            let _ = self.tx.send(Heard::Relay);
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.tx.send(Heard::GatheringDone);
        }
    }
}

/// Tries a TURN allocation over `transport` with the ticket's servers, for at most `limit`.
pub(crate) async fn probe(
    servers: &[IceServer],
    transport: Transport,
    bind_addrs: &[String],
    limit: Duration,
) -> RelayProbe {
    let servers = turn_servers(servers, transport);
    if servers.is_empty() {
        return RelayProbe::NotOffered;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    // The bridges must live until the answer is known.
    let (ice_servers, _bridges) = ice_servers_for_stack(&servers).await;
    let pc = match build(ice_servers, bind_addrs, tx).await {
        Ok(pc) => pc,
        Err(e) => {
            log::warn!("relay probe could not start: {}", e.kind());
            log::debug!("relay probe: {e}");
            return RelayProbe::Fails;
        }
    };
    // The first relay candidate answers it; gathering done without one (or the limit) is a no.
    let verdict = match tokio::time::timeout(limit, rx.recv()).await {
        Ok(Some(Heard::Relay)) => RelayProbe::Works,
        Ok(Some(Heard::GatheringDone) | None) | Err(_) => RelayProbe::Fails,
    };
    if let Err(e) = pc.close().await {
        log::debug!("closing the relay probe: {e}");
    }
    verdict
}

async fn build(
    ice_servers: Vec<webrtc::peer_connection::RTCIceServer>,
    bind_addrs: &[String],
    tx: mpsc::UnboundedSender<Heard>,
) -> Result<Arc<dyn PeerConnection>, CoreError> {
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(RTCIceTransportPolicy::Relay)
        .build();
    // As for a call: no mDNS (its multicast socket fails on networks without multicast, and
    // a relay probe has no host candidates to hide anyway).
    let setting_engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(setting_engine)
        .with_handler(Arc::new(Handler { tx }))
        .with_udp_addrs(bind_addrs.to_vec())
        .build()
        .await
        .map_err(webrtc_err)?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    // Something to negotiate, so that gathering starts.
    let started = async {
        pc.create_data_channel("samtale-probe", None)
            .await
            .map_err(webrtc_err)?;
        let offer = pc.create_offer(None).await.map_err(webrtc_err)?;
        pc.set_local_description(offer).await.map_err(webrtc_err)
    }
    .await;
    match started {
        Ok(()) => Ok(pc),
        Err(e) => {
            let _ = pc.close().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(urls: &[&str]) -> IceServer {
        IceServer {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            username: Some("u".into()),
            credential: Some("c".into()),
        }
    }

    #[test]
    fn each_probe_gets_the_turn_urls_of_its_transport() {
        let servers = [
            server(&["stun:s.example.dk:3478"]),
            server(&[
                "turn:t.example.dk:3478?transport=udp",
                "turn:t.example.dk:3478?transport=tcp",
                "turn:t.example.dk",
                "turns:t.example.dk:5349?transport=tcp",
            ]),
        ];
        let udp = turn_servers(&servers, Transport::Udp);
        assert_eq!(udp.len(), 1);
        assert_eq!(
            udp[0].urls,
            ["turn:t.example.dk:3478?transport=udp", "turn:t.example.dk"]
        );
        assert_eq!(udp[0].username.as_deref(), Some("u"));
        let tcp = turn_servers(&servers, Transport::Tcp);
        assert_eq!(tcp[0].urls, ["turn:t.example.dk:3478?transport=tcp"]);
        assert!(turn_servers(&servers[..1], Transport::Udp).is_empty());
    }

    #[tokio::test]
    async fn no_turn_in_the_ticket_is_not_offered_and_a_dead_server_fails() {
        let stun = [server(&["stun:127.0.0.1:9"])];
        let bind = ["127.0.0.1:0".to_owned()];
        assert_eq!(
            probe(&stun, Transport::Udp, &bind, PROBE_LIMIT).await,
            RelayProbe::NotOffered
        );
        // Nothing listens on the discard port: no allocation within the limit.
        let dead = [server(&["turn:127.0.0.1:9?transport=udp"])];
        assert_eq!(
            probe(&dead, Transport::Udp, &bind, Duration::from_millis(800)).await,
            RelayProbe::Fails
        );
    }
}
