"""Which way the CO-VADA-style voice alteration moves each clip of a manifest, by gender: the
direction from the clip's own median F0 (covada v1) against the speaker's median F0 (v2,
`serkit.training.augment._speaker_f0`). Every ``--every``-th clip.

    .venv/bin/python benchmarks/voice_direction.py manifests/emodb.jsonl --every 25
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from serkit.audio.io import AudioConfig, load_audio
from serkit.audio.voice import median_f0, opposite_shift
from serkit.data.manifest import read_manifest

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("--every", type=int, default=25)
    a = ap.parse_args()
    utts = read_manifest(a.manifest)
    f0 = {}
    for u in utts:  # the speaker medians need every clip
        f0[u.id] = median_f0(load_audio(u.audio, AudioConfig(sample_rate=16000)), 16000)
    spk = {}
    for u in utts:
        if f0[u.id] is not None:
            spk.setdefault(u.speaker, []).append(f0[u.id])
    spk = {s: float(np.median(v)) for s, v in spk.items()}
    v1, v2 = Counter(), Counter()
    for u in utts[:: a.every]:
        v1[(u.gender, opposite_shift(f0[u.id]).direction)] += 1
        v2[(u.gender, opposite_shift(spk.get(u.speaker)).direction)] += 1
    for name, c in (("v1 (clip F0)", v1), ("v2 (speaker F0)", v2)):
        print(name + ": " + ", ".join(f"{g} {d} {n}" for (g, d), n in sorted(c.items())))
