"""``mfcc-chroma``: 34 MFCC + 12 chroma per frame (46-d), as ResLSTM-SA uses.

n_fft 4096, hop 2048 at the file's native sample rate (``sample_rate: null``, the default) or
at a fixed rate. No normalisation here: models fit it on the training fold only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serkit.features.base import Frontend, register


@dataclass
class MfccChromaConfig:
    n_mfcc: int = 34
    n_chroma: int = 12
    n_fft: int = 4096
    hop: int = 2048
    sample_rate: int | None = None


@register
class MfccChroma(Frontend):
    """``(1, T, n_mfcc + n_chroma)`` with ``T = 1 + n // hop`` (centred frames)."""

    name = "mfcc-chroma"
    config_cls = MfccChromaConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.sample_rate = self.config.sample_rate

    @property
    def dim(self) -> int:
        return self.config.n_mfcc + self.config.n_chroma

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import librosa

        c = self.config
        n_fft = c.n_fft
        if wav.size < n_fft:  # librosa warns and pads; pad explicitly to keep it quiet
            wav = np.pad(wav, (0, n_fft - wav.size))
        mfcc = librosa.feature.mfcc(y=wav, sr=sr, n_mfcc=c.n_mfcc, n_fft=n_fft, hop_length=c.hop)
        power = np.abs(librosa.stft(wav, n_fft=n_fft, hop_length=c.hop)) ** 2
        chroma = librosa.feature.chroma_stft(
            S=power, sr=sr, n_chroma=c.n_chroma, n_fft=n_fft, hop_length=c.hop
        )
        return np.concatenate([mfcc, chroma], axis=0).T[None].astype(np.float32)

    def encoder_macs(self, duration_s: float, sample_rate: int = 16000) -> int:
        """Multiply-accumulates of the frontend for ``duration_s`` of audio at ``sample_rate``
        (the configured rate when fixed): real FFT (~2 N log2 N), 128-band mel projection,
        DCT to ``n_mfcc``, and the chroma filterbank, per frame."""
        c = self.config
        sr = c.sample_rate or sample_rate
        frames = 1 + int(duration_s * sr) // c.hop
        bins = c.n_fft // 2 + 1
        per_frame = (
            2 * c.n_fft * int(np.log2(c.n_fft)) + 128 * bins + c.n_mfcc * 128 + c.n_chroma * bins
        )
        return frames * per_frame
