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


STATES = ("emotion", "uncertain", "no_speech")
"""What an answer can be: an emotion; ``uncertain`` (the calibrated top probability is below the
model's ``min_confidence``; probabilities still given); ``no_speech`` (speech presence found
less than ``min_speech_s`` of speech: silence, noise, music...)."""


@dataclass
class Prediction:
    """``label``: the top class, or ``uncertain`` / ``no_speech`` (``state``); ``top``: the top
    class whatever the state; ``probabilities``: class -> calibrated probability; ``confidence``:
    the top probability; ``speech_s``: seconds of speech found (``None``: not checked);
    ``seconds``: wall time (read + features + head); ``duration``: audio length in seconds;
    ``dimensions``: valence / arousal / dominance in [0, 1] implied by the probabilities through
    the Warriner et al. (2013) norms (:func:`serkit.data.vad.expected_vad`; ``None`` when no class
    is in the table)."""

    label: str
    probabilities: dict[str, float]
    seconds: float
    duration: float
    source: str = ""
    state: str = "emotion"
    top: str = ""
    confidence: float = 0.0
    speech_s: float | None = None
    dimensions: dict[str, float] | None = None

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "state": self.state, "top": self.top,
                "confidence": round(self.confidence, 6), "probabilities": self.probabilities,
                "dimensions": self.dimensions,
                "speech_s": self.speech_s, "seconds": round(self.seconds, 4), "duration": round(self.duration, 3)}


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
    :meth:`probabilities` on prepared signals; :meth:`classify` adds what every back-end shares:
    the temperature (``temperature``, fitted at training on validation speakers), abstention
    below ``min_confidence`` and the speech-presence check (``speech_check``; Silero VAD)."""

    labels: list[str]
    sample_rate: int
    temperature: float = 1.0
    min_confidence: float = 0.0
    speech_check: bool = True
    min_speech_s: float = 0.15
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

    def classify(self, signals: list[Signal], t0: float | None = None,
                 texts: list[str | None] | None = None) -> list[Prediction]:
        """Predictions of prepared signals; ``seconds`` = wall time since ``t0`` over their number.
        ``texts``: the words spoken in each signal, for a model that reads transcripts."""
        from serkit.core.calibration import apply_temperature
        from serkit.data.vad import DIMS, expected_vad

        t0 = time.perf_counter() if t0 is None else t0
        if texts is not None and not getattr(self, "reads_text", False):
            raise ConfigError("this model does not read transcripts (a multimodal model such as eavs-tf does)")
        if texts is not None and len(texts) != len(signals):
            raise ConfigError(f"{len(texts)} transcripts for {len(signals)} inputs")
        if not signals:
            probs = np.zeros((0, len(self.labels)))
        else:
            probs = self.probabilities(signals, texts) if texts is not None else self.probabilities(signals)
        if self.temperature != 1.0 and len(probs):
            probs = apply_temperature(probs, self.temperature)
        merge = getattr(self, "_merge", None)
        if merge is not None and len(probs):  # --labels: summed into the targets, renormalised over them
            probs = probs @ merge.T
            probs = probs / np.maximum(probs.sum(1, keepdims=True), 1e-12)
        speech = [self._speech(x, rate) for x, rate, _ in signals]
        dims = expected_vad(probs, self.labels) if len(probs) else np.zeros((0, 3))
        dt = (time.perf_counter() - t0) / max(1, len(signals))
        out = []
        for p, (x, rate, src), sp, d in zip(probs, signals, speech, dims):
            top, conf = self.labels[int(np.argmax(p))], float(np.max(p))
            state = ("no_speech" if sp is not None and sp < self.min_speech_s else
                     "uncertain" if conf < self.min_confidence else "emotion")
            out.append(Prediction(top if state == "emotion" else state, {lab: float(v) for lab, v in zip(self.labels, p)},
                                  dt, x.size / rate, src, state, top, conf, sp,
                                  None if not np.isfinite(d).all() else
                                  {k: round(float(v), 4) for k, v in zip(DIMS, d)}))
        return out

    def _speech(self, x: np.ndarray, rate: int) -> float | None:
        """Seconds of speech in ``x`` (Silero VAD); ``None`` when the check is off, or when
        silero-vad / onnxruntime are not installed (said once on stderr)."""
        if not self.speech_check:
            return None
        from serkit.audio.speech import silero_available, speech_presence

        if not silero_available():
            import sys

            print("serkit: speech-presence check off (pip install silero-vad onnxruntime to enable it)", file=sys.stderr)
            self.speech_check = False
            return None

        return speech_presence(x, rate, min_speech_s=self.min_speech_s).speech_s

    def configure(self, min_confidence: float | None = None, speech_check: bool | None = None,
                  labels: list[str] | str | None = None) -> Runner:
        """Override the abstention threshold / speech check, or restrict and merge the output
        classes with a label spec (``"anger,neutral=neutral+calm"``: each target's probability is
        the sum of its sources', renormalised over the targets); ``None`` = keep. Returns self."""
        if labels:
            from serkit.data.labels import LabelSpec

            spec = LabelSpec.parse(labels)
            base = getattr(self, "_model_labels", None) or list(self.labels)
            unknown = sorted({s for src in spec.targets.values() for s in src} - set(base))
            if unknown:
                raise ConfigError(f"--labels names {unknown}, which this model does not output (it has {base})")
            self._model_labels = base
            self._merge = np.array([[1.0 if lab in src else 0.0 for lab in base] for src in spec.targets.values()])
            self.labels = spec.names
        if min_confidence is not None:
            if not 0.0 <= min_confidence <= 1.0:
                raise ConfigError(f"min_confidence must be in [0, 1], got {min_confidence}")
            self.min_confidence = float(min_confidence)
        if speech_check is not None:
            self.speech_check = bool(speech_check)
        return self

    def predict(self, audio, sr: int | None = None, text: str | None = None) -> Prediction:
        """Classify one input (see :meth:`signal`); ``text``: its transcript (multimodal models)."""
        return self.predict_batch([audio], sr, None if text is None else [text])[0]

    def predict_batch(self, items: list, sr: int | None = None, texts: list[str | None] | None = None
                      ) -> list[Prediction]:
        """Classify several inputs; equal to :meth:`predict` on each (padding is masked)."""
        t0 = time.perf_counter()
        return self.classify([self.signal(a, sr) for a in items], t0, texts)

    def stream(self, sr: int = 16000, window: float = 2.0, hop: float = 0.5, min_window: float = 0.5):
        """A :class:`~serkit.deploy.stream.Stream`: ``feed(chunk)`` audio at ``sr`` Hz in pieces of
        any size, get a row per ``hop`` s (the windows of ``timeline(vad="none")``); ``close()``."""
        from serkit.deploy.stream import Stream

        return Stream(self, sr, window, hop, min_window)

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
