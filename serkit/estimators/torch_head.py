"""Torch head estimators: training-fold standardisation, the layer featurizer and a head from
:mod:`serkit.nn.heads` (:class:`~serkit.nn.layers.HeadPipeline`), trained by
:mod:`serkit.training.trainer`. Registers ``linear``, ``mlp`` and ``attnpool``; the spiking,
LSTM and FLAM estimators subclass :class:`TorchHeadModel`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from serkit.core.cost import Cost
from serkit.core.errors import ConfigError
from serkit.estimators.base import FitReport, Moments, Split, register
from serkit.estimators.layer_choice import pooled_stats, select_layer
from serkit.estimators.torch_net import COST_CLIPS, TorchNetModel
from serkit.nn.counting import count_params, measure_macs
from serkit.nn.featurizer import CV_TEMP, Featurizer, LayerMode
from serkit.nn.heads import AttnPoolHead, LinearHead, MLPHead
from serkit.nn.layers import HeadPipeline, Standardize, pool_frames
from serkit.training.trainer import TrainConfig, train_classifier

"""Test clips per fold on which head operations are counted (a per-second rate, scaled to 3 s)."""


@dataclass
class FrameHeadConfig:
    """Settings every torch head shares.

    ``pool``: average this many consecutive frames first (2 turns Whisper's 50 frames/s into
    25; cuts head cost and training time). ``layer``: how encoder layers are combined (a
    :data:`~serkit.nn.featurizer.LayerMode` or an index; ``auto`` picks one state or their mean
    per training fold by a speaker-grouped CV on its training speakers: EmoDB LOSO ``attnpool``
    0.889 against 0.861 with ``learned``, URDU 0.693 against 0.732, docs/BENCHMARKS.md).
    ``layer_temp``: temperature of ``layer: cv``. ``train``: optimisation."""

    pool: int = 4
    layer: int | LayerMode = "auto"
    layer_temp: float = CV_TEMP
    train: TrainConfig = field(default_factory=lambda: TrainConfig(refit=True))


@dataclass
class LinearConfig(FrameHeadConfig):
    """``linear``: mean over frames, one linear layer."""


@dataclass
class MLPConfig(FrameHeadConfig):
    """``mlp``: mean + std over frames, ``hidden`` units, ``dropout``."""

    hidden: int = 128
    dropout: float = 0.5


@dataclass
class AttnPoolConfig(FrameHeadConfig):
    """``attnpool``: ``hidden``/``att_dim``/``dropout`` sizes; ``pooled_norm``: BatchNorm on the
    pooled vector; ``skip_stats``: also pool plain mean + std of the input frames (a
    linear-model path beside attention). Defaults (pool 4, dropout 0.5, lr 3e-3, pooled_norm,
    skip_stats, refit) were chosen on EmoDB *training* speakers only: validation-speaker UA
    inside the LOSO training folds and a nested leave-one-speaker-out over the training
    speakers of fold 1; never on test folds."""

    hidden: int = 128
    att_dim: int = 64
    dropout: float = 0.5
    pooled_norm: bool = True
    skip_stats: bool = True


def _soft_or_onehot(split: Split, n_classes: int) -> np.ndarray:
    if split.soft is not None:
        return np.asarray(split.soft, np.float32)
    return np.eye(n_classes, dtype=np.float32)[split.labels]


class TorchHeadModel(TorchNetModel):
    """Shared machinery of torch heads over frames: training-fold standardisation, frame
    pooling, the layer featurizer (and its choice on training speakers), seeded
    re-initialisation, training (+ optional refit), prediction, cost, state.
    Subclasses provide :meth:`build_head` (a module taking ``(N, T, D)`` and a mask)."""

    supports_augment = True
    #: the head module and the config fields passed to it after ``(dim, n_classes)``
    head_cls: type[nn.Module]
    head_args: tuple[str, ...] = ()

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        c = self.config
        self.net = HeadPipeline(
            Standardize(self.n_layers, self.dim),
            Featurizer(self.n_layers, c.layer, c.layer_temp),
            self.build_head(),
        )
        self._layer_init: torch.Tensor | None = None  # layer: cv start logits, reused by a refit

    def build_head(self) -> nn.Module:
        return self.head_cls(
            self.dim, self.n_classes, *(getattr(self.config, a) for a in self.head_args)
        )

    def _init_extra(self) -> None:
        """Non-default initialisation after ``reset_parameters`` (hook for subclasses)."""

    def _prep(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        return [pool_frames(f, self.config.pool) for f in feats]

    def adapt_moments(self, feats: list[np.ndarray]) -> Moments:
        """Moments of ``feats``' pooled frames, ``(L, D)`` per frame (what ``Standardize`` is
        fitted on)."""
        if not feats:
            raise ConfigError("adapt needs at least one clip")
        total = None
        for f in self._prep(feats):
            m = Moments.of(f, axis=1)
            total = m if total is None else total + m
        return total

    def adapt_from(self, moments: Moments) -> dict:
        """The frame standardisation (``Standardize`` mean/std, ``(L, D)``) from ``moments``."""
        self.net.norm.set_stats(*moments.mean_std())
        return {"standardize": "frame mean/std per layer and dimension", "frames": moments.n}

    def _prep_variants(self, variants):
        """Pool and standardise augmented variants like clean clips (after ``norm.fit``)."""
        if variants is None:
            return None
        return [
            [(self.net.norm.apply_np(self._prep([f]))[0], soft) for f, soft in vs]
            for vs in variants
        ]

    def _reset(self, seed: int) -> None:
        """Re-initialise every parameter from ``seed`` (same seed -> same model)."""
        torch.manual_seed(seed)
        for mod in self.net.modules():
            if hasattr(mod, "reset_parameters") and mod is not self.net:
                mod.reset_parameters()
        fz = self.layer_featurizer
        if fz.logits is not None:
            with torch.no_grad():
                fz.logits.copy_(
                    self._layer_init
                    if self._layer_init is not None
                    else torch.zeros_like(fz.logits)
                )
        self._init_extra()

    @property
    def layer_featurizer(self) -> Featurizer:
        """The featurizer whose layers ``layer: auto`` / ``cv`` choose (``ft-compact``: the one
        over its student's taps)."""
        return self.net.featurizer

    def _choice_feats(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        """The ``(L, T, D)`` states the layer choice pools (the model's inputs, unless a subclass
        computes its own)."""
        return feats

    def _choose_layer(self, train: Split, val: Split | None) -> FitReport:
        """``layer: auto``: pick one layer or the mean of all; ``layer: cv``: initialise the
        learned layer weights. Both from a speaker-grouped, label-stratified CV on the training
        fold's speakers (fit + validation speakers; the test fold is never seen)."""
        fz = self.layer_featurizer
        if fz.mode not in ("auto", "cv") or fz.n_layers == 1:
            return FitReport()
        feats, y, spk = list(train.feats), list(train.labels), list(train.speakers)
        if val is not None and len(val):
            feats, y, spk = feats + list(val.feats), y + list(val.labels), spk + list(val.speakers)
        layer, scores = select_layer(
            pooled_stats(self._choice_feats(feats)), np.asarray(y), spk, mean=fz.mode == "auto"
        )
        inner = {str(k): v for k, v in scores.items()}
        if fz.mode == "cv":
            self._layer_init = fz.init_from_scores(scores)
            return FitReport(
                inner_val_ua=inner,
                layer_weights_init=[round(float(w), 4) for w in torch.softmax(self._layer_init, 0)],
            )
        fz.choose(fz.n_layers if layer == "mean" else layer)
        return FitReport(layer=layer, inner_val_ua=inner)

    def _train(
        self, feats, labels, cfg: TrainConfig, seed: int, val=None, variants=None, soft=None
    ):
        """Standardise with the training frames, then train featurizer + head (``soft``:
        target distributions ``(N, C)`` instead of one-hot labels). ``norm_source`` (LEAKY,
        ``leaky_norm``: clips whose frames give the statistics instead of the training ones)."""
        src = getattr(self, "norm_source", None)
        self.net.norm.fit(feats if src is None else self._prep(src))
        v = (
            (self.net.norm.apply_np(self._prep(val.feats)), val.labels)
            if val is not None and len(val)
            else None
        )
        return train_classifier(
            self.net.body(),
            self.net.norm.apply_np(feats),
            labels,
            self.n_classes,
            cfg,
            seed,
            v,
            variants=self._prep_variants(variants),
            readout=self.net.head.out,
            soft_targets=soft,
        )

    def fit(self, train: Split, val: Split | None, seed: int) -> FitReport:
        self._layer_init = None
        self._reset(seed)
        report = self._choose_layer(train, val)
        has_val = val is not None and len(val) > 0
        report.train = self._train(
            self._prep(train.feats),
            train.labels,
            self.config.train,
            seed,
            val if has_val else None,
            train.variants,
            train.soft,
        )
        self.val_proba = (
            self.predict_proba(val.feats) if has_val else None
        )  # held out: for calibration
        if (
            self.config.train.refit and has_val
        ):  # from scratch on fit + validation speakers, best epoch count
            self._reset(seed)
            cfg = self.refit_config(report)
            variants = None
            if train.variants is not None or val.variants is not None:
                variants = (train.variants or [[]] * len(train)) + (val.variants or [[]] * len(val))
            soft = None
            if train.soft is not None or val.soft is not None:
                soft = np.concatenate(
                    [_soft_or_onehot(train, self.n_classes), _soft_or_onehot(val, self.n_classes)]
                )
            self._train(
                self._prep(list(train.feats) + list(val.feats)),
                np.concatenate([train.labels, val.labels]),
                cfg,
                seed,
                None,
                variants,
                soft,
            )
            report.refit_epochs = cfg.epochs
        if self.layer_featurizer.logits is not None:
            report.layer_weights = [round(float(w), 4) for w in self.layer_featurizer.weights()]
        return report

    def _inputs(self, feats: list[np.ndarray]):
        """One ``(x (1, L, T, D), mask (1, T))`` pair per clip, pooled like training."""
        for f in self._prep(feats):
            yield (
                torch.from_numpy(f.astype(np.float32))[None],
                torch.ones(1, f.shape[1], dtype=torch.bool),
            )

    def cost(self, feats: list[np.ndarray], durations: list[float]) -> Cost:
        rates = []
        for args, d in zip(self._inputs(feats[:COST_CLIPS]), list(durations)[:COST_CLIPS]):
            m, a = measure_macs(self.net, [args])
            rates.append((m / max(d, 1e-3), a / max(d, 1e-3)))
        macs_s, acs_s = np.mean(rates, axis=0)
        return Cost.per_clip(count_params(self.net), macs_s, acs_s)


@register
class Linear(TorchHeadModel):
    name, config_cls, head_cls = "linear", LinearConfig, LinearHead


@register
class MLP(TorchHeadModel):
    name, config_cls, head_cls, head_args = "mlp", MLPConfig, MLPHead, ("hidden", "dropout")


@register
class AttnPool(TorchHeadModel):
    name, config_cls, head_cls = "attnpool", AttnPoolConfig, AttnPoolHead
    head_args = ("hidden", "att_dim", "dropout", "pooled_norm", "skip_stats")
