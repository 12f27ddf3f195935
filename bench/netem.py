#!/usr/bin/env python3
"""Network-impairment benchmark of Samtale calls between two network namespaces.

Run it through scripts/bench-netem (installs what is needed, checks for root, cleans up).
Standard library only; PESQ runs in a separate venv (bench/audio_quality.py).

Topology (nothing is added to the root namespace; deleting the three namespaces removes all):

    samtale-hub: bridge br0 10.77.0.1/24, samtale-server on 10.77.0.1:8080
        |-- veth --> samtale-a: veth0 10.77.0.2  (sim host = caseworker)
        `-- veth --> samtale-b: veth0 10.77.0.3  (sim join = citizen, or headless Chromium)

Impairments are applied on veth0 *inside* samtale-a and samtale-b, on egress, so every
direction (a->b, b->a, each side's signalling) is impaired exactly once.

Two impairment back-ends give the same semantics:
- netem: `tc qdisc ... netem` (loss, delay/jitter) and `tbf` (rate cap), when the kernel has sch_netem.
- nfqueue: for kernels without sch_netem (minimal VM kernels): iptables sends veth0's egress to
  NFQUEUE and bench/impair.py drops (loss) and holds (delay/jitter) packets; `tbf` caps the rate.
"""

import argparse
import datetime as dt
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

NS_HUB, NS_A, NS_B = "samtale-hub", "samtale-a", "samtale-b"
NAMESPACES = (NS_HUB, NS_A, NS_B)
IP_HUB, IP_A, IP_B = "10.77.0.1", "10.77.0.2", "10.77.0.3"
PORT = 8080
IFACE = "veth0"  # the namespace-side interface in samtale-a / samtale-b
NFQUEUE_NUM = 0

# Per-side impairment of each scenario. Applied on each namespace's egress, so e.g. `loss: 5`
# means 5 % random loss in each direction, and `delay: 50` adds 50 ms each way (100 ms RTT).
#   loss   random loss, percent of packets
#   delay  one-way delay, ms;  jitter: standard deviation of a normal distribution around it, ms.
#          Packets are never reordered (netem gets `rate 1gbit`, which makes it keep packet
#          order; bench/impair.py releases in order): a late packet delays those right behind it,
#          like a real queue. Without that, netem's jitter reorders packets freely, which a real
#          path with ~20 ms jitter rarely does and which the receiver would see as loss.
#   rate   bottleneck capacity, kbit/s (tbf, drop-tail); queue: its buffer in ms of that rate.
SCENARIOS = {
    "clean": {},
    "loss5": {"loss": 5},
    "loss10": {"loss": 10},
    "loss20": {"loss": 20},
    "rtt100j20": {"delay": 50, "jitter": 10},
    "cap300": {"rate": 300, "queue": 200},
}
DEFAULT_SCENARIOS = list(SCENARIOS)


# --------------------------------------------------------------------------------------------
# Small helpers


def log(msg):
    print(f"[bench-netem] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, quiet=False, **kw):
    """Runs a command (list); returns CompletedProcess with text output."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    if not quiet and p.returncode != 0:
        log(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return p


def nsx(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def pair(a, b, digits=0):
    if a is None and b is None:
        return "n/a"
    return f"{fmt(a, digits)} / {fmt(b, digits)}"


def get(obj, *path):
    """obj[path0][path1]... or None when anything on the way is missing."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def git_commit():
    p = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain"], capture_output=True, text=True)
    return (p.stdout.strip() or "unknown") + ("+dirty" if dirty.stdout.strip() else "")


# --------------------------------------------------------------------------------------------
# Topology


def ns_exists(ns):
    return ns in run(["ip", "netns", "list"], check=False).stdout.split()


def kill_namespace_processes(ns, timeout=3.0):
    """Ends every process inside one of the bench's namespaces (all of them are the bench's)."""
    if not ns_exists(ns):
        return
    pids = [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.time() + timeout
        while time.time() < end:
            pids = [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
            if not pids:
                return
            time.sleep(0.1)


def teardown():
    for ns in NAMESPACES:
        if ns_exists(ns):
            kill_namespace_processes(ns)
            run(["ip", "netns", "del", ns], check=False)


def setup_topology():
    teardown()  # leftovers of a crashed run
    for ns in NAMESPACES:
        run(["ip", "netns", "add", ns])
        run(nsx(ns, "ip", "link", "set", "lo", "up"))
        # IPv4 only: no IPv6 link-local candidates or DAD noise on the links.
        for key in ("all", "default"):
            run(nsx(ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"), check=False)
    run(nsx(NS_HUB, "ip", "link", "add", "br0", "type", "bridge"))
    run(nsx(NS_HUB, "ip", "addr", "add", f"{IP_HUB}/24", "dev", "br0"))
    run(nsx(NS_HUB, "ip", "link", "set", "br0", "up"))
    for ns, ip, hub_end in ((NS_A, IP_A, "to-a"), (NS_B, IP_B, "to-b")):
        run(["ip", "link", "add", hub_end, "netns", NS_HUB, "type", "veth", "peer", "name", IFACE, "netns", ns])
        run(nsx(NS_HUB, "ip", "link", "set", hub_end, "master", "br0", "up"))
        run(nsx(ns, "ip", "addr", "add", f"{ip}/24", "dev", IFACE))
        run(nsx(ns, "ip", "link", "set", IFACE, "up"))


def detect_backend(requested):
    """'netem' if the kernel has sch_netem (tried on samtale-a's veth0), else 'nfqueue'."""
    probe = run(nsx(NS_A, "tc", "qdisc", "add", "dev", IFACE, "root", "netem", "delay", "0ms"), check=False, quiet=True)
    has_netem = probe.returncode == 0
    if has_netem:
        run(nsx(NS_A, "tc", "qdisc", "del", "dev", IFACE, "root"), check=False, quiet=True)
    if requested == "netem" and not has_netem:
        raise RuntimeError(f"--impair netem: this kernel has no sch_netem ({probe.stderr.strip()})")
    if requested in ("netem", "nfqueue"):
        return requested
    return "netem" if has_netem else "nfqueue"


# --------------------------------------------------------------------------------------------
# Impairments


def describe(imp):
    parts = []
    if imp.get("loss"):
        parts.append(f"loss {imp['loss']}%")
    if imp.get("delay") or imp.get("jitter"):
        parts.append(f"delay {imp.get('delay', 0)} ms ± {imp.get('jitter', 0)} ms (normal, in order)")
    if imp.get("rate"):
        parts.append(f"rate {imp['rate']} kbit/s, {imp.get('queue', 200)} ms queue")
    return ", ".join(parts) + " per direction" if parts else "none"


class Impairment:
    """Impairment of one scenario on veth0 egress in samtale-a and samtale-b."""

    def __init__(self, imp, backend, workdir):
        self.imp = imp
        self.backend = backend
        self.workdir = workdir
        self.engines = {}  # ns -> Popen of bench/impair.py
        self.commands = []

    def _tbf(self, parent):
        rate = self.imp["rate"]
        queue_ms = self.imp.get("queue", 200)
        # burst: at least one full-size packet and one timer tick worth of tokens.
        burst = max(3200, rate * 1000 // 8 // 100)
        return [*parent, "tbf", "rate", f"{rate}kbit", "burst", str(burst), "latency", f"{queue_ms}ms"]

    def apply(self):
        imp = self.imp
        if not imp:
            return
        for ns in (NS_A, NS_B):
            tc = nsx(ns, "tc", "qdisc", "add", "dev", IFACE)
            netem_args = []
            if self.backend == "netem":
                if imp.get("loss"):
                    netem_args += ["loss", f"{imp['loss']}%"]
                if imp.get("delay") or imp.get("jitter"):
                    netem_args += ["delay", f"{imp.get('delay', 0)}ms"]
                    if imp.get("jitter"):
                        netem_args += [f"{imp['jitter']}ms", "distribution", "normal"]
                    netem_args += ["rate", "1gbit"]  # keeps packet order (see SCENARIOS)
            cmds = []
            if netem_args:
                cmds.append([*tc, "root", "handle", "1:", "netem", *netem_args])
            if imp.get("rate"):
                # The rate cap sits on the hub's end of the link, i.e. on the traffic *towards*
                # this namespace: a bottleneck in the network drops. A full queue in the sender's
                # own kernel would instead push back into its socket and throttle it, which no
                # real network does (measured: audio stalled in the sender, not on the link).
                hub_end = "to-a" if ns == NS_A else "to-b"
                hub_tc = nsx(NS_HUB, "tc", "qdisc", "add", "dev", hub_end)
                cmds.append(self._tbf([*hub_tc, "root", "handle", "1:"]))
            for c in cmds:
                self.commands.append(" ".join(c[4:]))
                run(c)
            if self.backend == "nfqueue" and (imp.get("loss") or imp.get("delay") or imp.get("jitter")):
                self._start_engine(ns)

    def _start_engine(self, ns):
        imp = self.imp
        ready = os.path.join(self.workdir, f"impair-{ns}.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = nsx(
            ns, sys.executable, os.path.join(HERE, "impair.py"), "--queue", str(NFQUEUE_NUM),
            "--loss-pct", str(imp.get("loss", 0)), "--delay-ms", str(imp.get("delay", 0)),
            "--jitter-ms", str(imp.get("jitter", 0)), "--ready-file", ready,
        )  # fmt: skip
        self.engines[ns] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.time() + 5
        while not os.path.exists(ready):
            if self.engines[ns].poll() is not None or time.time() > end:
                raise RuntimeError(f"bench/impair.py did not start in {ns}: {self.engines[ns].stderr.read()}")
            time.sleep(0.05)
        # Only now divert traffic: without a listener, queued packets would be dropped.
        rule = ["-o", IFACE, "-j", "NFQUEUE", "--queue-num", str(NFQUEUE_NUM)]
        run(nsx(ns, "iptables", "-A", "OUTPUT", *rule))
        self.commands.append(f"iptables -A OUTPUT {' '.join(rule)} + bench/impair.py {' '.join(cmd[6:-2])}")

    def counters(self):
        """tc statistics of both sides (sent, dropped, overlimits) as text."""
        out = {}
        for ns in (NS_A, NS_B):
            out[ns] = run(nsx(ns, "tc", "-s", "qdisc", "show", "dev", IFACE), check=False).stdout.strip()
        return out

    def clear(self):
        """Removes the impairment; returns the engines' reports (nfqueue back-end)."""
        reports = {}
        for ns in (NS_A, NS_B):
            if ns in self.engines:
                # Traffic first goes back to the normal path, then the engine flushes and exits.
                run(nsx(ns, "iptables", "-F", "OUTPUT"), check=False)
                eng = self.engines.pop(ns)
                eng.send_signal(signal.SIGTERM)
                try:
                    out, _ = eng.communicate(timeout=5)
                    reports[ns] = json.loads(out.strip().splitlines()[-1])
                except (subprocess.TimeoutExpired, ValueError, IndexError):
                    eng.kill()
            run(nsx(ns, "tc", "qdisc", "del", "dev", IFACE, "root"), check=False, quiet=True)
        return reports


# --------------------------------------------------------------------------------------------
# Processes with line-by-line JSON output and CPU/RSS sampling


class Proc:
    def __init__(self, name, cmd, logdir, env=None, any_json_summary=False):
        self.name = name
        self.any_json_summary = any_json_summary
        self.lines = queue.Queue()
        self.all = []
        self.started = time.time()
        self.stderr_path = os.path.join(logdir, f"{name}.stderr.log")
        self.stdout_path = os.path.join(logdir, f"{name}.stdout.log")
        self._err = open(self.stderr_path, "w")
        self.p = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._err, text=True, env={**os.environ, **(env or {})}
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.stdout_path, "w") as out:
            for line in self.p.stdout:
                out.write(line)
                out.flush()
                line = line.strip()
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = {"text": line}
                obj["_t"] = time.time()
                self.all.append(obj)
                self.lines.put(obj)
        self.lines.put(None)

    def wait_line(self, pred, timeout):
        end = time.time() + timeout
        while (left := end - time.time()) > 0:
            try:
                obj = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if obj is None:
                return None
            if pred(obj):
                return obj
        return None

    def summary(self):
        if self.p.poll() is not None:
            self.reader.join(timeout=5)  # the last lines may still be in the pipe
        for obj in reversed(self.all):
            if obj.get("event") == "summary":
                return obj
        if self.any_json_summary:
            # A peer that prints one JSON object (web/tests/peer.mjs): its last JSON line.
            for obj in reversed(self.all):
                if "text" not in obj:
                    return obj
        return None

    def stop(self, sig=signal.SIGINT, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._err.close()


class Sampler(threading.Thread):
    """Samples CPU time (utime+stime) and VmRSS/VmHWM of processes every `every` seconds."""

    def __init__(self, procs, every=0.5):
        super().__init__(daemon=True)
        self.procs = procs  # name -> pid
        self.every = every
        self.samples = {name: [] for name in procs}
        self.halt = threading.Event()
        self.tck = os.sysconf("SC_CLK_TCK")

    def _sample(self, pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except (OSError, IndexError):
            return None
        kb = lambda k: int(status[k].split()[0]) if k in status else None
        # fields[0] is `state` (field 3); utime and stime are fields 14 and 15.
        return {
            "t": time.time(),
            "user_s": int(fields[11]) / self.tck,
            "sys_s": int(fields[12]) / self.tck,
            "rss_kb": kb("VmRSS"),
            "hwm_kb": kb("VmHWM"),
        }

    def run(self):
        while not self.halt.is_set():
            for name, pid in self.procs.items():
                s = self._sample(pid)
                if s:
                    self.samples[name].append(s)
            self.halt.wait(self.every)

    def report(self, t0, t1):
        """CPU % of one core over [t0, t1] and peak RSS, per process."""
        out = {}
        for name, ss in self.samples.items():
            win = [s for s in ss if t0 - self.every <= s["t"] <= t1 + self.every]
            if len(win) < 2:
                out[name] = None
                continue
            a, b = win[0], win[-1]
            wall = b["t"] - a["t"]
            cpu = (b["user_s"] + b["sys_s"]) - (a["user_s"] + a["sys_s"])
            out[name] = {
                "window_s": round(wall, 1),
                "cpu_pct": round(100 * cpu / wall, 1) if wall > 0 else None,
                "user_pct": round(100 * (b["user_s"] - a["user_s"]) / wall, 1) if wall > 0 else None,
                "sys_pct": round(100 * (b["sys_s"] - a["sys_s"]) / wall, 1) if wall > 0 else None,
                "peak_rss_mb": round(max(s["hwm_kb"] or s["rss_kb"] or 0 for s in ss) / 1024, 1),
                "end_rss_mb": round((ss[-1]["rss_kb"] or 0) / 1024, 1),
            }
        return out


# --------------------------------------------------------------------------------------------
# The bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin_dir = os.path.abspath(args.bin_dir)
        self.server_bin = os.path.join(self.bin_dir, "samtale-server")
        self.sim_bin = os.path.join(self.bin_dir, "samtale-sim")
        for b in (self.server_bin, self.sim_bin):
            if not os.access(b, os.X_OK):
                raise RuntimeError(f"{b} not found (build with: cargo build --release -p samtale-server -p samtale-sim)")
        self.workdir = args.workdir or tempfile.mkdtemp(prefix="samtale-bench-")
        os.makedirs(self.workdir, exist_ok=True)
        self.url = f"http://{IP_HUB}:{PORT}"
        self.token = "bench-" + os.urandom(16).hex()
        self.server = None
        help_text = run([self.sim_bin, "join", "--help"], check=False).stdout
        self.features = {
            flag: re.search(rf"(^|\s)--{flag}\s", help_text) is not None for flag in ("bind", "record", "audio")
        }
        self.sim_version = run([self.sim_bin, "--version"], check=False).stdout.strip()
        self.venv_python = args.venv_python
        self.speech = None

    # -- server ---------------------------------------------------------------------------
    def start_server(self):
        token_file = os.path.join(self.workdir, "staff-token")
        with open(token_file, "w") as f:
            f.write(self.token + "\n")
        os.chmod(token_file, 0o600)
        cmd = nsx(
            NS_HUB, self.server_bin, "--listen", f"{IP_HUB}:{PORT}",
            "--db", os.path.join(self.workdir, "samtale.sqlite"), "--staff-token-file", token_file,
            "--lookup-burst", "10000",  # every joiner comes from the same address
        )  # fmt: skip
        self.server = Proc("server", cmd, self.workdir)
        # Health check from samtale-a, through the (not yet impaired) link.
        probe = (
            "import sys,time,urllib.request\n"
            "for _ in range(100):\n"
            "    try:\n"
            f"        urllib.request.urlopen('{self.url}/healthz', timeout=1).read(); sys.exit(0)\n"
            "    except Exception: time.sleep(0.1)\n"
            "sys.exit(1)\n"
        )
        if run(nsx(NS_A, sys.executable, "-c", probe), check=False).returncode != 0:
            raise RuntimeError(f"samtale-server did not answer on {self.url} (see {self.server.stderr_path})")

    # -- one call -------------------------------------------------------------------------
    def make_speech(self):
        """--speech: a speech-like WAV (bench/audio_quality.py) as every peer's microphone."""
        if not self.args.speech:
            return
        if not self.venv_python:
            raise RuntimeError("--speech needs the PESQ venv (numpy) to generate the signal")
        path = os.path.join(self.workdir, "speech.wav")
        # Longer than any call, so the sender's loop never wraps inside the scored part.
        secs = str(self.args.seconds + 60)
        run([self.venv_python, os.path.join(HERE, "audio_quality.py"), "--write-speech", path, "--speech-seconds", secs])
        self.speech = path
        if not self.features["audio"]:
            log("this samtale-sim has no --audio: the sims keep their synthetic microphone")

    def sim_cmd(self, ns, ip, role, record_dir, extra):
        cmd = nsx(ns, self.sim_bin, role, "--server", self.url, "--json", *extra)
        if self.features["bind"]:
            cmd += ["--bind", ip]
        if self.features["record"]:
            os.makedirs(record_dir, exist_ok=True)
            cmd += ["--record", record_dir]
        if self.speech and self.features["audio"]:
            cmd += ["--audio", self.speech]
        return cmd

    def peer_cmd(self, code):
        """The headless Chromium peer of the web tests (web/tests/peer.mjs): it signs in to the
        caseworker page with the staff token (SAMTALE_STAFF_TOKEN), joins by code, stays
        --seconds and prints one JSON summary line with its getStats numbers."""
        script = os.path.join(REPO, "web", "tests", "peer.mjs")
        if not os.path.exists(script):
            raise RuntimeError(f"{script} not found: --chromium needs the browser peer of the web tests")
        cmd = nsx(
            NS_B, "node", script, "--server", self.url, "--code", code.replace(" ", ""),
            "--seconds", str(self.args.seconds),
        )  # fmt: skip
        if self.speech and not any(a.startswith("--chromium-args") for a in self.args.peer_arg):
            cmd += ["--chromium-args", f"--use-file-for-fake-audio-capture={self.speech}"]
        return cmd + self.args.peer_arg

    def call(self, name, run_no, imp_desc):
        args = self.args
        rundir = os.path.join(self.workdir, f"{name}-run{run_no}")
        os.makedirs(rundir, exist_ok=True)
        rec_a, rec_b = os.path.join(rundir, "a"), os.path.join(rundir, "b")
        # The host stays until SIGINT (--seconds 0): it is stopped right after the joiner's
        # summary, so both measure the same stretch of call.
        host = Proc(
            "host", self.sim_cmd(NS_A, IP_A, "host", rec_a, ["--seconds", "0"]), rundir,
            env={"SAMTALE_STAFF_TOKEN": self.token},
        )  # fmt: skip
        joiner = None
        result = {"scenario": name, "run": run_no, "impairment": imp_desc, "dir": rundir}
        try:
            created = host.wait_line(lambda o: o.get("event") == "meeting created", 30)
            if not created:
                raise RuntimeError(f"host did not create a meeting (see {host.stderr_path})")
            code = created["code"]
            if args.chromium:
                cmd, env = self.peer_cmd(code), {"SAMTALE_STAFF_TOKEN": self.token}
            else:
                cmd, env = self.sim_cmd(NS_B, IP_B, "join", rec_b, ["--code", code, "--seconds", str(args.seconds)]), None
            joiner = Proc("join", cmd, rundir, env=env, any_json_summary=args.chromium)
            sampler = Sampler({"host": host.p.pid, "join": joiner.p.pid})
            sampler.start()
            # The call is up when the joiner says so (the browser peer prints nothing until
            # its summary: then the host's view is used).
            watched = host if args.chromium else joiner
            in_call = watched.wait_line(lambda o: o.get("event") == "state: in_call", 90)
            t_in_call = in_call["_t"] if in_call else time.time()
            try:
                joiner.p.wait(timeout=args.seconds + 120)
            except subprocess.TimeoutExpired:
                joiner.stop(signal.SIGINT)
            t_end = time.time()
            host.stop(signal.SIGINT)
            sampler.halt.set()
            sampler.join()
            result.update(
                {
                    "host": host.summary(),
                    "join": joiner.summary(),
                    "exit": {"host": host.p.returncode, "join": joiner.p.returncode},
                    "in_call_s": round(t_end - t_in_call, 1) if in_call else None,
                    "resources": sampler.report(t_in_call, t_end),
                }
            )
        finally:
            host.stop(signal.SIGINT)
            if joiner:
                joiner.stop(signal.SIGINT)
        # Audio quality per direction: the sender's sent-audio vs the receiver's received-audio.
        # A browser peer records nothing; with --speech its microphone is the speech file.
        sent_b = self.speech if args.chromium else os.path.join(rec_b, "sent-audio.wav")
        result["pesq"] = {
            "a_to_b": self.pesq(os.path.join(rec_a, "sent-audio.wav"), os.path.join(rec_b, "received-audio.wav")),
            "b_to_a": self.pesq(sent_b or "", os.path.join(rec_a, "received-audio.wav")),
        }
        return result

    def pesq(self, sent, received):
        if not (os.path.exists(sent) and os.path.exists(received)):
            return {"pesq_wb": None, "error": "no recording"}
        if not self.venv_python:
            return {"pesq_wb": None, "error": "no PESQ venv"}
        p = run([self.venv_python, os.path.join(HERE, "audio_quality.py"), sent, received], check=False)
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"pesq_wb": None, "error": (p.stderr.strip().splitlines() or ["failed"])[-1]}

    def probe_link(self):
        """UDP round trip a -> b -> a with bench/netprobe.py: what the impairment really does."""
        echo = subprocess.Popen(
            nsx(NS_B, sys.executable, os.path.join(HERE, "netprobe.py"), "echo", "--bind", IP_B, "--seconds", "9"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.3)
        p = run(
            nsx(NS_A, sys.executable, os.path.join(HERE, "netprobe.py"), "probe", "--bind", IP_A,
                "--target", f"{IP_B}:9999", "--seconds", str(self.args.probe_seconds), "--pps", "50"),
            check=False,
        )  # fmt: skip
        echo.terminate()
        echo.wait()
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None

    # -- everything -----------------------------------------------------------------------
    def run_all(self, scenarios, backend):
        results, links = [], {}
        self.make_speech()
        self.start_server()
        for name in scenarios:
            imp = SCENARIOS[name]
            impairment = Impairment(imp, backend, self.workdir)
            try:
                impairment.apply()
                if self.args.probe:
                    links[name] = {"probe": self.probe_link()}
                    log(f"{name}: link probe {json.dumps(links[name]['probe'])}")
                links.setdefault(name, {})["commands"] = impairment.commands
                for r in range(1, self.args.runs + 1):
                    log(f"{name}: run {r}/{self.args.runs} ({describe(imp)}), {self.args.seconds} s call")
                    try:
                        res = self.call(name, r, describe(imp))
                    except RuntimeError as e:
                        log(f"{name}: run {r} failed: {e}")
                        res = {"scenario": name, "run": r, "impairment": describe(imp), "error": str(e)}
                    results.append(res)
                links[name]["tc"] = impairment.counters()
            finally:
                links.setdefault(name, {})["engines"] = impairment.clear()
        return results, links


# --------------------------------------------------------------------------------------------
# Report


def direction_rows(res, chromium):
    """(label, receiver summary, sender summary, pesq) for each direction of one call."""
    if "error" in res:
        return []
    host, join = res.get("host") or {}, res.get("join") or {}
    peer = "chromium" if chromium else "b"
    rows = []
    if not chromium:
        rows.append((f"a→{peer}", join, host, res["pesq"]["a_to_b"]))
    rows.append((f"{peer}→a", host, {} if chromium else join, res["pesq"]["b_to_a"]))
    return rows


def media_cells(summary, sender, pesq):
    m = summary.get("media") or {}
    a, v = m.get("audio") or {}, m.get("video") or {}
    st = summary.get("stats") or {}
    pulled, plc = a.get("pulled_frames"), a.get("plc_frames")
    plc_pct = 100.0 * plc / pulled if pulled and plc is not None else None
    pkts = None
    if "audio_packets_received" in st:
        pkts = f"{st.get('audio_packets_received')} / {st.get('video_packets_received')}"
    return [
        pair(get(a, "latency_ms", "median"), get(a, "latency_ms", "p95")),
        pair(get(v, "latency_ms", "median"), get(v, "latency_ms", "p95")),
        pair(get(v, "psnr_db", "mean"), get(v, "psnr_db", "min"), 1),
        pair(v.get("freezes"), v.get("freeze_ms")),
        fmt(pesq.get("pesq_wb"), 2) if pesq else "n/a",
        fmt(v.get("frames_decoded")),
        fmt(plc_pct, 1),
        fmt(get(sender, "media", "send", "video_target_kbps")),
        pkts or "n/a",
    ]


def find_media(obj, kind):
    """The sub-object for `kind` ('audio'/'video') in a browser peer's JSON, wherever it is."""
    if isinstance(obj, dict):
        if obj.get("kind") == kind:
            return obj
        for key in (kind, f"inbound_{kind}", f"inbound-{kind}", f"{kind}In", f"{kind}_in"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        for val in obj.values():
            found = find_media(val, kind)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for val in obj:
            found = find_media(val, kind)
            if found is not None:
                return found
    return None


def chromium_cells(peer):
    """Chromium's own getStats numbers from web/tests/peer.mjs's summary:
    {"peers": {participant_id: {"inbound_video": {...}, "inbound_audio": {...}}}}."""
    peers = [p for p in (peer.get("peers") or {}).values() if isinstance(p, dict)]
    if peers:
        v, a = peers[0].get("inbound_video") or {}, peers[0].get("inbound_audio") or {}
    else:  # another layout: search for the media objects
        v, a = find_media(peer, "video") or {}, find_media(peer, "audio") or {}

    def jb_ms(x):
        for key in ("jitterBufferMs", "jitterBufferDelayMs"):
            if x.get(key) is not None:
                return x[key]
        d, n = x.get("jitterBufferDelay"), x.get("jitterBufferEmittedCount")
        return 1000.0 * d / n if d is not None and n else None

    conceal = a.get("concealmentPct")
    if conceal is None and a.get("totalSamplesReceived"):
        conceal = 100.0 * (a.get("concealedSamples") or 0) / a["totalSamplesReceived"]
    freeze_s = v.get("totalFreezesDuration")
    return [
        pair(v.get("packetsReceived"), v.get("packetsLost")),
        pair(a.get("packetsReceived"), a.get("packetsLost")),
        fmt(v.get("framesDecoded")),
        pair(v.get("freezeCount"), 1000.0 * freeze_s if freeze_s is not None else None),
        fmt(jb_ms(v), 0),
        fmt(jb_ms(a), 0),
        fmt(conceal, 1),
    ]


def link_table(links):
    out = ["## Link (UDP probe a→b→a, 50 packets/s, before the calls)\n"]
    out.append("| scenario | impairment per direction | RTT median / p95 ms | RTT stdev ms | round-trip loss % | reordered |")
    out.append("|---|---|---|---|---|---|")
    for name, link in links.items():
        p = link.get("probe") or {}
        out.append(
            f"| {name} | {describe(SCENARIOS[name])} | {pair(get(p, 'rtt_ms', 'median'), get(p, 'rtt_ms', 'p95'), 1)} "
            f"| {fmt(get(p, 'rtt_ms', 'stdev'), 1)} | {fmt(p.get('rt_loss_pct'), 1)} | {fmt(p.get('reordered'))} |"
        )
    out.append("")
    return out


def render(meta, results, links, chromium, cpu_mode):
    out = []
    out.append(f"# Samtale network-impairment bench, {meta['date']}\n")
    out.append(
        f"- commit `{meta['commit']}`, {meta['sim_version']}, sim features: "
        + ", ".join(f"--{k} {'yes' if v else 'no'}" for k, v in meta["features"].items())
    )
    out.append(f"- kernel {meta['kernel']}, {meta['cpus']} CPUs; impairment back-end: **{meta['backend']}**")
    out.append(f"- {meta['seconds']} s per call, {meta['runs']} run(s) per scenario; peer b: {meta['peer']}")
    out.append("- a = `samtale-sim host` (caseworker) in samtale-a, b = the joiner in samtale-b; every")
    out.append("  impairment is applied once per direction (egress of each namespace).\n")

    if any(link.get("probe") for link in links.values()):
        out.extend(link_table(links))

    out.append("## Media, per direction (measured by the receiving sim)\n")

    out.append(
        "| scenario | run | direction | audio mouth-to-ear ms median / p95 | video glass-to-glass ms median / p95 "
        "| PSNR dB mean / min | freezes n / ms | PESQ-WB | video frames decoded | audio PLC % "
        "| sender's video target kbps | packets rx audio / video |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    failures = []
    for res in results:
        if "error" in res:
            failures.append(f"- {res['scenario']} run {res['run']}: {res['error']}")
            continue
        for label, summary, sender, pesq in direction_rows(res, chromium):
            cells = media_cells(summary or {}, sender or {}, pesq)
            out.append(f"| {res['scenario']} | {res['run']} | {label} | " + " | ".join(cells) + " |")
            st = (summary or {}).get("stats") or {}
            if summary and not (st.get("audio_packets_received") and st.get("video_packets_received")):
                failures.append(
                    f"- {res['scenario']} run {res['run']} {label}: received {st.get('audio_packets_received')} audio "
                    f"and {st.get('video_packets_received')} video packets"
                )
        codes = res.get("exit") or {}
        if any(c not in (0, None) for c in codes.values()) or not res.get("host") or not res.get("join"):
            failures.append(f"- {res['scenario']} run {res['run']}: exit codes {codes}, logs in `{res['dir']}`")
    out.append("")
    out.append("n/a: the sim does not report it yet (no `media` object / no `--record`), or there was nothing to measure.")
    out.append("PESQ-WB: MOS-LQO, 1.0 (bad) .. 4.64 (identical), sender's sent-audio vs receiver's received-audio.\n")

    if chromium:
        out.append("## Chromium's own numbers (getStats of the headless Chromium peer, receiving from a)\n")
        out.append(
            "| scenario | run | video packets rx / lost | audio packets rx / lost | framesDecoded | freezes n / ms "
            "| video jitter buffer ms | audio jitter buffer ms | audio concealment % |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|")
        for res in results:
            if "error" not in res:
                out.append(f"| {res['scenario']} | {res['run']} | " + " | ".join(chromium_cells(res.get("join") or {})) + " |")
        out.append("")

    if cpu_mode:
        out.append("## CPU and memory (in-call window)\n")
        out.append("| scenario | run | process | window s | CPU % of one core (user / sys) | peak RSS MB (VmHWM) | RSS at end MB |")
        out.append("|---|---|---|---|---|---|---|")
        for res in results:
            for who, r in (res.get("resources") or {}).items():
                if r:
                    label = "a: sim host" if who == "host" else ("b: chromium (node)" if chromium else "b: sim join")
                    out.append(
                        f"| {res['scenario']} | {res['run']} | {label} | {r['window_s']} | {r['cpu_pct']} "
                        f"({r['user_pct']} / {r['sys_pct']}) | {r['peak_rss_mb']} | {r['end_rss_mb']} |"
                    )
        out.append("")

    if failures:
        out.append("## Problems\n")
        out.extend(failures)
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/bench-netem",
        description="Samtale calls between two network namespaces under network impairments.",
        epilog="Scenarios: " + "; ".join(f"{k}: {describe(v)}" for k, v in SCENARIOS.items()),
    )
    ap.add_argument("mode", nargs="?", choices=["netem", "cpu", "cleanup"], default="netem",
                    help="netem: the scenario table (default); cpu: one 60 s clean call with CPU/RSS sampling; "
                    "cleanup: remove a crashed run's namespaces and exit")  # fmt: skip
    ap.add_argument("--scenarios", help="comma-separated, default: all (cpu mode: clean)")
    ap.add_argument("--define", action="append", default=[], metavar="NAME:key=val[:key=val]",
                    help="add a scenario, e.g. --define 'lossy-lte:loss=3:delay=40:jitter=8:rate=2000' "
                    "(keys: loss, delay, jitter, rate, queue)")  # fmt: skip
    ap.add_argument("--seconds", type=int, help="media seconds per call (default 20; cpu mode: 60)")
    ap.add_argument("--runs", type=int, default=1, help="calls per scenario")
    ap.add_argument("--chromium", action="store_true", help="peer b is headless Chromium (web/tests/peer.mjs)")
    ap.add_argument("--peer-arg", action="append", default=[],
                    help="extra argument for peer.mjs (repeatable), e.g. --peer-arg=--chromium-args=--foo")
    ap.add_argument("--speech", action="store_true",
                    help="feed a generated speech-like WAV as every microphone (sim --audio, Chromium's fake "
                    "audio capture), so PESQ scores speech rather than the synthetic test signal")
    ap.add_argument("--impair", choices=["auto", "netem", "nfqueue"], default="auto", help="impairment back-end")
    ap.add_argument("--no-probe", dest="probe", action="store_false", help="skip the UDP link probe")
    ap.add_argument("--probe-seconds", type=float, default=5)
    ap.add_argument("--bin-dir", default=os.path.join(REPO, "target", "release"))
    ap.add_argument("--venv-python", default=None, help="python of the PESQ venv (empty: no PESQ)")
    ap.add_argument("--workdir", help="keep recordings and logs here (default: a temp dir, removed)")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    for d in args.define:
        name, _, rest = d.partition(":")
        imp = {}
        for kv in filter(None, rest.split(":")):
            k, _, v = kv.partition("=")
            if k not in ("loss", "delay", "jitter", "rate", "queue"):
                ap.error(f"--define {d}: unknown key {k}")
            imp[k] = float(v) if "." in v else int(v)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name or ""):
            ap.error(f"--define {d}: bad name")
        SCENARIOS[name] = imp
    if args.mode == "cpu":
        args.seconds = args.seconds or 60
        scen = (args.scenarios or "clean").split(",")
    else:
        args.seconds = args.seconds or 20
        scen = args.scenarios.split(",") if args.scenarios else DEFAULT_SCENARIOS + [d.split(":")[0] for d in args.define]
    for s in scen:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r} (known: {', '.join(SCENARIOS)})")
    args.scenario_list = scen
    return args


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench-netem needs root (network namespaces, tc, iptables): run it with sudo")
    # The namespaces have fixed names: one run at a time on a machine.
    lock = open("/run/samtale-bench-netem.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit("another bench-netem run is active on this machine (lock /run/samtale-bench-netem.lock)")
    # SIGTERM/SIGHUP end the run like Ctrl-C does, so the finally below cleans up.
    def interrupt(*_):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    if args.mode == "cleanup":
        teardown()
        log("cleaned up")
        return 0
    bench = None
    keep = bool(args.workdir)
    try:
        bench = Bench(args)
        setup_topology()
        backend = detect_backend(args.impair)
        log(f"topology up; impairment back-end: {backend}; sim features: {bench.features}; work dir {bench.workdir}")
        if not bench.features["record"]:
            log("this samtale-sim has no --record: PESQ will be n/a")
        if not bench.features["bind"]:
            log("this samtale-sim has no --bind: media sockets bind 0.0.0.0 (same path inside a namespace)")
        started = dt.datetime.now()
        results, links = bench.run_all(args.scenario_list, backend)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except RuntimeError as e:
        log(f"error: {e}")
        return 1
    finally:
        if bench and bench.server:
            bench.server.stop(signal.SIGTERM, timeout=5)
        teardown()
        if bench and not keep:
            shutil.rmtree(bench.workdir, ignore_errors=True)
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "sim_version": bench.sim_version,
        "features": bench.features,
        "kernel": os.uname().release,
        "cpus": os.cpu_count(),
        "backend": backend,
        "seconds": args.seconds,
        "runs": args.runs,
        "mode": args.mode,
        "peer": "headless Chromium (web/tests/peer.mjs)" if args.chromium else "samtale-sim join",
        "scenarios": {s: SCENARIOS[s] for s in args.scenario_list},
    }
    text = render(meta, results, links, args.chromium, cpu_mode=(args.mode == "cpu"))
    print(text)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"{'cpu' if args.mode == 'cpu' else 'netem'}-{started.strftime('%Y%m%d-%H%M%S')}")
    with open(stem + ".md", "w") as f:
        f.write(text + "\n")
    with open(stem + ".json", "w") as f:
        json.dump({"meta": meta, "links": links, "results": results}, f, indent=1, default=str)
    log(f"wrote {stem}.md and {stem}.json" + (f"; recordings and logs in {bench.workdir}" if keep else ""))
    ok = all("error" not in r and r.get("host") and r.get("join") for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
