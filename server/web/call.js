// Samtale call engine for the browser: WebSocket signalling (docs/protocol.md, v1) and a mesh of
// RTCPeerConnections, one per remote participant.
//
// Small API, so that the page can grow around it:
//
//   const call = new Call({ ticket, localStream, renewTicket });
//   call.addEventListener('statechange', (e) => e.detail.state);   // see STATES
//   call.addEventListener('peeradded', (e) => e.detail.peer);       // a PeerView
//   call.addEventListener('peerchange', (e) => e.detail.peer);      // new track or state
//   call.addEventListener('peerremoved', (e) => e.detail.participantId);
//   call.start();
//   await call.stats();   // getStats() summarised per remote peer
//   call.leave();
//
// Nothing here logs codes, tokens, secrets or SDP.

import { STATUS_INTERVAL_MS, StatusWatch, openStatusChannel, parseStatus } from './status.js';

/** Protocol version spoken here. */
export const PROTOCOL_VERSION = 1;

/**
 * Call states, as the Rust core names them:
 * connecting   reaching the meeting (signalling, then media with the people present)
 * waiting      in the meeting, nobody else there yet
 * in_call      media flows with at least one other participant
 * reconnecting the connection was lost; recovering by itself
 * ended        over (left, ended by staff, expired, or taken over by another tab)
 * failed       could not be made or kept (detail.reason says why)
 */
export const STATES = ['connecting', 'waiting', 'in_call', 'reconnecting', 'ended', 'failed'];

// Reconnect backoff (docs/protocol.md, "Client behaviour"): 100 ms doubling to 4 s, ±25 % jitter.
const BACKOFF_INITIAL_MS = 100;
const BACKOFF_MAX_MS = 4000;
const BACKOFF_JITTER = 0.25;
// Give up reaching the meeting after this long (first connection, or reconnection).
const CONNECT_DEADLINE_MS = 30_000;
const RECONNECT_DEADLINE_MS = 60_000;
// The server answers hello at once; no welcome this long after the socket opened: retry.
const HELLO_TIMEOUT_MS = 10_000;
// Signals held while the socket is down (the server queues 256 per seat, too).
const OUTBOX_LIMIT = 256;

/** Fatal `error` codes after which reconnecting cannot help. */
const FATAL_FOR_GOOD = new Set(['unsupported_version', 'invalid_token', 'meeting_full', 'meeting_closed']);

function fmtp(codec, key) {
  const line = codec.sdpFmtpLine || '';
  const part = line.split(';').find((p) => p.trim().startsWith(`${key}=`));
  return part ? part.split('=')[1].trim().toLowerCase() : null;
}

/**
 * Codec order for our peers: Opus first for audio; for video H.264 Constrained Baseline with
 * packetization-mode 1 (what the core offers), then other H.264 variants, then the rest (so two
 * browsers without H.264 still agree on something).
 */
function preferredCodecs(kind) {
  if (typeof RTCRtpReceiver === 'undefined' || !RTCRtpReceiver.getCapabilities) return null;
  const caps = RTCRtpReceiver.getCapabilities(kind);
  if (!caps) return null;
  const rank = (c) => {
    const mime = c.mimeType.toLowerCase();
    if (kind === 'audio') return mime === 'audio/opus' ? 0 : 1;
    if (mime !== 'video/h264') return 3;
    const profile = fmtp(c, 'profile-level-id');
    const mode = fmtp(c, 'packetization-mode');
    if (profile === '42e01f' && mode === '1') return 0;
    if (mode === '1') return 1;
    return 2;
  };
  return caps.codecs
    .map((c, i) => ({ c, i, r: rank(c) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.c);
}

function preferCodecs(pc) {
  if (typeof RTCRtpTransceiver === 'undefined' || !('setCodecPreferences' in RTCRtpTransceiver.prototype)) {
    return;
  }
  for (const t of pc.getTransceivers()) {
    const kind = t.receiver.track && t.receiver.track.kind;
    if (!kind || t.stopped) continue;
    const codecs = preferredCodecs(kind);
    if (!codecs || codecs.length === 0) continue;
    try {
      t.setCodecPreferences(codecs);
    } catch (e) {
      // Not fatal: the browser's default order still includes H.264.
      console.warn('samtale: setCodecPreferences failed', e.name);
    }
  }
}

/** What the page sees of a remote participant. */
/** The DTLS fingerprint an SDP announces (a new one means a new connection). */
function sdpFingerprint(sdp) {
  const line = String(sdp).split(/\r?\n/).find((l) => l.startsWith('a=fingerprint:'));
  return line ? line.trim() : null;
}

export class PeerView {
  constructor(participantId, role) {
    this.participantId = participantId;
    this.role = role;
    /** Remote audio and video tracks of this participant. */
    this.stream = new MediaStream();
    /** RTCPeerConnection.connectionState, or 'new' before one exists. */
    this.connectionState = 'new';
    /**
     * What their status says, judged once a second (status.js): problem is null,
     * 'peer_cannot_hear_you', 'you_cannot_hear_peer' or 'peer_cannot_see_you'; peerDevice is
     * null, 'microphone_silent' or 'camera_dark'; peerMuted and peerCameraOff are booleans.
     */
    this.hearing = { problem: null, peerDevice: null, peerMuted: false, peerCameraOff: false };
  }
}

/** Internal per-peer state. */
class PeerLink {
  constructor(view) {
    this.view = view;
    this.pc = null;
    this.offerer = false;
    this.remoteDescriptionSet = false;
    this.pendingCandidates = [];
    this.mediaUp = false;
    this.wasUp = false;
    /** The status channel, the peer's last status and when it came. */
    this.statusChannel = null;
    this.theirs = null;
    this.theirsAt = 0;
    this.statusWatch = new StatusWatch();
  }
}

export class Call extends EventTarget {
  /**
   * @param {object} options
   * @param {object} options.ticket  a Ticket from the HTTP API (docs/protocol.md)
   * @param {MediaStream|null} options.localStream  camera and microphone, or null to only receive
   * @param {() => Promise<object>} [options.renewTicket]  a fresh ticket for the same meeting,
   *   used when the server refuses a resume (`resume_rejected`); without it that ends the call
   */
  constructor({ ticket, localStream = null, renewTicket = null }) {
    super();
    this._ticket = ticket;
    this._localStream = localStream;
    this._renewTicket = renewTicket;
    this._ws = null;
    this._seat = null; // { participant_id, resume_secret }
    this._keepaliveSecs = 10;
    this._peers = new Map(); // participant id -> PeerLink
    this._linkUp = false;
    this._needFreshSeat = false;
    this._final = null; // { state, reason } once ended or failed
    this._attempt = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._pingId = 0;
    this._lastPong = 0;
    this._reconnectDeadline = null;
    this._queue = Promise.resolve(); // serialises signal handling
    this._state = 'connecting';
    this._welcomes = 0;
    this._outbox = []; // signals held while the socket is down
    this._helloTimer = null;
    this._statusTimer = null;
  }

  /** The current state (one of STATES). */
  get state() {
    return this._state;
  }

  /** Our participant id, once the server welcomed us. */
  get participantId() {
    return this._seat ? this._seat.participant_id : null;
  }

  get meetingId() {
    return this._ticket.meeting_id;
  }

  /** The remote participants we have a connection with (or are setting one up). */
  get peers() {
    return [...this._peers.values()].map((l) => l.view);
  }

  /** Opens the signalling socket with the ticket's token. */
  start() {
    this._reconnectDeadline = Date.now() + CONNECT_DEADLINE_MS;
    this._open(false);
    this._statusTimer = setInterval(() => this._tickStatuses(), STATUS_INTERVAL_MS);
  }

  /** Leaves for good: tells the server, closes every connection. */
  leave() {
    if (this._final) return;
    if (this._ws && this._ws.readyState === WebSocket.OPEN && this._linkUp) {
      this._ws.send(JSON.stringify({ type: 'leave' }));
    }
    this._finish('ended', 'left');
  }

  /** Local and remote SDP per peer (for tests and diagnostics; never logged). */
  sdp() {
    const out = {};
    for (const [id, link] of this._peers) {
      out[id] = {
        offerer: link.offerer,
        local: link.pc && link.pc.localDescription ? link.pc.localDescription.sdp : null,
        remote: link.pc && link.pc.remoteDescription ? link.pc.remoteDescription.sdp : null,
      };
    }
    return out;
  }

  /** getStats() of every peer connection, summarised per remote participant. */
  async stats() {
    const peers = {};
    await Promise.all(
      [...this._peers.entries()].map(async ([id, link]) => {
        peers[id] = {
          role: link.view.role,
          connection_state: link.pc ? link.pc.connectionState : 'new',
          ...(link.pc ? summarise(await link.pc.getStats()) : {}),
        };
      }),
    );
    return {
      participant_id: this.participantId,
      state: this._state,
      signalling_up: this._linkUp,
      signalling_reconnects: Math.max(0, this._welcomes - 1),
      peers,
    };
  }

  // --- Signalling socket ------------------------------------------------------------------

  _open(resume) {
    if (this._final) return;
    let ws;
    try {
      ws = new WebSocket(this._ticket.signalling_url);
    } catch (e) {
      this._fail('bad_signalling_url');
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      // No welcome in time: treat the socket as dead and retry.
      this._helloTimer = setTimeout(() => {
        if (ws !== this._ws || this._linkUp) return;
        this._onSocketClosed(4001, 'no welcome');
        ws.close();
      }, HELLO_TIMEOUT_MS);
      const hello = { type: 'hello', v: PROTOCOL_VERSION };
      if (resume && this._seat) {
        hello.resume = { participant_id: this._seat.participant_id, resume_secret: this._seat.resume_secret };
      } else {
        hello.token = this._ticket.join_token;
      }
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      if (ws !== this._ws) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        console.warn('samtale: non-JSON message from the server ignored');
        return;
      }
      this._onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this._ws) return;
      this._onSocketClosed(ev.code, ev.reason);
    };
    // Errors are always followed by close; nothing to do here. (The browser itself prints a
    // line for a failed WebSocket connection.)
    ws.onerror = () => {};
  }

  /** Sends now, or (signals only) once the socket is back; a fresh seat drops what is held. */
  _send(msg) {
    if (this._ws && this._ws.readyState === WebSocket.OPEN && this._linkUp) {
      this._ws.send(JSON.stringify(msg));
      return true;
    }
    if (msg.type === 'signal' && this._outbox.length < OUTBOX_LIMIT) this._outbox.push(msg);
    return false;
  }

  _onSocketClosed(code, reason) {
    clearTimeout(this._helloTimer);
    this._stopKeepalive();
    this._linkUp = false;
    this._ws = null;
    if (this._final) return;
    if (code === 1000 && reason === 'resumed on another connection') {
      // Our seat was taken over by another connection (another tab with the same seat).
      this._finish('ended', 'taken_over');
      return;
    }
    this._scheduleRetry();
  }

  _scheduleRetry() {
    if (this._final) return;
    if (this._retryTimer) return;
    if (this._seat && this._reconnectDeadline === null) {
      this._reconnectDeadline = Date.now() + RECONNECT_DEADLINE_MS;
    }
    if (this._reconnectDeadline !== null && Date.now() > this._reconnectDeadline) {
      this._fail(this._seat ? 'gave_up' : 'no_network');
      return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(this._attempt, 16));
    const delay = base * (1 + BACKOFF_JITTER * (2 * Math.random() - 1));
    this._attempt += 1;
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._reconnect();
    }, delay);
    this._updateState();
  }

  async _reconnect() {
    if (this._final) return;
    if (this._needFreshSeat) {
      if (!this._renewTicket) {
        this._fail('resume_rejected');
        return;
      }
      try {
        this._ticket = await this._renewTicket();
      } catch (e) {
        if (e && e.permanent) {
          // The meeting is gone (ended or expired) while we were away.
          this._finish('ended', 'meeting_ended');
        } else {
          this._scheduleRetry();
        }
        return;
      }
      this._open(false);
    } else {
      this._open(this._seat !== null);
    }
  }

  _startKeepalive() {
    this._stopKeepalive();
    this._lastPong = Date.now();
    // "At least every keepalive_secs": ping at half of it.
    const every = Math.max(1000, (this._keepaliveSecs * 1000) / 2);
    this._pingTimer = setInterval(() => {
      if (Date.now() - this._lastPong > 2 * this._keepaliveSecs * 1000) {
        // No pong for 2 x keepalive_secs: the socket is dead.
        const ws = this._ws;
        this._onSocketClosed(4000, 'no pong');
        if (ws) ws.close();
        return;
      }
      this._pingId += 1;
      this._send({ type: 'ping', id: this._pingId });
    }, every);
  }

  _stopKeepalive() {
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _onMessage(msg) {
    switch (msg.type) {
      case 'welcome':
        this._onWelcome(msg);
        break;
      case 'peer_joined':
        if (msg.peer && !this._peers.has(msg.peer.participant_id)) {
          this._addPeer(msg.peer.participant_id, msg.peer.role, false);
        }
        break;
      case 'peer_left':
        this._removePeer(msg.participant_id);
        break;
      case 'signal':
        this._queue = this._queue
          .then(() => this._onSignal(msg.from, msg.payload))
          .catch((e) => console.warn('samtale: negotiation with a peer failed:', e && e.name));
        break;
      case 'pong':
        this._lastPong = Date.now();
        break;
      case 'meeting_ended':
        this._finish('ended', msg.reason === 'expired' ? 'meeting_expired' : 'meeting_ended');
        break;
      case 'error':
        this._onError(msg);
        break;
      default:
        // Unknown message types are ignored (backwards-compatible additions).
        break;
    }
  }

  _onError(msg) {
    if (!msg.fatal) {
      console.warn('samtale: server error (non-fatal):', msg.code);
      return;
    }
    if (msg.code === 'resume_rejected') {
      // The seat is gone: get a new ticket after the usual backoff and take a fresh seat.
      this._needFreshSeat = true;
      return; // the close that follows schedules the retry
    }
    if (msg.code === 'meeting_closed' && this._seat) {
      // The meeting ended or expired while our socket was down.
      this._finish('ended', 'meeting_ended');
      return;
    }
    if (FATAL_FOR_GOOD.has(msg.code) && !this._linkUp) {
      this._fail(msg.code);
      return;
    }
    // A fatal error after welcome keeps the seat (it counts as a drop): resume.
    console.warn('samtale: server closed the socket:', msg.code);
  }

  _onWelcome(msg) {
    const resumed = msg.resumed === true;
    this._seat = { participant_id: msg.participant_id, resume_secret: msg.resume_secret };
    this._keepaliveSecs = Number(msg.keepalive_secs) > 0 ? Number(msg.keepalive_secs) : 10;
    clearTimeout(this._helloTimer);
    this._linkUp = true;
    this._welcomes += 1;
    this._attempt = 0;
    this._reconnectDeadline = null;
    this._startKeepalive();
    const peers = Array.isArray(msg.peers) ? msg.peers : [];
    if (this._needFreshSeat || !resumed) {
      // A fresh seat: every peer is new to us, and we offer to each (we joined later).
      this._needFreshSeat = false;
      this._outbox = [];
      for (const id of [...this._peers.keys()]) this._removePeer(id);
      for (const p of peers) this._addPeer(p.participant_id, p.role, true);
    } else {
      // Resumed: our connections stay. Reconcile with the server's list.
      const ids = new Set(peers.map((p) => p.participant_id));
      for (const id of [...this._peers.keys()]) {
        if (!ids.has(id)) this._removePeer(id);
      }
      for (const p of peers) {
        // Joined while we were away: it saw us in its welcome.peers and offers; we wait.
        if (!this._peers.has(p.participant_id)) this._addPeer(p.participant_id, p.role, false);
      }
      // What we could not send while away, to the peers that are still here.
      const held = this._outbox;
      this._outbox = [];
      for (const m of held) if (this._peers.has(m.to)) this._send(m);
    }
    this._updateState();
  }

  // --- Peer connections -------------------------------------------------------------------

  _addPeer(id, role, offer) {
    const old = this._peers.get(id);
    const view = old ? old.view : new PeerView(id, role || 'citizen');
    if (old) this._closeLink(old);
    const link = new PeerLink(view);
    link.offerer = offer;
    this._peers.set(id, link);
    this._buildConnection(id, link);
    if (!old) this._emit('peeradded', { peer: view });
    if (offer) {
      this._queue = this._queue
        .then(() => this._sendOffer(id, link))
        .catch((e) => console.warn('samtale: could not offer to a peer:', e && e.name));
    }
    this._updateState();
    return link;
  }

  _buildConnection(id, link) {
    const iceServers = (this._ticket.ice_servers || []).map((s) => {
      const server = { urls: s.urls };
      if (s.username != null) server.username = s.username;
      if (s.credential != null) server.credential = s.credential;
      return server;
    });
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    link.pc = pc;
    const stream = this._localStream;
    const have = new Set();
    if (stream) {
      for (const track of stream.getTracks()) {
        pc.addTrack(track, stream);
        have.add(track.kind);
      }
    }
    if (link.offerer) {
      // Always offer an audio and a video section, so that we receive both even without a
      // camera or microphone. (An answerer gets its sections from the offer.)
      for (const kind of ['audio', 'video']) {
        if (!have.has(kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
    preferCodecs(pc);
    // Created before any offer, on both sides: either may offer, and the channel needs no
    // in-band handshake.
    const channel = openStatusChannel(pc);
    link.statusChannel = channel;
    link.statusWatch = new StatusWatch();
    channel.onmessage = (ev) => {
      if (link.pc !== pc) return;
      const theirs = parseStatus(ev.data);
      if (!theirs) return;
      link.theirs = theirs;
      link.theirsAt = Date.now();
    };
    pc.onicecandidate = (ev) => {
      if (link.pc !== pc) return;
      // null (end of candidates) and empty candidates are not sent: the protocol has no
      // end-of-candidates message.
      if (!ev.candidate || !ev.candidate.candidate) return;
      const payload = { kind: 'candidate', candidate: ev.candidate.candidate };
      if (ev.candidate.sdpMid != null) payload.sdp_mid = ev.candidate.sdpMid;
      if (ev.candidate.sdpMLineIndex != null) payload.sdp_mline_index = ev.candidate.sdpMLineIndex;
      this._send({ type: 'signal', to: id, payload });
    };
    pc.ontrack = (ev) => {
      if (link.pc !== pc) return;
      const view = link.view;
      for (const t of view.stream.getTracks()) {
        if (t.kind === ev.track.kind && t !== ev.track) view.stream.removeTrack(t);
      }
      if (!view.stream.getTracks().includes(ev.track)) view.stream.addTrack(ev.track);
      this._emit('peerchange', { peer: view });
    };
    pc.onconnectionstatechange = () => {
      if (link.pc !== pc) return;
      link.view.connectionState = pc.connectionState;
      if (pc.connectionState === 'connected') {
        link.mediaUp = true;
        link.wasUp = true;
      } else if (pc.connectionState === 'disconnected' || pc.connectionState === 'failed') {
        link.mediaUp = false;
      }
      this._emit('peerchange', { peer: link.view });
      this._updateState();
    };
  }

  async _sendOffer(id, link) {
    const pc = link.pc;
    if (this._peers.get(id) !== link || pc.signalingState === 'closed') return;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (this._peers.get(id) !== link) return;
    this._send({ type: 'signal', to: id, payload: { kind: 'offer', sdp: pc.localDescription.sdp } });
  }

  async _onSignal(from, payload) {
    if (this._final || !payload || typeof payload !== 'object') return;
    let link = this._peers.get(from);
    if (!link) {
      if (payload.kind !== 'offer') return;
      // A participant we have not heard of (its peer_joined may be lost to a reconnect): the
      // server relays only between seats of this meeting, so take it as joined.
      link = this._addPeer(from, 'citizen', false);
    }
    switch (payload.kind) {
      case 'offer': {
        // Same DTLS fingerprint as the connection we have: the peer restarts ICE on it (new
        // network, recovery) and we answer on it. A new fingerprint: the peer built a new
        // connection, so do we.
        const current = link.pc.currentRemoteDescription;
        const sameConnection = !!current && sdpFingerprint(current.sdp) === sdpFingerprint(payload.sdp);
        if (link.pc.signalingState === 'have-local-offer') {
          // Glare: both sides offered. The smaller participant id is polite: it takes the
          // peer's offer (setRemoteDescription rolls its own back) or, on a connection that
          // never connected, starts over. The other ignores the incoming offer.
          const polite = this.participantId !== null && this.participantId < from;
          if (!polite) return;
          if (!sameConnection) link = this._addPeer(from, link.view.role, false);
        } else if (!sameConnection && (link.remoteDescriptionSet || link.pc.signalingState !== 'stable')) {
          link = this._addPeer(from, link.view.role, false);
        }
        const pc = link.pc;
        try {
          await pc.setRemoteDescription({ type: 'offer', sdp: payload.sdp });
        } catch (e) {
          this._negotiationFailed(from, negotiationFailure(e), true);
          return;
        }
        await this._flushCandidates(link);
        preferCodecs(pc);
        let answer;
        try {
          answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
        } catch (e) {
          this._negotiationFailed(from, negotiationFailure(e), true);
          return;
        }
        if (this._peers.get(from) !== link) return;
        this._send({ type: 'signal', to: from, payload: { kind: 'answer', sdp: pc.localDescription.sdp } });
        break;
      }
      case 'answer': {
        const pc = link.pc;
        if (pc.signalingState !== 'have-local-offer') return;
        try {
          await pc.setRemoteDescription({ type: 'answer', sdp: payload.sdp });
        } catch (e) {
          this._negotiationFailed(from, negotiationFailure(e), true);
          return;
        }
        await this._flushCandidates(link);
        break;
      }
      case 'negotiation_failed':
        // Our offer or answer was no use to them: no media will flow with them.
        this._negotiationFailed(from, payload.reason, false);
        break;
      case 'candidate': {
        const init = {
          candidate: payload.candidate,
          sdpMid: payload.sdp_mid ?? null,
          sdpMLineIndex: payload.sdp_mline_index ?? null,
        };
        if (init.sdpMid === null && init.sdpMLineIndex === null) init.sdpMLineIndex = 0;
        if (!link.remoteDescriptionSet) {
          link.pendingCandidates.push(init);
        } else {
          await link.pc.addIceCandidate(init).catch(() => console.warn('samtale: candidate rejected'));
        }
        break;
      }
      default:
        break;
    }
  }

  /**
   * An offer or answer with `id` could not be used (docs/protocol.md, `negotiation_failed`):
   * tell them when it was theirs, drop the connection, and end a call left with nobody else.
   */
  _negotiationFailed(id, reason, tellThem) {
    if (!reason) {
      console.warn('samtale: a description was refused in passing; recovery continues');
      return;
    }
    console.warn('samtale: negotiation with a peer failed:', reason);
    if (tellThem) this._send({ type: 'signal', to: id, payload: { kind: 'negotiation_failed', reason } });
    this._removePeer(id);
    if (this._peers.size === 0) this._fail('negotiation_failed');
  }

  async _flushCandidates(link) {
    link.remoteDescriptionSet = true;
    const pending = link.pendingCandidates;
    link.pendingCandidates = [];
    for (const init of pending) {
      await link.pc.addIceCandidate(init).catch(() => console.warn('samtale: queued candidate rejected'));
    }
  }

  _removePeer(id) {
    const link = this._peers.get(id);
    if (!link) return;
    this._peers.delete(id);
    this._closeLink(link);
    this._emit('peerremoved', { participantId: id });
    this._updateState();
  }

  _closeLink(link) {
    if (link.statusChannel) {
      link.statusChannel.onmessage = null;
      link.statusChannel.close();
      link.statusChannel = null;
    }
    if (link.pc) {
      link.pc.onicecandidate = null;
      link.pc.ontrack = null;
      link.pc.onconnectionstatechange = null;
      link.pc.close();
    }
    link.mediaUp = false;
  }

  // --- Statuses (status.js) --------------------------------------------------------------

  /** Once a second: our status to every peer, and what theirs says (a `peerchange` on news). */
  async _tickStatuses() {
    const stream = this._localStream;
    const tracks = {
      audio: stream ? stream.getAudioTracks()[0] || null : null,
      video: stream ? stream.getVideoTracks()[0] || null : null,
    };
    for (const link of [...this._peers.values()]) {
      const pc = link.pc;
      if (!pc || pc.signalingState === 'closed') continue;
      let report;
      try {
        report = await pc.getStats();
      } catch {
        continue;
      }
      if (link.pc !== pc || this._final) continue;
      const { status, verdict } = link.statusWatch.tick(report, tracks, link.theirs, Date.now() - link.theirsAt);
      const channel = link.statusChannel;
      if (channel && channel.readyState === 'open') {
        try {
          channel.send(JSON.stringify(status));
        } catch {
          // Closing: the next connection's channel takes over.
        }
      }
      if (JSON.stringify(verdict) !== JSON.stringify(link.view.hearing)) {
        link.view.hearing = verdict;
        this._emit('peerchange', { peer: link.view });
      }
    }
  }

  // --- State ------------------------------------------------------------------------------

  _finish(state, reason) {
    if (this._final) return;
    this._final = { state, reason };
    clearTimeout(this._helloTimer);
    clearInterval(this._statusTimer);
    this._outbox = [];
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._stopKeepalive();
    const ws = this._ws;
    this._ws = null;
    this._linkUp = false;
    if (ws) ws.close(1000);
    for (const id of [...this._peers.keys()]) this._removePeer(id);
    this._setState(state, reason);
  }

  _fail(reason) {
    this._finish('failed', reason);
  }

  _updateState() {
    if (this._final) return;
    const links = [...this._peers.values()];
    let state;
    if (links.some((l) => l.mediaUp)) state = 'in_call';
    else if (!this._linkUp || this._needFreshSeat) state = this._seat ? 'reconnecting' : 'connecting';
    else if (links.length === 0) state = 'waiting';
    else state = links.some((l) => l.wasUp) ? 'reconnecting' : 'connecting';
    this._setState(state, null);
  }

  _setState(state, reason) {
    if (state === this._state && !reason) return;
    this._state = state;
    this._emit('statechange', { state, reason });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * The `negotiation_failed` reason for a failed setRemoteDescription/createAnswer, or null when
 * the description was refused only in passing (wrong state during glare or a restart).
 */
function negotiationFailure(e) {
  const text = `${e && e.name} ${e && e.message}`.toLowerCase();
  if (text.includes('codec')) return 'no_common_codec';
  if (e && (e.name === 'SyntaxError' || e.name === 'TypeError' || text.includes('parse'))) return 'malformed';
  return null;
}

/** Summarises one RTCStatsReport (see Call.stats). */
export function summarise(report) {
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const codecOf = (s) => {
    const c = s.codecId ? byId.get(s.codecId) : null;
    return c ? { mime_type: c.mimeType, payload_type: c.payloadType, sdp_fmtp_line: c.sdpFmtpLine || null } : null;
  };
  const out = { inbound_video: null, inbound_audio: null, outbound_video: null, outbound_audio: null, candidate_pair: null };
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.inbound_video = {
        packetsReceived: s.packetsReceived ?? 0,
        packetsLost: s.packetsLost ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
        framesReceived: s.framesReceived ?? 0,
        framesDecoded: s.framesDecoded ?? 0,
        keyFramesDecoded: s.keyFramesDecoded ?? 0,
        framesDropped: s.framesDropped ?? 0,
        frameWidth: s.frameWidth ?? null,
        frameHeight: s.frameHeight ?? null,
        framesPerSecond: s.framesPerSecond ?? null,
        freezeCount: s.freezeCount ?? 0,
        totalFreezesDuration: s.totalFreezesDuration ?? 0,
        jitterBufferDelay: s.jitterBufferDelay ?? 0,
        jitterBufferEmittedCount: s.jitterBufferEmittedCount ?? 0,
        jitterBufferMs: s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null,
        nackCount: s.nackCount ?? 0,
        pliCount: s.pliCount ?? 0,
        firCount: s.firCount ?? 0,
        jitter: s.jitter ?? null,
        decoderImplementation: s.decoderImplementation ?? null,
        codec: codecOf(s),
      };
    } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.inbound_audio = {
        packetsReceived: s.packetsReceived ?? 0,
        packetsLost: s.packetsLost ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
        totalAudioEnergy: s.totalAudioEnergy ?? 0,
        audioLevel: s.audioLevel ?? null,
        concealedSamples: s.concealedSamples ?? 0,
        concealmentEvents: s.concealmentEvents ?? 0,
        totalSamplesReceived: s.totalSamplesReceived ?? 0,
        jitterBufferDelay: s.jitterBufferDelay ?? 0,
        jitterBufferEmittedCount: s.jitterBufferEmittedCount ?? 0,
        jitterBufferMs: s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null,
        jitter: s.jitter ?? null,
        codec: codecOf(s),
      };
    } else if (s.type === 'outbound-rtp' && (s.kind === 'video' || s.kind === 'audio')) {
      const o = {
        packetsSent: s.packetsSent ?? 0,
        bytesSent: s.bytesSent ?? 0,
        nackCount: s.nackCount ?? 0,
        codec: codecOf(s),
      };
      if (s.kind === 'video') {
        Object.assign(o, {
          framesEncoded: s.framesEncoded ?? 0,
          keyFramesEncoded: s.keyFramesEncoded ?? 0,
          frameWidth: s.frameWidth ?? null,
          frameHeight: s.frameHeight ?? null,
          framesPerSecond: s.framesPerSecond ?? null,
          pliCount: s.pliCount ?? 0,
          firCount: s.firCount ?? 0,
          qualityLimitationReason: s.qualityLimitationReason ?? null,
          encoderImplementation: s.encoderImplementation ?? null,
        });
        out.outbound_video = o;
      } else {
        out.outbound_audio = o;
      }
    }
  });
  // The selected candidate pair: the transport's, else a nominated succeeded one.
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || pair;
  });
  if (!pair) {
    report.forEach((s) => {
      if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
  }
  if (pair) {
    const local = byId.get(pair.localCandidateId);
    const remote = byId.get(pair.remoteCandidateId);
    out.candidate_pair = {
      state: pair.state,
      currentRoundTripTime: pair.currentRoundTripTime ?? null,
      availableOutgoingBitrate: pair.availableOutgoingBitrate ?? null,
      bytesSent: pair.bytesSent ?? 0,
      bytesReceived: pair.bytesReceived ?? 0,
      local_candidate_type: local ? local.candidateType : null,
      remote_candidate_type: remote ? remote.candidateType : null,
      protocol: local ? local.protocol : null,
    };
  }
  return out;
}
