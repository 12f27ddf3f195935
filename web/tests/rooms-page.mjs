// Standing rooms and presence on the caseworker page (issue 14), in Debian's Chromium against a
// real samtale-server and a real citizen core (samtale-sim join, the phones' API):
//
//   create a standing room with a staff-only note and a name the citizen sees -> the citizen
//   pairs with the code and goes back to the home screen with the app open -> the page shows
//   "the citizen's app is open" -> the caseworker joins: the citizen's big button lights up
//   (the sim's screen events) -> the caseworker leaves: it goes out -> the citizen's app closes:
//   the page shows it closed -> hand the room to a colleague, a new code for a new phone ->
//   the note is in no citizen-facing page -> accessibility check (axe-core).
//
// Run: node web/tests/rooms-page.mjs (after `npm ci --prefix web` and a release build of
// samtale-server and samtale-sim). Output: web/test-output/rooms-*.png, rooms-report.json.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Child,
  accessibilityViolations,
  binary,
  ensureOutputDir,
  joinCall,
  launchChromium,
  openAndSignIn,
  secureOriginFlags,
  startServer,
  waitFor,
  watchConsole,
} from './lib.mjs';

const failures = [];
let passed = 0;
function check(ok, message) {
  if (ok) passed += 1;
  else failures.push(message);
  console.log(`rooms-page: ${ok ? 'ok  ' : 'FAIL'} ${message}`);
}

const NOTE = 'MJ bostøtte LABEL-MARKER';
const NAME = 'Mette fra bostøtten';

/** The citizen's screens as the sim reports them: [{ id, lit, t }]. */
function screens(sim) {
  return sim.jsonLines().filter((l) => l.event === 'screen').map((l) => ({ id: l.id, lit: l.lit, t: Date.now() }));
}

function appOpen(page) {
  return page.$eval('#meeting-app', (el) => el.dataset.open === 'true');
}

async function main() {
  const out = ensureOutputDir();
  const report = { started: new Date().toISOString(), flips_ms: {} };
  const server = await startServer({ logFile: join(out, 'rooms-server.log') });
  const browser = await launchChromium(secureOriginFlags(server.url));
  const page = await (await browser.newContext()).newPage();
  const consoleLog = watchConsole(page);
  let sim = null;
  try {
    await openAndSignIn(page, server.url, server.token);
    // A standing room with a staff-only note and the name the citizen's app shows.
    await page.check('input[name="kind"][value="room"]');
    await page.fill('#create-label', NOTE);
    await page.fill('#create-name', NAME);
    await page.click('#create-meeting');
    await page.waitForSelector('#meeting-code[data-code]', { timeout: 10_000 });
    const code = await page.$eval('#meeting-code', (el) => el.dataset.code);
    check((await page.textContent('#meeting-note')).includes(NOTE), 'the note is shown to staff');
    check(await page.isVisible('#room-tools'), 'a room has its tools (hand over, new code)');
    check(!(await appOpen(page)), "the citizen's app is not open yet");
    check((await page.textContent('#create-label-hint')).includes('CPR'), 'the page says not to write names or CPR numbers');

    // The citizen pairs (a short call alone in the room), then stays on the home screen.
    sim = new Child('sim', binary('samtale-sim'), [
      'join', '--server', server.url, '--code', code, '--loopback', '--json', '--seconds', '2', '--home-secs', '120',
    ], { logFile: join(out, 'rooms-sim.log') });
    await waitFor('the citizen is home', () => screens(sim).some((s) => s.id === 'home'), { timeoutMs: 30_000 });
    let t = Date.now();
    await waitFor("the page shows the citizen's app open", () => appOpen(page), { timeoutMs: 15_000 });
    report.flips_ms.app_open_on_page = Date.now() - t;
    check(true, `the page shows the citizen's app open (${report.flips_ms.app_open_on_page} ms)`);
    check((await page.textContent('#meeting-list')).includes(NOTE), 'the note is in the list');

    // The caseworker comes in: the citizen's big button lights up; leaves: it goes out.
    t = Date.now();
    await joinCall(page);
    await waitFor('the big button lights up', () => screens(sim).some((s) => s.id === 'home' && s.lit), { timeoutMs: 10_000 });
    report.flips_ms.lit = Date.now() - t;
    check(true, `the citizen's button lit ${report.flips_ms.lit} ms after the caseworker joined`);
    check((await page.textContent('#call-title')).includes(NOTE), "the note is in the call's title");
    await page.screenshot({ path: join(out, 'rooms-in-room.png'), fullPage: true });
    const litCount = screens(sim).length;
    t = Date.now();
    await page.click('#leave-call');
    await waitFor('the big button goes out', () => {
      const after = screens(sim).slice(litCount - 1);
      return after.some((s) => s.id === 'home' && !s.lit);
    }, { timeoutMs: 10_000 });
    report.flips_ms.out = Date.now() - t;
    check(true, `the citizen's button went out ${report.flips_ms.out} ms after the caseworker left`);

    // The citizen's app closes: the page says so.
    t = Date.now();
    sim.proc.kill('SIGINT');
    await sim.exited;
    await waitFor("the page shows the citizen's app closed", async () => !(await appOpen(page)), { timeoutMs: 15_000 });
    report.flips_ms.app_closed_on_page = Date.now() - t;
    check(true, `the page shows the app closed (${report.flips_ms.app_closed_on_page} ms)`);

    // Holiday cover, and a new phone.
    await page.fill('#room-owner', 'KL');
    await page.click('#handover');
    await waitFor('handed over', async () => (await page.textContent('#meeting-list')).includes('KL'), { timeoutMs: 10_000 });
    check(true, 'handed over to KL');
    await page.click('#new-code');
    await waitFor('a new code', async () => (await page.$eval('#meeting-code', (el) => el.dataset.code)) !== code, { timeoutMs: 10_000 });
    const newCode = await page.$eval('#meeting-code', (el) => el.dataset.code);
    check(newCode !== code, 'a new code for a new phone');

    // The citizen-facing join page says nothing of the note or the name.
    const joinPage = await (await fetch(`${server.url}/j/${newCode}`)).text();
    check(!joinPage.includes('LABEL-MARKER') && !joinPage.includes('Mette'), 'the join page shows no note');

    const violations = await accessibilityViolations(page);
    check(violations.length === 0, `axe-core: no serious WCAG violations (${violations.join('; ')})`);
    await page.screenshot({ path: join(out, 'rooms-page.png'), fullPage: true });
    check(consoleLog.errors.length === 0, `no console errors (${consoleLog.errors.join(' | ')})`);
    const logs = server.child.stderr;
    check(!logs.includes('LABEL-MARKER') && !logs.includes(NAME), 'the note and the name are in no server log line');
  } catch (e) {
    failures.push(`${e.stack || e}`);
    await page.screenshot({ path: join(out, 'rooms-failure.png'), fullPage: true }).catch(() => {});
  } finally {
    report.passed = passed;
    report.failures = failures;
    writeFileSync(join(out, 'rooms-report.json'), `${JSON.stringify(report, null, 2)}\n`);
    if (sim) await sim.stop();
    await browser.close();
    await server.stop();
  }
  if (failures.length) {
    console.error(`rooms-page: ${failures.length} failed:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`rooms-page: all ${passed} checks passed ${JSON.stringify(report.flips_ms)}`);
}

main();
