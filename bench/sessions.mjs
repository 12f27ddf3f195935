// Holds N seated signalling sessions on a server and prints the server's RSS growth per session.
import { readFileSync } from 'node:fs';
const [base, token, n, pid] = [process.argv[2], process.argv[3], Number(process.argv[4]), process.argv[5]];
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const socks = [];
async function seat() {
  const m = await (await fetch(`${base}/api/v1/meetings`, { method: 'POST', headers: auth, body: '{}' })).json();
  const t = await (await fetch(`${base}/api/v1/meetings/${m.meeting_id}/tickets`, { method: 'POST', headers: auth })).json();
  const ws = new WebSocket(t.signalling_url);
  await new Promise((ok, bad) => {
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: t.join_token }));
    ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'welcome') ok(); };
    ws.onerror = bad;
  });
  socks.push(ws);
}
for (let i = 0; i < 50; i++) await seat(); // warm-up
const before = rss();
for (let i = 0; i < n; i++) await seat();
await new Promise((r) => setTimeout(r, 2000));
const after = rss();
console.log(JSON.stringify({ sessions: n, rss_before_kb: before, rss_after_kb: after, per_session_kb: (after - before) / n }));
process.exit(0);
