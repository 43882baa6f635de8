"""The one runner protocol of every back-end: ``predict`` / ``predict_batch`` / ``timeline``
returning :class:`Prediction` / :class:`TimelineRow`, for the PyTorch recogniser and the
ONNX runner alike. numpy only (the ONNX runner must work without torch)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.audio.io import AudioConfig, load_audio, load_audio_bytes, prepare_signal
from serkit.audio.vad import energy_vad, windows
from serkit.core.errors import ConfigError


@dataclass
class Prediction:
    """``label``: top class; ``probabilities``: class -> probability; ``seconds``: wall time
    (read + features + head); ``duration``: audio length in seconds."""

    label: str
    probabilities: dict[str, float]
    seconds: float
    duration: float
    source: str = ""

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "probabilities": self.probabilities,
                "seconds": round(self.seconds, 4), "duration": round(self.duration, 3)}


@dataclass
class TimelineRow:
    """One window of a timeline: ``start``/``end`` in seconds, top ``label``, ``probabilities``."""

    start: float
    end: float
    label: str
    probabilities: dict[str, float]

    def to_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label,
                "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()}}


Signal = tuple[np.ndarray, int, str]  # (mono float32 samples, rate in Hz, source name)


class Runner(ABC):
    """Base of every back-end. Subclasses set ``labels`` and ``sample_rate`` and implement
    :meth:`probabilities` on prepared signals."""

    labels: list[str]
    sample_rate: int
    #: rate signals are resampled to (``None``: a native-rate frontend keeps the file's rate)
    target_rate: int | None = None

    @property
    def audio_config(self) -> AudioConfig:
        return AudioConfig(sample_rate=self.target_rate)

    @abstractmethod
    def probabilities(self, signals: list[Signal]) -> np.ndarray:
        """``(N, C)`` class probabilities of mono signals prepared by :meth:`signal`."""

    def signal(self, audio, sr: int | None = None) -> Signal:
        """A file path, encoded file bytes, or an array ``(n,)`` / ``(n, channels)`` (give ``sr``
        in Hz) -> validated mono samples at :attr:`sample_rate` (``AudioError`` when unusable)."""
        cfg = self.audio_config
        if isinstance(audio, (str, Path)):
            x, rate = load_audio(audio, cfg, return_rate=True)
            return x, rate, str(audio)
        if isinstance(audio, (bytes, bytearray)):
            x, rate = load_audio_bytes(bytes(audio), cfg, return_rate=True)
            return x, rate, "<bytes>"
        if sr is None:
            raise ConfigError("give sr= (Hz) when passing an array")
        return prepare_signal(np.asarray(audio), sr, cfg), cfg.sample_rate or sr, "<array>"

    def classify(self, signals: list[Signal], t0: float | None = None) -> list[Prediction]:
        """Predictions of prepared signals; ``seconds`` = wall time since ``t0`` over their number."""
        t0 = time.perf_counter() if t0 is None else t0
        probs = self.probabilities(signals) if signals else np.zeros((0, len(self.labels)))
        dt = (time.perf_counter() - t0) / max(1, len(signals))
        return [Prediction(self.labels[int(np.argmax(p))], {lab: float(v) for lab, v in zip(self.labels, p)},
                           dt, x.size / rate, src) for p, (x, rate, src) in zip(probs, signals)]

    def predict(self, audio, sr: int | None = None) -> Prediction:
        """Classify one input (see :meth:`signal`)."""
        return self.predict_batch([audio], sr)[0]

    def predict_batch(self, items: list, sr: int | None = None) -> list[Prediction]:
        """Classify several inputs; equal to :meth:`predict` on each (padding is masked)."""
        t0 = time.perf_counter()
        return self.classify([self.signal(a, sr) for a in items], t0)

    def timeline(self, audio, sr: int | None = None, window: float = 2.0, hop: float = 1.0,
                 vad: str = "energy", min_window: float = 0.5) -> list[TimelineRow]:
        """Emotion over time: windows of ``window`` s every ``hop`` s.

        ``vad="energy"``: windows only over speech regions found by an energy detector
        (:func:`serkit.audio.vad.energy_vad`); ``vad="none"``: fixed windows over the whole
        signal. A final window shorter than ``min_window`` s merges into the previous one.
        """
        if window <= 0 or hop <= 0:
            raise ConfigError("window and hop must be > 0 seconds")
        if vad not in ("energy", "none"):
            raise ConfigError(f"vad must be 'energy' or 'none', got {vad!r}")
        x, rate, src = self.signal(audio, sr)
        regions = energy_vad(x, rate) if vad == "energy" else [(0.0, x.size / rate)]
        spans = [w for a, b in regions for w in windows(a, b, window, hop, min_window)]
        segs = [(x[int(round(a * rate)): int(round(b * rate))], rate, f"{src}[{a:.2f}-{b:.2f}]") for a, b in spans]
        return [TimelineRow(a, b, p.label, p.probabilities) for (a, b), p in zip(spans, self.classify(segs))]
