// Shared helpers of the browser tests: Chromium (Debian's, via playwright-core), the server and
// the emulator as child processes, polling with deadlines, and driving the caseworker page.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(WEB_DIR, '..');
export const OUTPUT_DIR = join(WEB_DIR, 'test-output');

/** Where the built `samtale-server` and `samtale-sim` are (SAMTALE_BIN_DIR overrides). */
export function binDir() {
  return process.env.SAMTALE_BIN_DIR || join(REPO_DIR, 'target', 'release');
}

export function binary(name) {
  const path = join(binDir(), name);
  if (!existsSync(path)) {
    throw new Error(
      `${path} not found: build it first (cargo build --release --locked -p samtale-server -p samtale-sim), ` +
        'or point SAMTALE_BIN_DIR at the directory holding it',
    );
  }
  return path;
}

export const CHROMIUM_PATH = process.env.SAMTALE_CHROMIUM || '/usr/bin/chromium';

/** Flags every test browser gets (fake camera and microphone, no prompts, loopback ICE). */
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Splits a flag string like `--a=1 --b="x y"` into arguments (double quotes group). */
export function splitArgs(text) {
  const out = [];
  const re = /"([^"]*)"|(\S+)/g;
  let current = null;
  let lastEnd = -1;
  let m;
  while ((m = re.exec(text || '')) !== null) {
    const piece = m[1] !== undefined ? m[1] : m[2];
    // Pieces that touch (--x="a b") belong to one argument.
    if (current !== null && m.index === lastEnd) current += piece;
    else {
      if (current !== null) out.push(current);
      current = piece;
    }
    lastEnd = re.lastIndex;
  }
  if (current !== null) out.push(current);
  return out;
}

/**
 * Flags that let a page from `serverUrl` use the camera and microphone. Browsers allow them only
 * in a secure context: https, or http on a loopback address. A plain-http test server on another
 * address (e.g. a veth address inside a network namespace) is declared secure for this browser.
 */
export function secureOriginFlags(serverUrl) {
  const u = new URL(serverUrl);
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\./.test(u.hostname);
  if (u.protocol !== 'http:' || loopback) return [];
  return [`--unsafely-treat-insecure-origin-as-secure=${u.origin}`];
}

export async function launchChromium(extraArgs = []) {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: apt-get install chromium (or set SAMTALE_CHROMIUM)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...extraArgs],
  });
}

export class Deadline extends Error {}

/**
 * Polls `probe` (async, returns a truthy value when the condition holds) every `everyMs` until
 * it holds or `timeoutMs` passes; `abort` (optional) is checked too and ends the wait early.
 * Returns the probe's value; throws Deadline with `what` otherwise.
 */
export async function waitFor(what, probe, { timeoutMs = 10_000, everyMs = 100, abort = null } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (abort) {
      const why = abort();
      if (why) throw new Deadline(`${what}: gave up (${why})`);
    }
    if (Date.now() > end) throw new Deadline(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A child process whose stdout lines and exit are collected. */
export class Child {
  constructor(name, cmd, args, { env = {}, logFile = null } = {}) {
    this.name = name;
    this.lines = [];
    this.stderr = '';
    this.exitCode = null;
    this.signal = null;
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = logFile ? createWriteStream(logFile) : null;
    let buf = '';
    this.proc.stdout.on('data', (d) => {
      if (log) log.write(d);
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    this.proc.stderr.on('data', (d) => {
      if (log) log.write(d);
      this.stderr += d.toString();
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
    });
    this.exited = new Promise((res) => {
      this.proc.on('exit', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        if (buf) this.lines.push(buf);
        if (log) log.end();
        res(code);
      });
      this.proc.on('error', (e) => {
        this.stderr += `spawn failed: ${e.message}\n`;
        this.exitCode = -1;
        res(-1);
      });
    });
  }

  get running() {
    return this.exitCode === null && this.signal === null;
  }

  /** Parsed JSON lines of stdout (lines that are not JSON are skipped). */
  jsonLines() {
    const out = [];
    for (const l of this.lines) {
      try {
        out.push(JSON.parse(l));
      } catch (e) {
        // not JSON
      }
    }
    return out;
  }

  async stop() {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.running && this.proc.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Starts `samtale-server` on a free loopback port with a temp database and a random token. */
export async function startServer({ logFile = null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'samtale-web-'));
  const token = `web-${randomBytes(24).toString('base64url')}`;
  const tokenFile = join(dir, 'staff-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const server = new Child(
    'server',
    binary('samtale-server'),
    ['--listen', '127.0.0.1:0', '--db', join(dir, 'samtale.sqlite'), '--staff-token-file', tokenFile],
    { env: { RUST_LOG: process.env.RUST_LOG || 'info' }, logFile },
  );
  const url = await waitFor(
    'samtale-server prints its address',
    () => {
      const m = server.stderr.match(/listening on \S+ \(public URL (\S+)\)/);
      return m ? m[1] : null;
    },
    { timeoutMs: 15_000, everyMs: 50, abort: () => (server.running ? null : `exited with ${server.exitCode}: ${server.stderr.trim()}`) },
  );
  return {
    url,
    token,
    child: server,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchConsole(page) {
  const errors = [];
  const warnings = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
    else if (msg.type() === 'warning') warnings.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  return { errors, warnings };
}

/** Opens the caseworker page and signs in through its form. Returns the page response. */
export async function openAndSignIn(page, serverUrl, token) {
  const response = await page.goto(`${serverUrl}/staff/`);
  if (!response || response.status() !== 200) {
    throw new Error(`GET /staff/ answered ${response ? response.status() : 'nothing'}`);
  }
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  await page.fill('#staff-token', token);
  await page.click('#signin-submit');
  await page.waitForSelector('#meetings:not([hidden])', { timeout: 10_000 }).catch(async () => {
    const err = await page.textContent('#signin-error');
    throw new Error(`sign-in failed: ${err || 'the meetings section did not appear'}`);
  });
  return response;
}

/** Clicks "Create meeting" and returns { code, display, meetingId } read from the page. */
export async function createMeeting(page) {
  await page.click('#create-meeting');
  await page.waitForSelector('#meeting-code[data-code]', { timeout: 10_000 });
  return page.$eval('#meeting-code', (el) => ({
    code: el.dataset.code,
    display: el.textContent,
    meetingId: el.dataset.meetingId,
  }));
}

/** Selects an open meeting by id or code in the page's list (refreshing it first). */
export async function selectMeeting(page, { meetingId = null, code = null }) {
  const digits = code ? code.replace(/\D/g, '') : null;
  const selector = meetingId ? `#meeting-list li[data-meeting-id="${meetingId}"]` : `#meeting-list li[data-code="${digits}"]`;
  await waitFor(
    `meeting ${meetingId || 'with that code'} in the page's list`,
    async () => {
      await page.click('#refresh-meetings');
      return page.waitForSelector(selector, { timeout: 1000 }).then(() => true, () => false);
    },
    { timeoutMs: 10_000, everyMs: 200 },
  );
  await page.click(`${selector} button.select-meeting`);
  await page.waitForSelector('#meeting-code[data-code]', { timeout: 5000 });
}

/** Clicks "Join call" and waits until the page is in the meeting (waiting or in a call). */
export async function joinCall(page, { timeoutMs = 20_000 } = {}) {
  await page.click('#join-call');
  return waitFor(
    'the page joins the meeting',
    async () => {
      const state = await callState(page);
      if (state === 'failed' || state === 'ended') {
        throw new Error(`the page's call ${state}: ${await page.textContent('#notice')}`);
      }
      return (state === 'waiting' || state === 'in_call') && state;
    },
    { timeoutMs, everyMs: 50 },
  );
}

export function callState(page) {
  return page.evaluate(() => (window.samtaleCall ? window.samtaleCall.state : null));
}

export function pageStats(page) {
  return page.evaluate(() => (window.samtaleCall ? window.samtaleCall.stats() : null));
}

/** The first codec of each m= section of an SDP: { audio: {...}, video: {...} }. */
export function negotiatedCodecs(sdp) {
  const out = {};
  if (!sdp) return out;
  const sections = sdp.split(/\r?\nm=/).slice(1).map((s) => `m=${s}`);
  for (const sec of sections) {
    const mline = sec.split(/\r?\n/)[0];
    const [kindPart, , , ...pts] = mline.slice(2).split(' ');
    const kind = kindPart;
    if (/^a=inactive/m.test(sec) || mline.split(' ')[1] === '0') continue;
    const pt = pts[0];
    const rtpmap = sec.match(new RegExp(`^a=rtpmap:${pt} (\\S+)`, 'm'));
    const fmtp = sec.match(new RegExp(`^a=fmtp:${pt} (.+)$`, 'm'));
    out[kind] = { payload_type: Number(pt), codec: rtpmap ? rtpmap[1] : null, fmtp: fmtp ? fmtp[1].trim() : null };
  }
  return out;
}

export function ensureOutputDir() {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  return OUTPUT_DIR;
}

/** axe-core's serious and critical WCAG 2.x A/AA violations on the page as it is now. */
export async function accessibilityViolations(page) {
  const source = readFileSync(join(WEB_DIR, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  // Evaluated through the debugging protocol, so the page's strict CSP does not block it.
  await page.evaluate(`${source}\n;undefined`);
  const result = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    }),
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** Writes one second of digital silence (48 kHz mono 16-bit WAV): a microphone the phone blocks. */
export function silentWav(path) {
  const samples = 48_000;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + samples * 2, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(48_000, 24);
  header.writeUInt32LE(96_000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(samples * 2, 40);
  writeFileSync(path, Buffer.concat([header, Buffer.alloc(samples * 2)]));
  return path;
}
