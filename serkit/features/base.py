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

from serkit.core.config import Component, build_component, to_dict
from serkit.core.errors import ConfigError
from serkit.core.io import text_digest


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
    #: config fields that only control execution (batching, threads): left out of the spec,
    #: the fingerprint and the feature cache key
    execution_fields: ClassVar[tuple[str, ...]] = ("batch_size", "threads")
    sample_rate: int | None = 16000
    #: ``False`` for the text-only placeholder (``none``): no audio file is ever opened
    reads_audio: ClassVar[bool] = True
    #: ``NAME:<path>`` sets this frontend's ``path`` setting (``path_in_name``: the component
    #: keeps the full ``NAME:<path>`` as its name, as ``hf:`` does)
    takes_path: ClassVar[bool] = False
    path_in_name: ClassVar[bool] = False

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
        """Everything that defines the features (not how they are computed): saved in models
        and results, hashed into the cache key."""
        cfg = {k: v for k, v in to_dict(self.config).items() if k not in self.execution_fields}
        return {
            "name": self.name,
            "version": self.version,
            "config": cfg,
            "sample_rate": self.sample_rate,
        }

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

        ``None`` when not counted (handcrafted DSP). A native-rate frontend (``sample_rate``
        ``None``) also takes ``sample_rate``: the rate of the files it runs on.
        """
        return None

    def dsp_macs(self, duration_s: float) -> int | None:
        """MACs of the signal processing before the encoder (the log-mel) on ``duration_s``
        seconds; ``None`` when not counted."""
        return None


FRONTENDS: dict[str, type[Frontend]] = {}


def register(cls: type[Frontend]) -> type[Frontend]:
    FRONTENDS[cls.name] = cls
    return cls


PATH_FRONTENDS: dict[str, type[Frontend]] = {}
"""Frontends usable only as ``NAME:<path>`` (a user's checkpoint: ``hf:``); not in
:data:`FRONTENDS`, whose members must build without one (the conformance battery)."""


def register_path_only(cls: type[Frontend]) -> type[Frontend]:
    PATH_FRONTENDS[cls.name] = cls
    return cls


def frontend_component(data: dict | str | Component) -> Component:
    """``{name: whisper-tiny-layers, layers: [0, 1, 2]}`` -> the frontend's typed config.
    ``NAME:<path>`` gives a frontend that declares ``takes_path`` its ``path`` setting
    (``compact:<student.safetensors>``, ``hf:<local checkpoint>``)."""
    if isinstance(data, Component):
        return data
    data = {"name": data} if isinstance(data, str) else dict(data)
    name = str(data.get("name", ""))
    base, sep, path = name.partition(":")
    if sep:
        cls = FRONTENDS.get(base) or PATH_FRONTENDS.get(base)
        if cls is None or not cls.takes_path:
            takes = sorted(n for n, c in {**FRONTENDS, **PATH_FRONTENDS}.items() if c.takes_path)
            raise ConfigError(
                f"frontend {name!r}: {base!r} takes no path (NAME:<path> works for {takes})"
            )
        comp = build_component(
            {**data, "name": base, "path": path}, {base: cls.config_cls}, "frontend"
        )
        return Component(name if cls.path_in_name else base, comp.config)
    return build_component(data, {n: c.config_cls for n, c in FRONTENDS.items()}, "frontend")


def build_frontend(name: str | dict | Component, overrides: dict | None = None) -> Frontend:
    """Frontend by registry name and config overrides, or from a component spec."""
    spec = frontend_component(
        {**(overrides or {}), "name": name} if isinstance(name, str) else name
    )
    base = spec.name.partition(":")[0]
    return (FRONTENDS.get(base) or PATH_FRONTENDS[base])(spec.config)
