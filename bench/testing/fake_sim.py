#!/usr/bin/env python3
"""A stand-in for `samtale-sim` that speaks the media contract, to test bench-netem's plumbing.

It does no networking: `host` prints a made-up meeting code and waits for SIGINT, `join` waits
--seconds; both then write `--record` files as the contract describes and print a summary with
a `media` object. The "received" audio is the other side's speech-like signal, 150 ms late,
after 1 s of silence, with a few 20 ms frames muted, so PESQ has something real to score.

    dir=$(mktemp -d)
    printf '#!/bin/sh\\nexec %s %s "$@"\\n' ~/.cache/samtale-bench-venv/bin/python \\
        "$PWD/bench/testing/fake_sim.py" > "$dir/samtale-sim"; chmod +x "$dir/samtale-sim"
    ln -s "$PWD/target/release/samtale-server" "$dir/"
    sudo scripts/bench-netem --bin-dir "$dir" --scenarios clean,loss10 --seconds 8

Needs numpy (the bench venv).
"""

import json
import os
import signal
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import audio_quality as aq  # noqa: E402

HELP = """Join a meeting by code as a citizen

Usage: samtale-sim join [OPTIONS] --server <SERVER> --code <CODE>

Options:
      --server <SERVER>    Server base URL
      --code <CODE>        The join code
      --seconds <SECONDS>  Stay this many seconds
      --bind <IP>          Bind media to this IP
      --record <DIR>       Write received/sent audio and video snapshots
      --audio <FILE>       Microphone from a WAV file
      --json               JSON lines
"""


def opt(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def main():
    args = sys.argv[1:]
    if args[:1] == ["--version"]:
        print("samtale-sim 0.0.0-fake")
        return 0
    if "--help" in args:
        print(HELP)
        return 0
    role = args[0]
    seconds = float(opt(args, "--seconds", "10"))
    who = "caseworker" if role == "host" else "citizen"
    started = time.time()
    if role == "host":
        print(json.dumps({"event": "meeting created", "code": "123 456 7890", "who": who}), flush=True)
        print(json.dumps({"event": "state: in_call", "who": who}), flush=True)
        stop = []
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        while not stop:
            time.sleep(0.05)
    else:
        print(json.dumps({"event": "state: in_call", "who": who}), flush=True)
        time.sleep(seconds)
    length = time.time() - started + 1.0
    rate = 48000
    seed_self, seed_other = (1, 2) if role == "host" else (2, 1)
    audio = opt(args, "--audio")
    if audio:
        mine, _ = aq.read_wav(audio)
        other = mine  # both sides get the same file from the bench
    else:
        mine = aq.speech_like(length, rate, seed_self)
        other = aq.speech_like(length, rate, seed_other)
    rec = opt(args, "--record")
    if rec:
        os.makedirs(rec, exist_ok=True)
        n = int(length * rate)
        aq.write_wav(os.path.join(rec, "sent-audio.wav"), mine[:n], rate)
        got = np.concatenate([np.zeros(int(1.15 * rate)), other[: n - int(1.15 * rate)]])
        rng = np.random.default_rng(seed_self)
        frame = int(0.02 * rate)
        for k in range(len(got) // frame):
            if rng.random() < 0.02:
                got[k * frame : (k + 1) * frame] = 0.0
        aq.write_wav(os.path.join(rec, "received-audio.wav"), got, rate)
    media = {
        "audio": {"packets_received": 990, "pulled_frames": 1000, "decoded_frames": 980, "fec_frames": 5,
                  "plc_frames": 15, "level_dbfs": -20.0, "max_gap_ms": 60,
                  "latency_ms": {"count": 20, "median": 65, "p95": 80}},
        "video": {"frames_decoded": 290, "width": 640, "height": 360,
                  "latency_ms": {"count": 290, "median": 95, "p95": 140},
                  "psnr_db": {"count": 290, "mean": 38.2, "min": 31.0},
                  "freezes": 1, "freeze_ms": 420, "plis_sent": 1, "keyframes_received": 2},
        "send": {"video_target_kbps": 800, "video_paused_ms": 0, "audio_frames_sent": 1000, "video_frames_sent": 300},
    }  # fmt: skip
    stats = {"audio_packets_received": 990, "video_packets_received": 700}
    print(json.dumps({"event": "summary", "who": who, "stats": stats, "media": media, "state": "ended"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
