"""Regression training for dimensional heads: concordance correlation (CCC) as loss and metric.

``CCC(x, y) = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` (Lin 1989): 1 for perfect
agreement, 0 for none; unlike Pearson it punishes a shift or a scale error. The loss is
``1 - CCC`` per dimension, averaged over the dimensions a batch has targets for (a target may
be NaN: BAVED annotates arousal only), plus optionally EmoSphere-SER's auxiliary
cross-entropy on the octant of (V, A, D) (:func:`serkit.data.vad.sphere_region`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from serkit.training.trainer import (
    BestWeights,
    TrainConfig,
    _length_bucketed_batches,
    collate,
    make_optimizer,
    predict_logits,
    run_epochs,
)


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """CCC of two 1-D arrays (NaN pairs dropped); 0 when fewer than 2 pairs or no variance."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        return 0.0
    vx, vy = x.var(), y.var()
    den = vx + vy + (x.mean() - y.mean()) ** 2
    return float(2 * np.mean((x - x.mean()) * (y - y.mean())) / den) if den > 0 else 0.0


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``1 - CCC`` averaged over columns with >= 2 finite targets; ``pred``/``target`` ``(N,
    K)``."""
    losses = []
    for k in range(pred.shape[1]):
        m = torch.isfinite(target[:, k])
        if int(m.sum()) < 2:
            continue
        p, t = pred[m, k], target[m, k]
        pm, tm = p.mean(), t.mean()
        cov = ((p - pm) * (t - tm)).mean()
        c = 2 * cov / (p.var(unbiased=False) + t.var(unbiased=False) + (pm - tm) ** 2 + eps)
        losses.append(1 - c)
    return torch.stack(losses).mean() if losses else pred.sum() * 0.0


def mean_ccc(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean CCC over the columns of ``target`` that have any finite value."""
    cols = [k for k in range(target.shape[1]) if np.isfinite(target[:, k]).sum() >= 2]
    return float(np.mean([ccc(pred[:, k], target[:, k]) for k in cols])) if cols else 0.0


def train_regressor(
    model: nn.Module,
    feats: list[np.ndarray],
    targets: np.ndarray,
    cfg: TrainConfig,
    seed: int,
    val: tuple[list[np.ndarray], np.ndarray] | None = None,
    n_dims: int = 3,
    regions: np.ndarray | None = None,
    aux_weight: float = 0.0,
) -> dict:
    """Train ``model(x (N, L, T, D), mask) -> (N, n_dims [+ 8])`` in place: the first ``n_dims``
    outputs pass a sigmoid (targets in [0, 1]); with ``aux_weight > 0`` the next 8 are octant
    logits trained by cross-entropy on ``regions`` (``-1`` = unknown). Early stopping on the
    validation mean CCC. Returns ``{"epochs", "best_epoch", "best_val_ccc"}``."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt, sched = make_optimizer(
        [{"params": params, "lr": cfg.lr, "weight_decay": cfg.weight_decay}],
        cfg,
        max(1, int(np.ceil(len(feats) / cfg.batch_size))),
    )
    y = torch.from_numpy(np.asarray(targets, np.float32))
    reg = torch.from_numpy(
        np.asarray(regions if regions is not None else -np.ones(len(feats)), np.int64)
    )
    lengths = np.array([f.shape[1] for f in feats])
    keeper = BestWeights(model, cfg.patience)

    def loss_of(idx):
        if len(idx) < 2:
            return None
        x, m = collate([feats[i] for i in idx], cfg.crop_frames, rng)
        out = model(x, m)
        loss = ccc_loss(torch.sigmoid(out[:, :n_dims]), y[idx])
        if aux_weight > 0 and (reg[idx] >= 0).any():
            k = reg[idx] >= 0
            loss = loss + aux_weight * F.cross_entropy(out[k, n_dims : n_dims + 8], reg[idx][k])
        return loss

    def after_epoch(epoch: int, _loss: float) -> bool:
        if val is None or not len(val[0]):
            return False
        return keeper.update(mean_ccc(predict_dims(model, val[0], n_dims), val[1]), epoch)

    epoch = run_epochs(
        model,
        params,
        opt,
        sched,
        cfg.epochs,
        lambda e: _length_bucketed_batches(lengths, cfg.batch_size, rng),
        loss_of,
        cfg.grad_clip or 0.0,
        after_epoch,
    )
    keeper.restore()
    model.eval()
    return {
        "epochs": epoch,
        "best_epoch": keeper.epoch or epoch,
        "best_val_ccc": None if keeper.score is None else round(keeper.score, 4),
    }


def predict_dims(model: nn.Module, feats: list[np.ndarray], n_dims: int = 3) -> np.ndarray:
    """``(N, n_dims)`` predictions in [0, 1]."""
    out = predict_logits(model, feats)[:, :n_dims]
    return 1 / (1 + np.exp(-out))
