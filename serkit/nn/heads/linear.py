"""``linear``: mean over real frames, then one linear layer."""

from __future__ import annotations

import torch
from torch import nn

from serkit.nn.counting import add_macs
from serkit.nn.layers import masked_mean_std


class LinearHead(nn.Module):
    """``forward(z (N, T, D), mask (N, T))`` -> logits ``(N, C)``."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.out = nn.Linear(dim, n_classes)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, _ = masked_mean_std(z, mask)
        add_macs(self, acs=z.numel())
        return self.out(mean)
