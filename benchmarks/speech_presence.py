"""Speech presence (Silero VAD, serkit.audio.speech) on generated non-speech and on real corpora.

    .venv/bin/python benchmarks/speech_presence.py --manifest
    manifests/emodb.jsonl,manifests/urdu.jsonl --out runs/speech

Generated: 3 s of digital silence, white / pink / brown noise at three levels, pure tones,
chords and a square-wave "music-like" signal (50 clips per family, seeded). Real: every clip of
the manifests (the EmoSpeech ``background`` clips, noise only, reported on their own).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from serkit.audio.io import load_audio
from serkit.audio.speech import speech_presence
from serkit.core.io import atomic_write_json
from serkit.data.manifest import read_manifests

SR = 16000


def generated(n: int = 50, seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    t = np.arange(3 * SR) / SR
    fam: dict[str, list[np.ndarray]] = {"silence": [np.zeros(3 * SR, np.float32) for _ in range(n)]}

    def colored(alpha):
        f = np.fft.rfftfreq(3 * SR)
        spec = (rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) / np.maximum(f, 1 / SR) ** (
            alpha / 2
        )
        x = np.fft.irfft(spec, 3 * SR)
        return x / np.abs(x).max()

    for name, alpha in (("white", 0.0), ("pink", 1.0), ("brown", 2.0)):
        fam[f"noise-{name}"] = [
            (colored(alpha) * rng.choice([0.01, 0.1, 0.5])).astype(np.float32) for _ in range(n)
        ]
    fam["tone"] = [
        (0.3 * np.sin(2 * np.pi * rng.uniform(80, 2000) * t)).astype(np.float32) for _ in range(n)
    ]
    fam["chord"] = [
        (0.1 * sum(np.sin(2 * np.pi * f0 * r * t) for r in (1, 1.25, 1.5))).astype(np.float32)
        for f0 in rng.uniform(110, 440, n)
    ]
    fam["music-like"] = [
        (
            0.2
            * np.sign(np.sin(2 * np.pi * rng.uniform(1, 4) * t))
            * np.sin(2 * np.pi * rng.uniform(200, 800) * t)
        ).astype(np.float32)
        for _ in range(n)
    ]
    return fam


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default="")
    ap.add_argument("--out", default="runs/speech")
    ap.add_argument("--threshold", type=float, default=0.3, help="frame speech probability")
    ap.add_argument(
        "--min-speech-s", type=float, default=0.15, help="seconds of speech frames for 'speech'"
    )
    a = ap.parse_args()
    rule = dict(threshold=a.threshold, min_speech_s=a.min_speech_s)
    out: dict = {
        "generated": {},
        "real": {},
        "rule": f"no_speech when < {a.min_speech_s} s of 32 ms frames have "
        f"Silero p > {a.threshold}",
    }
    t0 = time.time()
    clip = generated(1)["noise-pink"][0]
    speech_presence(clip, SR)  # session start-up out of the timing
    times = []
    for _ in range(50):
        t = time.perf_counter()
        speech_presence(clip, SR, **rule)
        times.append(1000 * (time.perf_counter() - t))
    out["ms_per_3s_clip_median"] = round(float(np.median(times)), 2)
    for name, clips in generated().items():
        flagged = sum(not speech_presence(x, SR, **rule).speech for x in clips)
        out["generated"][name] = {"clips": len(clips), "flagged_no_speech": flagged}
    gen_total = sum(v["clips"] for v in out["generated"].values())
    out["generated_flagged_share"] = round(
        sum(v["flagged_no_speech"] for v in out["generated"].values()) / gen_total, 4
    )
    if a.manifest:
        for u in read_manifests(a.manifest):
            key = u.corpus + ("/background" if u.label is None else "")
            r = out["real"].setdefault(key, {"clips": 0, "flagged_no_speech": 0, "examples": []})
            sp = speech_presence(load_audio(u.audio), SR, **rule)
            r["clips"] += 1
            if not sp.speech:
                r["flagged_no_speech"] += 1
                if len(r["examples"]) < 5:
                    r["examples"].append(u.id)
        for r in out["real"].values():
            r["share"] = round(r["flagged_no_speech"] / r["clips"], 4)
    out["seconds"] = round(time.time() - t0, 1)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(a.out) / "speech_presence.json", out)
    print(json.dumps({k: v for k, v in out.items()}, indent=1))


if __name__ == "__main__":
    main()
