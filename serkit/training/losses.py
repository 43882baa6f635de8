"""Losses for (soft-labelled) emotion classification, usable by every torch head.

All take soft targets ``t: (N, C)`` (rows sum to 1; one-hot for clean clips). Hard labels,
where a loss needs them, are ``t.argmax(1)``.

- :func:`kl_div`       KL(t || softmax(z)), mean over the batch.
- :func:`focal`        ``-sum_c alpha_c t_c (1 - p_c)^gamma log p_c``, mean over the batch.
- :class:`CenterLoss`  ``1/2 sum_c t_c ||e - c_c||^2`` on L2-normalised 64-d projections ``e``
  of the head's pooled representation, learnable centres (own learning rate).
- :func:`supcon`       supervised contrastive loss (Khosla et al. 2020) on L2-normalised
  projections, positives = same hard label; anchors without a positive are skipped.

Scaling (``MultiLoss``): each term is divided by its value for an uninformative model, so all
start near 1 and the weights in the config mean what they say: KL and focal by ``log C``
(uniform prediction), SupCon by ``log(N - 1)`` (uniform similarities). The centre term is
left unscaled: on unit-norm embeddings with centres starting at the origin it starts at 1/2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def kl_div(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``sum_c t_c (log t_c - log p_c)`` averaged over rows; 0 log 0 = 0."""
    logp = F.log_softmax(logits, dim=-1)
    return (torch.xlogy(t, t) - t * logp).sum(-1).mean()


def focal(
    logits: torch.Tensor, t: torch.Tensor, gamma: float = 2.0, alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """Focal loss with soft targets; ``gamma = 0`` and ``alpha = None`` give cross-entropy."""
    logp = F.log_softmax(logits, dim=-1)
    w = (1.0 - logp.exp()).clamp_min(0.0) ** gamma
    a = alpha[None, :] if alpha is not None else 1.0
    return -(a * t * w * logp).sum(-1).mean()


def class_balanced_alpha(counts, beta: float = 0.0) -> torch.Tensor:
    """Per-class weights, mean 1 over present classes. ``beta = 0``: inverse frequency;
    ``0 < beta < 1``: effective-number weighting (Cui et al. 2019), ``(1 - beta) / (1 -
    beta^n)``."""
    c = torch.as_tensor(counts, dtype=torch.float32)
    if beta > 0:
        w = (1 - beta) / (1 - beta ** c.clamp_min(1))
    else:
        w = 1.0 / c.clamp_min(1)
    w = torch.where(c > 0, w, torch.zeros_like(w))
    return w * (c > 0).sum() / w.sum().clamp_min(1e-12)


def supcon(z: torch.Tensor, y: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss. ``z: (N, E)`` (normalised inside), ``y: (N,)`` hard labels.

    ``L = mean_i [ -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / T) / sum_{a != i} exp(z_i.z_a / T)
    ) ]``
    over anchors with at least one positive; 0 when no anchor has one (or N < 2).
    """
    n = z.shape[0]
    if n < 2:
        return z.sum() * 0.0
    z = F.normalize(z, dim=-1)
    sim = z @ z.T / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~eye
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not bool(has.any()):
        return z.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~pos, 0.0)).sum(1) / n_pos.clamp_min(1)
    return per_anchor[has].mean()


class CenterLoss(nn.Module):
    """Centre loss on a learned ``dim``-d projection of the head's representation.

    ``forward(h (N, H), t (N, C))`` -> ``1/2 sum_c t_c ||e - c_c||^2`` averaged over rows, with
    ``e = normalize(W h)``. The projection ``W`` and the centres are trained (centres with
    their own learning rate: see :meth:`param_groups`).
    """

    def __init__(self, in_dim: int, n_classes: int, dim: int = 64):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim)
        self.centers = nn.Parameter(torch.zeros(n_classes, dim))

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = F.normalize(self.proj(h), dim=-1)
        d2 = ((e[:, None, :] - self.centers[None]) ** 2).sum(-1)  # (N, C)
        return 0.5 * (t * d2).sum(-1).mean()


@dataclass
class LossConfig:
    """Weights of the training objective (0 = term off) and their settings.

    ``ce``: (soft) cross-entropy, the default objective; ``kl``: KL divergence to soft labels;
    ``focal`` (+ ``focal_gamma``, class-balanced alpha from training counts with
    ``focal_beta``); ``center`` (+ ``center_dim``, ``center_lr``); ``supcon`` (+
    ``supcon_temperature``, ``supcon_dim``: projection size). ``ce`` honours
    ``TrainConfig.class_weighted`` and ``label_smoothing`` as before.
    """

    ce: float = 1.0
    kl: float = 0.0
    focal: float = 0.0
    center: float = 0.0
    supcon: float = 0.0
    focal_gamma: float = 2.0
    focal_beta: float = 0.0
    center_dim: int = 64
    center_lr: float = 0.05
    supcon_temperature: float = 0.1
    supcon_dim: int = 64

    @property
    def needs_embedding(self) -> bool:
        return self.center > 0 or self.supcon > 0


class MultiLoss(nn.Module):
    """``forward(logits (N, C), t (N, C), h (N, H) | None)`` -> ``(loss, parts)``.

    ``h`` is the head's pooled representation (the input of its final ``out`` layer), needed
    only by the centre and SupCon terms. Parts are the scaled, unweighted terms (floats).
    """

    def __init__(
        self,
        cfg: LossConfig,
        n_classes: int,
        class_counts,
        rep_dim: int | None = None,
        ce_weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        self.cfg = cfg
        self.n_classes = n_classes
        self.log_c = math.log(max(n_classes, 2))
        self.register_buffer("alpha", class_balanced_alpha(class_counts, cfg.focal_beta))
        self.ce_weight = ce_weight
        self.label_smoothing = label_smoothing
        self.center = (
            CenterLoss(rep_dim, n_classes, cfg.center_dim) if cfg.center > 0 and rep_dim else None
        )
        self.sc_proj = (
            nn.Sequential(
                nn.Linear(rep_dim, rep_dim), nn.ReLU(), nn.Linear(rep_dim, cfg.supcon_dim)
            )
            if cfg.supcon > 0 and rep_dim
            else None
        )

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        groups = []
        if self.center is not None:
            groups.append(
                {
                    "params": list(self.center.proj.parameters()),
                    "lr": lr,
                    "weight_decay": weight_decay,
                }
            )
            groups.append(
                {"params": [self.center.centers], "lr": self.cfg.center_lr, "weight_decay": 0.0}
            )
        if self.sc_proj is not None:
            groups.append(
                {"params": list(self.sc_proj.parameters()), "lr": lr, "weight_decay": weight_decay}
            )
        return groups

    def forward(self, logits: torch.Tensor, t: torch.Tensor, h: torch.Tensor | None = None):
        c = self.cfg
        total = logits.sum() * 0.0
        parts: dict[str, float] = {}

        def add(name, w, value):
            nonlocal total
            total = total + w * value
            parts[name] = float(value.detach())

        if c.ce > 0:
            logp = F.log_softmax(logits, -1)
            tt = (
                t
                if not self.label_smoothing
                else t * (1 - self.label_smoothing) + self.label_smoothing / self.n_classes
            )
            w = self.ce_weight[None, :] if self.ce_weight is not None else 1.0
            # weighted soft cross-entropy, normalised like F.cross_entropy(weight=...) (one-hot)
            per = -(w * tt * logp).sum(-1)
            norm = (w * t).sum(-1) if self.ce_weight is not None else torch.ones_like(per)
            add("ce", c.ce, per.sum() / norm.sum().clamp_min(1e-12))
        if c.kl > 0:
            add("kl", c.kl, kl_div(logits, t) / self.log_c)
        if c.focal > 0:
            add("focal", c.focal, focal(logits, t, c.focal_gamma, self.alpha) / self.log_c)
        if h is not None and self.center is not None:
            add("center", c.center, self.center(h, t))
        if h is not None and self.sc_proj is not None:
            n = h.shape[0]
            sc = supcon(self.sc_proj(h), t.argmax(1), c.supcon_temperature)
            add("supcon", c.supcon, sc / math.log(max(n - 1, 2)))
        return total, parts
