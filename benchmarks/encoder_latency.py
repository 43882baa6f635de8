"""Encoder choice by cost (issue 31, item 4): per 3 s clip, one CPU thread, the torch frontends
``whisper-tiny-layers`` (states 0-2) and ``whisper-base-layers`` (states 0-3) as a model uses
them: log-mel + encoder cut after the last state, median and p90 of ``--runs`` calls after
warm-up, and the analytic MACs / energy (45 nm, 4.6 pJ per MAC) of log-mel + encoder.

    .venv/bin/python benchmarks/encoder_latency.py --runs 30

(The head adds < 1 ms: docs/BENCHMARKS.md; the speech check, Silero VAD, is timed separately.)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from serkit.audio.speech import speech_presence
    from serkit.core.cost import energy_mj
    from serkit.features import build_frontend

    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    ) + rng.normal(0, 0.01, 48000).astype(np.float32)
    out = {}
    for spec in (
        {"name": "whisper-tiny-layers", "layers": [0, 1, 2]},
        {"name": "whisper-base-layers", "layers": [0, 1, 2, 3]},
    ):
        fe = build_frontend(spec)
        for _ in range(3):
            fe.extract(wav, 16000)
        ts = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            fe.extract(wav, 16000)
            ts.append(time.perf_counter() - t0)
        macs = fe.encoder_macs(3.0) + fe.dsp_macs(3.0)
        out[spec["name"]] = {
            "median_ms": round(1000 * float(np.median(ts)), 2),
            "p90_ms": round(1000 * float(np.quantile(ts, 0.9)), 2),
            "macs_3s": int(macs),
            "energy_mj_3s": round(energy_mj(macs, 0), 4),
        }
    speech_presence(wav, 16000)
    ts = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        speech_presence(wav, 16000)
        ts.append(time.perf_counter() - t0)
    out["speech_check_ms"] = round(1000 * float(np.median(ts)), 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
