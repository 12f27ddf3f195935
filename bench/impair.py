#!/usr/bin/env python3
"""Userspace delay/jitter for one network namespace, through NFQUEUE (stdlib only).

Used by scripts/bench-netem when the kernel has no `sch_netem` (minimal VM kernels). The bench
adds, inside the namespace:

    iptables -A OUTPUT -o IFACE -j NFQUEUE --queue-num N

so every packet leaving the namespace's veth waits here until this program accepts or drops it.
Random loss is done here too: an iptables DROP in OUTPUT would fail the sender's sendto() with
EPERM, which real loss never does, while a verdict given later is silent. Rate caps stay in the
kernel (`tbf` on the same interface, after this queue).

Delay model (the same semantics as `netem delay D J distribution normal rate <fast>`):
each packet draws d = D + N(0, J) (clamped to [0, D + 4J]) and is released at
max(arrival + d, release time of the previous packet). Packets never overtake each other,
so a late packet holds back the ones right behind it, as a real queue does.

Talks nfnetlink_queue directly over a NETLINK_NETFILTER socket: no C library needed.

    ip netns exec samtale-a python3 bench/impair.py --queue 0 --delay-ms 50 --jitter-ms 10 --loss-pct 5

Runs until SIGTERM/SIGINT; then accepts everything still held and prints one JSON line
with counters on stdout.
"""

import argparse
import collections
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NF_DROP = 0
NF_ACCEPT = 1


def _attr(kind, payload):
    length = 4 + len(payload)
    pad = (4 - length % 4) % 4
    return struct.pack("=HH", length, kind) + payload + b"\0" * pad


def _msg(msg_type, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    # nfgenmsg: family (AF_UNSPEC), version (NFNETLINK_V0), res_id (queue number, big endian)
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attrs)
    header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0)
    return header + body


def _attrs(data):
    out = {}
    off = 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[off + 4 : off + length]
        off += (length + 3) & ~3
    return out


class Queue:
    def __init__(self, num, maxlen):
        self.num = num
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))
        self.seq = 0
        self._config(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)))
        self._config(_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)))
        self._config(_attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)))

    def _config(self, attr):
        self.seq += 1
        self.sock.send(_msg(NFQNL_MSG_CONFIG, self.num, [attr], NLM_F_REQUEST | NLM_F_ACK, self.seq))
        data = self.sock.recv(65536)
        length, kind = struct.unpack_from("=IH", data, 0)
        if kind == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", data, 16)
            if err != 0:
                raise OSError(-err, f"nfqueue config failed: {os.strerror(-err)}")

    def packets(self):
        """Packet ids from one recv() (may be several messages)."""
        data = self.sock.recv(1 << 20)
        ids = []
        off = 0
        while off + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                attrs = _attrs(data[off + 20 : off + length])
                hdr = attrs.get(NFQA_PACKET_HDR)
                if hdr:
                    ids.append(struct.unpack_from("!I", hdr, 0)[0])
            off += (length + 3) & ~3
        return ids

    def verdict(self, packet_id, verdict=NF_ACCEPT):
        self.sock.send(
            _msg(NFQNL_MSG_VERDICT, self.num, [_attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id))])
        )

    def close(self):
        try:
            self._config(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_UNBIND, socket.AF_INET)))
        except OSError:
            pass
        self.sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--loss-pct", type=float, default=0.0, help="random loss, percent of packets")
    ap.add_argument("--jitter-ms", type=float, default=0.0, help="standard deviation of the normal distribution")
    ap.add_argument("--maxlen", type=int, default=8192, help="kernel queue length (packets)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ready-file", help="touched once the queue is bound")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    base = args.delay_ms / 1000.0
    sigma = args.jitter_ms / 1000.0
    hi = base + 4 * sigma
    q = Queue(args.queue, args.maxlen)
    if args.ready_file:
        open(args.ready_file, "w").close()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    held = collections.deque()  # (release_at, id), release_at non-decreasing
    last_release = 0.0
    n = 0
    dropped = 0
    loss = args.loss_pct / 100.0
    delays = []  # seconds, a bounded sample for the report
    max_held = 0
    while not stop:
        now = time.monotonic()
        while held and held[0][0] <= now:
            q.verdict(held.popleft()[1])
        timeout = max(0.0, held[0][0] - now) if held else 0.5
        try:
            ready, _, _ = select.select([q.sock], [], [], timeout)
        except InterruptedError:
            continue
        if not ready:
            continue
        try:
            ids = q.packets()
        except OSError as e:  # ENOBUFS: the kernel dropped queue messages; carry on
            print(f"impair: recv: {e}", file=sys.stderr)
            continue
        now = time.monotonic()
        for pid in ids:
            n += 1
            if loss > 0 and rng.random() < loss:
                q.verdict(pid, NF_DROP)
                dropped += 1
                continue
            if base <= 0 and sigma <= 0 and not held:
                q.verdict(pid)
                continue
            d = min(max(0.0, rng.gauss(base, sigma) if sigma > 0 else base), hi)
            release = max(now + d, last_release)
            last_release = release
            held.append((release, pid))
            if len(delays) < 20000:
                delays.append(release - now)
        max_held = max(max_held, len(held))
    while held:
        q.verdict(held.popleft()[1])
    q.close()
    delays.sort()
    pick = lambda p: round(delays[min(len(delays) - 1, int(p * (len(delays) - 1)))] * 1000, 2) if delays else None
    print(
        json.dumps(
            {
                "impair": "nfqueue",
                "queue": args.queue,
                "packets": n,
                "dropped": dropped,
                "max_held": max_held,
                "delay_ms": {"p5": pick(0.05), "median": pick(0.5), "p95": pick(0.95), "max": pick(1.0)},
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
