// What each participant tells the others, peer to peer, about what it hears and sends, and the
// judgement "they can't hear you" made from it. The browser's side of samtale_protocol::status
// (docs/protocol.md, "Status channel") and of the core's hearing.rs: the same message, the same
// rules and windows, so the caseworker's page and the citizen's app agree.

export const STATUS_CHANNEL = { label: 'samtale-status', id: 0 };
export const STATUS_INTERVAL_MS = 1000;
const STATUS_VERSION = 1;
const STATUS_MAX_BYTES = 2048;

/** Speaking this long (ms, pauses not counted) with none of it arriving: not heard. */
export const UNHEARD_MS = 4000;
/** Sending pictures this long (ms) without the peer decoding any: not seen. */
export const UNSEEN_MS = 5000;
/** A status older than this (ms) is not evidence. */
const FRESH_MS = 3000;
/** RMS (full scale 1.0) above which our own microphone counts as speech (about -41 dBFS). */
const SPEECH_RMS = 300 / 32768;

/** The status channel of a new connection, negotiated out of band (no DCEP handshake). */
export function openStatusChannel(pc) {
  return pc.createDataChannel(STATUS_CHANNEL.label, {
    negotiated: true,
    id: STATUS_CHANNEL.id,
    ordered: false,
    maxRetransmits: 0,
  });
}

/** A received status, or null when it is not one (too large, not JSON, not an object). */
export function parseStatus(data) {
  if (typeof data !== 'string' || data.length > STATUS_MAX_BYTES) return null;
  try {
    const s = JSON.parse(data);
    return s && typeof s === 'object' && !Array.isArray(s) ? s : null;
  } catch {
    return null;
  }
}

/**
 * Follows one peer connection: builds our status for the peer from getStats() and judges
 * theirs. Call `tick(report, tracks, theirStatus, theirAge)` once a STATUS_INTERVAL_MS.
 */
export class StatusWatch {
  constructor() {
    this.prev = null; // our counters at the last tick
    this.soundFrames = 0; // 10 ms frames with sound received from the peer
    this.heard = null; // their audio_sound about us, last seen
    this.seen = null;
    this.receivedSound = null;
    this.unheardMs = 0;
    this.notHearingMs = 0;
    this.unseenMs = 0;
    this.last = null;
  }

  /**
   * @param {RTCStatsReport} report  this connection's getStats()
   * @param {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} tracks  ours
   * @param {object|null} theirs  the peer's last status
   * @param {number} theirAgeMs  its age
   * @returns {{status: object, verdict: object}}  what to send; what to show
   */
  tick(report, tracks, theirs, theirAgeMs) {
    const now = Date.now();
    const c = { audioPackets: 0, samples: 0, energy: 0, level: null, videoFrames: 0,
      micEnergy: 0, micDuration: 0, audioSent: 0, videoSent: 0 };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        c.audioPackets = s.packetsReceived ?? 0;
        c.samples = (s.totalSamplesReceived ?? 0) - (s.concealedSamples ?? 0);
        c.energy = s.totalAudioEnergy ?? 0;
        c.level = s.audioLevel ?? null;
      } else if (s.type === 'inbound-rtp' && s.kind === 'video') {
        c.videoFrames = s.framesDecoded ?? 0;
      } else if (s.type === 'media-source' && s.kind === 'audio') {
        c.micEnergy = s.totalAudioEnergy ?? 0;
        c.micDuration = s.totalSamplesDuration ?? 0;
      } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        c.audioSent = s.packetsSent ?? 0;
      } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
        c.videoSent = s.framesEncoded ?? 0;
      }
    });
    const p = this.prev;
    const dt = this.last === null ? 0 : now - this.last;
    this.last = now;
    this.prev = c;
    // Frames with sound: played samples (not concealment) during an interval with energy.
    if (p && c.energy - p.energy > 1e-9) this.soundFrames += Math.round(Math.max(0, c.samples - p.samples) / 480);
    const micOn = !!tracks.audio && tracks.audio.enabled && tracks.audio.readyState === 'live';
    const camOn = !!tracks.video && tracks.video.enabled && tracks.video.readyState === 'live';
    const span = p ? c.micDuration - p.micDuration : 0;
    const speaking = micOn && span > 0 && Math.sqrt(Math.max(0, c.micEnergy - p.micEnergy) / span) > SPEECH_RMS
      && c.audioSent !== p.audioSent;
    const sendingVideo = camOn && !!p && c.videoSent !== p.videoSent;
    const status = {
      v: STATUS_VERSION,
      microphone: !tracks.audio ? 'none' : micOn ? 'on' : 'muted',
      camera: !tracks.video ? 'none' : camOn ? 'on' : 'off',
      speaking,
      audio_packets: c.audioPackets,
      audio_sound: this.soundFrames,
      audio_level_dbfs: c.level ? Math.round(200 * Math.log10(c.level)) / 10 : -100,
      video_frames: c.videoFrames,
    };
    const verdict = { problem: null, peerDevice: null, peerMuted: false, peerCameraOff: false };
    if (!theirs || theirAgeMs > FRESH_MS) {
      // No evidence: start over when statuses come (again).
      this.heard = this.seen = this.receivedSound = null;
      this.unheardMs = this.notHearingMs = this.unseenMs = 0;
      return { status, verdict };
    }
    const changed = (key, value) => {
      const was = this[key];
      this[key] = value;
      return was !== null && was !== value;
    };
    const heard = changed('heard', theirs.audio_sound ?? 0);
    const seen = changed('seen', theirs.video_frames ?? 0);
    const hearingThem = changed('receivedSound', this.soundFrames);
    if (heard) this.unheardMs = 0;
    else if (speaking) this.unheardMs += dt;
    if (hearingThem) this.notHearingMs = 0;
    else if (theirs.speaking && theirs.microphone === 'on') this.notHearingMs += dt;
    if (seen) this.unseenMs = 0;
    else if (sendingVideo) this.unseenMs += dt;
    if (this.unheardMs >= UNHEARD_MS && micOn) verdict.problem = 'peer_cannot_hear_you';
    else if (this.notHearingMs >= UNHEARD_MS) verdict.problem = 'you_cannot_hear_peer';
    else if (this.unseenMs >= UNSEEN_MS && camOn) verdict.problem = 'peer_cannot_see_you';
    if (theirs.microphone === 'silent') verdict.peerDevice = 'microphone_silent';
    else if (theirs.camera === 'dark') verdict.peerDevice = 'camera_dark';
    verdict.peerMuted = theirs.microphone === 'muted';
    verdict.peerCameraOff = theirs.camera === 'off';
    return { status, verdict };
  }
}
