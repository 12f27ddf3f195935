#!/usr/bin/env node
// Browser interop test: Chromium running the caseworker page (/staff/) against the Rust core
// (samtale-sim) through a real samtale-server, media over loopback.
//
//   node web/tests/interop.mjs
//
// Phase 1, "the citizen joins": the page signs in, creates a meeting, reads the code off the page
//   and joins; `samtale-sim join --code` joins as the citizen and offers (it joined later).
// Phase 2, "the browser joins": `samtale-sim host` creates a meeting and waits in it; the page
//   picks that meeting from its list and joins, so Chromium offers and the core answers.
//
// Each phase checks: H.264 (42e01f, packetization-mode 1) and Opus are negotiated; Chromium's
// getStats shows decoded video frames and audio energy from the core; the emulator's summary
// shows audio and video packets received (and decoded video frames once it reports `media`).
// Any console error on the page fails the test.
//
// Environment:
//   SAMTALE_INTEROP_SYNTHETIC=1   the core still sends synthetic, undecodable payloads: only
//                                 require packets to arrive, not frames or audio to decode
//   SAMTALE_INTEROP_SECONDS=N     how long the emulator stays in each call (default 8)
//   SAMTALE_BIN_DIR=DIR           where samtale-server and samtale-sim are (default target/release)
//   SAMTALE_CHROMIUM=PATH         the browser (default /usr/bin/chromium)
// A screenshot, the report and the server log go to web/test-output/.

import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  Child,
  binary,
  callState,
  createMeeting,
  ensureOutputDir,
  joinCall,
  launchChromium,
  negotiatedCodecs,
  openAndSignIn,
  pageStats,
  selectMeeting,
  startServer,
  waitFor,
  watchConsole,
} from './lib.mjs';

const SYNTHETIC = process.env.SAMTALE_INTEROP_SYNTHETIC === '1';
const SECONDS = Math.max(2, Number(process.env.SAMTALE_INTEROP_SECONDS || 8));

const failures = [];
const report = { synthetic: SYNTHETIC, seconds: SECONDS, phases: {} };
let passedPhases = 0;
let phaseFailures = 0;

function check(ok, message) {
  if (!ok) {
    failures.push(message);
    console.error(`interop: FAIL ${message}`);
  }
  return ok;
}

function log(message) {
  console.log(`interop: ${message}`);
}

/** Media from the remote peer counts as "there" (final contract, or relaxed for synthetic). */
function mediaArrived(peer) {
  const v = peer.inbound_video;
  const a = peer.inbound_audio;
  if (!v || !a) return false;
  if (SYNTHETIC) return v.packetsReceived > 0 && a.packetsReceived > 0;
  return v.framesDecoded > 0 && a.totalAudioEnergy > 0;
}

function remotePeer(stats, role) {
  const entry = Object.entries((stats && stats.peers) || {}).find(([, p]) => p.role === role);
  return entry ? { participant_id: entry[0], ...entry[1] } : null;
}

/**
 * Runs one call between the page (already in the meeting) and the emulator `sim`, whose seat has
 * `role`. `browserOffers`: whether Chromium made the offer (it joined later).
 */
async function runPhase(name, { page, sim, role, browserOffers, outDir, started }) {
  const phase = { browser_offers: browserOffers };
  report.phases[name] = phase;
  const failuresBefore = failures.length;
  const simAbort = () => (sim.running ? null : `the emulator exited with ${sim.exitCode} first`);

  // 1. Media from the core reaches Chromium. The descriptions are kept as soon as both exist.
  let peer = null;
  let sdp = null;
  const sample = async () => {
    const p = remotePeer(await pageStats(page), role);
    if (p) {
      peer = p;
      if (!sdp) {
        const d = await page.evaluate((id) => window.samtaleCall && window.samtaleCall.sdp()[id], p.participant_id);
        if (d && d.local && d.remote) sdp = d;
      }
    }
    return p;
  };
  try {
    await waitFor(
      `${name}: Chromium ${SYNTHETIC ? 'receives' : 'decodes'} audio and video from the ${role}`,
      async () => {
        const p = await sample();
        return p && mediaArrived(p);
      },
      { timeoutMs: (SECONDS + 20) * 1000, everyMs: 100, abort: simAbort },
    );
    phase.media_ms = Date.now() - started;
    phase.browser_stats_at_media = peer;
    log(`${name}: media from the core in Chromium ${phase.media_ms} ms after the later participant started joining`);
  } catch (e) {
    const v = (peer && peer.inbound_video) || {};
    const a = (peer && peer.inbound_audio) || {};
    check(
      false,
      `${e.message}; last sample: video packetsReceived=${v.packetsReceived} framesDecoded=${v.framesDecoded}, ` +
        `audio packetsReceived=${a.packetsReceived} totalAudioEnergy=${a.totalAudioEnergy}` +
        (SYNTHETIC ? '' : ' (while the core sends synthetic payloads, SAMTALE_INTEROP_SYNTHETIC=1 checks packets only)'),
    );
  }

  // 2. What was negotiated (the answer decides).
  if (check(sdp !== null, `${name}: no complete offer/answer with the ${role} seen on the page`)) {
    const answer = browserOffers ? sdp.remote : sdp.local;
    const offer = browserOffers ? sdp.local : sdp.remote;
    const negotiated = negotiatedCodecs(answer);
    phase.negotiated = negotiated;
    phase.offer_first_codecs = negotiatedCodecs(offer);
    const v = negotiated.video || {};
    const a = negotiated.audio || {};
    check(
      /^H264\/90000$/i.test(v.codec || '') &&
        /profile-level-id=42e01f/i.test(v.fmtp || '') &&
        /packetization-mode=1/.test(v.fmtp || ''),
      `${name}: the answer's video codec is ${JSON.stringify(v)}, not H.264 42e01f packetization-mode=1`,
    );
    check(/^opus\/48000\/2$/i.test(a.codec || ''), `${name}: the answer's audio codec is ${JSON.stringify(a)}, not Opus`);
    check(/useinbandfec=1/.test(a.fmtp || ''), `${name}: Opus without useinbandfec=1 (${a.fmtp})`);
    log(
      `${name}: negotiated video ${v.codec} PT ${v.payload_type} (${v.fmtp}); audio ${a.codec} PT ${a.payload_type} (${a.fmtp})`,
    );
  }

  // 2b. The core's network changes mid-call (SIGUSR1 = Call::network_changed): it restarts ICE on
  // the same connection with new sockets; Chromium answers on that connection and keeps going.
  if (peer && sim.running) {
    const progress = (p) => {
      const v = (p && p.inbound_video) || {};
      return (SYNTHETIC ? v.packetsReceived : v.framesDecoded) || 0;
    };
    const before = progress(await sample());
    sim.proc.kill('SIGUSR1');
    try {
      await waitFor(
        `${name}: Chromium keeps ${SYNTHETIC ? 'receiving' : 'decoding'} after the core's ICE restart`,
        async () => sim.jsonLines().some((l) => l.event === 'network changed') && progress(await sample()) >= before + 30,
        { timeoutMs: 15_000, everyMs: 100, abort: simAbort },
      );
      phase.ice_restart = { progress_before: before, progress_after: progress(peer) };
      log(`${name}: ICE restart by the core: Chromium went on (${before} -> ${progress(peer)})`);
    } catch (e) {
      check(false, e.message);
    }
  }

  // Sample until the emulator leaves, for the final numbers and a screenshot with moving video.
  const shot = join(outDir, `interop-${name}.png`);
  let shotTaken = false;
  const sampleUntil = Date.now() + (SECONDS + 30) * 1000;
  while (peer && sim.running && Date.now() < sampleUntil) {
    const p = await sample();
    if (!p) break;
    const v = p.inbound_video || {};
    if (!shotTaken && (SYNTHETIC ? v.packetsReceived >= 30 : v.framesDecoded >= 30)) {
      await page.screenshot({ path: shot, fullPage: true });
      shotTaken = true;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!shotTaken) await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  phase.screenshot = shot;
  phase.browser_stats = peer;
  if (peer) {
    const vin = peer.inbound_video || {};
    const ain = peer.inbound_audio || {};
    if (vin.codec) {
      check(vin.codec.mime_type === 'video/H264', `${name}: Chromium receives ${vin.codec.mime_type}, not H.264`);
    }
    if (ain.codec) {
      check(ain.codec.mime_type === 'audio/opus', `${name}: Chromium receives ${ain.codec.mime_type}, not Opus`);
    }
    log(
      `${name}: Chromium in (last sample): video ${vin.packetsReceived} packets, ${vin.framesDecoded} frames decoded` +
        ` (${vin.decoderImplementation || 'no decoder'}), ${vin.freezeCount} freezes; audio ${ain.packetsReceived} packets,` +
        ` energy ${ain.totalAudioEnergy}, ${ain.concealedSamples}/${ain.totalSamplesReceived} samples concealed;` +
        ` RTT ${peer.candidate_pair ? peer.candidate_pair.currentRoundTripTime : '-'} s`,
    );
  }

  // 3. The emulator's own view, once it has left.
  try {
    await waitFor(`${name}: the emulator finishes`, async () => !sim.running, {
      timeoutMs: (SECONDS + 30) * 1000,
      everyMs: 100,
    });
  } catch (e) {
    check(false, e.message);
    await sim.stop();
  }
  const summary = sim.jsonLines().reverse().find((l) => l.event === 'summary') || null;
  phase.sim_exit = sim.exitCode;
  phase.sim_summary = summary;
  check(sim.exitCode === 0, `${name}: samtale-sim exited with ${sim.exitCode}: ${sim.stderr.trim().slice(-2000)}`);
  if (check(summary !== null, `${name}: samtale-sim printed no summary line`)) {
    const s = summary.stats || {};
    check(
      s.ice_restarts >= 1 && s.renegotiations === 0,
      `${name}: the core restarted ICE ${s.ice_restarts} times and rebuilt ${s.renegotiations} connections (want >= 1 and 0)`,
    );
    check(
      s.audio_packets_received > 0 && s.video_packets_received > 0,
      `${name}: the core received ${s.audio_packets_received} audio and ${s.video_packets_received} video packets from Chromium`,
    );
    log(`${name}: core in: ${s.audio_packets_received} audio + ${s.video_packets_received} video packets`);
    const media = summary.media;
    if (media && !SYNTHETIC) {
      const vf = media.video && media.video.frames_decoded;
      check(vf > 0, `${name}: the core decoded ${vf} video frames from Chromium`);
      const af = media.audio && media.audio.decoded_frames;
      if (typeof af === 'number') check(af > 0, `${name}: the core decoded ${af} audio frames from Chromium`);
      log(`${name}: core decoded ${vf} video frames, ${af} audio frames`);
    }
  }

  // 4. The page notices that the peer left.
  try {
    await waitFor(
      `${name}: the page drops the ${role} after it left`,
      async () => !remotePeer(await pageStats(page), role) && (await callState(page)) === 'waiting',
      { timeoutMs: 10_000, everyMs: 100 },
    );
  } catch (e) {
    check(false, e.message);
  }
  phaseFailures += failures.length - failuresBefore;
  if (failures.length === failuresBefore) passedPhases += 1;
}

async function leaveCall(page, name) {
  await page.click('#leave-call');
  try {
    await waitFor(`${name}: the page leaves the call`, async () => (await callState(page)) === 'ended', {
      timeoutMs: 5000,
      everyMs: 50,
    });
  } catch (e) {
    check(false, e.message);
  }
}

async function main() {
  const t0 = Date.now();
  const outDir = ensureOutputDir();
  const simBin = binary('samtale-sim');
  const server = await startServer({ logFile: join(outDir, 'server.log') });
  const children = [server.child];
  let browser = null;
  let consoleLog = { errors: [], warnings: [] };
  try {
    log(`server at ${server.url}${SYNTHETIC ? ' (synthetic media: packets only)' : ''}`);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    consoleLog = watchConsole(page);

    // Sign in through the form; the token lives in sessionStorage, never in the URL.
    const response = await openAndSignIn(page, server.url, server.token);
    const csp = response.headers()['content-security-policy'] || '';
    check(/script-src 'self'/.test(csp), `/staff/ has no strict Content-Security-Policy (${csp})`);
    const stored = await page.evaluate(() => sessionStorage.getItem('samtale.staffToken'));
    check(stored === server.token, 'the staff token is not kept in sessionStorage');
    check(!page.url().includes(server.token), 'the staff token leaked into the URL');

    report.chromium = await page.evaluate(() => ({
      user_agent: navigator.userAgent,
      h264_send: RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264').map((c) => c.sdpFmtpLine),
      h264_receive: RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264').map((c) => c.sdpFmtpLine),
      set_codec_preferences: 'setCodecPreferences' in RTCRtpTransceiver.prototype,
    }));
    const canH264 = (list) => list.some((f) => /profile-level-id=42e01f/.test(f) && /packetization-mode=1/.test(f));
    check(canH264(report.chromium.h264_send), 'this Chromium cannot encode H.264 42e01f packetization-mode=1');
    check(canH264(report.chromium.h264_receive), 'this Chromium cannot decode H.264 42e01f packetization-mode=1');

    // Phase 1: the page creates a meeting and waits; the core joins with the code on the page.
    const meeting = await createMeeting(page);
    check(/^\d{3} \d{3} \d{4}$/.test(meeting.display), `the code is shown as "${meeting.display}", not grouped 3-3-4`);
    check(meeting.display.replace(/ /g, '') === meeting.code, 'the shown code differs from the meeting code');
    const state = await joinCall(page);
    check(state === 'waiting', `the page is "${state}" in an empty meeting, not "waiting"`);
    const citizenStarted = Date.now();
    const citizen = new Child('sim join', simBin, [
      'join', '--server', server.url, '--code', meeting.display, '--loopback', '--seconds', String(SECONDS), '--json',
    ]);
    children.push(citizen);
    await runPhase('citizen-joins', { page, sim: citizen, role: 'citizen', browserOffers: false, outDir, started: citizenStarted });
    await leaveCall(page, 'citizen-joins');

    // Phase 2: the core hosts a meeting; the page joins it later and offers.
    const host = new Child('sim host', simBin, [
      'host', '--server', server.url, '--token', server.token, '--loopback', '--seconds', String(SECONDS + 3), '--json',
    ]);
    children.push(host);
    const created = await waitFor(
      'samtale-sim host creates its meeting',
      async () => host.jsonLines().find((l) => l.event === 'meeting created' && l.meeting_id),
      { timeoutMs: 15_000, everyMs: 50, abort: () => (host.running ? null : `it exited with ${host.exitCode}: ${host.stderr}`) },
    );
    await waitFor('samtale-sim host is in its meeting', async () => host.jsonLines().some((l) => l.event === 'state: waiting'), {
      timeoutMs: 15_000,
      everyMs: 50,
      abort: () => (host.running ? null : `it exited with ${host.exitCode}`),
    });
    await selectMeeting(page, { meetingId: created.meeting_id });
    const browserStarted = Date.now();
    await joinCall(page);
    await runPhase('browser-joins', { page, sim: host, role: 'staff', browserOffers: true, outDir, started: browserStarted });
    await leaveCall(page, 'browser-joins');

    report.console_errors = consoleLog.errors;
    report.console_warnings = consoleLog.warnings;
    check(consoleLog.errors.length === 0, `the page logged console errors: ${JSON.stringify(consoleLog.errors)}`);
  } catch (e) {
    check(false, e.stack || String(e));
    if (consoleLog.errors.length) console.error(`interop: page console errors: ${JSON.stringify(consoleLog.errors)}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    for (const c of children.slice(1)) await c.stop();
    await server.stop();
  }
  report.duration_ms = Date.now() - t0;
  report.failures = failures;
  writeFileSync(join(outDir, 'interop-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(`report: ${join(outDir, 'interop-report.json')} (${report.duration_ms} ms)`);
  // Three parts: the page itself (sign-in, headers, console) and the two calls.
  const passed = passedPhases + (failures.length === phaseFailures ? 1 : 0);
  console.log(`interop: ${passed} passed, ${3 - passed} failed`);
  if (failures.length) {
    console.error(`interop: FAILED (${failures.length} problem(s)):`);
    for (const f of failures) console.error(`  - ${f}`);
    process.exitCode = 1;
  }
}

process.on('unhandledRejection', (e) => {
  console.error('interop: unhandled rejection', e);
  process.exitCode = 1;
});

await main();
