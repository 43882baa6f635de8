"""``logmel``: Whisper's 80-bin log-mel frames, optionally average-pooled in time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serkit.audio.mel import log_mel, log_mel_macs
from serkit.features.base import Frontend, register


@dataclass
class LogMelConfig:
    """``pool``: average this many 10 ms frames into one (1 = 100 frames/s)."""

    pool: int = 2


@register
class LogMel(Frontend):
    """``(1, T, 80)`` log-mel frames at ``100 / pool`` frames per second."""

    name = "logmel"
    config_cls = LogMelConfig

    @property
    def dim(self) -> int:
        return 80

    @property
    def frame_rate(self) -> float:
        return 100.0 / self.config.pool

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        m = log_mel(wav).T  # (T, 80)
        p = max(1, self.config.pool)
        t = max(1, m.shape[0] // p)
        m = m[: t * p].reshape(t, p, -1).mean(1) if m.shape[0] >= p else m.mean(0, keepdims=True)
        return m[None].astype(np.float32)

    def encoder_macs(self, duration_s: float) -> int:
        return 0  # no encoder: the log-mel itself is the DSP cost

    def dsp_macs(self, duration_s: float) -> int:
        return log_mel_macs(duration_s)
