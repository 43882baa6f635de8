"""Diagnostic (issue 18, not a benchmark): sklearn logreg on the bundled student's pooled taps,
each tap,
all taps concatenated, and with eGeMAPS functionals added; LOSO (<= 12 speakers) or 5 speaker
groups.

    .venv/bin/python benchmarks/compact_taps.py manifests/emodb.jsonl
"""

import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serkit.data.manifest import read_manifest
from serkit.estimators.layer_choice import pooled_stats
from serkit.features.base import build_frontend
from serkit.features.cache import FeatureCache, extract_features

man = sys.argv[1]
utts = [u for u in read_manifest(man) if u.label]
cache = FeatureCache()


def feats(spec):
    r = extract_features(build_frontend(spec), utts, cache, progress=False)
    return [r.features[u.id] for u in utts]


comp = pooled_stats(feats({"name": "compact"}))  # (N, L, 2D)
eg = np.stack([f.reshape(-1) for f in feats({"name": "egemaps"})])
y = np.array([u.label for u in utts])
spk = np.array([u.speaker for u in utts])
folds = spk if len(set(spk)) <= 12 else np.array([hash(s) % 5 for s in spk])


def ua(X, C=1.0):
    pred = np.empty(len(y), object)
    for s in np.unique(folds):
        te = folds == s
        m = make_pipeline(
            StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
        ).fit(X[~te], y[~te])
        pred[te] = m.predict(X[te])
    return recall_score(y, pred, average="macro")


for k in range(comp.shape[1]):
    print("tap", k, round(ua(comp[:, k]), 3))
cat = comp.reshape(len(y), -1)
print("concat", round(ua(cat), 3))
print("egemaps", round(ua(eg), 3))
print("concat+egemaps", round(ua(np.hstack([cat, eg])), 3))
print("tap2+egemaps", round(ua(np.hstack([comp[:, 2], eg])), 3))
