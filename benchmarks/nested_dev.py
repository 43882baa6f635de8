"""Nested development check that never touches a test fold.

Takes the *training* speakers of the first LOSO fold of a manifest, runs leave-one-speaker-out
over them (validation speakers carved out of each inner training set, seed 0) and prints the
pooled inner "dev-test" UA. Used to choose model defaults without looking at test folds.

    python benchmarks/nested_dev.py manifests/emodb.jsonl whisper-tiny-layers attnpool [key=value ...]
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
    torch.set_num_threads(1)
    utts = read_manifest(manifest)
    labels = sorted({u.label for u in utts})
    y = np.array([labels.index(u.label) for u in utts])
    feats = extract_features(build_frontend(frontend), utts, FeatureCache(), progress=False).features
    outer = make_folds(utts, "loso")[0]
    inner = [utts[i] for i in outer.train]  # the outer test speaker is dropped entirely
    yi = y[outer.train]

    def split(idx):
        return Split([feats[inner[i].id] for i in idx], yi[idx], [inner[i].speaker for i in idx],
                     [inner[i].id for i in idx])

    pred, truth, t0 = [], [], time.time()
    some = feats[utts[0].id]
    for fold in make_folds(inner, "loso"):
        fit, val = validation_split(inner, fold.train, 0)
        m = build_model(model, overrides, len(labels), some.shape[0], some.shape[2])
        m.fit(split(fit), split(val), 0)
        pred += list(m.predict_proba(split(fold.test).feats).argmax(1))
        truth += list(yi[fold.test])
    print(sys.argv[3:], "DEV-TEST UA", round(balanced_accuracy_score(truth, pred), 4),
          "time", round(time.time() - t0), "s")


if __name__ == "__main__":
    main()
