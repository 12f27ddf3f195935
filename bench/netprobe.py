#!/usr/bin/env python3
"""UDP round-trip probe that checks what an impairment really does (stdlib only).

    netprobe.py echo  --bind 10.77.0.3 --port 9999 --seconds 8
    netprobe.py probe --bind 10.77.0.2 --target 10.77.0.3:9999 --seconds 5 --pps 100 --size 200

The probe sends numbered packets at a fixed rate, the echo side sends each one back, and the
probe prints one JSON line: round-trip loss, RTT percentiles, RTT standard deviation and how
many replies arrived out of order. Both directions are impaired once, so a per-direction loss p
shows as a round-trip loss of 1 - (1 - p)^2.
"""

import argparse
import json
import select
import socket
import statistics
import struct
import time

HDR = struct.Struct("!Id")  # sequence number, send time (monotonic, seconds)


def echo(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.bind, args.port))
    end = time.monotonic() + args.seconds
    while (left := end - time.monotonic()) > 0:
        r, _, _ = select.select([s], [], [], left)
        if r:
            data, peer = s.recvfrom(65535)
            try:
                s.sendto(data, peer)
            except OSError:  # a local drop (EPERM/ENOBUFS) is just loss here
                pass


def probe(args):
    host, port = args.target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.bind, 0))
    s.connect((host, int(port)))
    pad = b"\0" * max(0, args.size - HDR.size)
    interval = 1.0 / args.pps
    count = int(args.seconds * args.pps)
    rtts = {}
    reordered = 0
    highest = -1
    start = time.monotonic()
    sent = 0
    send_errors = 0
    deadline = start + args.seconds + args.drain
    while True:
        now = time.monotonic()
        if sent < count and now >= start + sent * interval:
            try:
                s.send(HDR.pack(sent, now) + pad)
            except OSError:  # a local drop (EPERM/ENOBUFS) is just loss here
                send_errors += 1
            sent += 1
            continue
        if now >= deadline:
            break
        wait = (start + sent * interval - now) if sent < count else deadline - now
        r, _, _ = select.select([s], [], [], max(0.0, wait))
        if not r:
            continue
        try:
            data = s.recv(65535)
        except ConnectionRefusedError:
            continue
        seq, t0 = HDR.unpack_from(data)
        if seq in rtts:
            continue
        rtts[seq] = (time.monotonic() - t0) * 1000
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    vals = sorted(rtts.values())
    pct = lambda p: round(vals[min(len(vals) - 1, int(p * (len(vals) - 1)))], 2) if vals else None
    print(
        json.dumps(
            {
                "sent": sent,
                "received": len(vals),
                "rt_loss_pct": round(100.0 * (sent - len(vals)) / sent, 2) if sent else None,
                "rtt_ms": {
                    "min": pct(0.0),
                    "median": pct(0.5),
                    "p95": pct(0.95),
                    "max": pct(1.0),
                    "stdev": round(statistics.pstdev(vals), 2) if len(vals) > 1 else None,
                },
                "reordered": reordered,
                "send_errors": send_errors,
                "pps": args.pps,
                "size": args.size,
            }
        ),
        flush=True,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--bind", required=True)
    e.add_argument("--port", type=int, default=9999)
    e.add_argument("--seconds", type=float, default=10)
    p = sub.add_parser("probe")
    p.add_argument("--bind", required=True)
    p.add_argument("--target", required=True, help="IP:PORT of the echo side")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--pps", type=float, default=100)
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--drain", type=float, default=1.0, help="seconds to wait for late replies")
    args = ap.parse_args()
    echo(args) if args.mode == "echo" else probe(args)


if __name__ == "__main__":
    main()
