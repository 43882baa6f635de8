"""``serkit train``: fit one model on a whole manifest (validation speakers held out for early
stopping) and save it with its frontend, labels, cost and provenance."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from serkit.errors import ConfigError
from serkit.evaluation.bench import BenchConfig, resolve
from serkit.evaluation.energy import energy_mj
from serkit.features import FeatureCache, extract_features
from serkit.models import Split, build_model
from serkit.models.io import save_model
from serkit.training.splits import validation_split
from serkit.utils import seed_everything


def train_model(cfg: BenchConfig, out: str | Path, seed: int = 0, provenance: dict | None = None,
                progress: bool = True, log=print) -> dict:
    if cfg.normalize != "none":
        raise ConfigError(f"normalize={cfg.normalize!r} is an evaluation protocol (serkit bench / tune): a saved model "
                          "cannot carry a new speaker's statistics; train with normalize=none")
    utts, frontend, labels, _ = resolve(cfg)
    ex = extract_features(frontend, utts, FeatureCache(cfg.cache_dir or None), progress=progress)
    for i, r in ex.failed:
        log(f"skipped {i}: {r}")
    utts = [u for u in utts if u.id in ex.features]
    y = np.array([labels.index(u.label) for u in utts])
    seed_everything(seed)
    fit_idx, val_idx = validation_split(utts, list(range(len(utts))), seed, cfg.val_fraction)

    def split(idx):
        return Split([ex.features[utts[i].id] for i in idx], y[idx], [utts[i].speaker for i in idx],
                     [utts[i].id for i in idx])

    some = ex.features[utts[0].id]
    model = build_model(cfg.model, cfg.model_cfg, len(labels), some.shape[0], some.shape[2])
    t0 = time.time()
    info = model.fit(split(fit_idx), split(val_idx) if val_idx else None, seed)
    cost = model.cost([ex.features[u.id] for u in utts[:32]], [u.duration for u in utts[:32]])
    prov = dict(provenance or {})
    prov.update(corpus=",".join(sorted({u.corpus for u in utts})), n_utterances=len(utts),
                n_speakers=len({u.speaker for u in utts}), seed=seed, fit=info, cost=cost,
                fit_s=round(time.time() - t0, 2), val_speakers=sorted({utts[i].speaker for i in val_idx}))
    save_model(out, model, frontend, labels, prov)
    return {"labels": labels, "fit": info, "cost": cost,
            "energy_head_mj": energy_mj(cost["macs_head"], cost.get("acs_head", 0) + cost.get("sops_head", 0))}
