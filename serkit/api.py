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

from serkit.audio.io import AudioConfig, load_audio, prepare_signal
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
        if sr is None:
            raise ValueError("give sr= (Hz) when passing an array")
        x = prepare_signal(np.asarray(audio), sr, self.audio_cfg)
        return x, self.frontend.sample_rate or sr, "<array>"

    def predict(self, audio, sr: int | None = None) -> Prediction:
        """Classify one file path or array ``(n,)`` / ``(n, channels)`` (give ``sr`` for arrays)."""
        return self.predict_batch([audio], sr)[0]

    def predict_batch(self, items: list, sr: int | None = None) -> list[Prediction]:
        """Classify several inputs; results equal :meth:`predict` on each."""
        t0 = time.perf_counter()
        sigs = [self._signal(a, sr) for a in items]
        out = []
        for x, rate, src in sigs:
            feats = self.frontend.extract(x, rate)
            p = self.model.predict_proba([feats])[0]
            out.append((p, x.size / rate, src))
        dt = (time.perf_counter() - t0) / max(1, len(items))
        return [Prediction(self.labels[int(np.argmax(p))], {lab: float(v) for lab, v in zip(self.labels, p)},
                           dt, d, s) for p, d, s in out]

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
