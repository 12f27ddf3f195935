#!/usr/bin/env python3
"""Audio quality of one call direction: PESQ wideband (ITU-T P.862.2) MOS-LQO.

    audio_quality.py SENT.wav RECEIVED.wav [--skip-s 2] [--segment-s 10]
    audio_quality.py --self-test
    audio_quality.py --write-speech FILE.wav [--speech-seconds 60]

SENT.wav is the sender's `sent-audio.wav` (the synthetic microphone as pushed), RECEIVED.wav the
receiver's `received-audio.wav` (what its speaker pulled, concealment included); both as written
by `samtale-sim --record DIR` (48 kHz mono s16; other rates and stereo are accepted).

Steps: both files are resampled to 16 kHz (scipy.signal.resample_poly); the receiver's first
`--skip-s` seconds (warm-up) are ignored; the offset between the files is found by
cross-correlation (numpy FFT); the overlapping part is cut into segments of at most
`--segment-s` seconds (PESQ is specified for short recordings, 8-20 s) and each segment is scored
with `pesq.pesq(16000, ref, deg, "wb")`, which also compensates small delay changes inside a
segment (jitter-buffer adaptation). Prints one JSON line: mean and min MOS-LQO over the
segments, the offset found, the overlap length and the correlation at that offset.

Needs numpy, scipy and pesq (scripts/bench-netem installs them in a venv).
"""

import argparse
import json
import math
import os
import sys
import tempfile
import wave

import numpy as np
from scipy.signal import resample_poly

FS = 16000


def read_wav(path):
    """Mono float64 in [-1, 1] and the sample rate."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is supported")
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate


def write_wav(path, samples, rate):
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def to_16k(x, rate):
    if rate == FS:
        return x
    g = math.gcd(int(rate), FS)
    return resample_poly(x, FS // g, int(rate) // g)


def find_lag(ref, deg):
    """Lag L (samples) maximising sum deg[n] * ref[n - L], i.e. deg[n] ~ ref[n - L]."""
    n = 1 << int(math.ceil(math.log2(len(ref) + len(deg))))
    c = np.fft.irfft(np.fft.rfft(deg, n) * np.conj(np.fft.rfft(ref, n)), n)
    # Index k >= 0 is lag k; index n - k is lag -k. Lags outside the possible range are ignored.
    lags = np.concatenate([np.arange(0, len(deg)), np.arange(-(len(ref) - 1), 0)])
    vals = np.concatenate([c[: len(deg)], c[n - (len(ref) - 1) :]])
    return int(lags[int(np.argmax(vals))])


def score(sent_path, received_path, skip_s=2.0, segment_s=10.0, min_segment_s=3.0):
    from pesq import pesq  # imported late so --help works without the venv

    ref_raw, ref_rate = read_wav(sent_path)
    deg_raw, deg_rate = read_wav(received_path)
    ref, deg = to_16k(ref_raw, ref_rate), to_16k(deg_raw, deg_rate)
    out = {"pesq_wb": None, "pesq_wb_min": None, "segments": [], "lag_ms": None, "overlap_s": 0.0, "corr": None}
    skip = int(skip_s * FS)
    if len(deg) <= skip + int(min_segment_s * FS) or len(ref) < int(min_segment_s * FS):
        out["error"] = "recording too short"
        return out
    deg_c = deg.copy()
    deg_c[:skip] = 0.0  # warm-up (silence, jitter-buffer fill) must not steer the alignment
    if np.sqrt(np.mean(deg_c[skip:] ** 2)) < 1e-4:
        out["error"] = "received audio is silent"
        return out
    lag = find_lag(ref, deg_c)
    start, end = max(skip, lag), min(len(deg), len(ref) + lag)
    out["lag_ms"] = round(lag * 1000.0 / FS, 1)
    if end - start < int(min_segment_s * FS):
        out["error"] = "too little overlap after alignment"
        return out
    r, d = ref[start - lag : end - lag], deg[start:end]
    out["overlap_s"] = round((end - start) / FS, 2)
    denom = math.sqrt(float(np.dot(r, r)) * float(np.dot(d, d)))
    out["corr"] = round(float(np.dot(r, d)) / denom, 3) if denom > 0 else None
    seg = int(segment_s * FS)
    count = max(1, int(math.ceil(len(r) / seg)))
    bounds = np.linspace(0, len(r), count + 1).astype(int)  # equal segments, none shorter than needed
    errors = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b - a < int(min_segment_s * FS):
            continue
        try:
            out["segments"].append(round(float(pesq(FS, r[a:b], d[a:b], "wb")), 3))
        except Exception as e:  # NoUtterancesError etc.: that segment has nothing to score
            errors.append(type(e).__name__)
    if out["segments"]:
        out["pesq_wb"] = round(float(np.mean(out["segments"])), 3)
        out["pesq_wb_min"] = min(out["segments"])
    if errors:
        out["error"] = ", ".join(sorted(set(errors)))
    return out


def speech_like(seconds, rate, seed=1):
    """A speech-like test signal: voiced syllables (harmonics of a moving f0 shaped by vowel
    formants) with a syllable envelope, fricative noise bursts and pauses between words."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate))
    vowels = [(700, 1200, 2600), (300, 2300, 3000), (300, 800, 2300), (500, 1900, 2500), (500, 900, 2400)]
    t = 0.15
    while t < seconds - 0.5:
        for _ in range(rng.integers(2, 6)):  # syllables in a word
            dur = rng.uniform(0.14, 0.28)
            n = int(dur * rate)
            i0 = int(t * rate)
            if i0 + n >= len(out):
                break
            tt = np.arange(n) / rate
            f0 = rng.uniform(95, 210) * (1 + 0.12 * np.sin(2 * np.pi * rng.uniform(1, 3) * tt))
            phase = 2 * np.pi * np.cumsum(f0) / rate
            formants = vowels[rng.integers(len(vowels))]
            syl = np.zeros(n)
            for h in range(1, 40):
                fh = f0.mean() * h
                if fh > 7000:
                    break
                gain = sum(1.0 / (1.0 + ((fh - f) / (90 + 0.1 * f)) ** 2) for f in formants) / h**0.5
                syl += gain * np.sin(h * phase)
            env = np.sin(np.pi * np.arange(n) / n) ** 1.5
            syl *= env
            if rng.random() < 0.4:  # a consonant: short high-pass noise burst before the vowel
                m = int(rng.uniform(0.04, 0.09) * rate)
                burst = np.diff(rng.standard_normal(m + 1)) * 0.25 * np.hanning(m)
                j0 = max(0, i0 - m)
                out[j0 : j0 + m] += burst[: len(out[j0 : j0 + m])]
            out[i0 : i0 + n] += syl
            t += dur + rng.uniform(0.02, 0.08)
        t += rng.uniform(0.25, 0.6)  # pause between words
    return 0.3 * out / np.max(np.abs(out))


def self_test():
    rate = 48000
    sig = speech_like(12.0, rate)
    rng = np.random.default_rng(7)
    delay = int(0.37 * rate)
    lead = int(1.5 * rate)  # the receiver started earlier and heard silence first (< --skip-s)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        sent = os.path.join(tmp, "sent-audio.wav")
        write_wav(sent, sig, rate)

        def received(name, x):
            path = os.path.join(tmp, f"received-{name}.wav")
            # the receiver's recording: leading silence, then the signal, shifted by `delay`
            write_wav(path, np.concatenate([np.zeros(lead), x[delay:]]), rate)
            return score(sent, path)

        results["identical"] = received("identical", sig)
        noise = rng.standard_normal(len(sig)) * np.sqrt(np.mean(sig**2))
        results["noise_only"] = received("noise", noise)
        results["snr_25db"] = received("snr25", sig + noise * 10 ** (-25 / 20))
        lossy = sig.copy()
        frame = int(0.02 * rate)
        for k in range(0, len(lossy) // frame):
            if rng.random() < 0.15:  # 15 % of 20 ms frames muted
                lossy[k * frame : (k + 1) * frame] = 0.0
        results["muted_15pct"] = received("lossy", lossy)

    expected_lag_ms = (lead - delay) * 1000.0 / rate
    checks = [
        ("identical scores > 4.0", (results["identical"]["pesq_wb"] or 0) > 4.0),
        ("noise scores < 1.5", (results["noise_only"]["pesq_wb"] or 5) < 1.5),
        (
            "noise < 25 dB SNR < identical",
            (results["noise_only"]["pesq_wb"] or 0)
            < (results["snr_25db"]["pesq_wb"] or 0)
            < (results["identical"]["pesq_wb"] or 0),
        ),
        ("15 % muted frames score below identical", (results["muted_15pct"]["pesq_wb"] or 5) < 3.8),
        (
            f"alignment finds the offset ({expected_lag_ms:.1f} ms)",
            abs((results["identical"]["lag_ms"] or 0) - expected_lag_ms) <= 0.1,
        ),
    ]
    for name, r in results.items():
        print(f"  {name:12s} PESQ-WB {r['pesq_wb']}  lag {r['lag_ms']} ms  corr {r['corr']}  {r.get('error', '')}")
    failed = 0
    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
        failed += not ok
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sent", nargs="?", help="sender's sent-audio.wav")
    ap.add_argument("received", nargs="?", help="receiver's received-audio.wav")
    ap.add_argument("--skip-s", type=float, default=2.0, help="warm-up of the receiver to ignore")
    ap.add_argument("--segment-s", type=float, default=10.0, help="longest segment given to PESQ")
    ap.add_argument("--self-test", action="store_true", help="check the pipeline on synthetic speech")
    ap.add_argument("--write-speech", metavar="FILE", help="write the speech-like test signal (48 kHz s16 mono)")
    ap.add_argument("--speech-seconds", type=float, default=60.0)
    args = ap.parse_args()
    if args.self_test:
        sys.exit(self_test())
    if args.write_speech:
        write_wav(args.write_speech, speech_like(args.speech_seconds, 48000), 48000)
        return
    if not (args.sent and args.received):
        ap.error("SENT.wav and RECEIVED.wav are required (or --self-test)")
    print(json.dumps(score(args.sent, args.received, args.skip_s, args.segment_s)))


if __name__ == "__main__":
    main()
