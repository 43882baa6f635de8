"""Layers shared by several heads and by export: masked BatchNorm, training-fold
standardisation, masked statistics, frame pooling (numpy and torch twins), the head pipeline."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from serkit.nn.counting import add_macs
from serkit.nn.featurizer import Featurizer


def pool_frames(f: np.ndarray, p: int) -> np.ndarray:
    """Average ``p`` consecutive frames: ``(L, T, D)`` -> ``(L, ceil(T / p), D)`` (the last
    group may be shorter). The one frame pooling of training and inference;
    :func:`pool_frames_torch` is its exportable twin (tested equal)."""
    if p <= 1 or f.shape[1] <= 1:
        return f
    L, T, D = f.shape
    x = f.astype(np.float32)
    full = (T // p) * p
    out = x[:, :full].reshape(L, T // p, p, D).mean(2)
    if full < T:
        out = np.concatenate([out, x[:, full:].mean(1, keepdims=True)], axis=1)
    return out.astype(f.dtype)


def pool_frames_torch(x: torch.Tensor, p: int) -> torch.Tensor:
    """:func:`pool_frames` for ``x: (1, L, T, D)`` in torch (``avg_pool1d`` with ``ceil_mode``)."""
    if p <= 1:
        return x
    y = x[0].transpose(1, 2)  # (L, D, T)
    y = F.avg_pool1d(y, p, p, ceil_mode=True)
    return y.transpose(1, 2).unsqueeze(0)


def masked_mean_std(h: torch.Tensor, mask: torch.Tensor, w: torch.Tensor | None = None):
    """Weighted mean and std over time. ``h: (N, T, D)``, ``mask: (N, T)``, ``w: (N, T)``
    summing to 1 over real frames (default: uniform). Returns two ``(N, D)`` tensors."""
    if w is None:
        m = mask.to(h.dtype)
        w = m / m.sum(1, keepdim=True).clamp_min(1.0)
    mean = torch.einsum("nt,ntd->nd", w, h)
    var = torch.einsum("nt,ntd->nd", w, (h - mean[:, None]) ** 2)
    return mean, torch.sqrt(var.clamp_min(1e-6))


class MaskedBatchNorm(nn.Module):
    """BatchNorm over the real (unpadded) steps of ``x: (T, N, H)`` with ``m: (T, N, 1)``.

    A per-channel affine map at inference, so it folds into the preceding linear layer's
    weights and the neurons' thresholds: it adds no operations to a deployed SNN.
    """

    def __init__(self, size: int, momentum: float = 0.1, eps: float = 1e-5, bias_init: float = 0.0):
        super().__init__()
        self.bias_init = bias_init
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.full((size,), bias_init))
        self.register_buffer("running_mean", torch.zeros(size))
        self.register_buffer("running_var", torch.ones(size))
        self.momentum, self.eps = momentum, eps

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.constant_(self.bias, self.bias_init)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        if self.training and bool(
            m.sum() > 0
        ):  # (a batch without any valid step keeps the running stats)
            n = m.sum().clamp_min(1.0)
            mean = (x * m).sum((0, 1)) / n
            var = (((x - mean) * m) ** 2).sum((0, 1)) / n
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class Standardize(nn.Module):
    """Per-layer, per-dimension standardisation with statistics of the training frames.

    ``x: (N, L, T, D)``; buffers ``mean``/``std``: ``(L, D)``.
    """

    def __init__(self, n_layers: int, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_layers, dim))
        self.register_buffer("std", torch.ones(n_layers, dim))

    def fit(self, feats: list[np.ndarray]) -> None:
        """Statistics over every frame of ``feats`` (list of ``(L, T, D)``), float64 sums."""
        s = np.zeros(self.mean.shape, np.float64)
        s2 = np.zeros(self.mean.shape, np.float64)
        n = 0
        for f in feats:
            f = f.astype(np.float64)
            s += f.sum(1)
            s2 += (f**2).sum(1)
            n += f.shape[1]
        mean = s / max(n, 1)
        self.set_stats(mean, np.sqrt(np.maximum(s2 / max(n, 1) - mean**2, 1e-8)))

    def set_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Use ``mean`` / ``std`` ``(L, D)`` (std floored at 1e-4)."""
        self.mean.copy_(torch.from_numpy(np.asarray(mean)).float())
        self.std.copy_(torch.from_numpy(np.maximum(np.asarray(std), 1e-4)).float())

    def apply_np(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        """The same map in numpy on a list of ``(L, T, D)`` arrays (float32)."""
        mean = self.mean.numpy()[:, None]
        std = self.std.numpy()[:, None]
        return [((f.astype(np.float32) - mean) / std).astype(np.float32) for f in feats]

    def restrict(self, keep: list[int]) -> None:
        """Keep the statistics of layers ``keep`` only (export of a truncated encoder)."""
        self.mean = self.mean[keep].clone()
        self.std = self.std[keep].clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        add_macs(self, macs=x.numel())
        return (x - self.mean[None, :, None]) / self.std[None, :, None]


class FeaturizedHead(nn.Module):
    """Featurizer then head on already standardised inputs (what the trainer optimises):
    ``(x (N, L, T, D), mask (N, T))`` -> logits ``(N, C)``. Shares its modules with the
    :class:`HeadPipeline` that made it."""

    def __init__(self, featurizer: Featurizer, head: nn.Module):
        super().__init__()
        self.featurizer = featurizer
        self.head = head

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.featurizer(x), mask)


class HeadPipeline(nn.Module):
    """``Standardize`` -> :class:`Featurizer` -> head:
    ``(x (N, L, T, D), mask (N, T))`` -> logits ``(N, C)``."""

    def __init__(self, norm: Standardize, featurizer: Featurizer, head: nn.Module):
        super().__init__()
        self.norm = norm
        self.featurizer = featurizer
        self.head = head

    def body(self) -> FeaturizedHead:
        """Featurizer + head without the standardisation (same parameters)."""
        return FeaturizedHead(self.featurizer, self.head)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.featurizer(self.norm(x)), mask)
