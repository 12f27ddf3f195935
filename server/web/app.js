// The caseworker page: sign in with the staff token, create or pick a meeting, show its code,
// join the call. The call itself lives in call.js.

import { Call } from './call.js';

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
  current: $('current-meeting'),
  code: $('meeting-code'),
  expires: $('meeting-expires'),
  join: $('join-call'),
  end: $('end-meeting'),
  refresh: $('refresh-meetings'),
  list: $('meeting-list'),
  listEmpty: $('meeting-list-empty'),
  notice: $('notice'),
  call: $('call'),
  callStatus: $('call-status'),
  localVideo: $('local-video'),
  remotes: $('remotes'),
  leave: $('leave-call'),
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
    throw new ApiError(0, 'no_network', 'The server cannot be reached.');
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    throw new ApiError(resp.status, data && data.error, data && data.message);
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
    signOut('The staff token was not accepted. Please sign in again.');
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
    els.signinError.textContent = 'Enter the staff token.';
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
    els.signinError.textContent =
      e instanceof ApiError && e.status === 401 ? 'Wrong staff token.' : `Sign-in failed: ${e.message}`;
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
  return new Date(unixSecs * 1000).toLocaleString([], {
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
}

function setCurrentMeeting(meeting) {
  currentMeeting = meeting;
  els.current.hidden = !meeting;
  if (!meeting) {
    els.code.textContent = '';
    delete els.code.dataset.code;
    delete els.code.dataset.meetingId;
    return;
  }
  els.code.textContent = meeting.code_display || groupCode(meeting.code);
  els.code.dataset.code = meeting.code;
  els.code.dataset.meetingId = meeting.meeting_id;
  els.expires.textContent = `Valid until ${formatTime(meeting.expires_at)}`;
  updateButtons();
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
    const people = m.participants === 1 ? '1 participant' : `${m.participants} participants`;
    info.textContent = `until ${formatTime(m.expires_at)} · ${people}`;
    const pick = document.createElement('button');
    pick.type = 'button';
    pick.className = 'select-meeting';
    pick.textContent = 'Select';
    pick.addEventListener('click', () => {
      setCurrentMeeting(m);
      showNotice('');
    });
    li.append(code, info, pick);
    els.list.append(li);
  }
  els.listEmpty.hidden = meetings.length > 0;
  updateButtons();
}

async function refreshList() {
  try {
    const list = await api('GET', 'meetings');
    renderList(list.meetings);
  } catch (e) {
    apiFailed(e, 'Could not list meetings');
  }
}

async function createMeeting() {
  els.create.disabled = true;
  try {
    const meeting = await api('POST', 'meetings', {});
    setCurrentMeeting(meeting);
    showNotice('');
    await refreshList();
  } catch (e) {
    apiFailed(e, 'Could not create a meeting');
  } finally {
    updateButtons();
  }
}

async function endMeeting() {
  if (!currentMeeting) return;
  const id = currentMeeting.meeting_id;
  try {
    await api('DELETE', `meetings/${encodeURIComponent(id)}`);
  } catch (e) {
    if (!(e instanceof ApiError && e.permanent)) {
      apiFailed(e, 'Could not end the meeting');
      return;
    }
  }
  setCurrentMeeting(null);
  await refreshList();
}

// --- The call ---------------------------------------------------------------------------------

const ROLE_NAMES = { staff: 'Caseworker', citizen: 'Citizen' };
const STATE_TEXT = {
  connecting: 'Connecting…',
  waiting: 'Waiting for the others to join',
  in_call: 'In the call',
  reconnecting: 'Connection lost, reconnecting…',
};

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
  fig.append(video, audio, caption);
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
  const state = peer.connectionState === 'connected' ? '' : ` · ${peer.connectionState}`;
  fig.querySelector('figcaption').textContent = `${ROLE_NAMES[peer.role] || peer.role}${state}`;
  fig.dataset.connectionState = peer.connectionState;
}

function removeTile(participantId) {
  const fig = tileFor(participantId);
  if (!fig) return;
  for (const el of fig.querySelectorAll('video, audio')) el.srcObject = null;
  fig.remove();
}

function endedText(state, reason) {
  if (state === 'failed') {
    const why = {
      meeting_full: 'the meeting is full (4 participants)',
      meeting_closed: 'the meeting has ended',
      invalid_token: 'the ticket was refused',
      no_network: 'the server cannot be reached',
      gave_up: 'the connection could not be restored',
    };
    return `The call failed: ${why[reason] || reason}.`;
  }
  const why = {
    left: 'You left the call.',
    meeting_ended: 'The meeting has ended.',
    meeting_expired: 'The meeting has expired.',
    taken_over: 'The call continues in another window.',
  };
  return why[reason] || 'The call has ended.';
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
    apiFailed(e, 'Could not join');
    updateButtons();
    return;
  }
  localStream = await openCamera();
  if (!localStream) {
    showNotice(
      window.isSecureContext
        ? 'No camera or microphone: the others cannot see or hear you.'
        : 'This page is not served over https, so the browser gives it no camera or microphone.',
    );
  } else {
    showNotice(localStream.getVideoTracks().length ? '' : 'No camera: the others can only hear you.');
  }
  els.localVideo.srcObject = localStream;

  const c = new Call({ ticket, localStream, renewTicket: () => staffTicket(meetingId) });
  call = c;
  els.call.hidden = false;
  els.call.dataset.state = c.state;
  els.callStatus.textContent = STATE_TEXT[c.state];
  c.addEventListener('peeradded', (e) => addTile(e.detail.peer));
  c.addEventListener('peerchange', (e) => updateTile(e.detail.peer));
  c.addEventListener('peerremoved', (e) => removeTile(e.detail.participantId));
  c.addEventListener('statechange', (e) => {
    const { state, reason } = e.detail;
    els.call.dataset.state = state;
    if (state === 'ended' || state === 'failed') {
      callFinished(c, endedText(state, reason));
    } else {
      els.callStatus.textContent = STATE_TEXT[state] || state;
    }
  });
  exposeTestHook(c);
  updateButtons();
  c.start();
}

function callFinished(c, text) {
  if (call !== c) return;
  call = null;
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
els.create.addEventListener('click', createMeeting);
els.refresh.addEventListener('click', refreshList);
els.join.addEventListener('click', joinCall);
els.end.addEventListener('click', endMeeting);
els.leave.addEventListener('click', () => call && call.leave());
window.addEventListener('pagehide', () => call && call.leave());

if (token()) {
  showSignedIn(true);
  refreshList();
} else {
  showSignedIn(false);
}
document.body.dataset.ready = 'true';
