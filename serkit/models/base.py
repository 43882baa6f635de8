"""The model interface shared by sklearn and torch models, and the registry.

A model sees features as a list of ``(L, T, D)`` arrays (layers, frames, dims) and integer
labels. ``fit`` may use a validation set (held-out *training* speakers) for model selection;
it never sees test data. ``predict_proba`` returns ``(N, C)`` class probabilities.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from serkit.config import from_dict, to_dict
from serkit.errors import ConfigError


@dataclass
class Split:
    """Features, integer labels and speakers of one subset. ``feats[i]``: ``(L, T, D)``.

    ``variants``: optional augmented versions per utterance, ``[(feats (L, T, D), soft label
    (C,)), ...]`` (e.g. the EAM bank); models that do not train on them ignore them.
    """

    feats: list[np.ndarray]
    labels: np.ndarray
    speakers: list[str | None]
    ids: list[str]
    variants: list[list[tuple[np.ndarray, np.ndarray]]] | None = None

    def __len__(self) -> int:
        return len(self.feats)


class Model(ABC):
    name: ClassVar[str]
    config_cls: ClassVar[type]
    #: trains on ``Split.variants`` (augmentation banks) when given
    supports_augment: ClassVar[bool] = False
    #: augmentation a bench uses for this model unless the config says otherwise
    default_augment: ClassVar[str] = "none"

    def __init__(self, config: Any, n_classes: int, n_layers: int, dim: int):
        self.config = config
        self.n_classes = n_classes
        self.n_layers = n_layers
        self.dim = dim

    @abstractmethod
    def fit(self, train: Split, val: Split | None, seed: int) -> dict:
        """Train; returns a small dict of training facts (epochs, best val UA...)."""

    @abstractmethod
    def predict_proba(self, feats: list[np.ndarray]) -> np.ndarray:
        """``feats``: list of ``(L, T, D)`` -> ``(N, n_classes)`` probabilities."""

    @abstractmethod
    def cost(self, feats: list[np.ndarray], durations: list[float]) -> dict:
        """Trainable params and per-clip MACs / energy measured on real ``feats``."""

    @abstractmethod
    def state(self) -> dict:
        """Everything needed to rebuild the fitted model (torch-saveable)."""

    @abstractmethod
    def load_state(self, state: dict) -> None: ...

    def describe(self) -> dict:
        return {"name": self.name, "config": to_dict(self.config)}


MODELS: dict[str, type[Model]] = {}


def register(cls: type[Model]) -> type[Model]:
    MODELS[cls.name] = cls
    return cls


def build_model(name: str, overrides: dict | None, n_classes: int, n_layers: int, dim: int) -> Model:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    cls = MODELS[name]
    return cls(from_dict(cls.config_cls, overrides or {}, "model"), n_classes, n_layers, dim)


def pooled_stats(feats: list[np.ndarray]) -> np.ndarray:
    """Mean and standard deviation over frames: list of ``(L, T, D)`` -> ``(N, L, 2D)``."""
    out = []
    for f in feats:
        f = f.astype(np.float32)
        out.append(np.concatenate([f.mean(1), f.std(1)], axis=-1))
    return np.stack(out)
