"""A speech check on the log-mel a Whisper-style frontend computes anyway (numpy, no torch).

:class:`MelGate` is a three-layer frame classifier on Whisper's 80-bin mel power (10 ms
frames; ``(log10 mel + 4) / 4`` without Whisper's clip-relative clamp, so silence stays
silence): a per-frame linear map 80 -> 16, a dilated temporal convolution 16 -> 16 (kernel 9,
dilation 3: 250 ms of context, syllable rate) and 16 -> 1, ReLU between, sigmoid out. It is
about 3.6 k MACs per frame, 1.1 M per 3 s clip (0.005 mJ at 45 nm), against the Silero VAD's
63.8 M (:func:`serkit.audio.speech.silero_macs`). Its energy counts the log-mel once, as a
pipeline that shares it with the frontend would; serkit's runner today computes the mel power a
second time for the gate (part of the 1.8 ms it takes per 3 s clip). Weights:
``assets/mel_gate.safetensors``, trained by :func:`serkit.training.gate.train_gate` with
Silero's frame decisions as targets on corpora kept apart from its evaluation
(docs/BENCHMARKS.md, issue 32).

The verdict is the same rule as :func:`serkit.audio.speech.speech_presence`: speech seconds =
frames above the threshold stored with the weights x 10 ms; ``no_speech`` below
``min_speech_s``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from serkit.audio.mel import HOP, SAMPLE_RATE, log10_mel
from serkit.audio.speech import SpeechPresence
from serkit.core.errors import SerkitError

ASSET = Path(__file__).parent / "assets" / "mel_gate.safetensors"
KERNEL, DILATION = 9, 3


def gate_input(wav: np.ndarray) -> np.ndarray:
    """``(80, T)`` float32 gate input of 16 kHz ``wav``: ``(log10 mel + 4) / 4``."""
    return ((log10_mel(wav) + 4.0) / 4.0).astype(np.float32)


def temporal_conv(h: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(C_in, T)`` -> ``(C_out, T)``: a zero-padded ('same') dilated convolution with ``w``
    ``(C_out, C_in, KERNEL)``, as ``torch.nn.Conv1d(padding=DILATION * (KERNEL - 1) // 2)``."""
    pad = DILATION * (KERNEL - 1) // 2
    t = h.shape[1]
    hp = np.pad(h, ((0, 0), (pad, pad)))
    out = np.broadcast_to(b[:, None], (w.shape[0], t)).astype(np.float32).copy()
    for k in range(KERNEL):
        out += w[:, :, k] @ hp[:, k * DILATION : k * DILATION + t]
    return out


class MelGate:
    """Frame speech probabilities from the gate input: ``probs(x)`` ``(80, T)`` -> ``(T,)``."""

    def __init__(self, weights: dict[str, np.ndarray], threshold: float):
        self.w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.threshold = float(threshold)

    @classmethod
    def load(cls, path: str | Path = ASSET) -> MelGate:
        from safetensors.numpy import load_file

        p = Path(path)
        if not p.is_file():
            raise SerkitError(
                f"{p}: no mel gate weights (benchmarks/train_mel_gate.py writes them)"
            )
        w = load_file(str(p))
        return cls({k: v for k, v in w.items() if k != "threshold"}, float(w["threshold"][0]))

    def probs(self, x: np.ndarray) -> np.ndarray:
        w = self.w
        h = np.maximum(w["fc1.weight"] @ x + w["fc1.bias"][:, None], 0.0)
        h = np.maximum(temporal_conv(h, w["conv.weight"], w["conv.bias"]), 0.0)
        z = w["out.weight"].reshape(1, -1) @ h + w["out.bias"][:, None]
        return (1.0 / (1.0 + np.exp(-z[0]))).astype(np.float32)

    def frame_macs(self) -> int:
        """MACs per 10 ms frame (the three layers; the sigmoid is not a MAC)."""
        return int(
            self.w["fc1.weight"].size + self.w["conv.weight"].size + self.w["out.weight"].size
        )

    def macs(self, seconds: float) -> int:
        return int(seconds * SAMPLE_RATE) // HOP * self.frame_macs()


@lru_cache(maxsize=1)
def default_gate() -> MelGate:
    return MelGate.load()


def mel_speech_presence(
    x: np.ndarray, sr: int, min_speech_s: float = 0.15, gate: MelGate | None = None
) -> SpeechPresence:
    """:func:`serkit.audio.speech.speech_presence` with the mel gate instead of Silero."""
    if sr != SAMPLE_RATE:
        import soxr

        x = soxr.resample(np.asarray(x, np.float32), sr, SAMPLE_RATE)
    gate = gate or default_gate()
    p = gate.probs(gate_input(x))
    s = float((p > gate.threshold).sum() * HOP / SAMPLE_RATE)
    return SpeechPresence(round(s, 3), float(p.max()) if p.size else 0.0, s >= min_speech_s)
