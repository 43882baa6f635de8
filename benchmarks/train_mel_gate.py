"""Train the cheap speech check (serkit.audio.gate.MelGate) and write its weights.

    .venv/bin/python benchmarks/train_mel_gate.py \
        --manifest manifests/tess.jsonl,manifests/esd.jsonl,manifests/baved.jsonl \
        --background manifests/emospeech.jsonl --out serkit/audio/assets/mel_gate.safetensors

Training data (kept apart from the evaluation in benchmarks/speech_presence.py --gate mel):
every clip of ``--manifest`` (speech corpora that evaluation does not use), one copy of half of
them with white / pink noise at SNR U[0, 20] dB (targets from the clean clip), one copy of
another half through ``perturb_domain`` (speed, pitch, gain, telephone / reverb / EQ / noise;
Silero's targets on the copy), the EmoSpeech
``background`` clips (no keyword) of the TRAINING half (id digest even; evaluation uses the odd
half), and generated non-speech drawn with seed 1 (evaluation uses seed 0). Frame targets:
Silero's decisions; generated clips all non-speech.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from serkit.audio.corrupt import add_noise, perturb_domain
from serkit.audio.io import load_audio
from serkit.audio.synth import non_speech_clips
from serkit.core.io import text_digest
from serkit.data.manifest import read_manifests
from serkit.training.gate import make_clip, save_gate, train_gate


def background_half(uid: str) -> str:
    """``train`` or ``eval``: the half of EmoSpeech's background clips a clip belongs to."""
    return "train" if int(text_digest(uid)[-1], 16) % 2 == 0 else "eval"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--background", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    clips, counts = (
        [],
        {
            "speech_corpora": 0,
            "noisy_copies": 0,
            "domain_copies": 0,
            "background": 0,
            "generated": 0,
        },
    )
    for u in read_manifests(a.manifest):
        wav = load_audio(u.audio)
        c = make_clip(wav)
        clips.append(c)
        counts["speech_corpora"] += 1
        if rng.random() < 0.5:  # noise at SNR U[0, 20] dB: targets from the clean clip
            noisy = add_noise(
                wav,
                16000,
                "white" if rng.random() < 0.5 else "pink",
                float(rng.uniform(0, 20)),
                int(rng.integers(2**31)),
            )
            nc = make_clip(noisy)
            nc.y = c.y[: nc.x.shape[1]]
            clips.append(nc)
            counts["noisy_copies"] += 1
        if rng.random() < 0.5:  # another recording chain: Silero's targets on the copy itself
            clips.append(make_clip(perturb_domain(wav, 16000, int(rng.integers(2**31)))[0]))
            counts["domain_copies"] += 1
    if a.background:
        for u in read_manifests(a.background):
            if u.label is None and background_half(u.id) == "train":
                clips.append(make_clip(load_audio(u.audio)))
                counts["background"] += 1
    for fam in non_speech_clips(50, seed=1).values():
        for x in fam:
            clips.append(make_clip(x, non_speech=True))
            counts["generated"] += 1
    prep = time.time() - t0
    gate = train_gate(clips, epochs=a.epochs, seed=a.seed)
    meta = {
        "clips": counts,
        "frames_speech_share": round(float(np.mean(np.concatenate([c.y for c in clips]))), 4),
        "threshold": gate.threshold,
        "epochs": a.epochs,
        "seed": a.seed,
        "manifest": a.manifest,
        "background": a.background,
        "prepare_s": round(prep, 1),
        "total_s": round(time.time() - t0, 1),
        "macs_per_3s": gate.macs(3.0),
    }
    save_gate(gate, a.out, meta)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
