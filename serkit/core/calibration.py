"""Calibration: temperature scaling (Guo et al., 2017), expected calibration error, reliability
bins and selective accuracy versus coverage (numpy only).

Temperature scaling divides the logits by ``T`` before the softmax; on probabilities it is
``softmax(log p / T)`` (the log-softmax differs from the logits by a per-row constant, which the
softmax removes), so it applies to any model that outputs probabilities. ``T`` is fitted on
validation speakers' predictions (never on test folds) by minimising the negative log-likelihood
over a log-spaced grid refined once.
"""

from __future__ import annotations

import numpy as np


def apply_temperature(proba: np.ndarray, t: float) -> np.ndarray:
    """``(N, C)`` probabilities -> temperature-scaled probabilities (``t`` > 1 softens)."""
    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)) / float(t)
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)


def nll(proba: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(np.asarray(proba)[np.arange(len(y)), np.asarray(y)], 1e-12, 1.0)
    return float(-np.log(p).mean())


def fit_temperature(proba: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The ``T`` in ``[lo, hi]`` minimising the NLL of ``apply_temperature(proba, T)`` on labels
    ``y`` (1.0 when there are fewer than 2 examples)."""
    if len(y) < 2:
        return 1.0
    grid = np.geomspace(lo, hi, 60)
    best = grid[int(np.argmin([nll(apply_temperature(proba, t), y) for t in grid]))]
    fine = np.geomspace(best / 1.15, best * 1.15, 31)
    return float(
        round(fine[int(np.argmin([nll(apply_temperature(proba, t), y) for t in fine]))], 4)
    )


def reliability(proba: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    """Equal-width confidence bins: ``count``, mean ``confidence`` and ``accuracy`` per bin, and
    ``ece`` = sum over bins of (count / N) * |accuracy - confidence| (top-1 confidence)."""
    proba, y = np.asarray(proba), np.asarray(y)
    conf, correct = proba.max(1), (proba.argmax(1) == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    out = {"count": [], "confidence": [], "accuracy": []}
    ece = 0.0
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        out["count"].append(n)
        out["confidence"].append(round(float(conf[m].mean()), 4) if n else None)
        out["accuracy"].append(round(float(correct[m].mean()), 4) if n else None)
        if n:
            ece += n / len(y) * abs(correct[m].mean() - conf[m].mean())
    out["ece"] = round(float(ece), 4)
    return out


def ece(proba: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    return reliability(proba, y, bins)["ece"]


def selective_curve(
    proba: np.ndarray, y: np.ndarray, coverages=(1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3)
) -> list[dict]:
    """Answer only the most confident share ``coverage`` of clips: per coverage, the confidence
    threshold that achieves it, and the accuracy and UA of the answered clips."""
    from sklearn.metrics import balanced_accuracy_score

    proba, y = np.asarray(proba), np.asarray(y)
    conf = proba.max(1)
    order = np.argsort(-conf, kind="stable")
    rows = []
    for c in coverages:
        k = max(1, int(round(c * len(y))))
        keep = order[:k]
        pred = proba[keep].argmax(1)
        rows.append(
            {
                "coverage": c,
                "threshold": round(float(conf[order[k - 1]]), 4),
                "accuracy": round(float((pred == y[keep]).mean()), 4),
                "ua": round(float(balanced_accuracy_score(y[keep], pred)), 4)
                if len(set(y[keep])) > 1
                else None,
            }
        )
    return rows


def coverage_at(proba: np.ndarray, threshold: float) -> float:
    """Share of clips whose top probability is at least ``threshold``."""
    return float((np.asarray(proba).max(1) >= threshold).mean())


def balancing_offsets(logits: np.ndarray, iters: int = 200) -> np.ndarray:
    """Per-class logit offsets ``b`` ``(C,)`` (mean 0) under which the mean posterior of these
    unlabelled clips is uniform: ``mean_i softmax(logits_i + b) = 1/C``. ``logits``: ``(N, C)``
    (log-probabilities work too: a per-row constant does not change the answer). Columns that
    are ``-inf`` or NaN in every row (classes a model never saw) get offset 0 and are left out.

    Adaptation uses it so that a new domain's shift cannot make one class vanish: the answers
    on the user's own clips are balanced as the class-balanced training was, shrunk by the
    amount of speech (``w``) like the standardisation. Fixed-point iteration on the log of the
    mean posterior (converges for any finite logits; the result is the unique zero-mean one)."""
    z = np.asarray(logits, np.float64)
    live = np.isfinite(z).all(0)
    b = np.zeros(z.shape[1])
    if z.ndim != 2 or len(z) == 0 or live.sum() < 2:
        return b
    zl, bl = z[:, live], np.zeros(int(live.sum()))
    for _ in range(iters):
        q = zl + bl
        q = np.exp(q - q.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        step = np.log(q.mean(0) * zl.shape[1])
        bl -= step - step.mean()
        if np.abs(step).max() < 1e-6:
            break
    b[live] = bl - bl.mean()
    return b


def balanced_proba(proba: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(N, C)`` probabilities with per-class logit ``offsets`` ``(C,)`` added (classes at
    probability 0 stay at 0)."""
    p = np.asarray(proba, np.float64)
    with np.errstate(divide="ignore"):
        logp = np.where(p > 0, np.log(np.maximum(p, 1e-300)), -np.inf) + offsets
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)
