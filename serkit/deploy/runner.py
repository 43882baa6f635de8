"""The one runner protocol of every back-end: ``predict`` / ``predict_batch`` / ``timeline``
returning :class:`Prediction` / :class:`TimelineRow`, for the PyTorch recogniser and the
ONNX runner alike. numpy only (the ONNX runner must work without torch)."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.audio.io import (
    AudioConfig,
    audio_info,
    iter_audio_blocks,
    load_audio,
    load_audio_bytes,
    prepare_signal,
)
from serkit.audio.vad import energy_vad, windows
from serkit.core.errors import AudioError, Cancelled, ConfigError

STATES = ("emotion", "uncertain", "no_speech", "error")
"""What an answer can be: an emotion; ``uncertain`` (the calibrated top probability is below the
model's ``min_confidence``; probabilities still given); ``no_speech`` (speech presence found
less than ``min_speech_s`` of speech: silence, noise, music...); ``error`` (the input could not
be used: ``Prediction.error`` says why; only in :meth:`Runner.predict_batch` rows)."""


@dataclass(frozen=True)
class WholeFile:
    """What one answer for a whole recording is (the same for every back-end and runner).

    A recording of at most ``single_s`` s is answered in one pass, as the models were trained
    (acted clips of 1-8 s). A longer one is cut into consecutive windows of ``window_s`` s (a
    tail shorter than ``min_window_s`` joins the last window); each window is classified on its
    own (calibrated probabilities) and checked for speech; the answer's probabilities are the
    mean of the windows' probabilities weighted by each window's seconds of speech (windows with
    less than the runner's ``min_speech_s`` of speech do not count; with the speech check off,
    every window counts by its length). ``windows`` says how many windows counted, ``speech_s``
    how much speech they held. Windows are read from a file block by block, so memory does not
    grow with the recording's length."""

    single_s: float = 10.0
    window_s: float = 4.0
    min_window_s: float = 1.0
    batch: int = 8

    def spans(self, n: int, rate: int) -> list[tuple[int, int]]:
        """Sample spans ``[(i, j), ...]`` of the windows of ``n`` samples at ``rate`` Hz."""
        w, m = int(round(self.window_s * rate)), int(round(self.min_window_s * rate))
        out = [(i, i + w) for i in range(0, n - w + 1, w)]
        rest = n - (out[-1][1] if out else 0)
        if rest and (rest >= m or not out):
            out.append((n - rest, n))
        elif rest:
            out[-1] = (out[-1][0], n)
        return out

    def cut(self, blocks: Iterable[np.ndarray], rate: int) -> Iterator[np.ndarray]:
        """The windows of :meth:`spans` from a stream of sample blocks (bounded memory: one
        window held back to take a short tail)."""
        w, m = int(round(self.window_s * rate)), int(round(self.min_window_s * rate))
        buf, held = np.zeros(0, np.float32), None
        for b in blocks:
            buf = np.concatenate([buf, b])
            while buf.size >= w:
                if held is not None:
                    yield held
                held, buf = buf[:w].copy(), buf[w:]
        if buf.size and (buf.size >= m or held is None):
            if held is not None:
                yield held
            yield buf
        elif held is not None:
            yield np.concatenate([held, buf])


_local = threading.local()


@contextmanager
def cancel_on(event: threading.Event):
    """Within this block (in this thread), runner work raises :class:`Cancelled` at the next
    window boundary once ``event`` is set (the HTTP service sets it past a request's deadline)."""
    prev = getattr(_local, "event", None)
    _local.event = event
    try:
        yield
    finally:
        _local.event = prev


def check_cancelled() -> None:
    ev = getattr(_local, "event", None)
    if ev is not None and ev.is_set():
        raise Cancelled("stopped: the request was cancelled or passed its deadline")


@dataclass
class Prediction:
    """``label``: the top class, or ``uncertain`` / ``no_speech`` (``state``); ``top``: the top
    class whatever the state; ``probabilities``: class -> calibrated probability; ``confidence``:
    the top probability; ``speech_s``: seconds of speech found (``None``: not checked);
    ``seconds``: wall time (read + features + head); ``duration``: audio length in seconds;
    ``dimensions``: valence / arousal / dominance in [0, 1] implied by the probabilities through
    the Warriner et al. (2013) norms (:func:`serkit.data.vad.expected_vad`; ``None`` when no class
    is in the table); ``windows``: windows whose answers were pooled (1: one pass; see
    :class:`WholeFile`); ``error``: why the input could not be used (``state == "error"``)."""

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
    windows: int = 1
    error: str | None = None

    def to_dict(self) -> dict:
        out = {
            "source": self.source,
            "label": self.label,
            "state": self.state,
            "top": self.top,
            "confidence": round(self.confidence, 6),
            "probabilities": self.probabilities,
            "dimensions": self.dimensions,
            "speech_s": None if self.speech_s is None else round(self.speech_s, 3),
            "windows": self.windows,
            "seconds": round(self.seconds, 4),
            "duration": round(self.duration, 3),
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def failed(cls, source: str, reason: str) -> Prediction:
        """The row of an input that could not be used."""
        return cls("error", {}, 0.0, 0.0, source, "error", "", 0.0, None, None, 0, reason)


@dataclass
class TimelineRow:
    """One window of a timeline: ``start``/``end`` in seconds; ``label`` (an emotion, or
    ``uncertain`` / ``no_speech``: ``state``); ``top`` (the top class whatever the state) and its
    ``confidence``; ``probabilities``; ``speech_s`` (seconds of speech in the window, ``None``:
    not checked); ``dimensions``: as :attr:`Prediction.dimensions`."""

    start: float
    end: float
    label: str
    probabilities: dict[str, float]
    state: str = "emotion"
    top: str = ""
    confidence: float = 0.0
    speech_s: float | None = None
    dimensions: dict[str, float] | None = None

    def to_dict(self) -> dict:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "label": self.label,
            "state": self.state,
            "top": self.top,
            "confidence": round(self.confidence, 6),
            "speech_s": None if self.speech_s is None else round(self.speech_s, 3),
            "dimensions": self.dimensions,
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
        }


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
    #: which speech check: ``silero`` (Silero VAD, 63.8 M MACs per 3 s) or ``mel`` (the
    #: log-mel gate of :mod:`serkit.audio.gate`, 1.1 M MACs per 3 s)
    speech_gate: str = "silero"
    min_speech_s: float = 0.15
    #: rate signals are resampled to (``None``: a native-rate frontend keeps the file's rate)
    target_rate: int | None = None
    #: what a whole-file answer is (long recordings: speech-weighted windows)
    whole_file: WholeFile = WholeFile()

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

    def classify(
        self, signals: list[Signal], t0: float | None = None, texts: list[str | None] | None = None
    ) -> list[Prediction]:
        """Predictions of prepared signals; ``seconds`` = wall time since ``t0`` over their number.
        ``texts``: the words spoken in each signal, for a model that reads transcripts. A signal
        longer than ``whole_file.single_s`` is answered from its windows (:class:`WholeFile`)."""
        t0 = time.perf_counter() if t0 is None else t0
        if texts is not None and not getattr(self, "reads_text", False):
            raise ConfigError(
                "this model does not read transcripts (a multimodal model such as eavs-tf does)"
            )
        if texts is not None and len(texts) != len(signals):
            raise ConfigError(f"{len(texts)} transcripts for {len(signals)} inputs")
        wf = self.whole_file
        short = [i for i, (x, rate, _) in enumerate(signals) if x.size / rate <= wf.single_s]
        out: list[Prediction | None] = [None] * len(signals)
        if short:
            sig = [signals[i] for i in short]
            probs = self.calibrated_probabilities(
                sig, None if texts is None else [texts[i] for i in short]
            )
            speech = [self._speech(x, rate) for x, rate, _ in sig]
            self._observe([x.size / rate for x, rate, _ in sig], speech)
            for i, p, sp in zip(short, probs, speech):
                x, rate, src = signals[i]
                out[i] = self._answer(p, src, x.size / rate, sp)
        for i, (x, rate, src) in enumerate(signals):
            if out[i] is None:
                pieces = (x[a:b] for a, b in wf.spans(x.size, rate))
                out[i] = self._pool_windows(pieces, rate, src, None if texts is None else texts[i])
        dt = (time.perf_counter() - t0) / max(1, len(signals))
        for p in out:
            p.seconds = dt
        return out

    def calibrated_probabilities(
        self, signals: list[Signal], texts: list[str | None] | None = None
    ) -> np.ndarray:
        """``(N, C)`` probabilities as answered (one pass per signal): the back-end's, with the
        card's temperature, labels merged. What ``predict`` reports for a clip; ``explain`` too."""
        from serkit.core.calibration import apply_temperature

        check_cancelled()
        if not signals:
            return np.zeros((0, len(self.labels)))
        probs = (
            self.probabilities(signals, texts) if texts is not None else self.probabilities(signals)
        )
        if self.temperature != 1.0:
            probs = apply_temperature(probs, self.temperature)
        merge = getattr(self, "_merge", None)
        if merge is not None:  # --labels: summed into the targets, renormalised over them
            probs = probs @ merge.T
            probs = probs / np.maximum(probs.sum(1, keepdims=True), 1e-12)
        return probs

    def _observe(self, durations: list[float], speech: list[float | None]) -> None:
        """Called after each answer with the answered signals' durations and seconds of speech
        (in the order of the last :meth:`probabilities` call): where online adaptation hooks in
        (:meth:`~serkit.deploy.recognizer.Recognizer.adapt_online`); nothing here."""
        return None

    def _state(self, conf: float, speech_s: float | None) -> str:
        return (
            "no_speech"
            if speech_s is not None and speech_s < self.min_speech_s
            else "uncertain"
            if conf < self.min_confidence
            else "emotion"
        )

    def _answer(
        self, p: np.ndarray, src: str, duration: float, speech_s: float | None, windows: int = 1
    ) -> Prediction:
        from serkit.data.vad import DIMS, expected_vad

        d = expected_vad(p[None], self.labels)[0]
        top, conf = self.labels[int(np.argmax(p))], float(np.max(p))
        state = self._state(conf, speech_s)
        return Prediction(
            top if state == "emotion" else state,
            {lab: float(v) for lab, v in zip(self.labels, p)},
            0.0,
            duration,
            src,
            state,
            top,
            conf,
            speech_s,
            None if not np.isfinite(d).all() else {k: round(float(v), 4) for k, v in zip(DIMS, d)},
            windows,
        )

    def _pool_windows(
        self, pieces: Iterable[np.ndarray], rate: int, src: str, text: str | None = None
    ) -> Prediction:
        """The whole-file answer from windows (:class:`WholeFile`): batches of
        ``whole_file.batch`` windows at a time, so memory stays bounded; cancellable between
        batches (:func:`cancel_on`)."""
        total = np.zeros(len(self.labels))
        plain = np.zeros(len(self.labels))
        weight = speech_total = duration = 0.0
        counted = n = 0
        checked = self.speech_check
        batch: list[np.ndarray] = []

        def flush():
            nonlocal weight, speech_total, counted
            probs = self.calibrated_probabilities(
                [(w, rate, src) for w in batch], None if text is None else [text] * len(batch)
            )
            speech = [self._speech(w, rate) for w in batch]
            self._observe([w.size / rate for w in batch], speech)
            for w, p, sp in zip(batch, probs, speech):
                plain[:] += p * w.size
                if sp is None:
                    total[:] += p * w.size / rate
                    weight += w.size / rate
                    counted += 1
                elif sp >= self.min_speech_s:
                    total[:] += p * sp
                    weight += sp
                    speech_total += sp
                    counted += 1
            batch.clear()

        for w in pieces:
            batch.append(w)
            duration += w.size / rate
            n += 1
            if len(batch) >= self.whole_file.batch:
                flush()
        if batch:
            flush()
        if n == 0:
            raise AudioError(src, "empty audio (0 samples)")
        checked = checked and self.speech_check
        p = total / weight if weight > 0 else plain / max(plain.sum(), 1e-12)
        return self._answer(p, src, duration, speech_total if checked else None, counted)

    def gate_macs(self, seconds: float) -> int | None:
        """MACs of the speech check over ``seconds`` of audio (``None`` when it is off or not
        installed): it runs on every clip before the model answers, so a deployed pipeline's
        energy counts it."""
        if not self.speech_check:
            return None
        if self.speech_gate == "mel":
            from serkit.audio.gate import default_gate

            return default_gate().macs(seconds)
        from serkit.audio.speech import silero_available, silero_macs

        return silero_macs(seconds) if silero_available() else None

    def _speech(self, x: np.ndarray, rate: int) -> float | None:
        """Seconds of speech in ``x`` (Silero VAD); ``None`` when the check is off, or when
        silero-vad / onnxruntime are not installed (said once on stderr)."""
        if not self.speech_check:
            return None
        if self.speech_gate == "mel":
            from serkit.audio.gate import mel_speech_presence

            return mel_speech_presence(x, rate, min_speech_s=self.min_speech_s).speech_s
        from serkit.audio.speech import silero_available, speech_presence

        if not silero_available():
            import sys

            print(
                "serkit: speech-presence check off (pip install silero-vad onnxruntime to enable "
                "it)",
                file=sys.stderr,
            )
            self.speech_check = False
            return None

        return speech_presence(x, rate, min_speech_s=self.min_speech_s).speech_s

    def configure(
        self,
        min_confidence: float | None = None,
        speech_check: bool | None = None,
        labels: list[str] | str | None = None,
        speech_gate: str | None = None,
    ) -> Runner:
        """Override the abstention threshold / speech check (``speech_gate``: which one), or
        restrict and merge the output
        classes with a label spec (``"anger,neutral=neutral+calm"``: each target's probability is
        the sum of its sources', renormalised over the targets); ``None`` = keep. Returns self."""
        if labels:
            from serkit.data.labels import LabelSpec

            spec = LabelSpec.parse(labels)
            base = getattr(self, "_model_labels", None) or list(self.labels)
            unknown = sorted({s for src in spec.targets.values() for s in src} - set(base))
            if unknown:
                raise ConfigError(
                    f"--labels names {unknown}, which this model does not output (it has {base})"
                )
            self._model_labels = base
            self._merge = np.array(
                [[1.0 if lab in src else 0.0 for lab in base] for src in spec.targets.values()]
            )
            self.labels = spec.names
        if min_confidence is not None:
            if not 0.0 <= min_confidence <= 1.0:
                raise ConfigError(f"min_confidence must be in [0, 1], got {min_confidence}")
            self.min_confidence = float(min_confidence)
        if speech_check is not None:
            self.speech_check = bool(speech_check)
        if speech_gate is not None:
            if speech_gate not in ("silero", "mel"):
                raise ConfigError(f"speech_gate must be silero or mel, got {speech_gate!r}")
            self.speech_gate = speech_gate
        return self

    def predict(self, audio, sr: int | None = None, text: str | None = None) -> Prediction:
        """Classify one input (see :meth:`signal`); ``text``: its transcript (multimodal models).
        Unusable input raises ``AudioError``. A recording longer than ``whole_file.single_s``
        is answered from its windows (:class:`WholeFile`); a file is then read block by block."""
        t0 = time.perf_counter()
        if isinstance(audio, (str, Path)):
            frames, rate = audio_info(audio, self.audio_config)
            if frames / rate > self.whole_file.single_s:
                cfg = self.audio_config
                r = cfg.sample_rate or rate
                pieces = self.whole_file.cut(iter_audio_blocks(audio, cfg), r)
                p = self._pool_windows(pieces, r, str(audio), text)
                p.seconds = time.perf_counter() - t0
                return p
        return self.classify([self.signal(audio, sr)], t0, None if text is None else [text])[0]

    def predict_batch(
        self, items: list, sr: int | None = None, texts: list[str | None] | None = None
    ) -> list[Prediction]:
        """Classify several inputs; equal to :meth:`predict` on each (padding is masked). An
        input that cannot be used does not stop the others: its row has ``state == "error"``
        and the reason in ``error``."""
        t0 = time.perf_counter()
        if texts is not None and len(texts) != len(items):
            raise ConfigError(f"{len(texts)} transcripts for {len(items)} inputs")
        out: list[Prediction | None] = [None] * len(items)
        good: list[int] = []
        signals: list[Signal] = []
        for i, a in enumerate(items):
            src = (
                str(a)
                if isinstance(a, (str, Path))
                else "<bytes>"
                if isinstance(a, (bytes, bytearray))
                else "<array>"
            )
            try:
                if isinstance(a, (str, Path)):
                    frames, rate = audio_info(a, self.audio_config)
                    if (
                        frames / rate > self.whole_file.single_s
                    ):  # long: windows read block by block
                        out[i] = self.predict(a, text=None if texts is None else texts[i])
                        continue
                signals.append(self.signal(a, sr))
                good.append(i)
            except AudioError as exc:
                out[i] = Prediction.failed(src, exc.reason)
        for i, p in zip(
            good, self.classify(signals, t0, None if texts is None else [texts[i] for i in good])
        ):
            out[i] = p
        return out

    def embed(self, audio, sr: int | None = None) -> np.ndarray:
        """The utterance embedding the head pools (PyTorch recogniser only)."""
        raise ConfigError(
            "embeddings come from the PyTorch engine (serkit.load(...), or --engine torch)"
        )

    def stream(
        self, sr: int = 16000, window: float = 2.0, hop: float = 0.5, min_window: float = 0.5
    ):
        """A :class:`~serkit.deploy.stream.Stream`: ``feed(chunk)`` audio at ``sr`` Hz in pieces of
        any size, get a row per ``hop`` s (the windows of ``timeline(vad="none")``); ``close()``."""
        from serkit.deploy.stream import Stream

        return Stream(self, sr, window, hop, min_window)

    def timeline(
        self,
        audio,
        sr: int | None = None,
        window: float = 2.0,
        hop: float = 1.0,
        vad: str = "energy",
        min_window: float = 0.5,
    ) -> list[TimelineRow]:
        """Emotion over time: windows of ``window`` s every ``hop`` s.

        ``vad="energy"``: windows only over speech regions found by an energy detector
        (:func:`serkit.audio.vad.energy_vad`); ``vad="none"``: fixed windows over the whole
        signal. A final window shorter than ``min_window`` s merges into the previous one.
        Windows are classified ``whole_file.batch`` at a time (memory bounded by the signal).
        """
        if not (np.isfinite(window) and np.isfinite(hop)) or window <= 0 or hop <= 0:
            raise ConfigError("window and hop must be finite and > 0 seconds")
        if hop < 0.01 or window < 0.1:
            raise ConfigError(
                f"window >= 0.1 s and hop >= 0.01 s, got window={window:g}, hop={hop:g}"
            )
        if vad not in ("energy", "none"):
            raise ConfigError(f"vad must be 'energy' or 'none', got {vad!r}")
        x, rate, src = self.signal(audio, sr)
        regions = energy_vad(x, rate) if vad == "energy" else [(0.0, x.size / rate)]
        spans = [w for a, b in regions for w in windows(a, b, window, hop, min_window)]
        rows = []
        step = self.whole_file.batch
        for k in range(0, len(spans), step):
            part = spans[k : k + step]
            segs = [
                (x[int(round(a * rate)) : int(round(b * rate))], rate, f"{src}[{a:.2f}-{b:.2f}]")
                for a, b in part
            ]
            rows += [
                TimelineRow(
                    a,
                    b,
                    p.label,
                    p.probabilities,
                    p.state,
                    p.top,
                    p.confidence,
                    p.speech_s,
                    p.dimensions,
                )
                for (a, b), p in zip(part, self.classify(segs))
            ]
        return rows
