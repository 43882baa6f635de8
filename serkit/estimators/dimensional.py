"""Dimensional regression (valence / arousal / dominance in [0, 1]) with any torch head.

:class:`DimRegressor` puts a registered torch head (``attnpool``, ``mlp``, ``linear``,
``pts-snn``, ...; its default settings, or overrides in ``head_settings``) behind the same
training-fold standardisation and layer featurizer as the classifiers, with 3 sigmoid outputs
(+ 8 octant logits when ``sphere_weight > 0``: EmoSphere-SER's auxiliary spherical-region
classification) and trains it with the CCC loss (:mod:`serkit.training.regress`). Targets are
``(N, 3)`` with NaN where a dimension is not annotated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from serkit.core.config import from_dict
from serkit.core.errors import ConfigError
from serkit.estimators.base import MODELS
from serkit.estimators.torch_head import TorchHeadModel
from serkit.nn.featurizer import Featurizer
from serkit.nn.layers import HeadPipeline, Standardize, pool_frames
from serkit.training.regress import predict_dims, train_regressor
from serkit.training.trainer import TrainConfig


@dataclass
class DimConfig:
    """``head``: a registered torch head model whose head module regresses; ``head_settings``:
    its config fields (e.g. ``{hidden: 64}``); ``pool``/``layer``: as the classifiers (``mean``
    of the encoder states by default: the layer choice of classifiers needs classes);
    ``sphere_weight``: weight of the octant cross-entropy (0 = off); ``train``: optimisation
    (early stopping on validation mean CCC)."""

    head: str = "attnpool"
    head_settings: dict = field(default_factory=dict)
    pool: int = 4
    layer: int | str = "mean"
    sphere_weight: float = 0.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, patience=6))


class DimRegressor:
    """Fit on ``(L, T, D)`` features and ``(N, 3)`` targets; predict ``(N, 3)`` in [0, 1]."""

    n_dims = 3

    def __init__(self, config: DimConfig, n_layers: int, dim: int):
        cls = MODELS.get(config.head)
        if cls is None or not issubclass(cls, TorchHeadModel):
            heads = sorted(n for n, c in MODELS.items() if issubclass(c, TorchHeadModel))
            raise ConfigError(
                f"dimensional head {config.head!r}: use a torch head model ({', '.join(heads)})"
            )
        if config.layer in ("auto", "cv"):
            raise ConfigError(
                "dimensional regression: layer must be an index, 'mean', 'learned' or 'concat'"
            )
        self.config, self.n_layers, self.dim = config, n_layers, dim
        head_cfg = from_dict(
            cls.config_cls, {**cls.preset, **config.head_settings}, f"{config.head} head"
        )
        n_out = self.n_dims + (8 if config.sphere_weight > 0 else 0)
        head = cls(
            head_cfg, n_out, n_layers, dim
        ).build_head()  # the head module of any torch head model
        self.net = HeadPipeline(
            Standardize(n_layers, dim), Featurizer(n_layers, config.layer), head
        )
        self.report: dict = {}

    def _prep(self, feats):
        return [pool_frames(f, self.config.pool) for f in feats]

    def fit(
        self,
        feats: list[np.ndarray],
        targets: np.ndarray,
        seed: int,
        val: tuple[list[np.ndarray], np.ndarray] | None = None,
    ) -> dict:
        """Train (early stopping on ``val``'s mean CCC), then refit on train + val for the best
        epoch count (as the classifiers do)."""
        from serkit.data.vad import sphere_region

        targets = np.asarray(targets, np.float32)
        if not np.isfinite(targets).any():
            raise ConfigError("no finite regression target")

        def regions(t):
            r = np.full(len(t), -1, np.int64)
            full = np.isfinite(t).all(1)
            r[full] = sphere_region(t[full])
            return r

        def run(fe, tg, cfg, v):
            torch.manual_seed(seed)
            for mod in self.net.modules():
                if hasattr(mod, "reset_parameters") and mod is not self.net:
                    mod.reset_parameters()
            self.net.norm.fit(self._prep(fe))
            vv = (self.net.norm.apply_np(self._prep(v[0])), v[1]) if v is not None else None
            return train_regressor(
                self.net.body(),
                self.net.norm.apply_np(self._prep(fe)),
                tg,
                cfg,
                seed,
                vv,
                self.n_dims,
                regions(tg),
                self.config.sphere_weight,
            )

        rep = run(feats, targets, self.config.train, val)
        if val is not None and len(val[0]):
            cfg = dataclasses.replace(self.config.train, epochs=max(1, rep["best_epoch"]))
            run(
                list(feats) + list(val[0]),
                np.concatenate([targets, np.asarray(val[1], np.float32)]),
                cfg,
                None,
            )
            rep["refit_epochs"] = cfg.epochs
        self.report = rep
        return rep

    def predict(self, feats: list[np.ndarray]) -> np.ndarray:
        """``(N, 3)`` valence, arousal, dominance in [0, 1]."""
        self.net.eval()
        return predict_dims(self.net, self._prep(feats), self.n_dims)
