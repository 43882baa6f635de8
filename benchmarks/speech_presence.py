"""Speech presence (Silero VAD, serkit.audio.speech) on generated non-speech and on real corpora.

    .venv/bin/python benchmarks/speech_presence.py --manifest
    manifests/emodb.jsonl,manifests/urdu.jsonl --out runs/speech [--gate mel]

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
from serkit.audio.synth import non_speech_clips
from serkit.core.io import atomic_write_json
from serkit.data.manifest import read_manifests

SR = 16000


def generated(n: int = 50, seed: int = 0) -> dict[str, list[np.ndarray]]:
    return non_speech_clips(n, seed, SR)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", default="")
    ap.add_argument("--out", default="runs/speech")
    ap.add_argument("--threshold", type=float, default=0.3, help="frame speech probability")
    ap.add_argument(
        "--min-speech-s", type=float, default=0.15, help="seconds of speech frames for 'speech'"
    )
    ap.add_argument(
        "--gate",
        choices=("silero", "mel"),
        default="silero",
        help="mel: serkit.audio.gate (its own threshold; EmoSpeech background clips of the "
        "training half are left out, as is everything it trained on)",
    )
    ap.add_argument(
        "--background-half",
        choices=("all", "eval"),
        default="all",
        help="EmoSpeech background clips: all, or only the half the mel gate never trained on "
        "(always so with --gate mel)",
    )
    a = ap.parse_args()
    if a.gate == "mel":
        from serkit.audio.gate import default_gate, mel_speech_presence

        def check(x, sr, threshold=None, min_speech_s=0.15):
            return mel_speech_presence(x, sr, min_speech_s=min_speech_s)

        rule = dict(min_speech_s=a.min_speech_s)
        desc = (
            f"no_speech when < {a.min_speech_s} s of 10 ms frames have mel-gate p > "
            f"{default_gate().threshold}"
        )
    else:
        check = speech_presence
        rule = dict(threshold=a.threshold, min_speech_s=a.min_speech_s)
        desc = f"no_speech when < {a.min_speech_s} s of 32 ms frames have Silero p > {a.threshold}"
    out: dict = {"generated": {}, "real": {}, "rule": desc, "gate": a.gate}
    t0 = time.time()
    clip = generated(1)["noise-pink"][0]
    check(clip, SR)  # session start-up out of the timing
    times = []
    for _ in range(50):
        t = time.perf_counter()
        check(clip, SR, **rule)
        times.append(1000 * (time.perf_counter() - t))
    out["ms_per_3s_clip_median"] = round(float(np.median(times)), 2)
    for name, clips in generated().items():
        flagged = sum(not check(x, SR, **rule).speech for x in clips)
        out["generated"][name] = {"clips": len(clips), "flagged_no_speech": flagged}
    gen_total = sum(v["clips"] for v in out["generated"].values())
    out["generated_flagged_share"] = round(
        sum(v["flagged_no_speech"] for v in out["generated"].values()) / gen_total, 4
    )
    if a.manifest:
        from train_mel_gate import background_half

        for u in read_manifests(a.manifest):
            held_out_only = a.gate == "mel" or a.background_half == "eval"
            if held_out_only and u.label is None and background_half(u.id) == "train":
                continue  # the mel gate trained on these
            key = u.corpus + ("/background" if u.label is None else "")
            r = out["real"].setdefault(key, {"clips": 0, "flagged_no_speech": 0, "examples": []})
            sp = check(load_audio(u.audio), SR, **rule)
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
