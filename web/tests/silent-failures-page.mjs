// No silent failures on the caseworker page (issue 16), in Debian's Chromium against a real
// samtale-server:
//
//   0. the citizen's silent pre-call check: a citizen core (samtale-sim join) waits in the
//      meeting before the caseworker has joined, once with a microphone that gives digital
//      silence, once with a camera that gives no pictures -> the meeting's panel on the page
//      says so ("Borgerens mikrofon giver ingen lyd") before the call, and the citizen's own
//      screen says it too -> the caseworker joins and the call still starts (the citizen's
//      screen goes in-call and the page decodes the citizen's sound);
//
// and a negotiation that cannot work, with a raw signalling peer (a second tab speaking the
// WebSocket protocol of docs/protocol.md by hand, no WebRTC) that sends what no Samtale client
// sends:
//
//   1. the page waits in the meeting; the peer joins and offers an SDP that does not parse ->
//      the page answers `negotiation_failed` (`malformed`) and its call fails with words that
//      say why, instead of staying "in the meeting" with nothing flowing;
//   2. the peer is in the meeting first; the page joins and offers -> the peer answers
//      `negotiation_failed` (`no_common_codec`) -> the page's call fails the same way.
//
// (A network that blocks UDP needs network namespaces: sim/tests/netem.rs checks what the
// check reports there, through the same staff API field this page shows.)
//
// Run: node web/tests/silent-failures-page.mjs (after `npm ci --prefix web` and a release
// build of samtale-server and samtale-sim). Output: web/test-output/silent-*.png,
// silent-report.json.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Child,
  accessibilityViolations,
  binary,
  callState,
  createMeeting,
  pageStats,
  ensureOutputDir,
  joinCall,
  launchChromium,
  openAndSignIn,
  secureOriginFlags,
  silentWav,
  startServer,
  waitFor,
  watchConsole,
} from './lib.mjs';

const failures = [];
let passed = 0;
function check(ok, message) {
  if (ok) passed += 1;
  else failures.push(message);
  console.log(`silent-failures: ${ok ? 'ok  ' : 'FAIL'} ${message}`);
}

/**
 * Runs in the raw peer's tab: resolves the code as a citizen, says hello, and then does what it
 * is told: `offer` (an SDP string) goes to every participant in its welcome; `refuse` (a reason)
 * answers every offer it receives with `negotiation_failed`. What it receives is kept in
 * `window.raw.messages`.
 */
async function rawPeer({ code, offer, refuse }) {
  const response = await fetch('/api/v1/join', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  if (!response.ok) throw new Error(`join answered ${response.status}`);
  const ticket = await response.json();
  const ws = new WebSocket(ticket.signalling_url);
  const raw = { messages: [], closed: false };
  window.raw = raw;
  const send = (msg) => ws.send(JSON.stringify(msg));
  ws.onopen = () => send({ type: 'hello', v: 1, token: ticket.join_token });
  ws.onclose = () => { raw.closed = true; };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    raw.messages.push(msg);
    if (msg.type === 'welcome') {
      raw.id = msg.participant_id;
      if (offer) for (const p of msg.peers) send({ type: 'signal', to: p.participant_id, payload: { kind: 'offer', sdp: offer } });
      let n = 0;
      setInterval(() => ws.readyState === WebSocket.OPEN && send({ type: 'ping', id: (n += 1) }), 5000);
    }
    if (msg.type === 'signal' && msg.payload.kind === 'offer' && refuse) {
      send({ type: 'signal', to: msg.from, payload: { kind: 'negotiation_failed', reason: refuse } });
    }
  };
  return true;
}

function received(tab) {
  return tab.evaluate(() => (window.raw ? window.raw.messages : []));
}

/** Waits for the page's call to fail; returns what the page says. */
async function pageFails(page, what) {
  await waitFor(what, async () => (await callState(page)) === 'failed', { timeoutMs: 20_000, everyMs: 100 });
  return page.textContent('#notice');
}

/** Creates another meeting and returns it once the page shows its code (not the last one's). */
async function anotherMeeting(page, last) {
  await page.click('#create-meeting');
  return waitFor('the new meeting\'s code', () => page.$eval('#meeting-code', (el, previous) => (
    el.dataset.code && el.dataset.code !== previous ? { code: el.dataset.code, display: el.textContent } : null
  ), last), { timeoutMs: 10_000 });
}

/** The citizen's screens as the sim reports them. */
function screens(sim) {
  return sim.jsonLines().filter((l) => l.event === 'screen');
}

/**
 * A citizen waits in `meeting` with `args` (a faulty device): the page's panel must say
 * `phrase` while the caseworker is not in the call yet. Returns the ms from the sim's start.
 */
async function checkShown(page, server, meeting, out, name, args, phrase) {
  const sim = new Child('sim', binary('samtale-sim'), [
    'join', '--server', server.url, '--code', meeting.display, '--loopback', '--json', '--seconds', '120', ...args,
  ], { logFile: join(out, `silent-sim-${name}.log`) });
  const t0 = Date.now();
  try {
    await waitFor(`the citizen waits (${name})`, () => screens(sim).some((s) => s.id === 'waiting'), {
      timeoutMs: 20_000, abort: () => (sim.running ? null : `sim exited: ${sim.stderr}`),
    });
    const shownAfter = await waitFor(`the page says "${phrase}"`, async () => {
      const text = await page.$eval('#meeting-check', (el) => (el.hidden ? '' : el.textContent));
      return text.includes(phrase) && Date.now() - t0;
    }, { timeoutMs: 30_000, everyMs: 200, abort: () => (sim.running ? null : `sim exited: ${sim.stderr}`) });
    return { sim, shownAfter };
  } catch (e) {
    await sim.stop();
    throw e;
  }
}

async function main() {
  const out = ensureOutputDir();
  const report = { started: new Date().toISOString() };
  const server = await startServer({ logFile: join(out, 'silent-server.log') });
  const browser = await launchChromium(secureOriginFlags(server.url));
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  const tab = await context.newPage();
  try {
    await openAndSignIn(page, server.url, server.token);
    await tab.goto(`${server.url}/healthz`);

    // 0. The citizen's pre-call check, before the caseworker joins.
    const waitingRoom = await createMeeting(page);
    const silence = silentWav(join(out, 'silent-microphone.wav'));
    const mic = await checkShown(page, server, waitingRoom, out, 'microphone', ['--audio', silence], 'Borgerens mikrofon giver ingen lyd');
    report.microphone_shown_ms = mic.shownAfter;
    check(true, `before the call the page says the citizen's microphone gives no sound (${mic.shownAfter} ms after the citizen started)`);
    const micNotice = screens(mic.sim).map((l) => l.notice);
    check(micNotice.includes('notice-microphone-silent'), `the citizen's screen says it too (${JSON.stringify([...new Set(micNotice)])})`);
    await page.screenshot({ path: join(out, 'silent-precall-microphone.png'), fullPage: true });
    report.a11y_check = await accessibilityViolations(page);
    check(report.a11y_check.length === 0, `no serious WCAG violations with the check shown ${JSON.stringify(report.a11y_check)}`);
    mic.sim.proc.kill('SIGINT');
    await mic.sim.exited;
    const cleared = await waitFor('the check goes with the citizen', () =>
      page.$eval('#meeting-check', (el) => el.hidden), { timeoutMs: 10_000 }).then(() => true, () => false);
    check(cleared, 'when the citizen leaves, the page no longer shows their check');
    const cam = await checkShown(page, server, waitingRoom, out, 'camera', ['--no-camera'], 'Borgerens kamera viser intet billede');
    report.camera_shown_ms = cam.shownAfter;
    check(true, `before the call the page says the citizen's camera shows no picture (${cam.shownAfter} ms after the citizen started)`);
    // The call still starts: the caseworker joins, the citizen is in the call and heard.
    await joinCall(page);
    const heard = await waitFor('the call starts despite the dark camera', async () => {
      const inCall = screens(cam.sim).some((l) => l.id === 'in-call');
      const stats = await pageStats(page);
      const peers = stats ? Object.values(stats.peers) : [];
      return inCall && peers.some((p) => p.inbound_audio && p.inbound_audio.totalAudioEnergy > 0);
    }, { timeoutMs: 30_000, everyMs: 250 }).then(() => true, () => false);
    check(heard, "the call starts where it can: the citizen's screen is in the call and the page hears the citizen");
    await page.click('#leave-call');
    await waitFor('the page leaves the call', () => page.$eval('#call', (el) => el.hidden), { timeoutMs: 10_000 });
    await cam.sim.stop();

    // 1. The peer offers something that does not parse.
    const first = await anotherMeeting(page, waitingRoom.code);
    let meeting = first;
    await joinCall(page);
    const t0 = Date.now();
    await tab.evaluate(rawPeer, { code: meeting.code, offer: 'v=0\r\nthis is not a session description\r\n' });
    const refusal = await waitFor('the page answers negotiation_failed', async () =>
      (await received(tab)).find((m) => m.type === 'signal' && m.payload.kind === 'negotiation_failed'),
    { timeoutMs: 20_000 });
    report.malformed_answer_ms = Date.now() - t0;
    check(refusal.payload.reason === 'malformed', `an offer that does not parse is answered negotiation_failed, reason ${refusal.payload.reason} (${report.malformed_answer_ms} ms)`);
    let notice = await pageFails(page, "the page's call fails");
    report.malformed_fail_ms = Date.now() - t0;
    report.malformed_notice = notice;
    check(
      notice.includes('Mødet mislykkedes') && notice.includes('kunne ikke blive enige om lyd og billede'),
      `the page says why the call failed: "${notice}" (${report.malformed_fail_ms} ms)`,
    );
    await page.screenshot({ path: join(out, 'silent-negotiation-malformed.png'), fullPage: true });

    // 2. The peer is there first and refuses the page's offer.
    meeting = await anotherMeeting(page, meeting.code);
    await tab.goto(`${server.url}/healthz`);
    await tab.evaluate(rawPeer, { code: meeting.code, refuse: 'no_common_codec' });
    await waitFor('the raw peer is seated', async () => (await received(tab)).some((m) => m.type === 'welcome'), { timeoutMs: 10_000 });
    const t1 = Date.now();
    await page.click('#join-call');
    const offered = await waitFor('the page offers to the peer', async () =>
      (await received(tab)).find((m) => m.type === 'signal' && m.payload.kind === 'offer'),
    { timeoutMs: 20_000 });
    check(/m=audio/.test(offered.payload.sdp) && /m=video/.test(offered.payload.sdp), 'the page, joining later, offers audio and video');
    notice = await pageFails(page, "the page's call fails after the peer's refusal");
    report.refused_fail_ms = Date.now() - t1;
    report.refused_notice = notice;
    check(
      notice.includes('kunne ikke blive enige om lyd og billede'),
      `a refused offer fails the page's call with words: "${notice}" (${report.refused_fail_ms} ms after joining)`,
    );
    await page.screenshot({ path: join(out, 'silent-negotiation-refused.png'), fullPage: true });
  } catch (e) {
    failures.push(`error: ${e.message}`);
    console.log(`silent-failures: FAIL ${e.message}`);
    await page.screenshot({ path: join(out, 'silent-failure.png'), fullPage: true }).catch(() => {});
  } finally {
    await browser.close().catch(() => {});
    await server.stop();
  }
  check(consoleLog.errors.length === 0, `no console errors on the page ${JSON.stringify(consoleLog.errors)}`);
  report.failures = failures;
  writeFileSync(join(out, 'silent-report.json'), JSON.stringify(report, null, 2));
  console.log(`silent-failures: ${passed} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
