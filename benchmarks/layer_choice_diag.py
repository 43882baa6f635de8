"""Diagnostics behind the layer-choice fixes (docs/BENCHMARKS.md, foundation "third follow-up").

    python benchmarks/layer_choice_diag.py folds MANIFEST PROTOCOL
        For each outer fold: the inner-CV UA of every Whisper state 0-2 (training speakers only),
        with plain speaker-grouped inner folds (the old ``select_layer``) and with the
        label-stratified ones (:func:`serkit.estimators.logreg.inner_speaker_folds`).
    python benchmarks/layer_choice_diag.py threads MANIFEST
        Seconds one layer choice (``select_layer`` on the training speakers of the first LOSO
        fold) takes in each of 2 parallel forked workers, as in ``serkit bench --jobs 2``:
        without and with the BLAS thread cap of :func:`serkit.core.io.worker_threads`.
"""

import sys
import time
import warnings
from multiprocessing import get_context

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serkit.data.corpora import read_manifest
from serkit.features import FeatureCache, build_frontend, extract_features
from serkit.estimators.base import pooled_stats
from serkit.estimators.logreg import inner_speaker_folds, select_layer
from serkit.data.protocols import make_folds
from serkit.core.io import worker_threads

_DATA: dict = {}


def _load(manifest: str):
    utts = read_manifest(manifest)
    labels = sorted({u.label for u in utts})
    feats = extract_features(build_frontend("whisper-tiny-layers", {"layers": [0, 1, 2]}), utts, FeatureCache(),
                             progress=False).features
    y = np.array([labels.index(u.label) for u in utts])
    return utts, y, pooled_stats([feats[u.id] for u in utts])


def _inner_ua(p, y, splits) -> list[float]:
    out = []
    for layer in range(p.shape[1]):
        pred = np.empty_like(y)
        for tr, va in splits:
            m = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000))
            pred[va] = m.fit(p[tr, layer], y[tr]).predict(p[va, layer])
        out.append(round(float(balanced_accuracy_score(y, pred)), 3))
    return out


def folds(manifest: str, protocol: str) -> None:
    warnings.simplefilter("ignore")
    utts, y, p = _load(manifest)
    for f in make_folds(utts, protocol):
        idx = np.array(f.train)
        g = np.array([utts[i].speaker for i in idx])
        plain = _inner_ua(p[idx], y[idx], list(GroupKFold(3).split(idx, y[idx], g)))
        strat = _inner_ua(p[idx], y[idx], inner_speaker_folds(y[idx], g, 3))
        print(f"{f.name}: grouped {plain}  stratified {strat}", flush=True)


def _time_choice(capped: bool) -> float:
    p, y, spk = _DATA["args"]
    t0 = time.time()
    if capped:
        with worker_threads(1):
            select_layer(p, y, spk, mean=True)
    else:
        select_layer(p, y, spk, mean=True)
    return time.time() - t0


def threads(manifest: str) -> None:
    utts, y, p = _load(manifest)
    idx = make_folds(utts, "loso")[0].train
    _DATA["args"] = (p[idx], y[idx], [utts[i].speaker for i in idx])
    for capped in (False, True):
        with get_context("fork").Pool(2) as pool:
            secs = pool.map(_time_choice, [capped, capped])
        print(f"{'with' if capped else 'without'} the BLAS cap: {', '.join(f'{s:.1f}' for s in secs)} s per layer choice",
              flush=True)


if __name__ == "__main__":
    {"folds": folds, "threads": threads}[sys.argv[1]](*sys.argv[2:])
