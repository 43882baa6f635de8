"""Classification metrics on pooled out-of-fold predictions.

UA (unweighted accuracy) = mean per-class recall = balanced accuracy; WA = accuracy;
F1 = macro-averaged F1. Over seeds: mean and sample standard deviation (ddof=1; 0 for one seed).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    labels = list(range(n_classes))
    present = sorted(set(np.asarray(y_true).tolist()))
    return {
        "ua": float(balanced_accuracy_score(y_true, y_pred)),
        "wa": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class_recall": recall_score(
            y_true, y_pred, labels=labels, average=None, zero_division=0
        ).tolist(),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def ldl_metrics(pred: np.ndarray, target: np.ndarray, eps: float = 1e-12) -> dict[str, float]:
    """The standard label-distribution-learning measures (Geng 2016), mean over rows of ``(N, C)``
    distributions: ``kl`` = KL(target || pred) and ``chebyshev`` = max |p - t| (lower is better);
    ``cosine`` and ``intersection`` = sum min(p, t) (higher is better, 1 = identical)."""
    p = np.clip(np.asarray(pred, np.float64), eps, None)
    p = p / p.sum(1, keepdims=True)
    t = np.asarray(target, np.float64)
    kl = np.sum(np.where(t > 0, t * np.log(np.clip(t, eps, None) / p), 0.0), axis=1)
    cos = np.sum(p * t, 1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1) + eps)
    return {
        "kl": float(kl.mean()),
        "chebyshev": float(np.abs(p - t).max(1).mean()),
        "cosine": float(cos.mean()),
        "intersection": float(np.minimum(p, t).sum(1).mean()),
    }
