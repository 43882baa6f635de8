"""MLL: frame-level attention (FLAM) head trained with energy-adaptive mixup and four losses.

FLAM (``forward(x (N, L, T, D), mask (N, T))`` -> logits ``(N, C)``)::

    layer weighting -> Linear(D, d) + GELU -> h (N, T, d)
    h = LayerNorm(h + MHSA_16(h))              16-head self-attention over real frames
    a_t = softmax_t(q . K h_t / sqrt(d))        attention pooling with a learnable query q
    c = sum_t a_t h_t -> [BatchNorm] -> Dropout -> Linear(d, C)   ('out': its input is the
                                                                  representation the centre
                                                                  and SupCon losses use)

The objective (``train.losses``) defaults to KL + focal + centre + SupCon
(:mod:`serkit.training.losses`), and ``serkit bench --model mll`` trains on the EAM bank
(:mod:`serkit.training.augment`) unless ``augment.name=none`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from serkit.evaluation.energy import add_macs
from serkit.models.base import register
from serkit.models.heads import LayerWeighting
from serkit.models.torch_models import TorchHeadModel
from serkit.training.losses import LossConfig
from serkit.training.trainer import TrainConfig


class SelfAttention(nn.Module):
    """Multi-head self-attention over frames with a key padding mask. ``(N, T, d)`` -> same."""

    def __init__(self, d: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, t, d = h.shape
        q, k, v = self.qkv(h).split(d, dim=-1)
        q, k, v = (z.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :],
                                             dropout_p=self.dropout if self.training else 0.0)
        add_macs(self, macs=2 * n * t * t * d)  # scores + weighted sum
        return self.proj(att.transpose(1, 2).reshape(n, t, d))


class FLAMHead(nn.Module):
    def __init__(self, n_layers: int, dim: int, n_classes: int, d_model: int = 128, heads: int = 16,
                 dropout: float = 0.3, att_dropout: float = 0.1, layer: int | str | None = None, pooled_norm: bool = True):
        super().__init__()
        self.layers = LayerWeighting(n_layers, layer)
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

    def forward(self, x: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        z = self.layers(x)
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


def _mll_train() -> TrainConfig:
    return TrainConfig(epochs=40, lr=1e-3, weight_decay=1e-2, patience=10, refit=False,
                       losses=LossConfig(ce=0.0, kl=1.0, focal=1.0, center=0.1, supcon=0.2))


@dataclass
class MLLConfig:
    """FLAM sizes (``d_model``, 16 ``heads``), frame ``pool``, ``layer`` (how encoder layers
    are combined: ``null`` learned weights, ``cv``, ``mean``, ``auto`` or an index; see
    :class:`~serkit.models.heads.LayerWeighting`) and training (``train.losses``: the four-loss objective)."""

    pool: int = 4
    d_model: int = 128
    heads: int = 16
    dropout: float = 0.3
    att_dropout: float = 0.1
    layer: int | str | None = None
    pooled_norm: bool = True
    train: TrainConfig = field(default_factory=_mll_train)


@register
class MLL(TorchHeadModel):
    """FLAM head + multi-loss objective; EAM augmentation by default in ``serkit bench``."""

    name = "mll"
    config_cls = MLLConfig
    default_augment = "eam"

    def build_head(self) -> nn.Module:
        c = self.config
        return FLAMHead(self.n_layers, self.dim, self.n_classes, c.d_model, c.heads, c.dropout, c.att_dropout,
                        c.layer, c.pooled_norm)


def _flam_train() -> TrainConfig:
    t = _mll_train()
    t.losses = LossConfig()  # plain cross-entropy
    return t


@dataclass
class FLAMConfig(MLLConfig):
    """:class:`MLLConfig` with plain cross-entropy (the ablation's base)."""

    train: TrainConfig = field(default_factory=_flam_train)


@register
class FLAM(MLL):
    """The FLAM head alone: cross-entropy, no augmentation unless configured."""

    name = "flam"
    config_cls = FLAMConfig
    default_augment = "none"
