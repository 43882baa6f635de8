"""The frontend interface and registry.

A frontend turns one mono waveform into features of shape ``(L, T, D)``: ``L`` layers
(1 for single-output frontends), ``T`` frames (1 for utterance-level functionals) and ``D``
dimensions. Every model consumes that one shape, so any model runs on any frontend.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from serkit.config import from_dict, to_dict
from serkit.errors import ConfigError
from serkit.utils import text_digest


@dataclass
class NoConfig:
    """Frontends without settings use this."""


class Frontend(ABC):
    """Base class. Subclasses set ``name``, ``config_cls`` and implement :meth:`extract`.

    Attributes:
        sample_rate: input rate in Hz the frontend expects (``None``: the file's native rate).
        version: bump when the computation changes, so cached features are re-extracted.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type] = NoConfig
    version: ClassVar[str] = "1"
    sample_rate: int | None = 16000

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.config_cls()

    # --- description -------------------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature dimension ``D``."""

    @property
    def layer_names(self) -> list[str]:
        return ["output"]

    @property
    def frame_rate(self) -> float | None:
        """Frames per second of the output (``None`` for utterance-level functionals)."""
        return None

    def spec(self) -> dict:
        """Everything that defines the features: saved in models and results."""
        return {"name": self.name, "version": self.version, "config": to_dict(self.config),
                "sample_rate": self.sample_rate}

    def fingerprint(self) -> str:
        return text_digest(json.dumps(self.spec(), sort_keys=True))

    # --- computation -------------------------------------------------------------------
    @abstractmethod
    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        """Features of one waveform ``(n,)`` float32 at ``sr`` Hz -> ``(L, T, D)`` float32."""

    def extract_batch(self, wavs: list[np.ndarray], sr: int) -> list[np.ndarray]:
        """Batched extraction; must equal ``[extract(w) for w in wavs]``."""
        return [self.extract(w, sr) for w in wavs]

    def encoder_macs(self, duration_s: float) -> int | None:
        """Multiply-accumulates spent by the frontend on ``duration_s`` seconds of audio.

        ``None`` when not counted (handcrafted DSP).
        """
        return None


FRONTENDS: dict[str, type[Frontend]] = {}


def register(cls: type[Frontend]) -> type[Frontend]:
    FRONTENDS[cls.name] = cls
    return cls


def build_frontend(name: str, overrides: dict | None = None) -> Frontend:
    """Frontend by registry name (``hf:<local path>`` for a user's transformers checkpoint)."""
    overrides = dict(overrides or {})
    if name.startswith("hf:"):
        from serkit.features.hf import HFConfig, HFFrontend

        overrides.setdefault("path", name[3:])
        return HFFrontend(from_dict(HFConfig, overrides, "frontend"))
    if name not in FRONTENDS:
        raise ConfigError(f"unknown frontend {name!r}; known: {sorted(FRONTENDS)} or hf:<local path>")
    cls = FRONTENDS[name]
    return cls(from_dict(cls.config_cls, overrides, "frontend"))
