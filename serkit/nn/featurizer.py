"""The layer featurizer: encoder states ``(N, L, T, D)`` -> one frame sequence ``(N, T, D)``.

Used once, by :class:`serkit.nn.layers.HeadPipeline`; heads never see the layer axis
(s3prl's upstream / featurizer / downstream split).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from serkit.core.errors import ConfigError
from serkit.nn.counting import add_macs

LayerMode = Literal["learned", "cv", "mean", "auto"]
"""How encoder layers are combined (an ``int`` instead picks that one layer):

- ``learned``: softmax weights over layers, learned with the head from a uniform start (s3prl).
- ``cv``: the same learned weights, started from each layer's inner-CV UA on the training
  speakers: ``logits = (UA - max UA) / temp`` (:meth:`Featurizer.init_from_scores`).
- ``mean``: the plain mean of all layers (fixed equal weights).
- ``auto``: one layer, or the mean of all, whichever scores higher in a cross-validation on
  the training speakers (a single layer wins ties); kept in the ``chosen`` buffer (an index, or
  ``L`` for the mean) so saved models and ONNX exports carry it.
"""

CV_TEMP = 0.01
"""Default temperature of ``cv``: a 0.01 UA lead is worth a factor e in the initial weight.
Chosen on the nested EmoDB development split (training speakers of LOSO fold 1, 3 seeds;
``attnpool``): 0.01 -> 0.878, 0.02 -> 0.875, 0.05 -> 0.866."""


class Featurizer(nn.Module):
    """Combine ``L`` encoder layers: ``forward(x (N, L, T, D))`` -> ``(N, T, D)``.

    Args:
        n_layers: ``L``.
        mode: a :data:`LayerMode` or a layer index in ``0..L-1``.
        temp: temperature of ``mode="cv"`` (> 0).
    """

    def __init__(self, n_layers: int, mode: int | str = "learned", temp: float = CV_TEMP):
        super().__init__()
        if isinstance(mode, bool) or not (
            mode in ("learned", "cv", "mean", "auto")
            or (isinstance(mode, int) and 0 <= mode < max(n_layers, 1))
        ):
            raise ConfigError(
                f"layer must be 'learned', 'cv', 'mean', 'auto' or an index < {n_layers}, got "
                f"{mode!r}"
            )
        if not temp > 0:
            raise ConfigError(f"layer_temp must be > 0, got {temp!r}")
        self.n_layers = n_layers
        self.mode = "index" if isinstance(mode, int) else mode
        self.fixed_index = mode if isinstance(mode, int) else 0
        self.temp = float(temp)
        self.logits = (
            nn.Parameter(torch.zeros(n_layers))
            if (n_layers > 1 and mode in ("learned", "cv"))
            else None
        )
        if mode == "auto":
            self.register_buffer("chosen", torch.zeros(1, dtype=torch.long))

    def init_from_scores(self, scores: dict) -> torch.Tensor:
        """``cv``: set the (still trainable) logits to ``(s_l - max s) / temp`` from each layer's
        inner-CV score ``s_l`` (UA in [0, 1], keyed by layer index); returns the logits."""
        if self.mode != "cv" or self.logits is None:
            raise ConfigError("init_from_scores() is only for layer='cv' with more than one layer")
        s = torch.tensor([float(scores[i]) for i in range(self.n_layers)])
        with torch.no_grad():
            self.logits.copy_((s - s.max()) / self.temp)
        return self.logits.detach().clone()

    def choose(self, layer: int) -> None:
        """Set the choice of an ``auto`` featurizer: a layer index, or ``L`` = mean of all."""
        if self.mode != "auto":
            raise ConfigError("choose() is only for layer='auto'")
        if not 0 <= int(layer) <= self.n_layers:
            raise ConfigError(
                f"auto layer choice must be in 0..{self.n_layers} ({self.n_layers} = mean), got "
                f"{layer}"
            )
        self.chosen.fill_(int(layer))

    def is_mean(self) -> bool:
        """Uses the plain mean of all layers (``mean``, or ``auto`` that chose it)."""
        return self.mode == "mean" or (self.mode == "auto" and int(self.chosen) == self.n_layers)

    def index(self) -> int:
        """The one layer used; not defined for learned weights or the mean."""
        if self.logits is not None or self.is_mean():
            raise ConfigError("this featurizer uses several layers")
        return int(self.chosen) if self.mode == "auto" else self.fixed_index

    def used(self) -> list[int]:
        """Layers with a non-zero weight."""
        if self.logits is not None or self.is_mean():
            return list(range(self.n_layers))
        return [self.index()]

    def restrict(self, keep: list[int]) -> None:
        """Keep only the layers ``keep`` (in this order), e.g. to drop unused encoder states at
        export. Learned weights may lose layers (the softmax renormalises the rest); a fixed
        choice must keep every layer it uses (:meth:`used`)."""
        if self.logits is None and not set(self.used()) <= set(keep):
            raise ConfigError(
                f"cannot drop layers {sorted(set(self.used()) - set(keep))}: this featurizer uses "
                "them"
            )
        if self.logits is not None:
            self.logits = nn.Parameter(self.logits.detach()[keep].clone())
        elif self.mode == "auto":
            self.chosen.fill_(len(keep) if self.is_mean() else keep.index(self.index()))
        elif self.mode == "index":
            self.fixed_index = keep.index(self.index())
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
        if self.mode == "auto":
            return x.index_select(1, self.chosen).squeeze(1)  # a Gather in ONNX, not a constant
        if self.logits is None:
            return x[:, self.index()]
        add_macs(self, macs=x.numel())
        return torch.einsum("l,nltd->ntd", torch.softmax(self.logits, 0), x)
