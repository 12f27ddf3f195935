//! One WebRTC peer connection per remote participant (mesh), with an audio and a video track.

use super::Input;
use super::media_io::{Estimate, FeedbackForApp, MediaIo, OutTrack, PublishingEstimator};
use super::turn_tcp::TcpTurnBridge;
use crate::error::{CoreError, webrtc_err};
use crate::media::MediaKind;
use crate::stats::StatsRecorder;
use samtale_protocol::IceServer;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::Duration;
use tokio::sync::mpsc;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{CongestionControlBuilder, Gcc, NackGeneratorBuilder, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_twcc,
};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use samtale_protocol::status::{STATUS_CHANNEL_ID, STATUS_CHANNEL_LABEL};
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    Registry, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

/// Payload type we offer for Opus.
pub(crate) const OPUS_PT: u8 = 111;
/// Payload type we offer for H.264 Constrained Baseline, packetization-mode 1.
pub(crate) const H264_PT: u8 = 102;

/// ICE tuning. The check interval dominates the time to the first connection.
#[derive(Debug, Clone)]
pub struct IceTuning {
    /// Delay between connectivity checks (webrtc-rs default 200 ms).
    pub check_interval: Duration,
    /// Checks per candidate pair before giving up on it.
    pub max_binding_requests: u16,
    /// No traffic for this long: ICE "disconnected".
    pub disconnected_timeout: Duration,
    /// Disconnected for this long: ICE "failed".
    pub failed_timeout: Duration,
    /// Keep-alive interval while idle.
    pub keepalive_interval: Duration,
    /// How long the controlling side waits for a better pair before nominating a working pair
    /// with a peer-reflexive, server-reflexive or relay candidate (host pairs: at once). The
    /// nomination is final, so a relay is given time to be beaten by a direct path.
    pub prflx_wait: Duration,
    /// See `prflx_wait`.
    pub srflx_wait: Duration,
    /// See `prflx_wait`.
    pub relay_wait: Duration,
}

impl Default for IceTuning {
    fn default() -> Self {
        Self {
            // 8x faster than webrtc-rs' default of 200 ms. With 56 attempts a pair is tried for
            // ~1.4 s, the same window as the default 200 ms x 7, so a dead pair is given up at the
            // same time; meanwhile it costs 40 small STUN requests/s instead of 5. Measured in
            // docs/benchmarks.md (200 ms: median 258 ms join -> first media; 25 ms: 78 ms).
            check_interval: Duration::from_millis(25),
            max_binding_requests: 56,
            // Trouble shows after 2 s of silence ("reconnecting", recovery starts 1 s later).
            disconnected_timeout: Duration::from_secs(2),
            // Never give the old path up on our own: while the signalling path is down too it is
            // the only way back, and ICE keeps checking it every `keepalive_interval`, so a path
            // that returns is back within a quarter of a second. The call's own deadline (120 s) ends it.
            failed_timeout: Duration::from_secs(150),
            keepalive_interval: Duration::from_millis(250),
            // webrtc-rs defaults: 1000, 500 and 2000 ms. After an ICE restart the peer's checks
            // often arrive before its candidates (a peer-reflexive pair): 1 s of every restart
            // was this wait (measured: new address -> picture 1045 ms, 25 ms without it).
            prflx_wait: Duration::from_millis(100),
            srflx_wait: Duration::from_millis(200),
            relay_wait: Duration::from_millis(1000),
        }
    }
}

/// A local track and what is needed to write packets to it.
#[derive(Clone)]
pub(crate) struct LocalTrack {
    pub(crate) out: OutTrack,
    pub(crate) sender: Arc<dyn RtpSender>,
}

/// The congestion controller's bounds (bits/s).
const GCC_INITIAL_BPS: f64 = 500_000.0;
const GCC_MIN_BPS: f64 = 50_000.0;
const GCC_MAX_BPS: f64 = 1_500_000.0;
/// After every interceptor that reads RTCP.
const FEEDBACK_SLOT: usize = 14_000;

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn h264_codec() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .to_owned(),
        rtcp_feedback: vec![
            fb("goog-remb", ""),
            fb("transport-cc", ""),
            fb("ccm", "fir"),
            fb("nack", ""),
            fb("nack", "pli"),
        ],
    }
}

/// Everything the builder needs that is not per-peer.
pub(crate) struct PeerContext {
    pub(crate) bind_addrs: Vec<String>,
    pub(crate) ice: IceTuning,
    pub(crate) ice_servers: Vec<IceServer>,
    pub(crate) events: mpsc::UnboundedSender<Input>,
    pub(crate) stats: Arc<StatsRecorder>,
    pub(crate) media: Arc<MediaIo>,
    pub(crate) inbound_filter: Option<super::InboundFilter>,
    pub(crate) send_audio: bool,
    pub(crate) send_video: bool,
}

/// A built peer connection with its local tracks.
pub(crate) struct BuiltPeer {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) audio: Option<LocalTrack>,
    pub(crate) video: Option<LocalTrack>,
    pub(crate) estimate: Arc<Estimate>,
    /// The status channel (`samtale_protocol::status`); `None` if the stack refused it (the
    /// call goes on without statuses).
    pub(crate) status: Option<Arc<dyn DataChannel>>,
    /// TURN-over-TCP bridges this connection's ICE servers point at; they live as long as it.
    pub(crate) turn_bridges: Vec<TcpTurnBridge>,
}

/// The ticket's ICE servers as the stack gets them. `turn:…?transport=tcp` URLs, which
/// webrtc-rs cannot use itself, are served through a [`TcpTurnBridge`] each.
pub(super) async fn ice_servers_for_stack(
    servers: &[IceServer],
) -> (Vec<RTCIceServer>, Vec<TcpTurnBridge>) {
    let mut bridges = Vec::new();
    let mut out = Vec::new();
    for server in servers {
        let mut urls = Vec::new();
        for url in &server.urls {
            match turn_tcp_target(url) {
                Some(target) => match TcpTurnBridge::start(target).await {
                    Ok(bridge) => {
                        urls.push(format!("turn:{}?transport=udp", bridge.local_addr()));
                        bridges.push(bridge);
                    }
                    Err(e) => log::warn!("cannot start the TURN-over-TCP bridge: {e}"),
                },
                None => urls.extend(resolved_ice_urls(url).await),
            }
        }
        out.push(RTCIceServer {
            urls,
            username: server.username.clone().unwrap_or_default(),
            credential: server.credential.clone().unwrap_or_default(),
        });
    }
    (out, bridges)
}

/// The parts of a `stun:`/`turn:` URL (RFC 7064/7065): scheme, host (without brackets), port
/// (if given) and query (with its `?`).
fn ice_url_parts(url: &str) -> Option<(&str, &str, Option<u16>, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    if !matches!(scheme, "stun" | "turn") {
        return None;
    }
    let (hostport, query) = match rest.find('?') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    (!host.is_empty()).then_some((scheme, host, port, query))
}

/// An ICE server URL with a host name, as one URL per address the name has in *both*
/// families (IPv6 literals bracketed): on an IPv6-only network the stack must not be left
/// with only an IPv4 answer. IP literals, and names that do not resolve now (the stack tries
/// again itself), are kept as they are.
async fn resolved_ice_urls(url: &str) -> Vec<String> {
    let Some((scheme, host, port, query)) = ice_url_parts(url) else {
        return vec![url.to_owned()];
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return vec![url.to_owned()];
    }
    let lookup_port = port.unwrap_or(3478);
    match tokio::net::lookup_host((host, lookup_port)).await {
        Ok(addrs) => {
            let mut out: Vec<String> = Vec::new();
            for addr in addrs {
                let ip = match addr.ip() {
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                    v4 => v4.to_string(),
                };
                let url = format!("{scheme}:{ip}:{lookup_port}{query}");
                if !out.contains(&url) {
                    out.push(url);
                }
            }
            if out.is_empty() {
                vec![url.to_owned()]
            } else {
                out
            }
        }
        Err(e) => {
            log::debug!("cannot resolve an ICE server's host name now: {e}");
            vec![url.to_owned()]
        }
    }
}

/// `host:port` of a `turn:host[:port]?transport=tcp` URL (RFC 7065), else `None`.
fn turn_tcp_target(url: &str) -> Option<String> {
    let rest = url.strip_prefix("turn:")?;
    let (hostport, query) = rest.split_once('?')?;
    let tcp = query
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("transport=tcp"));
    if !tcp || hostport.is_empty() {
        return None;
    }
    let has_port = match hostport.rfind(']') {
        Some(end) => hostport[end..].contains(':'),
        None => hostport.contains(':'),
    };
    Some(if has_port {
        hostport.to_owned()
    } else {
        format!("{hostport}:3478")
    })
}

/// Creates the peer connection for `peer`; events are tagged with `generation`.
pub(crate) async fn build(
    ctx: &PeerContext,
    peer: &str,
    generation: u64,
) -> Result<BuiltPeer, CoreError> {
    let mut media_engine = MediaEngine::default();
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PT,
            },
            RtpCodecKind::Audio,
        )
        .map_err(webrtc_err)?;
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: h264_codec(),
                payload_type: H264_PT,
            },
            RtpCodecKind::Video,
        )
        .map_err(webrtc_err)?;
    // NACK, sender/receiver reports, transport-wide congestion control feedback both ways with
    // Google Congestion Control estimating our send rate, and keyframe requests and NACKs for
    // us. No pacer: the encoders follow the estimate (media/rate.rs), and a pacer's queue would
    // put audio behind video and add delay exactly when the link is weak.
    let estimate = Arc::new(Estimate::default());
    let gcc = Gcc::new(GCC_INITIAL_BPS, GCC_MIN_BPS, GCC_MAX_BPS);
    // The stack's NACK generator asks for lost video packets; answering is ours (media_io's
    // video writer keeps what it sent): webrtc-rs 0.21.1's responder re-sends without RTX and its
    // retransmissions stalled our other outgoing packets on a lossy, rate-limited path (measured:
    // 3/4 of the audio never left; see docs/benchmarks.md).
    for (typ, parameter) in [("nack", ""), ("nack", "pli")] {
        media_engine.register_feedback(
            RTCPFeedback {
                typ: typ.to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    let registry = Registry::new().with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
    let registry = configure_rtcp_reports(registry);
    let registry = configure_twcc(registry, &mut media_engine)
        .map_err(webrtc_err)?
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(PublishingEstimator::new(gcc, Arc::clone(&estimate)))
                .build(),
        )
        .with(Slot::from(FEEDBACK_SLOT), FeedbackForApp::default());

    let setting_engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_connection_attempts(
            Some(ctx.ice.check_interval),
            Some(ctx.ice.max_binding_requests),
        )
        .with_ice_timeouts(
            Some(ctx.ice.disconnected_timeout),
            Some(ctx.ice.failed_timeout),
            Some(ctx.ice.keepalive_interval),
        )
        .with_host_acceptance_min_wait(Some(Duration::ZERO))
        .with_prflx_acceptance_min_wait(Some(ctx.ice.prflx_wait))
        .with_srflx_acceptance_min_wait(Some(ctx.ice.srflx_wait))
        .with_relay_acceptance_min_wait(Some(ctx.ice.relay_wait))
        // An ICE restart binds new sockets on the interfaces that exist then (a new address
        // after a network change) instead of reusing the old ones.
        .with_discard_local_candidates_during_ice_restart(true)
        .build();

    let (ice_servers, turn_bridges) = ice_servers_for_stack(&ctx.ice_servers).await;
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .build();

    let handler = Arc::new(Handler {
        peer: peer.to_owned(),
        generation,
        events: ctx.events.clone(),
        stats: Arc::clone(&ctx.stats),
        media: Arc::clone(&ctx.media),
        filter: ctx.inbound_filter.clone(),
    });
    let mut builder = PeerConnectionBuilder::new();
    // Every UDP socket of the stack answers a peer's repeated DTLS flight (issue 21).
    if let Some(runtime) = super::dtls_flights::GuardedRuntime::default_guarded() {
        builder = builder.with_runtime(runtime);
    }
    let pc = builder
        .with_configuration(config)
        .with_media_engine(media_engine)
        .with_setting_engine(setting_engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(ctx.bind_addrs.clone())
        .build()
        .await
        .map_err(webrtc_err)?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    match add_tracks(&pc, ctx).await {
        Ok((audio, video)) => Ok(BuiltPeer {
            status: status_channel(&pc).await,
            pc,
            audio,
            video,
            estimate,
            turn_bridges,
        }),
        Err(e) => {
            // Dropping a connection does not stop its driver: close it.
            let _ = pc.close().await;
            Err(e)
        }
    }
}

/// The status channel, created before the first offer on both sides (negotiated out of band:
/// no in-band handshake to lose, and either side may offer).
async fn status_channel(pc: &Arc<dyn PeerConnection>) -> Option<Arc<dyn DataChannel>> {
    let init = RTCDataChannelInit {
        ordered: false,
        max_retransmits: Some(0),
        negotiated: Some(STATUS_CHANNEL_ID),
        ..Default::default()
    };
    match pc
        .create_data_channel(STATUS_CHANNEL_LABEL, Some(init))
        .await
    {
        Ok(dc) => Some(dc),
        Err(e) => {
            log::warn!("no status channel: {e}");
            None
        }
    }
}

async fn add_tracks(
    pc: &Arc<dyn PeerConnection>,
    ctx: &PeerContext,
) -> Result<(Option<LocalTrack>, Option<LocalTrack>), CoreError> {
    let audio = if ctx.send_audio {
        Some(add_track(pc, MediaKind::Audio).await?)
    } else {
        None
    };
    let video = if ctx.send_video {
        Some(add_track(pc, MediaKind::Video).await?)
    } else {
        None
    };
    Ok((audio, video))
}

async fn add_track(pc: &Arc<dyn PeerConnection>, kind: MediaKind) -> Result<LocalTrack, CoreError> {
    let (codec, rtp_kind) = match kind {
        MediaKind::Audio => (opus_codec(), RtpCodecKind::Audio),
        MediaKind::Video => (h264_codec(), RtpCodecKind::Video),
    };
    let ssrc = rand::random::<u32>();
    let default_pt = match kind {
        MediaKind::Audio => OPUS_PT,
        MediaKind::Video => H264_PT,
    };
    // Unique ids: the stack routes keyframe requests about our track by its id, and the other
    // Samtale peer's incoming track must not share it.
    let unique = format!("{:016x}", rand::random::<u64>());
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("samtale-{unique}"),
        format!("samtale-{}-{unique}", kind.name()),
        format!("samtale-{}-{unique}", kind.name()),
        rtp_kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )));
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .map_err(webrtc_err)?;
    Ok(LocalTrack {
        out: OutTrack {
            track,
            ssrc,
            payload_type: Arc::new(AtomicU8::new(default_pt)),
        },
        sender,
    })
}

/// The payload type negotiated for a sender (Chromium may answer with its own numbers).
pub(crate) async fn negotiated_payload_type(sender: &Arc<dyn RtpSender>) -> Option<u8> {
    sender
        .get_parameters()
        .await
        .ok()?
        .rtp_parameters
        .codecs
        .first()
        .map(|c| c.payload_type)
}

struct Handler {
    peer: String,
    generation: u64,
    events: mpsc::UnboundedSender<Input>,
    stats: Arc<StatsRecorder>,
    media: Arc<MediaIo>,
    filter: Option<super::InboundFilter>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                let _ = self.events.send(Input::LocalCandidate(
                    self.peer.clone(),
                    self.generation,
                    init,
                ));
            }
            Err(e) => log::warn!("cannot serialise local candidate: {e}"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(Input::PeerConnectionState(
            self.peer.clone(),
            self.generation,
            state,
        ));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = match track.kind().await {
            RtpCodecKind::Audio => MediaKind::Audio,
            RtpCodecKind::Video => MediaKind::Video,
            other => {
                log::warn!("ignoring remote track of kind {other}");
                return;
            }
        };
        let peer = self.peer.clone();
        let stats = Arc::clone(&self.stats);
        let media = Arc::clone(&self.media);
        let filter = self.filter.clone();
        let keep = move |packet: &rtc::rtp::Packet| filter.as_ref().is_none_or(|f| f(kind, packet));
        // The tasks end when the track ends (poll returns None when the connection closes).
        match kind {
            MediaKind::Audio => {
                tokio::spawn(async move {
                    while let Some(event) = track.poll().await {
                        match event {
                            TrackRemoteEvent::OnRtpPacket(packet) if keep(&packet) => {
                                stats.packet_received(&peer, kind, packet.payload.len());
                                media.on_audio(&peer, &packet);
                            }
                            TrackRemoteEvent::OnEnded => break,
                            _ => {}
                        }
                    }
                });
            }
            MediaKind::Video => {
                let who = peer.clone();
                tokio::spawn(media.run_video_track(peer, track, move |packet| {
                    let kept = keep(packet);
                    if kept {
                        stats.packet_received(&who, kind, packet.payload.len());
                    }
                    kept
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ice_url_parts, resolved_ice_urls, turn_tcp_target};

    #[test]
    fn ice_urls_are_taken_apart() {
        assert_eq!(
            ice_url_parts("turn:turn.kommune.dk:3478?transport=udp"),
            Some(("turn", "turn.kommune.dk", Some(3478), "?transport=udp"))
        );
        assert_eq!(
            ice_url_parts("stun:[2001:db8::1]"),
            Some(("stun", "2001:db8::1", None, ""))
        );
        assert_eq!(ice_url_parts("turns:x:5349"), None);
        assert_eq!(ice_url_parts("turn::3478"), None);
        assert_eq!(ice_url_parts("turn:x:port"), None);
    }

    #[tokio::test]
    async fn host_names_become_addresses_of_both_families_and_literals_stay() {
        let got = resolved_ice_urls("turn:localhost:3478?transport=udp").await;
        assert!(
            got.contains(&"turn:127.0.0.1:3478?transport=udp".to_owned()),
            "{got:?}"
        );
        // Whatever the resolver answers for ::1 is kept too, bracketed.
        assert!(
            got.iter().all(|u| u.ends_with(":3478?transport=udp")),
            "{got:?}"
        );
        let v6 = tokio::net::lookup_host(("localhost", 1))
            .await
            .map(|a| a.filter(|a| a.is_ipv6()).count())
            .unwrap_or(0);
        if v6 > 0 {
            assert!(
                got.contains(&"turn:[::1]:3478?transport=udp".to_owned()),
                "{got:?}"
            );
        }
        for kept in [
            "stun:192.0.2.1:3478",
            "turn:[2001:db8::1]:3478?transport=udp",
            "stun:samtale.invalid",
        ] {
            assert_eq!(resolved_ice_urls(kept).await, vec![kept.to_owned()]);
        }
    }

    #[test]
    fn tcp_turn_urls_are_recognised() {
        let t = |u: &str| turn_tcp_target(u);
        assert_eq!(
            t("turn:10.0.0.1:3478?transport=tcp").as_deref(),
            Some("10.0.0.1:3478")
        );
        assert_eq!(
            t("turn:turn.example.dk?transport=tcp").as_deref(),
            Some("turn.example.dk:3478")
        );
        assert_eq!(t("turn:[::1]?transport=tcp").as_deref(), Some("[::1]:3478"));
        assert_eq!(
            t("turn:[::1]:5349?transport=tcp").as_deref(),
            Some("[::1]:5349")
        );
        assert_eq!(t("turn:10.0.0.1:3478?transport=udp"), None);
        assert_eq!(t("turn:10.0.0.1:3478"), None);
        assert_eq!(t("turns:10.0.0.1:5349?transport=tcp"), None);
        assert_eq!(t("stun:10.0.0.1:3478"), None);
    }
}
