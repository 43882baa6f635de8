"""``none``: no audio at all, for text-only data (a CSV of transcripts and labels, ``serkit
prepare text-csv``): every utterance gets a one-frame zero placeholder ``(1, 1, 1)`` and no file
is read. With ``eavs-tf-text`` the text branch trains from transcripts alone."""

from __future__ import annotations

import numpy as np

from serkit.features.base import Frontend, register


@register
class NoAudio(Frontend):
    name = "none"
    reads_audio = False

    @property
    def dim(self) -> int:
        return 1

    @property
    def layer_names(self) -> list[str]:
        return ["none"]

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return np.zeros((1, 1, 1), np.float32)

    def encoder_macs(self, duration_s: float) -> int:
        return 0
