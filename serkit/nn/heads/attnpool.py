"""``attnpool``: frame projection + attentive statistics pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from serkit.nn.counting import add_macs
from serkit.nn.layers import masked_mean_std


class AttnPoolHead(nn.Module):
    """``h_t = GELU(W z_t)`` (D -> hidden), ``a = softmax_t(v^T tanh(U h_t))`` over real frames,
    pooled = [sum a_t h_t, sqrt(sum a_t (h_t - mean)^2)] (+ plain mean and std of ``z`` with
    ``skip_stats``), optional BatchNorm (``pooled_norm``), then ``Linear(., C)``.

    ``forward(z (N, T, D), mask (N, T))`` -> logits ``(N, C)``.
    """

    def __init__(
        self,
        dim: int,
        n_classes: int,
        hidden: int = 128,
        att_dim: int = 64,
        dropout: float = 0.3,
        pooled_norm: bool = False,
        skip_stats: bool = False,
    ):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.att = nn.Sequential(nn.Linear(hidden, att_dim), nn.Tanh(), nn.Linear(att_dim, 1))
        self.drop = nn.Dropout(dropout)
        self.skip_stats = skip_stats
        d_pool = 2 * hidden + (2 * dim if skip_stats else 0)
        self.pooled_norm = nn.BatchNorm1d(d_pool) if pooled_norm else None
        self.out = nn.Linear(d_pool, n_classes)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.gelu(self.proj(z)))
        s = self.att(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=1)
        mean, std = masked_mean_std(h, mask, a)
        add_macs(self, macs=3 * h.numel())
        pooled = [mean, std]
        if self.skip_stats:  # plain mean + std of the input frames (a linear-model path)
            pooled += list(masked_mean_std(z, mask))
            add_macs(self, macs=z.numel(), acs=z.numel())
        p = torch.cat(pooled, -1)
        if self.pooled_norm is not None:
            p = self.pooled_norm(p)
        return self.out(self.drop(p))
