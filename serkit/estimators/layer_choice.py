"""Choosing encoder layers on training speakers: pooled statistics and a speaker-grouped,
label-stratified inner cross-validation (used by ``logreg`` and by torch heads with
``layer: auto`` or ``cv``)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serkit.core.errors import ConfigError


def pooled_stats(feats: list[np.ndarray]) -> np.ndarray:
    """Mean and standard deviation over frames: list of ``(L, T, D)`` -> ``(N, L, 2D)``."""
    out = []
    for f in feats:
        f = f.astype(np.float32)
        out.append(np.concatenate([f.mean(1), f.std(1)], axis=-1))
    return np.stack(out)


def inner_speaker_folds(
    y: np.ndarray, groups: np.ndarray, k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, validation) index pairs grouped by speaker and stratified by label
    (deterministic). ``y: (N,)``, ``groups: (N,)`` speaker ids."""
    with warnings.catch_warnings():  # "least populated class has only n members": expected here
        warnings.simplefilter("ignore", UserWarning)
        return list(
            StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=0).split(
                np.zeros(len(y)), y, groups
            )
        )


def default_pipe():
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000)
    )


def _candidate_features(pooled, cand, tr, va):
    """Inner train / validation inputs of candidate ``cand`` (a layer index or ``"mean"``)."""
    if cand != "mean":
        return pooled[tr, cand], pooled[va, cand]
    mu, sd = pooled[tr].mean(0), pooled[tr].std(0) + 1e-6  # (L, 2D), inner training part only
    return ((pooled[tr] - mu) / sd).mean(1), ((pooled[va] - mu) / sd).mean(1)


def select_layer(
    pooled: np.ndarray,
    y: np.ndarray,
    speakers: list,
    folds: int = 3,
    make_pipe=None,
    mean: bool = False,
    extra: tuple[np.ndarray, np.ndarray, list] | None = None,
    train_only: set | None = None,
) -> tuple[int | str, dict]:
    """Pick the encoder layer whose pooled statistics classify best across speakers.

    ``pooled: (N, L, 2D)`` mean+std per layer (:func:`pooled_stats`) of *training* utterances,
    ``y: (N,)`` labels, ``speakers``: one id per utterance (``None`` = its own group). Runs a
    ``folds``-fold speaker-grouped, label-stratified cross-validation of a standardised
    logistic regression per layer and returns ``(best, {layer: inner UA})``. With ``mean``
    the candidate ``"mean"`` (the average of the per-layer standardised statistics, standing
    for a head on the plain mean of the standardised layers) competes too; a single layer wins
    ties. Only training speakers are involved. ``extra``: augmented rows ``(pooled (M, L, 2D),
    y (M,), group of each)`` that join an inner TRAINING part when their group is in it and are
    never scored. ``train_only``: groups whose rows join every inner training part and are
    never scored (a single-class corpus when the groups are corpora: held out, its score would
    be one class's recall).

    Stratification matters on natural corpora where most speakers show a single emotion
    (URDU): plain speaker-grouped folds can leave a class out of an inner training set, and
    the inner UA then sits near chance for every layer, so the pick is noise.
    """
    make_pipe = make_pipe or default_pipe
    groups = np.array([s or f"u{i}" for i, s in enumerate(speakers)])
    fixed = np.isin(groups, sorted(train_only or ()))
    scored, always = np.flatnonzero(~fixed), np.flatnonzero(fixed)
    k = min(folds, len(set(groups[scored])))
    if k < 2:
        raise ConfigError(
            "choosing a layer on training speakers (layer: auto / cv) needs at least 2 of them; "
            "set model.layer=learned, mean or an index"
        )
    splits = [
        (np.concatenate([scored[tr], always]), scored[va])
        for tr, va in inner_speaker_folds(y[scored], groups[scored], k)
    ]
    n, y_all, p_all = len(y), y, pooled
    if extra is not None and len(extra[1]):
        p_all = np.concatenate([pooled, extra[0]])
        y_all = np.concatenate([y, np.asarray(extra[1], y.dtype)])
        extra_groups = np.array([str(g) for g in extra[2]])
        splits = [
            (np.concatenate([tr, n + np.flatnonzero(np.isin(extra_groups, groups[tr]))]), va)
            for tr, va in splits
        ]
    scores = {}
    for cand in list(range(pooled.shape[1])) + (["mean"] if mean and pooled.shape[1] > 1 else []):
        pred = np.empty_like(y)  # (rows of ``always`` stay unscored)
        for tr, va in splits:
            if len(np.unique(y_all[tr])) < 2:  # a one-class inner training set: that class
                pred[va] = y_all[tr][0]
                continue
            x_tr, x_va = _candidate_features(p_all, cand, tr, va)
            pred[va] = make_pipe().fit(x_tr, y_all[tr]).predict(x_va)
        scores[cand] = float(balanced_accuracy_score(y[scored], pred[scored]))
    return max(scores, key=scores.get), scores
