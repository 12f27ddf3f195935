// The caseworker page: sign in with the staff token, create or pick a meeting, show its code,
// join link and QR code, join the call. The call itself lives in call.js, the text in i18n.js.

import { Call } from './call.js';
import { applyStatic, language, setLanguage, t } from './i18n.js';

const TOKEN_KEY = 'samtale.staffToken';

const $ = (id) => document.getElementById(id);
const els = {
  signin: $('signin'),
  signinForm: $('signin-form'),
  tokenInput: $('staff-token'),
  signinError: $('signin-error'),
  signout: $('signout'),
  meetings: $('meetings'),
  create: $('create-meeting'),
  createForm: $('create-form'),
  createLabel: $('create-label'),
  createName: $('create-name'),
  note: $('meeting-note'),
  app: $('meeting-app'),
  check: $('meeting-check'),
  roomTools: $('room-tools'),
  owner: $('room-owner'),
  handoverForm: $('handover-form'),
  newCode: $('new-code'),
  roomStatus: $('room-status'),
  callTitle: $('call-title'),
  current: $('current-meeting'),
  code: $('meeting-code'),
  expires: $('meeting-expires'),
  join: $('join-call'),
  end: $('end-meeting'),
  refresh: $('refresh-meetings'),
  list: $('meeting-list'),
  listEmpty: $('meeting-list-empty'),
  notice: $('notice'),
  link: $('meeting-link'),
  copyLink: $('copy-link'),
  copyStatus: $('copy-status'),
  qr: $('meeting-qr'),
  language: $('language'),
  call: $('call'),
  callStatus: $('call-status'),
  localVideo: $('local-video'),
  remotes: $('remotes'),
  leave: $('leave-call'),
  mic: $('toggle-mic'),
  camera: $('toggle-camera'),
  participants: $('participants'),
  quality: $('quality'),
};

/** The meeting shown as "current" (a Meeting from the API), or null. */
let currentMeeting = null;
/** The running call, or null. */
let call = null;
let localStream = null;

// --- HTTP API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    // The meeting is gone for good: no point in retrying.
    this.permanent = status === 404 || status === 410;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** A staff API request (relative to the page, so a path prefix in front of /staff/ works). */
async function api(method, path, body, staffToken = token()) {
  const url = new URL(`../api/v1/${path}`, window.location.href);
  const headers = { Authorization: `Bearer ${staffToken}` };
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'no_network', t('err.network'));
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = new ApiError(resp.status, data && data.error, data && data.message);
    err.retryAfterSecs = (data && data.retry_after_secs) || Number(resp.headers.get('Retry-After')) || null;
    throw err;
  }
  return data;
}

function showNotice(text) {
  els.notice.textContent = text || '';
  els.notice.hidden = !text;
}

/** Handles a failed API call: a 401 means the token is wrong or was changed: sign in again. */
function apiFailed(e, what) {
  if (e instanceof ApiError && e.status === 401) {
    signOut(t('signin.again'));
    return;
  }
  showNotice(`${what}: ${e.message}`);
}

// --- Sign-in ----------------------------------------------------------------------------------

function showSignedIn(signedIn) {
  els.signin.hidden = signedIn;
  els.meetings.hidden = !signedIn;
  els.signout.hidden = !signedIn;
}

async function signIn(event) {
  event.preventDefault();
  const candidate = els.tokenInput.value.trim();
  els.signinError.textContent = '';
  if (!candidate) {
    els.signinError.textContent = t('signin.empty');
    return;
  }
  try {
    // Any staff request checks the token; the list is needed next anyway.
    const list = await api('GET', 'meetings', undefined, candidate);
    sessionStorage.setItem(TOKEN_KEY, candidate);
    els.tokenInput.value = '';
    showSignedIn(true);
    renderList(list.meetings);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      els.signinError.textContent = t('signin.wrong');
    } else if (e instanceof ApiError && e.status === 429) {
      // Too many wrong tokens from this address (the server limits guessing).
      els.signinError.textContent = t('signin.wait', { secs: e.retryAfterSecs || 6 });
    } else {
      els.signinError.textContent = t('signin.failed', { why: e.message });
    }
  }
}

function signOut(message) {
  if (call) call.leave();
  sessionStorage.removeItem(TOKEN_KEY);
  setCurrentMeeting(null);
  showSignedIn(false);
  showNotice('');
  els.signinError.textContent = message || '';
  els.tokenInput.focus();
}

// --- Meetings ---------------------------------------------------------------------------------

function groupCode(digits) {
  return `${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`;
}

function formatTime(unixSecs) {
  return new Date(unixSecs * 1000).toLocaleString(language() === 'da' ? 'da-DK' : 'en-GB', {
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** A day months away: the date itself (a standing room's idle closing). */
function formatDate(unixSecs) {
  return new Date(unixSecs * 1000).toLocaleDateString(language() === 'da' ? 'da-DK' : 'en-GB', {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  });
}

function setCurrentMeeting(meeting) {
  currentMeeting = meeting;
  els.current.hidden = !meeting;
  els.copyStatus.textContent = '';
  if (!meeting) {
    els.code.textContent = '';
    delete els.code.dataset.code;
    delete els.code.dataset.meetingId;
    els.link.removeAttribute('href');
    els.link.textContent = '';
    els.qr.removeAttribute('src');
    return;
  }
  els.code.textContent = meeting.code_display || groupCode(meeting.code);
  els.code.dataset.code = meeting.code;
  els.code.dataset.meetingId = meeting.meeting_id;
  els.expires.textContent = t('meetings.valid', { time: formatTime(meeting.code_expires_at || meeting.expires_at) });
  showMeetingStatus(meeting);
  // The join link: on a phone with the app it opens the app; without it, a page that explains
  // the app and shows the code. The code is in the fragment (/j/#<code>), which browsers never
  // send: no server or proxy writes it into an access log.
  const link = new URL(`../j/#${encodeURIComponent(meeting.code)}`, window.location.href).href;
  els.link.href = link;
  els.link.textContent = link;
  els.qr.removeAttribute('src');
  els.qr.alt = t('meetings.qr');
  showQr(meeting);
  updateButtons();
}

/** The QR code of the join link, asked for by meeting id (the code is in no URL). */
async function showQr(meeting) {
  const url = new URL(`../api/v1/meetings/${encodeURIComponent(meeting.meeting_id)}/qr.svg`, window.location.href);
  let svg;
  try {
    const resp = await fetch(url, { headers: { Authorization: `Bearer ${token()}` }, cache: 'no-store', credentials: 'omit' });
    if (!resp.ok) return; // the link is still there to copy
    svg = await resp.text();
  } catch {
    return;
  }
  if (currentMeeting && currentMeeting.meeting_id === meeting.meeting_id && currentMeeting.code === meeting.code) {
    els.qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  }
}

/** What changes while a meeting is shown: its note, the citizen's app, the owner. */
function showMeetingStatus(meeting) {
  currentMeeting = meeting;
  const room = meeting.kind === 'room';
  // The staff-only note; a standing room says so.
  els.note.textContent = [room ? t('meetings.kind.room') : '', meeting.label || ''].filter(Boolean).join(' · ');
  els.note.hidden = !els.note.textContent;
  els.app.textContent = room ? t(meeting.citizen_app_open ? 'meetings.app.open' : 'meetings.app.closed') : '';
  els.app.dataset.open = String(Boolean(meeting.citizen_app_open));
  showCheck(meeting.citizen_check);
  els.roomTools.hidden = !room;
  if (room && document.activeElement !== els.owner) els.owner.value = meeting.owner || '';
}

/**
 * What the citizen's app found by itself before the call (docs/protocol.md, `check`): only what
 * is wrong or worth knowing, one line each; nothing when all is well.
 */
function checkLines(check) {
  if (!check) return [];
  const lines = [];
  if (['silent', 'none', 'muted'].includes(check.microphone)) lines.push(t(`check.microphone.${check.microphone}`));
  if (['dark', 'none', 'off'].includes(check.camera)) lines.push(t(`check.camera.${check.camera}`));
  if (['udp_blocked', 'blocked'].includes(check.network)) lines.push(t(`check.network.${check.network}`));
  return lines;
}

function showCheck(check) {
  const lines = checkLines(check);
  const key = JSON.stringify(lines);
  if (els.check.dataset.lines === key) return; // unchanged: a screen reader hears it once
  els.check.dataset.lines = key;
  els.check.dataset.microphone = (check && check.microphone) || '';
  els.check.dataset.camera = (check && check.camera) || '';
  els.check.dataset.network = (check && check.network) || '';
  const items = lines.map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  });
  const title = document.createElement('p');
  title.textContent = t('check.title');
  const list = document.createElement('ul');
  list.append(...items);
  els.check.replaceChildren(...(items.length ? [title, list] : []));
  els.check.hidden = items.length === 0;
}

function updateButtons() {
  const inCall = call !== null;
  els.create.disabled = inCall;
  els.join.disabled = inCall || !currentMeeting;
  els.end.disabled = !currentMeeting;
  for (const b of els.list.querySelectorAll('button')) b.disabled = inCall;
}

function renderList(meetings) {
  els.list.replaceChildren();
  for (const m of meetings) {
    const li = document.createElement('li');
    li.dataset.meetingId = m.meeting_id;
    li.dataset.code = m.code;
    const code = document.createElement('span');
    code.className = 'list-code';
    code.textContent = m.code_display || groupCode(m.code);
    const info = document.createElement('span');
    info.className = 'list-info';
    const people =
      m.participants === 1 ? t('meetings.people.one') : t('meetings.people.many', { n: m.participants });
    const room = m.kind === 'room';
    const parts = [
      t(room ? 'meetings.kind.room' : 'meetings.kind.meeting'),
      room ? t('meetings.roomUntil', { time: formatDate(m.expires_at) }) : t('meetings.until', { time: formatTime(m.expires_at) }),
      people,
    ];
    if (m.owner) parts.push(t('meetings.owner', { owner: m.owner }));
    if (room) parts.push(t(m.citizen_app_open ? 'meetings.app.open' : 'meetings.app.closed'));
    info.textContent = parts.join(' · ');
    li.dataset.appOpen = String(Boolean(m.citizen_app_open));
    li.dataset.kind = m.kind || 'meeting';
    const note = document.createElement('span');
    note.className = 'list-note';
    note.textContent = m.label || '';
    const pick = document.createElement('button');
    pick.type = 'button';
    pick.className = 'select-meeting';
    pick.textContent = t('meetings.select');
    pick.setAttribute('aria-label', t('meetings.selectCode', { code: m.code_display || groupCode(m.code) }));
    pick.addEventListener('click', () => {
      setCurrentMeeting(m);
      showNotice('');
    });
    if (m.label) li.append(note);
    li.append(code, info, pick);
    els.list.append(li);
    // Keep the chosen meeting's panel up to date (the citizen's app opening, a new owner).
    if (currentMeeting && currentMeeting.meeting_id === m.meeting_id) showMeetingStatus(m);
  }
  els.listEmpty.hidden = meetings.length > 0;
  updateButtons();
}

async function refreshList() {
  try {
    const list = await api('GET', 'meetings');
    renderList(list.meetings);
  } catch (e) {
    apiFailed(e, t('err.list'));
  }
}

async function createMeeting(event) {
  if (event) event.preventDefault();
  els.create.disabled = true;
  const kind = els.createForm.querySelector('input[name="kind"]:checked')?.value || 'meeting';
  const body = { kind };
  if (els.createLabel.value.trim()) body.label = els.createLabel.value.trim();
  if (els.createName.value.trim()) body.display_name = els.createName.value.trim();
  try {
    const meeting = await api('POST', 'meetings', body);
    els.createLabel.value = '';
    els.createName.value = '';
    setCurrentMeeting(meeting);
    showNotice('');
    await refreshList();
  } catch (e) {
    apiFailed(e, t('err.create'));
  } finally {
    updateButtons();
  }
}

async function handOver(event) {
  event.preventDefault();
  if (!currentMeeting) return;
  try {
    const m = await api('PATCH', `meetings/${encodeURIComponent(currentMeeting.meeting_id)}`, {
      owner: els.owner.value.trim(),
    });
    setCurrentMeeting(m);
    els.roomStatus.textContent = t('room.handedOver');
    await refreshList();
  } catch (e) {
    apiFailed(e, t('err.update'));
  }
}

async function newCode() {
  if (!currentMeeting) return;
  try {
    const m = await api('POST', `meetings/${encodeURIComponent(currentMeeting.meeting_id)}/code`);
    setCurrentMeeting(m);
    els.roomStatus.textContent = t('room.newCodeDone');
    await refreshList();
  } catch (e) {
    apiFailed(e, t('err.newCode'));
  }
}

async function endMeeting() {
  if (!currentMeeting) return;
  const id = currentMeeting.meeting_id;
  try {
    await api('DELETE', `meetings/${encodeURIComponent(id)}`);
  } catch (e) {
    if (!(e instanceof ApiError && e.permanent)) {
      apiFailed(e, t('err.end'));
      return;
    }
  }
  setCurrentMeeting(null);
  await refreshList();
}

// --- The call ---------------------------------------------------------------------------------

/** How a participant is called on screen. */
function roleName(role) {
  return role === 'staff' || role === 'citizen' ? t(`role.${role}`) : role;
}

function stateText(state) {
  return t(`state.${state}`);
}

function staffTicket(meetingId) {
  return api('POST', `meetings/${encodeURIComponent(meetingId)}/tickets`, {});
}

async function openCamera() {
  if (!window.isSecureContext) {
    console.warn('samtale: camera and microphone need https (or http on localhost)');
    return null;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return null;
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 30 } },
    });
  } catch (e) {
    console.warn('samtale: no camera/microphone:', e.name);
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e2) {
      return null;
    }
  }
}

function tileFor(participantId) {
  return els.remotes.querySelector(`[data-participant-id="${CSS.escape(participantId)}"]`);
}

function addTile(peer) {
  if (tileFor(peer.participantId)) return;
  const fig = document.createElement('figure');
  fig.className = 'tile';
  fig.dataset.participantId = peer.participantId;
  fig.dataset.role = peer.role;
  const video = document.createElement('video');
  video.className = 'remote-video';
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true; // sound plays through the audio element
  const audio = document.createElement('audio');
  audio.className = 'remote-audio';
  audio.autoplay = true;
  const caption = document.createElement('figcaption');
  // What their status says (status.js): read out when it changes.
  const hearing = document.createElement('p');
  hearing.className = 'tile-hearing';
  hearing.setAttribute('role', 'status');
  fig.append(video, audio, caption, hearing);
  els.remotes.append(fig);
  updateTile(peer);
}

function updateTile(peer) {
  const fig = tileFor(peer.participantId);
  if (!fig) return;
  const video = fig.querySelector('video');
  const audio = fig.querySelector('audio');
  const vTracks = peer.stream.getVideoTracks();
  const aTracks = peer.stream.getAudioTracks();
  const current = (el) => (el.srcObject ? el.srcObject.getTracks() : []);
  if (vTracks.length && current(video)[0] !== vTracks[0]) video.srcObject = new MediaStream(vTracks);
  if (aTracks.length && current(audio)[0] !== aTracks[0]) audio.srcObject = new MediaStream(aTracks);
  fig.querySelector('figcaption').textContent = `${roleName(peer.role)} · ${peerStateText(peer)}`;
  const lines = hearingLines(peer);
  const hearing = fig.querySelector('.tile-hearing');
  hearing.replaceChildren(...lines.map((l) => Object.assign(document.createElement('span'), { textContent: l })));
  hearing.hidden = lines.length === 0;
  fig.dataset.hearing = peer.hearing.problem || peer.hearing.peerDevice || '';
  fig.dataset.connectionState = peer.connectionState;
  renderParticipants();
}

/** What the participant's status says, in sentences (faults first, then mute and camera). */
function hearingLines(peer) {
  const h = peer.hearing;
  const role = peer.role === 'staff' ? 'staff' : 'citizen';
  const vars = {
    who: t(`role.${role}.the`),
    whom: t(`role.${role}.the.lower`),
    whose: t(`role.${role}.of`),
  };
  const lines = [];
  if (h.problem) lines.push(t(`hearing.${h.problem}`, vars));
  if (h.peerDevice) lines.push(t(`hearing.${h.peerDevice}`, vars));
  if (h.peerMuted) lines.push(t('hearing.muted', vars));
  if (h.peerCameraOff) lines.push(t('hearing.cameraOff', vars));
  return lines;
}

/** "is here", "connecting…" or "reconnecting…" for a remote participant. */
function peerStateText(peer) {
  if (peer.connectionState === 'connected') return t('peer.connected');
  if (peer.connectionState === 'disconnected' || peer.connectionState === 'failed' || peer.wasConnected) {
    return t('peer.reconnecting');
  }
  return t('peer.connecting');
}

/** The list of who is in the meeting, with their connection in words. */
function renderParticipants() {
  els.participants.replaceChildren();
  const peers = call ? call.peers : [];
  for (const peer of peers) {
    if (peer.connectionState === 'connected') peer.wasConnected = true;
    const li = document.createElement('li');
    li.dataset.participantId = peer.participantId;
    li.dataset.role = peer.role;
    li.dataset.present = String(peer.connectionState === 'connected');
    li.textContent = `${roleName(peer.role)} — ${peerStateText(peer)}`;
    els.participants.append(li);
  }
  if (!peers.length) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = t('call.nobody');
    els.participants.append(li);
  }
}

function removeTile(participantId) {
  const fig = tileFor(participantId);
  if (!fig) return;
  for (const el of fig.querySelectorAll('video, audio')) el.srcObject = null;
  fig.remove();
  renderParticipants();
}

function endedText(state, reason) {
  if (state === 'failed') {
    const known = ['meeting_full', 'meeting_closed', 'invalid_token', 'no_network', 'gave_up', 'negotiation_failed'];
    return t('failed', { why: known.includes(reason) ? t(`failed.${reason}`) : reason });
  }
  const known = ['left', 'meeting_ended', 'meeting_expired', 'taken_over'];
  return t(known.includes(reason) ? `ended.${reason}` : 'ended.other');
}

// --- Microphone, camera, connection quality ---------------------------------------------------

function setTrackButtons() {
  const audio = localStream ? localStream.getAudioTracks() : [];
  const video = localStream ? localStream.getVideoTracks() : [];
  const micOff = audio.length > 0 && audio.every((tr) => !tr.enabled);
  const camOff = video.length > 0 && video.every((tr) => !tr.enabled);
  els.mic.textContent = micOff ? t('call.unmute') : t('call.mute');
  els.mic.setAttribute('aria-pressed', String(micOff));
  els.mic.disabled = audio.length === 0;
  els.camera.textContent = camOff ? t('call.cameraOn') : t('call.cameraOff');
  els.camera.setAttribute('aria-pressed', String(camOff));
  els.camera.disabled = video.length === 0;
}

/** Mutes or unmutes every local track of `kind` (a disabled track sends silence / black). */
function toggleTracks(kind) {
  if (!localStream) return;
  const tracks = kind === 'audio' ? localStream.getAudioTracks() : localStream.getVideoTracks();
  const turnOff = tracks.some((tr) => tr.enabled);
  for (const tr of tracks) tr.enabled = !turnOff;
  setTrackButtons();
}

/** Plain words for the connection to one remote participant, from getStats deltas. */
function qualityWords(now, before) {
  const pair = now.candidate_pair || {};
  const rtt = pair.currentRoundTripTime ?? null;
  const inbound = [now.inbound_audio, now.inbound_video].filter(Boolean);
  const earlier = before ? [before.inbound_audio, before.inbound_video].filter(Boolean) : [];
  const sum = (list, key) => list.reduce((acc, s) => acc + (s[key] || 0), 0);
  const received = sum(inbound, 'packetsReceived') - sum(earlier, 'packetsReceived');
  const lost = sum(inbound, 'packetsLost') - sum(earlier, 'packetsLost');
  if (!before || received + lost <= 0) return rtt === null ? 'unknown' : 'good';
  const loss = lost / (received + lost);
  if (loss > 0.08 || (rtt !== null && rtt > 0.6)) return 'poor';
  if (loss > 0.02 || (rtt !== null && rtt > 0.3)) return 'fair';
  return 'good';
}

let lastStats = null;
let qualityTimer = null;

async function updateQuality(c) {
  if (call !== c) return;
  let stats;
  try {
    stats = await c.stats();
  } catch {
    return;
  }
  const lines = [];
  for (const [id, peer] of Object.entries(stats.peers)) {
    const before = lastStats && lastStats.peers[id];
    const words = qualityWords(peer, before);
    lines.push(t('quality.label', { who: roleName(peer.role), words: t(`quality.${words}`) }));
    const fig = tileFor(id);
    if (fig) fig.dataset.quality = words;
  }
  lastStats = stats;
  els.quality.textContent = lines.join(' · ');
}

async function joinCall() {
  if (!currentMeeting || call) return;
  const meetingId = currentMeeting.meeting_id;
  els.join.disabled = true;
  window.samtaleCall = null; // the hook follows the newest call
  let ticket;
  try {
    ticket = await staffTicket(meetingId);
  } catch (e) {
    apiFailed(e, t('err.join'));
    updateButtons();
    return;
  }
  localStream = await openCamera();
  if (!localStream) {
    showNotice(window.isSecureContext ? t('noCamera') : t('noCameraInsecure'));
  } else {
    showNotice(localStream.getVideoTracks().length ? '' : t('onlyAudio'));
  }
  els.localVideo.srcObject = localStream;

  const c = new Call({ ticket, localStream, renewTicket: () => staffTicket(meetingId) });
  call = c;
  // The staff-only note in the call's title: whose call this is.
  els.callTitle.textContent = currentMeeting.label ? `${t('call.title')} · ${currentMeeting.label}` : t('call.title');
  els.call.hidden = false;
  els.call.dataset.state = c.state;
  els.callStatus.textContent = stateText(c.state);
  setTrackButtons();
  renderParticipants();
  lastStats = null;
  qualityTimer = setInterval(() => updateQuality(c), 2000);
  c.addEventListener('peeradded', (e) => addTile(e.detail.peer));
  c.addEventListener('peerchange', (e) => updateTile(e.detail.peer));
  c.addEventListener('peerremoved', (e) => removeTile(e.detail.participantId));
  c.addEventListener('statechange', (e) => {
    const { state, reason } = e.detail;
    els.call.dataset.state = state;
    if (state === 'ended' || state === 'failed') {
      callFinished(c, endedText(state, reason));
    } else {
      els.callStatus.textContent = stateText(state);
    }
  });
  exposeTestHook(c);
  updateButtons();
  c.start();
}

function callFinished(c, text) {
  if (call !== c) return;
  call = null;
  clearInterval(qualityTimer);
  qualityTimer = null;
  els.quality.textContent = '';
  for (const fig of [...els.remotes.children]) removeTile(fig.dataset.participantId);
  if (localStream) for (const t of localStream.getTracks()) t.stop();
  localStream = null;
  els.localVideo.srcObject = null;
  els.call.hidden = true;
  showNotice(text);
  updateButtons();
  if (token()) refreshList();
}

/** `window.samtaleCall`: a hook for automated tests and benchmarks (no secrets in it). */
function exposeTestHook(c) {
  window.samtaleCall = {
    get state() {
      return c.state;
    },
    get participantId() {
      return c.participantId;
    },
    get meetingId() {
      return c.meetingId;
    },
    /** Kinds of local media being sent: 'audio', 'video'. */
    localMedia: localStream ? localStream.getTracks().map((t) => t.kind) : [],
    peers: () => c.peers.map((p) => ({ participant_id: p.participantId, role: p.role, connection_state: p.connectionState })),
    stats: () => c.stats(),
    sdp: () => c.sdp(),
    leave: () => c.leave(),
  };
}

// --- Wiring -----------------------------------------------------------------------------------

els.signinForm.addEventListener('submit', signIn);
els.signout.addEventListener('click', () => signOut(''));
els.createForm.addEventListener('submit', createMeeting);
els.handoverForm.addEventListener('submit', handOver);
els.newCode.addEventListener('click', newCode);
// The list follows the citizens' apps opening and closing (and colleagues' changes).
setInterval(() => {
  if (token() && !document.hidden) refreshList();
}, 3000);
els.refresh.addEventListener('click', refreshList);
els.join.addEventListener('click', joinCall);
els.end.addEventListener('click', endMeeting);
els.leave.addEventListener('click', () => call && call.leave());
els.mic.addEventListener('click', () => toggleTracks('audio'));
els.camera.addEventListener('click', () => toggleTracks('video'));
els.copyLink.addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(els.link.href);
    els.copyStatus.textContent = t('meetings.copied');
  } catch {
    els.copyStatus.textContent = t('meetings.copyFailed');
  }
});
els.language.addEventListener('click', () => {
  setLanguage(language() === 'da' ? 'en' : 'da');
  els.language.lang = language() === 'da' ? 'en' : 'da';
  // Re-render what app.js wrote itself.
  if (currentMeeting) setCurrentMeeting(currentMeeting);
  if (call) {
    els.callStatus.textContent = stateText(call.state);
    setTrackButtons();
    renderParticipants();
  }
  if (token()) refreshList();
});
window.addEventListener('pagehide', () => call && call.leave());

applyStatic();
els.language.lang = language() === 'da' ? 'en' : 'da';
if (token()) {
  showSignedIn(true);
  refreshList();
} else {
  showSignedIn(false);
}
document.body.dataset.ready = 'true';
