"""A pretrained encoder block, fine-tuned, in front of another head.

``forward(z (N, T, D), mask (N, T))`` -> logits ``(N, C)``: ``z`` is the encoder state that
feeds the block (un-standardised: the block expects the encoder's own activations), the block
runs with padding masked out of its attention, and ``head`` reads its output. The block lives
under the attribute ``pretrained``: the trainer gives such parameters a smaller learning rate
(``TrainConfig.pretrained_lr_scale``).
"""

from __future__ import annotations

import torch
from torch import nn

from serkit.nn.counting import add_macs


class FineTunedBlockHead(nn.Module):
    def __init__(self, block: nn.Module, head: nn.Module, freeze: bool = False):
        super().__init__()
        self.pretrained = block
        self.head = head
        for p in self.pretrained.parameters():
            p.requires_grad_(not freeze)

    @property
    def out(self) -> nn.Linear:
        return self.head.out

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, t, d = z.shape
        add_macs(
            self, macs=2 * n * t * t * d
        )  # attention scores and weighted sums (Linear layers count themselves)
        x = self.pretrained(z, mask[:, None, None, :] if not bool(mask.all()) else None)
        return self.head(x, mask)
