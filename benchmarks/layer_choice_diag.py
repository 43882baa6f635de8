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

from serkit.core.io import worker_threads
from serkit.data.protocols import make_folds
from serkit.estimators.layer_choice import inner_speaker_folds, pooled_stats, select_layer
from serkit.experiment.config import RunConfig, experiment_from_dict
from serkit.experiment.dataset import load_dataset

_DATA: dict = {}


def _load(manifest: str, protocol: str = "loso"):
    cfg = experiment_from_dict(
        {
            "manifest": manifest,
            "protocol": protocol,
            "frontend": {"name": "whisper-tiny-layers", "layers": [0, 1, 2]},
        }
    )
    d = load_dataset(cfg, RunConfig(progress=False))
    return d.utts, d.y, pooled_stats([d.feats[u.id] for u in d.utts])


def _inner_ua(p, y, splits) -> list[float]:
    out = []
    for layer in range(p.shape[1]):
        pred = np.empty_like(y)
        for tr, va in splits:
            m = make_pipeline(
                StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000)
            )
            pred[va] = m.fit(p[tr, layer], y[tr]).predict(p[va, layer])
        out.append(round(float(balanced_accuracy_score(y, pred)), 3))
    return out


def folds(manifest: str, protocol: str) -> None:
    warnings.simplefilter("ignore")
    utts, y, p = _load(manifest, protocol)
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
        print(
            f"{'with' if capped else 'without'} the BLAS cap: "
            f"{', '.join(f'{s:.1f}' for s in secs)} s per layer choice",
            flush=True,
        )


if __name__ == "__main__":
    {"folds": folds, "threads": threads}[sys.argv[1]](*sys.argv[2:])
