"""Small torch heads over frame features: ``linear``, ``mlp``, ``attnpool``.

All take ``x: (N, L, T, D)`` (layers, frames, dims) and ``mask: (N, T)`` (True = real frame)
and return logits ``(N, C)``. The layer axis is reduced first by :class:`LayerWeighting`
(s3prl-style learned softmax weights, one fixed layer, or one layer chosen on training speakers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from serkit.errors import ConfigError
from serkit.evaluation.energy import add_macs


CV_TEMP = 0.01
"""Default temperature of ``layer: cv``: a 0.01 UA lead is worth a factor e in the initial
weight. Chosen on the nested EmoDB development split (training speakers of LOSO fold 1, 3
seeds; ``attnpool``): 0.01 -> 0.878, 0.02 -> 0.875, 0.05 -> 0.866."""


class LayerWeighting(nn.Module):
    """Softmax-weighted sum over layers: ``(N, L, T, D)`` -> ``(N, T, D)``.

    Args:
        n_layers: ``L``.
        fixed: ``None`` = learn softmax weights (s3prl style), starting uniform; ``"cv"`` (or
            ``"cv:TEMP"``) = learn softmax weights starting from the layers' inner-CV UA on the
            training speakers, ``logits = (UA - max UA) / TEMP`` (TEMP default
            :data:`CV_TEMP`; see :meth:`init_from_scores`); an index = use only that layer;
            ``"mean"`` = the plain mean of all layers (fixed equal weights);
            ``"auto"`` = use one layer, or the plain mean of all layers, whichever scores
            higher in a cross-validation on the training speakers (a single layer wins ties; see
            :func:`serkit.models.sklearn_models.select_layer`); kept in the ``chosen`` buffer
            (an index, or ``L`` for the mean) so saved models and ONNX exports carry it.
    """

    def __init__(self, n_layers: int, fixed: int | str | None = None):
        super().__init__()
        self.temp = None
        if isinstance(fixed, str) and (fixed == "cv" or fixed.startswith("cv:")):
            try:
                self.temp = float(fixed[3:]) if fixed.startswith("cv:") else CV_TEMP
            except ValueError:
                self.temp = -1.0
            if not self.temp > 0:
                raise ConfigError(f"layer 'cv:TEMP' needs a positive number TEMP, got {fixed!r}")
            fixed = "cv"
        elif not (fixed is None or fixed in ("auto", "mean") or (isinstance(fixed, int) and 0 <= fixed < max(n_layers, 1))):
            raise ConfigError(f"layer must be null (learned weights), 'cv[:TEMP]' (learned, initialised from "
                              f"inner CV), 'auto', 'mean' or an index < {n_layers}, got {fixed!r}")
        self.n_layers = n_layers
        self.fixed = fixed
        self.logits = nn.Parameter(torch.zeros(n_layers)) if (n_layers > 1 and fixed in (None, "cv")) else None
        if fixed == "auto":
            self.register_buffer("chosen", torch.zeros(1, dtype=torch.long))

    def init_from_scores(self, scores: dict[int, float]) -> torch.Tensor:
        """``layer: cv``: set the (still trainable) logits to ``(s_l - max s) / temp`` from each
        layer's inner-CV score ``s_l`` (UA in [0, 1]); returns the logits."""
        if self.fixed != "cv" or self.logits is None:
            raise ConfigError("init_from_scores() is only for layer='cv' with more than one layer")
        s = torch.tensor([float(scores[i]) for i in range(self.n_layers)])
        with torch.no_grad():
            self.logits.copy_((s - s.max()) / self.temp)
        return self.logits.detach().clone()

    def choose(self, layer: int) -> None:
        """Set the choice of a ``fixed="auto"`` weighting: a layer index, or ``L`` = mean of all."""
        if self.fixed != "auto":
            raise ConfigError("choose() is only for layer='auto'")
        if not 0 <= int(layer) <= self.n_layers:
            raise ConfigError(f"auto layer choice must be in 0..{self.n_layers} ({self.n_layers} = mean), got {layer}")
        self.chosen.fill_(int(layer))

    def is_mean(self) -> bool:
        """``layer: auto`` chose the plain mean of all layers."""
        return self.fixed == "mean" or (self.fixed == "auto" and int(self.chosen) == self.n_layers)

    def index(self) -> int:
        """The one layer used (fixed or ``auto``); not defined for learned weights or the mean."""
        if self.logits is not None or self.is_mean():
            raise ConfigError("this layer weighting uses several layers")
        return int(self.chosen) if self.fixed == "auto" else (self.fixed or 0)

    def used(self) -> list[int]:
        """Layers with a non-zero weight."""
        if self.logits is not None or self.is_mean():
            return list(range(self.n_layers))
        return [self.index()]

    def restrict(self, keep: list[int]) -> None:
        """Keep only the layers ``keep`` (in this order), e.g. to drop unused encoder states at
        export. Learned weights may lose layers (the remaining weights are renormalised by the
        softmax); a fixed choice must keep every layer it uses (:meth:`used`)."""
        if self.logits is None and not set(self.used()) <= set(keep):
            raise ConfigError(f"cannot drop layers {sorted(set(self.used()) - set(keep))}: this weighting uses them")
        if self.logits is not None:
            self.logits = nn.Parameter(self.logits.detach()[keep].clone())
        elif self.is_mean():  # all layers kept (checked above)
            if self.fixed == "auto":
                self.chosen.fill_(len(keep))
        elif self.fixed == "auto":
            self.chosen.fill_(keep.index(self.index()))
        else:
            self.fixed = keep.index(self.index())
        self.n_layers = len(keep)

    def weights(self) -> torch.Tensor:
        """``(L,)`` effective layer weights (summing to 1)."""
        if self.logits is not None:
            return torch.softmax(self.logits.detach(), 0)
        w = torch.zeros(self.n_layers)
        w[self.used()] = 1.0 / len(self.used())
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_mean():
            add_macs(self, acs=x.numel())
            return x.mean(1)
        if self.fixed == "auto":
            return x.index_select(1, self.chosen).squeeze(1)  # a Gather in ONNX, not a constant
        if self.logits is None:
            return x[:, self.fixed or 0]
        add_macs(self, macs=x.numel())
        return torch.einsum("l,nltd->ntd", torch.softmax(self.logits, 0), x)


def masked_mean_std(h: torch.Tensor, mask: torch.Tensor, w: torch.Tensor | None = None):
    """Weighted mean and std over time. ``h: (N, T, D)``, ``mask: (N, T)``, ``w: (N, T)`` summing to 1."""
    if w is None:
        m = mask.to(h.dtype)
        w = m / m.sum(1, keepdim=True).clamp_min(1.0)
    mean = torch.einsum("nt,ntd->nd", w, h)
    var = torch.einsum("nt,ntd->nd", w, (h - mean[:, None]) ** 2)
    return mean, torch.sqrt(var.clamp_min(1e-6))


class LinearHead(nn.Module):
    """Mean over frames, then one linear layer."""

    def __init__(self, n_layers: int, dim: int, n_classes: int, layer: int | str | None = None, **_):
        super().__init__()
        self.layers = LayerWeighting(n_layers, layer)
        self.out = nn.Linear(dim, n_classes)

    def forward(self, x, mask):
        h = self.layers(x)
        mean, _ = masked_mean_std(h, mask)
        add_macs(self, acs=h.shape[0] * h.shape[1] * h.shape[2])
        return self.out(mean)


class MLPHead(nn.Module):
    """Mean + std over frames, then ``Linear(2D, hidden) - ReLU - Dropout - Linear``."""

    def __init__(self, n_layers: int, dim: int, n_classes: int, hidden: int = 256, dropout: float = 0.3,
                 layer: int | str | None = None, **_):
        super().__init__()
        self.layers = LayerWeighting(n_layers, layer)
        self.net = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))

    def forward(self, x, mask):
        h = self.layers(x)
        mean, std = masked_mean_std(h, mask)
        add_macs(self, macs=h.numel(), acs=h.numel())
        return self.net(torch.cat([mean, std], -1))


class AttnPoolHead(nn.Module):
    """Frame projection + attentive statistics pooling.

    ``h_t = GELU(W x_t)`` (D -> hidden), ``a = softmax_t(v^T tanh(U h_t))`` over real frames,
    pooled = [sum a_t h_t, sqrt(sum a_t (h_t - mean)^2)], then ``Linear(2 hidden, C)``.
    """

    def __init__(self, n_layers: int, dim: int, n_classes: int, hidden: int = 128, att_dim: int = 64,
                 dropout: float = 0.3, layer: int | str | None = None, pooled_norm: bool = False,
                 skip_stats: bool = False, **_):
        super().__init__()
        self.layers = LayerWeighting(n_layers, layer)
        self.proj = nn.Linear(dim, hidden)
        self.att = nn.Sequential(nn.Linear(hidden, att_dim), nn.Tanh(), nn.Linear(att_dim, 1))
        self.drop = nn.Dropout(dropout)
        self.skip_stats = skip_stats
        d_pool = 2 * hidden + (2 * dim if skip_stats else 0)
        self.pooled_norm = nn.BatchNorm1d(d_pool) if pooled_norm else None
        self.out = nn.Linear(d_pool, n_classes)

    def forward(self, x, mask):
        z = self.layers(x)
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


HEADS = {"linear": LinearHead, "mlp": MLPHead, "attnpool": AttnPoolHead}
