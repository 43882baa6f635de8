"""Torch head models (``linear``, ``mlp``, ``attnpool``): normalisation fitted on the training
fold, a head from :mod:`serkit.models.heads`, trained by :mod:`serkit.training.trainer`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from serkit.evaluation.energy import add_macs, count_params, measure_macs
from serkit.models.base import Model, Split, pooled_stats, register
from serkit.models.heads import HEADS
from serkit.training.trainer import TrainConfig, predict_logits, train_classifier


def pool_frames(f: np.ndarray, p: int) -> np.ndarray:
    """Average ``p`` consecutive frames: ``(L, T, D)`` -> ``(L, ceil(T / p), D)`` (last group may be shorter)."""
    if p <= 1 or f.shape[1] <= 1:
        return f
    L, T, D = f.shape
    x = f.astype(np.float32)
    full = (T // p) * p
    out = x[:, :full].reshape(L, T // p, p, D).mean(2)
    if full < T:
        out = np.concatenate([out, x[:, full:].mean(1, keepdims=True)], axis=1)
    return out.astype(f.dtype)


def refit_on_all(model, train: Split, val: Split, seed: int, info: dict) -> dict:
    """Retrain ``model`` from scratch on train + val speakers for the selected epoch count."""
    import dataclasses

    model._reset(seed)
    feats = model._prep(list(train.feats) + list(val.feats))
    labels = np.concatenate([train.labels, val.labels])
    model.net.norm.fit(feats)
    cfg = dataclasses.replace(model.config.train, epochs=max(1, int(info["best_epoch"])))
    variants = None
    if train.variants is not None or val.variants is not None:
        variants = model._prep_variants((train.variants or [[]] * len(train)) + (val.variants or [[]] * len(val)))
    train_classifier(model.net.head, model._normed(feats), labels, model.n_classes, cfg, seed, None,
                     variants=variants)
    return {**info, "refit_epochs": cfg.epochs}


class Standardize(nn.Module):
    """Per-layer, per-dimension standardisation with statistics of the training frames.

    ``x: (N, L, T, D)``; buffers ``mean``/``std``: ``(L, D)``.
    """

    def __init__(self, n_layers: int, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_layers, dim))
        self.register_buffer("std", torch.ones(n_layers, dim))

    def fit(self, feats: list[np.ndarray]) -> None:
        s = np.zeros(self.mean.shape, np.float64)
        s2 = np.zeros(self.mean.shape, np.float64)
        n = 0
        for f in feats:
            f = f.astype(np.float64)
            s += f.sum(1)
            s2 += (f**2).sum(1)
            n += f.shape[1]
        mean = s / max(n, 1)
        std = np.sqrt(np.maximum(s2 / max(n, 1) - mean**2, 1e-8))
        self.mean.copy_(torch.from_numpy(mean).float())
        self.std.copy_(torch.from_numpy(np.maximum(std, 1e-4)).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        add_macs(self, macs=x.numel())
        return (x - self.mean[None, :, None]) / self.std[None, :, None]


class HeadPipeline(nn.Module):
    """``Standardize`` then a head: ``(x (N, L, T, D), mask (N, T))`` -> logits ``(N, C)``."""

    def __init__(self, norm: Standardize, head: nn.Module):
        super().__init__()
        self.norm = norm
        self.head = head

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(x), mask)


@dataclass
class HeadConfig:
    """``hidden``/``att_dim``/``dropout``: head sizes; ``layer``: fixed layer index, ``null``
    for learned softmax layer weights (uniform start), ``cv`` / ``cv:TEMP`` for learned weights
    started from each layer's inner-CV UA on the training speakers, ``mean`` for the plain mean
    of all layers, or ``auto`` (one layer, or the mean, picked per training fold by a
    speaker-grouped CV on its training speakers; :class:`~serkit.models.heads.LayerWeighting`,
    :func:`~serkit.models.sklearn_models.select_layer`); ``pool``: average this many consecutive frames first
    (2 turns Whisper's 50 frames/s into 25; cuts head cost and training time); ``train``:
    optimisation. ``pooled_norm``: BatchNorm on the pooled vector; ``skip_stats``: attnpool
    also pools plain mean + std of its input frames (a linear-model path beside attention).
    Defaults (pool 4, dropout 0.5, lr 3e-3, pooled_norm, skip_stats, refit) were chosen on
    EmoDB *training* speakers only: validation-speaker UA inside the LOSO training folds and a
    nested leave-one-speaker-out over the training speakers of fold 1; never on test folds."""

    pool: int = 4
    hidden: int = 128
    att_dim: int = 64
    dropout: float = 0.5
    layer: int | str | None = None
    pooled_norm: bool = True
    skip_stats: bool = True
    train: TrainConfig = field(default_factory=lambda: TrainConfig(refit=True))


class TorchHeadModel(Model):
    """Shared machinery of torch heads over frames: training-fold standardisation, frame
    pooling, seeded re-initialisation, training (+ optional refit), prediction, state.
    Subclasses provide :meth:`build_head`."""

    config_cls = HeadConfig
    head_name = ""
    supports_augment = True

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.net = HeadPipeline(Standardize(self.n_layers, self.dim), self.build_head())
        self._layer_init: torch.Tensor | None = None  # layer: cv start logits, reused by a refit

    def build_head(self) -> nn.Module:
        c = self.config
        return HEADS[self.head_name](self.n_layers, self.dim, self.n_classes, hidden=c.hidden,
                                     att_dim=c.att_dim, dropout=c.dropout, layer=c.layer,
                                     pooled_norm=c.pooled_norm, skip_stats=c.skip_stats)

    def _init_extra(self) -> None:
        """Non-default initialisation after ``reset_parameters`` (hook for subclasses)."""

    def _prep(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        return [pool_frames(f, self.config.pool) for f in feats]

    def _normed(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        mean = self.net.norm.mean.numpy()[:, None]
        std = self.net.norm.std.numpy()[:, None]
        return [((f.astype(np.float32) - mean) / std).astype(np.float32) for f in feats]

    def _prep_variants(self, variants):
        """Pool and standardise augmented variants like clean clips (after ``norm.fit``)."""
        if variants is None:
            return None
        return [[(self._normed(self._prep([f]))[0], soft) for f, soft in vs] for vs in variants]

    def _reset(self, seed: int) -> None:
        """Re-initialise every parameter from ``seed`` (same seed -> same model)."""
        torch.manual_seed(seed)
        for mod in self.net.modules():
            if hasattr(mod, "reset_parameters") and mod is not self.net:
                mod.reset_parameters()
        lw = self.net.head.layers
        if lw.logits is not None:
            if self._layer_init is not None:
                with torch.no_grad():
                    lw.logits.copy_(self._layer_init)
            else:
                torch.nn.init.zeros_(lw.logits)
        self._init_extra()

    def _choose_layer(self, train: Split, val: Split | None) -> dict:
        """``layer: auto``: pick one layer or the mean of all; ``layer: cv``: initialise the
        learned layer weights.
        Both from a speaker-grouped, label-stratified CV on the training fold's speakers (fit +
        validation speakers; the test fold is never seen)."""
        lw = self.net.head.layers
        if lw.fixed not in ("auto", "cv") or (lw.fixed == "cv" and lw.logits is None):
            return {}
        from serkit.models.sklearn_models import select_layer

        feats, y, spk = list(train.feats), list(train.labels), list(train.speakers)
        if val is not None and len(val):
            feats, y, spk = feats + list(val.feats), y + list(val.labels), spk + list(val.speakers)
        layer, scores = select_layer(pooled_stats(feats), np.asarray(y), spk, mean=lw.fixed == "auto")
        if lw.fixed == "cv":
            self._layer_init = lw.init_from_scores(scores)
            return {"inner_val_ua": scores,
                    "layer_weights_init": [round(float(w), 4) for w in torch.softmax(self._layer_init, 0)]}
        lw.choose(lw.n_layers if layer == "mean" else layer)
        return {"layer": layer, "inner_val_ua": scores}

    def fit(self, train: Split, val: Split | None, seed: int) -> dict:
        self._layer_init = None
        self._reset(seed)
        chosen = self._choose_layer(train, val)
        tr = self._prep(train.feats)
        self.net.norm.fit(tr)
        # standardise once up front and train the head on it (same maths as self.net, cheaper)
        v = (self._normed(self._prep(val.feats)), val.labels) if val is not None and len(val) else None
        info = train_classifier(self.net.head, self._normed(tr), train.labels, self.n_classes,
                                self.config.train, seed, v, variants=self._prep_variants(train.variants))
        if self.config.train.refit and v is not None:
            info = refit_on_all(self, train, val, seed, info)
        lw = self.net.head.layers
        if lw.logits is not None:
            info["layer_weights"] = [round(float(w), 4) for w in lw.weights()]
        return {**info, **chosen}

    def predict_proba(self, feats: list[np.ndarray]) -> np.ndarray:
        logits = predict_logits(self.net, self._prep(feats))
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def cost(self, feats: list[np.ndarray], durations: list[float]) -> dict:
        feats = feats[:32]
        durations = list(durations)[:32]
        inputs = []
        for f in self._prep(feats):
            x = torch.from_numpy(f.astype(np.float32))[None]
            inputs.append((x, torch.ones(1, f.shape[1], dtype=torch.bool)))
        counter_macs = []
        for args, d in zip(inputs, durations):
            m, a = measure_macs(self.net, [args])
            counter_macs.append((m / max(d, 1e-3), a / max(d, 1e-3)))
        per_s = np.mean(counter_macs, axis=0)
        return {"params_trainable": count_params(self.net), "macs_head": int(per_s[0] * 3),
                "acs_head": int(per_s[1] * 3), "sops_head": 0}

    def state(self) -> dict:
        return {"state_dict": self.net.state_dict()}

    def load_state(self, state: dict) -> None:
        self.net.load_state_dict(state["state_dict"])
        self.net.eval()


@register
class Linear(TorchHeadModel):
    name = "linear"
    head_name = "linear"


@register
class MLP(TorchHeadModel):
    name = "mlp"
    head_name = "mlp"


@register
class AttnPool(TorchHeadModel):
    name = "attnpool"
    head_name = "attnpool"
