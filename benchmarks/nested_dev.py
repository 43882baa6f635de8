"""Nested development check that never touches a test fold.

Takes the *training* speakers of the first LOSO fold of a manifest, runs leave-one-speaker-out
over them (validation speakers carved out of each inner training set, seed 0) and prints the
pooled inner "dev-test" UA. Used to choose model defaults without looking at test folds.

    python benchmarks/nested_dev.py manifests/emodb.jsonl whisper-tiny-layers attnpool [key=value ...]

Overrides are model config keys (``hidden=64``, ``train.refit=true``), except
``frontend.KEY=VALUE`` (frontend config, e.g. ``"frontend.layers=[0,1,2]"``), ``inner=PROTOCOL``
(inner folds, default ``loso``; e.g. ``kfold-speaker:5`` for corpora with many speakers),
``outer=PROTOCOL`` (whose first fold's training speakers are used, default ``loso``) and
``seeds=N`` (seeds 0..N-1; prints each seed's UA and their mean +- std, default 1).
"""

import sys
import time

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from serkit.config import parse_overrides
from serkit.corpora import read_manifest
from serkit.features import FeatureCache, build_frontend, extract_features
from serkit.models import Split, build_model
from serkit.training.splits import make_folds, validation_split


def main() -> None:
    manifest, frontend, model = sys.argv[1:4]
    overrides = parse_overrides(sys.argv[4:])
    frontend_cfg = overrides.pop("frontend", {})
    inner_protocol = overrides.pop("inner", "loso")
    outer_protocol = overrides.pop("outer", "loso")
    n_seeds = int(overrides.pop("seeds", 1))
    torch.set_num_threads(1)
    utts = read_manifest(manifest)
    labels = sorted({u.label for u in utts})
    y = np.array([labels.index(u.label) for u in utts])
    feats = extract_features(build_frontend(frontend, frontend_cfg), utts, FeatureCache(), progress=False).features
    outer = make_folds(utts, outer_protocol)[0]
    inner = [utts[i] for i in outer.train]  # the outer test speaker is dropped entirely
    yi = y[outer.train]

    def split(idx):
        return Split([feats[inner[i].id] for i in idx], yi[idx], [inner[i].speaker for i in idx],
                     [inner[i].id for i in idx])

    some, t0, uas = feats[utts[0].id], time.time(), []
    for seed in range(n_seeds):
        pred, truth = [], []
        for fold in make_folds(inner, inner_protocol):
            fit, val = validation_split(inner, fold.train, seed)
            m = build_model(model, overrides, len(labels), some.shape[0], some.shape[2])
            m.fit(split(fit), split(val), seed)
            pred += list(m.predict_proba(split(fold.test).feats).argmax(1))
            truth += list(yi[fold.test])
        uas.append(balanced_accuracy_score(truth, pred))
    print(sys.argv[3:], "DEV-TEST UA", [round(u, 4) for u in uas], f"mean {np.mean(uas):.4f} +- {np.std(uas):.4f}",
          "time", round(time.time() - t0), "s")

if __name__ == "__main__":
    main()
