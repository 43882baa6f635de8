"""``mlp``: mean + std over real frames, then ``Linear(2D, hidden) - ReLU - Dropout - Linear``."""

from __future__ import annotations

import torch
from torch import nn

from serkit.nn.counting import add_macs
from serkit.nn.layers import masked_mean_std


class MLPHead(nn.Module):
    """``forward(z (N, T, D), mask (N, T))`` -> logits ``(N, C)``."""

    def __init__(self, dim: int, n_classes: int, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, std = masked_mean_std(z, mask)
        add_macs(self, macs=z.numel(), acs=z.numel())
        return self.out(self.net(torch.cat([mean, std], -1)))
