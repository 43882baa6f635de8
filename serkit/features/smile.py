"""openSMILE frontends: ``egemaps`` (eGeMAPSv02) and ``compare`` (ComParE_2016).

``level='functionals'`` gives one utterance-level vector ``(1, 1, D)`` (88 / 6,373);
``level='lld'`` gives frame-level low-level descriptors ``(1, T, D)`` (25 / 65).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from serkit.features.base import Frontend, register

_DIMS = {
    ("eGeMAPSv02", "functionals"): 88,
    ("eGeMAPSv02", "lld"): 25,
    ("ComParE_2016", "functionals"): 6373,
    ("ComParE_2016", "lld"): 65,
}


@dataclass
class SmileConfig:
    """``level``: utterance ``functionals`` or frame-level ``lld`` descriptors."""

    level: Literal["functionals", "lld"] = "functionals"


class _Smile(Frontend):
    feature_set: str = ""

    def __init__(self, config=None):
        super().__init__(config)
        self._smile = None

    @property
    def dim(self) -> int:
        return _DIMS[(self.feature_set, self.config.level)]

    @property
    def frame_rate(self) -> float | None:
        return 100.0 if self.config.level == "lld" else None

    @property
    def smile(self):
        if self._smile is None:
            import opensmile

            level = (
                opensmile.FeatureLevel.Functionals
                if self.config.level == "functionals"
                else opensmile.FeatureLevel.LowLevelDescriptors
            )
            self._smile = opensmile.Smile(
                feature_set=getattr(opensmile.FeatureSet, self.feature_set), feature_level=level
            )
        return self._smile

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        df = self.smile.process_signal(wav, sr)
        x = df.to_numpy(dtype=np.float32)
        if x.shape[0] == 0:
            x = np.zeros((1, self.dim), np.float32)
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)[None]


@register
class EGeMAPS(_Smile):
    name = "egemaps"
    config_cls = SmileConfig
    feature_set = "eGeMAPSv02"


@register
class ComParE(_Smile):
    name = "compare"
    config_cls = SmileConfig
    feature_set = "ComParE_2016"
