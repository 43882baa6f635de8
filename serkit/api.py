"""Python API: ``serkit.load(name_or_path)`` -> :class:`Recognizer`.

Example:
    >>> import serkit
    >>> rec = serkit.load("default")            # bundled head on Whisper tiny.en, trained on EmoDB
    >>> out = rec.predict("speech.wav")         # doctest: +SKIP
    >>> out.label, out.probabilities["anger"]   # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from serkit.audio.io import AudioConfig, load_audio, load_audio_bytes, prepare_signal
from serkit.evaluation.energy import energy_mj
from serkit.models.io import load_model

BUNDLED = {"default": "default.pt"}


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


class Recognizer:
    """A trained model with its frontend. ``labels`` and ``sample_rate`` describe its I/O."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.model, self.frontend, self.labels, self.blob = load_model(self.path)
        self.sample_rate = self.frontend.sample_rate or 16000
        self.audio_cfg = AudioConfig(sample_rate=self.frontend.sample_rate)

    @property
    def provenance(self) -> dict:
        return self.blob.get("provenance", {})

    def _signal(self, audio, sr: int | None) -> tuple[np.ndarray, int, str]:
        if isinstance(audio, (str, Path)):
            x, rate = load_audio(audio, self.audio_cfg, return_rate=True)
            return x, rate, str(audio)
        if isinstance(audio, (bytes, bytearray)):
            x, rate = load_audio_bytes(bytes(audio), self.audio_cfg, return_rate=True)
            return x, rate, "<bytes>"
        if sr is None:
            raise ValueError("give sr= (Hz) when passing an array")
        x = prepare_signal(np.asarray(audio), sr, self.audio_cfg)
        return x, self.frontend.sample_rate or sr, "<array>"

    def predict(self, audio, sr: int | None = None) -> Prediction:
        """Classify one file path, encoded file bytes, or array ``(n,)`` / ``(n, channels)``
        (give ``sr`` in Hz for arrays)."""
        return self.predict_batch([audio], sr)[0]

    def predict_batch(self, items: list, sr: int | None = None, batch_size: int = 16) -> list[Prediction]:
        """Classify several inputs in padded batches (encoder and head); results equal
        :meth:`predict` on each to float precision (padding is masked everywhere).
        ``seconds`` of each result is the batch's wall time divided by its size."""
        t0 = time.perf_counter()
        sigs = [self._signal(a, sr) for a in items]
        return self._classify(sigs, t0, batch_size)

    def _classify(self, sigs: list[tuple[np.ndarray, int, str]], t0: float, batch_size: int = 16) -> list[Prediction]:
        feats: list = [None] * len(sigs)
        by_rate: dict[int, list[int]] = {}
        for i, (_, rate, _) in enumerate(sigs):
            by_rate.setdefault(rate, []).append(i)
        for rate, idx in by_rate.items():
            for k in range(0, len(idx), batch_size):
                part = idx[k : k + batch_size]
                for i, f in zip(part, self.frontend.extract_batch([sigs[i][0] for i in part], rate)):
                    feats[i] = f
        probs = self.model.predict_proba(feats) if feats else np.zeros((0, len(self.labels)))
        dt = (time.perf_counter() - t0) / max(1, len(sigs))
        return [Prediction(self.labels[int(np.argmax(p))], {lab: float(v) for lab, v in zip(self.labels, p)},
                           dt, x.size / rate, src) for p, (x, rate, src) in zip(probs, sigs)]

    def timeline(self, audio, sr: int | None = None, window: float = 2.0, hop: float = 1.0,
                 vad: str = "energy", min_window: float = 0.5) -> list[TimelineRow]:
        """Emotion over time for long audio: windows of ``window`` s every ``hop`` s.

        ``vad="energy"``: windows are laid only over speech regions found by an energy
        detector (:func:`serkit.audio.vad.energy_vad`); ``vad="none"``: fixed windows over the
        whole signal. A final window shorter than ``min_window`` s is merged into the previous
        one. Returns rows (start, end, label, probabilities) in time order.
        """
        from serkit.audio.vad import energy_vad, windows

        if window <= 0 or hop <= 0:
            raise ValueError("window and hop must be > 0 seconds")
        x, rate, src = self._signal(audio, sr)
        if vad == "energy":
            regions = energy_vad(x, rate)
        elif vad == "none":
            regions = [(0.0, x.size / rate)]
        else:
            raise ValueError(f"vad must be 'energy' or 'none', got {vad!r}")
        spans = [w for a, b in regions for w in windows(a, b, window, hop, min_window)]
        t0 = time.perf_counter()
        segs = [(x[int(round(a * rate)) : int(round(b * rate))], rate, f"{src}[{a:.2f}-{b:.2f}]") for a, b in spans]
        preds = self._classify(segs, t0) if segs else []
        return [TimelineRow(a, b, p.label, p.probabilities) for (a, b), p in zip(spans, preds)]

    def cost(self, duration_s: float = 3.0) -> dict:
        """Params and energy per clip of ``duration_s`` (head from the saved measurement, encoder analytic)."""
        c = self.provenance.get("cost", {})
        enc = self.frontend.encoder_macs(duration_s)
        scale = duration_s / 3.0
        macs = c.get("macs_head", 0) * scale
        acs = (c.get("acs_head", 0) + c.get("sops_head", 0)) * scale
        return {"params_trainable": c.get("params_trainable"), "macs_head": int(macs),
                "energy_head_mj": energy_mj(macs, acs),
                "energy_encoder_mj": energy_mj(enc) if enc is not None else None}


def load(name_or_path: str | Path = "default") -> Recognizer:
    """A bundled model by name (``default``) or a ``.pt`` file written by ``serkit train``."""
    if str(name_or_path) in BUNDLED:
        ref = resources.files("serkit") / "pretrained" / BUNDLED[str(name_or_path)]
        with resources.as_file(ref) as p:
            return Recognizer(p)
    return Recognizer(name_or_path)
