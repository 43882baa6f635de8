"""Digests of what each training loop produces on fixed toy data (classifiers: attnpool, mlp,
pts-snn; the V/A/D regressor; a toy distillation's weights and history), to compare two
versions of the code bit for bit (issue 30: one optimisation loop).

    git worktree add /tmp/old e544805
    (cd /tmp/old && SERKIT_CACHE=/tmp/c PYTHONPATH=/tmp/old /work/main/.venv/bin/python \
        /work/main/benchmarks/loop_identity.py) > old.json
    SERKIT_CACHE=/tmp/c .venv/bin/python benchmarks/loop_identity.py > new.json
    diff old.json new.json
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np


def _digest(a: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def main() -> None:
    import torch
    from safetensors.numpy import load_file

    from serkit.data.manifest import Utterance
    from serkit.estimators import build_model
    from serkit.estimators.dimensional import DimConfig, DimRegressor
    from serkit.features.cache import FeatureCache
    from serkit.features.compact_net import CompactNetConfig
    from serkit.testing import dummies, toy_split
    from serkit.training.distill import DistillConfig, distill
    from serkit.training.trainer import TrainConfig

    torch.set_num_threads(1)
    sp = toy_split(np.random.default_rng(0), n_per=20, n_layers=2, dim=8)
    out: dict = {}
    for name in ("attnpool", "mlp", "pts-snn"):
        m = build_model(name, 2, 2, 8)
        m.config.train.epochs = 4
        m.fit(sp, sp, 0)
        out[name] = _digest(m.predict_proba(sp.feats))
    tg = np.random.default_rng(1).uniform(0, 1, (len(sp.feats), 3)).astype(np.float32)
    r = DimRegressor(DimConfig(train=TrainConfig(epochs=4, patience=5)), 2, 8)
    r.fit(sp.feats[:30], tg[:30], 0, (sp.feats[30:], tg[30:]))
    out["dim"] = _digest(r.predict(sp.feats))
    d = Path(tempfile.mkdtemp())
    utts = []
    for i in range(6):
        wav = d / f"c{i}.wav"
        dummies.write_tone(wav, seconds=1.0, seed=i, f0=100 + 20 * i)
        utts.append(Utterance(f"c{i}", str(wav), 1.0, "x", "s"))
    student = CompactNetConfig(channels=16, blocks=3, taps=[1, 2, 3], context_after=2)
    cfg = DistillConfig(student=student, epochs=4, batch_size=1, val_fraction=0.2)
    cfg.augment.copies = 0
    res = distill(utts, d / "s.safetensors", cfg, FeatureCache(d / "cache"), log=lambda *a: None)
    t = load_file(str(d / "s.safetensors"))
    h = hashlib.sha1(b"".join(t[k].tobytes() for k in sorted(t))).hexdigest()[:16]
    out["distill"] = h, {k: v for k, v in res["final"].items() if k != "elapsed_s"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
