"""FLAM: the frame-level attention head of MLL::

Linear(D, d) + GELU -> h (N, T, d)
h = LayerNorm(h + MHSA_16(h))              16-head self-attention over real frames
a_t = softmax_t(q . K h_t / sqrt(d))        attention pooling with a learnable query q
c = sum_t a_t h_t -> [BatchNorm] -> Dropout -> Linear(d, C)   ('out': its input is the
                                                              representation the centre
                                                              and SupCon losses use)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from serkit.core.errors import ConfigError
from serkit.nn.counting import add_macs


class SelfAttention(nn.Module):
    """Multi-head self-attention over frames with a key padding mask. ``(N, T, d)`` -> same."""

    def __init__(self, d: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if d % heads:
            raise ConfigError(f"d_model {d} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, t, d = h.shape
        q, k, v = self.qkv(h).split(d, dim=-1)
        q, k, v = (z.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )
        add_macs(self, macs=2 * n * t * t * d)  # scores + weighted sum
        return self.proj(att.transpose(1, 2).reshape(n, t, d))


class FLAMHead(nn.Module):
    """Frame-level attention head (see the module docstring):
    ``forward(z (N, T, D), mask (N, T))`` -> logits ``(N, C)``."""

    def __init__(
        self,
        dim: int,
        n_classes: int,
        d_model: int = 128,
        heads: int = 16,
        dropout: float = 0.3,
        att_dropout: float = 0.1,
        pooled_norm: bool = True,
    ):
        super().__init__()
        self.inp = nn.Linear(dim, d_model)
        self.att = SelfAttention(d_model, heads, att_dropout)
        self.ln = nn.LayerNorm(d_model)
        self.key = nn.Linear(d_model, d_model)
        self.query = nn.Parameter(torch.zeros(d_model))
        self.pooled_norm = nn.BatchNorm1d(d_model) if pooled_norm else None
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(d_model, n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.query, std=1.0 / math.sqrt(self.query.numel()))

    def forward(self, z: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        h = self.drop(F.gelu(self.inp(z)))
        h = self.ln(h + self.drop(self.att(h, mask)))
        d = h.shape[-1]
        s = (self.key(h) @ self.query) / math.sqrt(d)
        a = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=1)  # (N, T)
        c = torch.einsum("nt,ntd->nd", a, h)
        add_macs(self, macs=h.numel() * 2)  # query scores + pooling
        if self.pooled_norm is not None:
            c = self.pooled_norm(c)
        logits = self.out(self.drop(c))
        return (logits, a) if return_attention else logits
