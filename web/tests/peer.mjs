#!/usr/bin/env node
// A browser participant for benchmarks: Chromium runs the caseworker page, joins a meeting
// through it, stays, and prints one JSON line with the final getStats summary.
//
//   node web/tests/peer.mjs --server http://10.0.0.1:8080 --token "$TOKEN" --meeting-id m_… \
//        [--seconds 20] [--chromium-args "--use-file-for-fake-video-capture=in.y4m \
//        --use-file-for-fake-audio-capture=in.wav"] [--screenshot out.png]
//
// Pick the meeting with --meeting-id or --code (any spacing); with neither, the page creates a
// meeting and a line {"event":"meeting created","code":…,"meeting_id":…} comes first on stdout.
// It needs nothing but the server URL (it can run inside `ip netns exec`). Progress goes to
// stderr; stdout carries JSON lines only, the last being {"event":"summary",…}.
// A plain-http server outside loopback is declared a secure origin for this browser (camera and
// microphone need one).
// Exit codes: 0 joined and, with every peer that was there, sent and received audio and video
// (and the page logged no errors); 1 otherwise; 2 usage error.

import {
  callState,
  createMeeting,
  joinCall,
  launchChromium,
  negotiatedCodecs,
  openAndSignIn,
  pageStats,
  secureOriginFlags,
  selectMeeting,
  splitArgs,
  waitFor,
  watchConsole,
} from './lib.mjs';

const USAGE = `usage: peer.mjs --server URL --token TOKEN [--meeting-id ID | --code CODE]
                [--seconds N] [--chromium-args "FLAGS"] [--screenshot FILE]
                [--join-timeout SECONDS]
  --token may also come from SAMTALE_STAFF_TOKEN.`;

function parseArgs(argv) {
  const opts = {
    server: null,
    token: process.env.SAMTALE_STAFF_TOKEN || null,
    meetingId: null,
    code: null,
    seconds: 10,
    chromiumArgs: '',
    screenshot: null,
    joinTimeout: 30,
  };
  const names = {
    '--server': 'server',
    '--token': 'token',
    '--meeting-id': 'meetingId',
    '--code': 'code',
    '--seconds': 'seconds',
    '--chromium-args': 'chromiumArgs',
    '--screenshot': 'screenshot',
    '--join-timeout': 'joinTimeout',
  };
  for (let i = 0; i < argv.length; i += 1) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--help' || arg === '-h') {
      console.error(USAGE);
      process.exit(0);
    }
    const key = names[arg];
    if (!key) throw new Error(`unknown argument ${arg}`);
    if (value === undefined) {
      i += 1;
      if (i >= argv.length) throw new Error(`${arg} needs a value`);
      value = argv[i];
    }
    opts[key] = value;
  }
  if (!opts.server) throw new Error('--server is required');
  if (!opts.token) throw new Error('--token (or SAMTALE_STAFF_TOKEN) is required');
  if (opts.meetingId && opts.code) throw new Error('give --meeting-id or --code, not both');
  opts.server = opts.server.replace(/\/+$/, '');
  opts.seconds = Number(opts.seconds);
  opts.joinTimeout = Number(opts.joinTimeout);
  if (!(opts.seconds >= 0) || !(opts.joinTimeout > 0)) throw new Error('--seconds and --join-timeout take numbers');
  return opts;
}

const note = (msg) => process.stderr.write(`peer: ${msg}\n`);
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`peer: ${e.message}\n${USAGE}`);
    return 2;
  }
  const summary = {
    event: 'summary',
    who: 'browser',
    ok: false,
    meeting_id: null,
    participant_id: null,
    local_media: [],
    seconds: opts.seconds,
    join_ms: null,
    first_media_ms: null,
    state: null,
    peers: {},
    negotiated: {},
    console_errors: [],
    error: null,
  };
  let browser = null;
  try {
    browser = await launchChromium([...secureOriginFlags(opts.server), ...splitArgs(opts.chromiumArgs)]);
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const consoleLog = watchConsole(page);
    await openAndSignIn(page, opts.server, opts.token);
    if (opts.meetingId || opts.code) {
      await selectMeeting(page, { meetingId: opts.meetingId, code: opts.code });
    } else {
      const m = await createMeeting(page);
      emit({ event: 'meeting created', code: m.code, code_display: m.display, meeting_id: m.meetingId });
    }
    summary.meeting_id = await page.$eval('#meeting-code', (el) => el.dataset.meetingId);

    const joinStart = Date.now();
    await joinCall(page, { timeoutMs: opts.joinTimeout * 1000 });
    summary.join_ms = Date.now() - joinStart;
    summary.participant_id = await page.evaluate(() => window.samtaleCall.participantId);
    summary.local_media = await page.evaluate(() => window.samtaleCall.localMedia);
    if (!summary.local_media.includes('audio') || !summary.local_media.includes('video')) {
      note(`no local ${summary.local_media.length ? 'video' : 'camera/microphone'}: ${await page.textContent('#notice')}`);
    }
    note(`joined ${summary.meeting_id} as ${summary.participant_id} in ${summary.join_ms} ms`);

    // Stay, sampling the stats; a peer that leaves keeps its last sample.
    const until = Date.now() + opts.seconds * 1000;
    let shotTaken = false;
    for (;;) {
      const stats = await pageStats(page);
      const now = Date.now();
      for (const [id, p] of Object.entries((stats && stats.peers) || {})) {
        summary.peers[id] = { ...p, left: false };
        const v = p.inbound_video;
        const a = p.inbound_audio;
        if (summary.first_media_ms === null && ((v && v.packetsReceived > 0) || (a && a.packetsReceived > 0))) {
          summary.first_media_ms = now - joinStart;
        }
        if (!summary.negotiated[id]) {
          const d = await page.evaluate((pid) => window.samtaleCall.sdp()[pid], id);
          if (d && d.local && d.remote) {
            const answer = d.offerer ? d.remote : d.local;
            summary.negotiated[id] = negotiatedCodecs(answer);
          }
        }
        if (opts.screenshot && !shotTaken && v && v.framesDecoded >= 30) {
          await page.screenshot({ path: opts.screenshot, fullPage: true });
          shotTaken = true;
        }
      }
      for (const [id, p] of Object.entries(summary.peers)) {
        if (!stats || !stats.peers[id]) p.left = true;
      }
      const state = stats ? stats.state : await callState(page);
      if (state === 'ended' || state === 'failed' || now >= until) break;
      // Sample fast until the first media arrived, then once a second.
      const pause = summary.first_media_ms === null ? 100 : 1000;
      await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(0, until - now))));
    }
    if (opts.screenshot && !shotTaken) await page.screenshot({ path: opts.screenshot, fullPage: true });
    summary.state = await callState(page);

    if (summary.state !== 'ended' && summary.state !== 'failed') {
      await page.click('#leave-call');
      await waitFor('the page leaves', async () => (await callState(page)) === 'ended', { timeoutMs: 5000, everyMs: 50 }).catch(
        (e) => note(e.message),
      );
    }
    summary.console_errors = consoleLog.errors;
    const peers = Object.values(summary.peers);
    const sent = (o) => o !== null && o !== undefined && o.packetsSent > 0;
    const got = (i) => i !== null && i !== undefined && i.packetsReceived > 0;
    // Audio and video both ways with every peer that was there.
    const mediaFromEach = peers.every(
      (p) => got(p.inbound_video) && got(p.inbound_audio) && sent(p.outbound_video) && sent(p.outbound_audio),
    );
    // A refused WebSocket while reconnecting is the network's doing, not the page's.
    const pageErrors = consoleLog.errors.filter((e) => !/^WebSocket connection to .* failed/.test(e));
    summary.ok = summary.state !== 'failed' && mediaFromEach && pageErrors.length === 0;
  } catch (e) {
    summary.error = e.message;
    note(`failed: ${e.message}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  emit(summary);
  return summary.ok ? 0 : 1;
}

process.exitCode = await main();
