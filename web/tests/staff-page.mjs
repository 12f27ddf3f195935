// The caseworker page, end to end, in Debian's Chromium (headless, fake camera and microphone)
// against a real samtale-server and a real citizen core (samtale-sim join):
//
//   sign in through the form (Danish by default, English available) -> create a meeting ->
//   read the code, the join link and its QR code off the page -> the friendly /j/#<code> page
//   (the code in the fragment: no request of the whole test carries it in its URL) ->
//   join the call -> the sim joins with the code -> both decode each other's media -> the page
//   shows the citizen as present and the connection in words -> accessibility check (axe-core,
//   WCAG 2.2 A/AA) -> mute on the page is heard by the sim (its received audio goes silent, and
//   comes back on unmute) -> screenshot -> ending the meeting ends the sim's call with reason
//   "meeting ended". Any console error on the page fails the test.
//
// Run: node web/tests/staff-page.mjs (after `npm ci --prefix web` and a release build of
// samtale-server and samtale-sim). Output: web/test-output/staff-*.png, staff-report.json.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Child,
  accessibilityViolations,
  binary,
  createMeeting,
  ensureOutputDir,
  joinCall,
  launchChromium,
  openAndSignIn,
  pageStats,
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
  console.log(`staff-page: ${ok ? 'ok  ' : 'FAIL'} ${message}`);
}

/** The sim's latest "media" tick (JSON mode prints one a second). */
function lastTick(sim) {
  const ticks = sim.jsonLines().filter((l) => l.event === 'media');
  return ticks.length ? ticks[ticks.length - 1] : null;
}

async function main() {
  const out = ensureOutputDir();
  const report = { started: new Date().toISOString() };
  const server = await startServer({ logFile: join(out, 'staff-server.log') });
  const browser = await launchChromium(secureOriginFlags(server.url));
  const context = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  // Every URL the browser asks for: a join code must be in none (access logs).
  const requested = [];
  context.on('request', (r) => requested.push(r.url()));
  let sim = null;
  try {
    // Sign in; Danish by default, English on request, and back.
    await openAndSignIn(page, server.url, server.token);
    check((await page.getAttribute('html', 'lang')) === 'da', 'the page is Danish by default');
    check((await page.textContent('#create-meeting')).trim() === 'Opret møde', 'Danish button text');
    await page.click('#language');
    check((await page.getAttribute('html', 'lang')) === 'en', 'English on request');
    check((await page.textContent('#create-meeting')).trim() === 'Create meeting', 'English button text');
    await page.click('#language');
    check((await page.getAttribute('html', 'lang')) === 'da', 'back to Danish');
    report.a11y_signed_in = await accessibilityViolations(page);
    check(report.a11y_signed_in.length === 0, `no serious WCAG violations on the meetings view ${JSON.stringify(report.a11y_signed_in)}`);

    // Create a meeting: the code, the join link and its QR code.
    const meeting = await createMeeting(page);
    check(/^\d{3} \d{3} \d{4}$/.test(meeting.display.trim()), `the code is shown grouped (${meeting.display})`);
    const link = await page.getAttribute('#meeting-link', 'href');
    check(link && link.endsWith(`/j/#${meeting.code}`), `the join link carries the code in its fragment: /j/#<code> (${link})`);
    const qrWidth = await waitFor('the QR code image loads', () =>
      page.$eval('#meeting-qr', (img) => img.complete && img.naturalWidth),
    );
    check(qrWidth > 0, `the QR code renders (${qrWidth} px)`);
    await page.click('#copy-link');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check(copied === link, 'copy puts the join link on the clipboard');
    // The link in a browser (a phone without the app): the page shows the code, grouped, and
    // the server never saw it.
    const citizenPage = await context.newPage();
    const citizenConsole = watchConsole(citizenPage);
    const joinResp = await citizenPage.goto(link);
    check(joinResp.status() === 200, 'the join-link page loads');
    const shown = await waitFor('the code on the join-link page', () =>
      citizenPage.$eval('#join-ok', (el) => (!el.hidden ? el.querySelector('.code').textContent : null)),
    );
    check(shown === meeting.display.trim(), `the join-link page shows the code, grouped (${shown})`);
    const label = await citizenPage.getAttribute('#join-ok .code', 'aria-label');
    check(label === `Koden er ${meeting.display.trim()}`, `a screen reader hears the code (${label})`);
    report.a11y_join_page = await accessibilityViolations(citizenPage);
    check(report.a11y_join_page.length === 0, `no serious WCAG violations on the join-link page ${JSON.stringify(report.a11y_join_page)}`);
    await citizenPage.screenshot({ path: join(out, 'join-link-page.png'), fullPage: true });
    for (const wrong of [`${server.url}/j/#123`, `${server.url}/j/#${meeting.code.slice(0, 9)}${(Number(meeting.code[9]) + 1) % 10}`]) {
      await citizenPage.goto(wrong);
      const bad = await waitFor('the wrong-link text', () =>
        citizenPage.$eval('#join-bad', (el) => (!el.hidden ? el.textContent : null)),
      );
      check(bad.includes('Linket ser forkert ud'), `a wrong join link gets a friendly explanation (${wrong.split('#')[1]})`);
    }
    check(citizenConsole.errors.length === 0, `no console errors on the join-link page (${citizenConsole.errors.join(' | ')})`);
    await citizenPage.close();
    // Links sent before the fragment form still work.
    const oldPage = await (await context.request.get(`${server.url}/j/${meeting.code}`)).text();
    check(oldPage.includes(meeting.display.trim()), 'an older /j/<code> link still shows the code');
    const badPage = await (await context.request.get(`${server.url}/j/123`)).text();
    check(badPage.includes('Linket ser forkert ud'), 'a wrong older link gets a friendly explanation');

    // Join from the page, then the citizen core joins with the code read off the page.
    await joinCall(page);
    sim = new Child('sim', binary('samtale-sim'), [
      'join', '--server', server.url, '--code', meeting.display, '--loopback', '--json', '--seconds', '120',
    ], { logFile: join(out, 'staff-sim.log') });
    const citizenId = await waitFor(
      'the page lists the citizen as present',
      () => page.$eval('#participants', (ul) => {
        const li = ul.querySelector('li[data-role="citizen"][data-present="true"]');
        return li ? li.dataset.participantId : null;
      }),
      { timeoutMs: 30_000, abort: () => (sim.running ? null : `sim exited: ${sim.stderr}`) },
    );
    check(Boolean(citizenId), 'the page shows the citizen as present');
    const media = await waitFor(
      'media decoded both ways',
      async () => {
        const stats = await pageStats(page);
        const peer = stats && stats.peers[citizenId];
        const tick = lastTick(sim);
        const ok = peer && peer.inbound_video && peer.inbound_video.framesDecoded > 10
          && peer.inbound_audio && peer.inbound_audio.totalAudioEnergy > 0
          && tick && tick.video_frames_decoded > 10 && tick.audible_frames > 20;
        return ok && { chromium: { frames: peer.inbound_video.framesDecoded, energy: peer.inbound_audio.totalAudioEnergy }, sim: tick };
      },
      { timeoutMs: 30_000, everyMs: 250 },
    );
    report.media = media;
    check(true, `Chromium decoded ${media.chromium.frames} frames and audio (energy ${media.chromium.energy.toFixed(3)}); the sim decoded ${media.sim.video_frames_decoded} frames`);
    const quality = await waitFor('connection quality in words', async () => {
      const text = await page.textContent('#quality');
      return text && /Forbindelse til Borger: (god|svag|dårlig)/.test(text) && text;
    });
    check(Boolean(quality), `connection quality shown: "${quality}"`);
    report.a11y_in_call = await accessibilityViolations(page);
    check(report.a11y_in_call.length === 0, `no serious WCAG violations in the call ${JSON.stringify(report.a11y_in_call)}`);

    // Mute on the page: the citizen's speaker goes silent; unmute: it comes back.
    const silentFor = async (ms) => {
      const start = lastTick(sim).audible_frames;
      const t0 = Date.now();
      return waitFor(`sim hears nothing for ${ms} ms`, () => {
        const now = lastTick(sim).audible_frames;
        return now === start && Date.now() - t0 >= ms;
      }, { timeoutMs: ms + 2500, everyMs: 200 }).then(() => true, () => false);
    };
    await page.click('#toggle-mic');
    check((await page.getAttribute('#toggle-mic', 'aria-pressed')) === 'true', 'the mute button shows it is pressed');
    const muted = await waitFor('the sim hears the mute', async () => silentFor(2000), { timeoutMs: 15_000, everyMs: 0 });
    check(muted, 'mute on the page is heard by the sim: its received audio is silent');
    // The page's status says "muted": the citizen's screen says so, as mute, not as a fault.
    const lastNotice = () => {
      const screens = sim.jsonLines().filter((l) => l.event === 'screen');
      return screens.length ? screens[screens.length - 1].notice : undefined;
    };
    const mutedShown = await waitFor('the citizen is told the caseworker muted', () => lastNotice() === 'notice-peer-muted', { timeoutMs: 5_000 })
      .then(() => true, () => false);
    check(mutedShown, `the citizen's screen says the caseworker muted (${lastNotice()})`);
    const before = lastTick(sim).audible_frames;
    await page.click('#toggle-mic');
    const back = await waitFor('the sim hears the caseworker again', () => lastTick(sim).audible_frames > before + 20, { timeoutMs: 10_000 })
      .then(() => true, () => false);
    check(back, 'unmute: the sim hears the caseworker again');
    const cleared = await waitFor('the mute notice goes', () => lastNotice() == null, { timeoutMs: 5_000 }).then(() => true, () => false);
    check(cleared, `unmuted: the citizen's notice is gone (${lastNotice()})`);
    const faults = sim.jsonLines().filter((l) => l.event === 'screen' && l.notice && l.notice !== 'notice-peer-muted');
    check(faults.length === 0, `no fault was said to the citizen in a working call ${JSON.stringify(faults.map((l) => l.notice))}`);

    await page.screenshot({ path: join(out, 'staff-in-call.png'), fullPage: true });

    // A citizen whose microphone gives digital silence and whose phone loses the caseworker's
    // sound on the way: the page says both, in words, within seconds.
    sim.proc.kill('SIGINT');
    await sim.exited;
    const gone = await waitFor('the citizen who pressed Ctrl-C has left', () =>
      page.$$eval('#remotes .tile[data-role="citizen"]', (els) => els.length === 0), { timeoutMs: 5_000 })
      .then(() => true, () => false);
    check(gone && sim.exitCode === 0, `Ctrl-C leaves the meeting cleanly (exit ${sim.exitCode}; the page has no citizen tile)`);
    const silence = silentWav(join(out, 'silence.wav'));
    sim = new Child('sim', binary('samtale-sim'), [
      'join', '--server', server.url, '--code', meeting.display, '--loopback', '--json', '--seconds', '120',
      '--audio', silence, '--drop-incoming', 'audio',
    ], { logFile: join(out, 'staff-sim-faults.log') });
    const t0 = Date.now();
    const said = {};
    await waitFor(
      'the page says what is wrong',
      async () => {
        const text = await page.$$eval('#remotes .tile[data-role="citizen"] .tile-hearing', (els) => els.map((e) => e.textContent).join(' | '));
        for (const phrase of ['Borgerens mikrofon giver ingen lyd', 'Borgeren kan ikke høre dig']) {
          if (text.includes(phrase) && !said[phrase]) said[phrase] = Date.now() - t0;
        }
        return Object.keys(said).length === 2;
      },
      { timeoutMs: 40_000, everyMs: 200, abort: () => (sim.running ? null : `sim exited: ${sim.stderr}`) },
    ).catch(() => {});
    report.hearing_ms = said;
    check(said['Borgerens mikrofon giver ingen lyd'] !== undefined, `the page says the citizen's microphone gives no sound (${said['Borgerens mikrofon giver ingen lyd']} ms after the citizen started)`);
    check(said['Borgeren kan ikke høre dig'] !== undefined, `the page says the citizen cannot hear the caseworker (${said['Borgeren kan ikke høre dig']} ms after the citizen started)`);
    const citizenNotices = sim.jsonLines().filter((l) => l.event === 'screen').map((l) => l.notice);
    check(citizenNotices.includes('notice-microphone-silent'), `the citizen is told about their microphone (${JSON.stringify([...new Set(citizenNotices)])})`);
    await page.screenshot({ path: join(out, 'staff-hearing.png'), fullPage: true });

    // End the meeting from the page: the citizen's call ends with "meeting ended".
    await page.click('#end-meeting');
    await waitFor('the sim sees the meeting end', () => !sim.running, { timeoutMs: 20_000 });
    const ended = sim.jsonLines().find((l) => l.event === 'state: ended');
    check(ended && ended.reason === 'MeetingEnded', `the sim's call ended with reason MeetingEnded (${ended && ended.reason})`);
    check(sim.exitCode === 0, `the sim exited cleanly (${sim.exitCode})`);
    await waitFor('the page leaves the call', async () => page.$eval('#call', (s) => s.hidden));
    // No URL the browser asked for carried the code: not the join link, not the QR code, not
    // an API call (a fragment is never sent, so `requested` holds none).
    const leaking = requested.filter((u) => u.split('#')[0].includes(meeting.code));
    check(requested.length > 10 && leaking.length === 0, `no request URL carries the code (${requested.length} requests; ${leaking.join(' ')})`);
  } catch (e) {
    failures.push(`error: ${e.message}`);
    console.log(`staff-page: FAIL ${e.message}`);
    await page.screenshot({ path: join(out, 'staff-failure.png'), fullPage: true }).catch(() => {});
  } finally {
    if (sim) await sim.stop();
    await browser.close().catch(() => {});
    await server.stop();
  }
  check(consoleLog.errors.length === 0, `no console errors on the page ${JSON.stringify(consoleLog.errors)}`);
  report.failures = failures;
  writeFileSync(join(out, 'staff-report.json'), JSON.stringify(report, null, 2));
  console.log(`staff-page: ${passed} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
