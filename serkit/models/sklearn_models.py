"""``logreg``: logistic regression on mean+std pooled features (the baseline).

For multi-layer frontends the layer is chosen per training fold by an inner speaker-grouped
cross-validation over the *training* speakers only (``layer: auto``), or fixed (``layer: 2``),
or all layers are concatenated (``layer: concat``).
"""

from __future__ import annotations

import io
import pickle
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serkit.errors import ConfigError
from serkit.models.base import Model, Split, pooled_stats, register


def inner_speaker_folds(y: np.ndarray, groups: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, validation) index pairs grouped by speaker and stratified by label
    (deterministic). ``y: (N,)``, ``groups: (N,)`` speaker ids."""
    with warnings.catch_warnings():  # "least populated class has only n members": expected here
        warnings.simplefilter("ignore", UserWarning)
        return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=0).split(np.zeros(len(y)), y, groups))


def select_layer(pooled: np.ndarray, y: np.ndarray, speakers: list, folds: int = 3,
                 make_pipe=None, mean: bool = False) -> tuple[int | str, dict]:
    """Pick the encoder layer whose pooled statistics classify best across speakers.

    ``pooled: (N, L, 2D)`` mean+std per layer (:func:`pooled_stats`) of *training* utterances,
    ``y: (N,)`` labels, ``speakers``: one id per utterance (``None`` = its own group). Runs a
    ``folds``-fold speaker-grouped, label-stratified cross-validation of a standardised
    logistic regression per layer and returns ``(best, {layer: inner UA})``. With ``mean``
    the candidate ``"mean"`` (the average of the per-layer standardised statistics, standing
    for a head on the plain mean of the standardised layers) competes too; a single layer wins
    ties. Only training speakers are involved.

    Stratification matters on natural corpora where most speakers show a single emotion
    (URDU): plain speaker-grouped folds can leave a class out of an inner training set, and
    the inner UA then sits near chance for every layer, so the pick is noise.
    """
    make_pipe = make_pipe or (lambda: make_pipeline(StandardScaler(), LogisticRegression(
        C=1.0, class_weight="balanced", max_iter=3000)))
    groups = np.array([s or f"u{i}" for i, s in enumerate(speakers)])
    k = min(folds, len(set(groups)))
    if k < 2:
        raise ConfigError("layer=auto needs at least 2 training speakers")
    splits = inner_speaker_folds(y, groups, k)

    def features(cand, tr, va):
        if cand != "mean":
            return pooled[tr, cand], pooled[va, cand]
        mu, sd = pooled[tr].mean(0), pooled[tr].std(0) + 1e-6  # (L, 2D), inner training part only
        return ((pooled[tr] - mu) / sd).mean(1), ((pooled[va] - mu) / sd).mean(1)

    scores = {}
    for cand in list(range(pooled.shape[1])) + (["mean"] if mean and pooled.shape[1] > 1 else []):
        pred = np.empty_like(y)
        for tr, va in splits:
            if len(np.unique(y[tr])) < 2:  # a one-class inner training set: predict that class
                pred[va] = y[tr][0]
                continue
            x_tr, x_va = features(cand, tr, va)
            pred[va] = make_pipe().fit(x_tr, y[tr]).predict(x_va)
        scores[cand] = float(balanced_accuracy_score(y, pred))
    return max(scores, key=scores.get), scores


@dataclass
class LogRegConfig:
    """``C``: inverse L2 strength; ``class_weight``: ``balanced`` (UA is the metric) or ``none``;
    ``layer``: ``auto`` | ``concat`` | an index; ``inner_folds``: speaker folds for ``auto``."""

    C: float = 1.0
    class_weight: str = "balanced"
    layer: str = "auto"
    inner_folds: int = 3
    max_iter: int = 3000


@register
class LogReg(Model):
    name = "logreg"
    config_cls = LogRegConfig

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.pipe = None
        self.layer: int | str | None = None
        self.layer_scores: dict = {}

    def _pipe(self):
        cw = None if self.config.class_weight in ("none", "", None) else self.config.class_weight
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.config.C, class_weight=cw,
                                                                  max_iter=self.config.max_iter))

    def _x(self, pooled: np.ndarray, layer) -> np.ndarray:
        return pooled.reshape(len(pooled), -1) if layer == "concat" else pooled[:, layer]

    def fit(self, train: Split, val: Split | None, seed: int) -> dict:
        p = pooled_stats(train.feats)
        y = train.labels
        choice = self.config.layer
        merged = False
        if choice == "auto" and p.shape[1] > 1:
            # validation = inner folds over training speakers (plus the held-out val speakers)
            if val is not None and len(val):
                p_all = np.concatenate([p, pooled_stats(val.feats)])
                y_all = np.concatenate([y, val.labels])
                g_all = list(train.speakers) + list(val.speakers)
            else:
                p_all, y_all, g_all = p, y, list(train.speakers)
            self.layer, self.layer_scores = select_layer(p_all, y_all, g_all, self.config.inner_folds, self._pipe)
            p, y = p_all, y_all  # the final fit uses all training-fold speakers
            merged = True
        elif choice == "auto":
            self.layer = 0
        elif choice == "concat":
            self.layer = "concat"
        else:
            try:
                self.layer = int(choice)
            except ValueError:
                raise ConfigError(f"logreg layer must be auto, concat or an index, got {choice!r}") from None
            if not 0 <= self.layer < p.shape[1]:
                raise ConfigError(f"logreg layer {self.layer} out of range (frontend has {p.shape[1]} layers)")
        if val is not None and len(val) and not merged:  # no early stopping: refit on all training speakers
            p = np.concatenate([p, pooled_stats(val.feats)])
            y = np.concatenate([y, val.labels])
        self.pipe = self._pipe().fit(self._x(p, self.layer), y)
        return {"layer": self.layer, "inner_val_ua": self.layer_scores}

    def predict_proba(self, feats: list[np.ndarray]) -> np.ndarray:
        proba = self.pipe.predict_proba(self._x(pooled_stats(feats), self.layer))
        out = np.zeros((len(feats), self.n_classes))
        out[:, self.pipe.classes_] = proba  # classes absent from training get probability 0
        return out

    def cost(self, feats, durations) -> dict:
        lr = self.pipe[-1]
        d_in = lr.coef_.shape[1]
        params = int(lr.coef_.size + lr.intercept_.size)
        # per clip: pooling (T*D adds for mean, T*D MACs for variance), scaler, logits
        frames = np.array([f.shape[1] for f in feats], dtype=float)
        dur = np.array(durations, dtype=float)
        per_s = float(np.mean(frames / np.maximum(dur, 1e-3)))
        d = d_in // 2
        macs_3s = int(per_s * 3 * d + d_in + d_in * lr.coef_.shape[0])
        return {"params_trainable": params, "macs_head": macs_3s, "acs_head": int(per_s * 3 * d), "sops_head": 0}

    def state(self) -> dict:
        buf = io.BytesIO()
        pickle.dump({"pipe": self.pipe, "layer": self.layer}, buf)
        return {"pickle": buf.getvalue()}

    def load_state(self, state: dict) -> None:
        d = pickle.loads(state["pickle"])
        self.pipe, self.layer = d["pipe"], d["layer"]
