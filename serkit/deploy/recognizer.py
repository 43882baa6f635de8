"""The PyTorch back-end: ``serkit.load(name_or_path)`` -> :class:`Recognizer`.

Example:
    >>> import serkit
    >>> rec = serkit.load("default")            # bundled head on Whisper tiny.en (see its card)
    >>> out = rec.predict("speech.wav")         # doctest: +SKIP
    >>> out.label, out.probabilities["anger"]   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serkit.core.cost import Cost
from serkit.core.errors import ConfigError
from serkit.deploy.runner import Runner, Signal
from serkit.estimators.io import load_model


class Recognizer(Runner):
    """A trained model with its frontend. ``labels``, ``sample_rate``, ``card`` and
    ``provenance`` describe it; ``predict`` / ``predict_batch`` / ``timeline`` come from
    :class:`~serkit.deploy.runner.Runner`."""

    def __init__(self, path: str | Path, batch_size: int = 16):
        self.path = Path(path)
        self.model, self.frontend, self.labels, self.header = load_model(self.path)
        self.sample_rate = self.frontend.sample_rate or 16000
        self.target_rate = self.frontend.sample_rate
        self.batch_size = batch_size
        cal = self.card.get("calibration") or {}
        self.temperature = float(cal.get("temperature", 1.0))
        self.min_confidence = float(cal.get("min_confidence", 0.0))
        self.reads_text = "text" in self.model.modalities
        self.text_encoder = self.transcriber = None
        if self.reads_text:
            from serkit.core.config import from_dict
            from serkit.features.text import TextEncoder, TextEncoderConfig

            tcfg = (self.provenance.get("experiment") or {}).get("text") or {}
            self.text_encoder = TextEncoder(from_dict(TextEncoderConfig, tcfg, "text encoder"))

    def use_asr(self, model: str | None = "tiny.en", language: str | None = None) -> None:
        """A multimodal model: transcribe inputs that come without a transcript with the bundled
        Whisper (``None``: do not; such inputs are classified from their audio alone)."""
        if not self.reads_text:
            raise ConfigError("this model does not read transcripts")
        from serkit.features.asr import Transcriber, TranscribeConfig

        self.transcriber = None if model is None else Transcriber(TranscribeConfig(model=model, language=language))

    @property
    def provenance(self) -> dict:
        return self.header.get("provenance", {})

    @property
    def card(self) -> dict:
        return self.header.get("card", {})

    def probabilities(self, signals: list[Signal], texts: list[str | None] | None = None) -> np.ndarray:
        """Encoder in padded batches per sample rate, then the head (masked: batched == single).
        A multimodal model also encodes each transcript (``texts``; missing ones come from
        :meth:`use_asr` when set, else the audio alone decides)."""
        feats = self.features(signals)
        if not self.reads_text:
            return self.model.predict_proba(feats)
        from serkit.nn.multimodal import Bimodal

        texts = list(texts) if texts is not None else [None] * len(signals)
        todo = [i for i, t in enumerate(texts) if t is None]
        if todo and self.transcriber is not None:
            import soxr

            wavs = [signals[i][0] if signals[i][1] == 16000 else soxr.resample(signals[i][0], signals[i][1], 16000)
                    for i in todo]
            for i, tr in zip(todo, self.transcriber.transcribe([w.astype(np.float32) for w in wavs])):
                texts[i] = tr.text or None
        enc = [self.text_encoder.encode(t) for t in texts]
        return self.model.predict_proba([Bimodal(f, None if e is None else e.states, True, self.text_encoder.dim)
                                         for f, e in zip(feats, enc)])

    def features(self, signals: list[Signal]) -> list[np.ndarray]:
        """Frontend features ``(L, T, D)`` of prepared signals, in padded batches per sample rate."""
        feats: list = [None] * len(signals)
        by_rate: dict[int, list[int]] = {}
        for i, (_, rate, _) in enumerate(signals):
            by_rate.setdefault(rate, []).append(i)
        for rate, idx in by_rate.items():
            for k in range(0, len(idx), self.batch_size):
                part = idx[k: k + self.batch_size]
                for i, f in zip(part, self.frontend.extract_batch([signals[i][0] for i in part], rate)):
                    feats[i] = f
        return feats

    def adapt(self, items: list, sr: int | None = None, source: str = "") -> dict:
        """Adapt to a new domain without labels: re-estimate the model's input standardisation
        from these clips (paths, bytes or arrays; see :meth:`signal`) in place. Clips that
        cannot be read raise ``AudioError``; returns what was done (also kept in ``card``)."""
        return self.adapt_signals([self.signal(a, sr) for a in items], source)

    def adapt_signals(self, signals: list[Signal], source: str = "") -> dict:
        """:meth:`adapt` on signals already prepared by :meth:`signal`."""
        import time

        info = {**self.model.adapt(self.features(signals)), "source": source or f"{len(signals)} clips",
                "seconds_of_audio": round(sum(x.size / rate for x, rate, _ in signals), 1),
                "date": time.strftime("%Y-%m-%d")}
        self.header.setdefault("card", {})["adapted"] = info
        return info

    def save(self, path: str | Path) -> None:
        """Write this (possibly adapted) model as a model file."""
        from serkit.estimators.io import save_model

        save_model(path, self.model, self.frontend, self.labels, self.provenance, self.card)

    def cost(self, duration_s: float = 3.0) -> Cost:
        """Params and operations per clip of ``duration_s`` (head as measured at training, encoder
        analytic for this frontend)."""
        c = Cost.from_dict(self.provenance["cost"]) if "cost" in self.provenance else Cost(0, 0)
        return c.with_encoder(self.frontend.encoder_macs(c.clip_s), self.frontend.dsp_macs(c.clip_s)).scaled(duration_s)


def load(name_or_path: str | Path = "default") -> Recognizer:
    """A bundled model by name (``default``; :data:`serkit.deploy.bundles.BUNDLES`) or a
    ``.pt`` file written by ``serkit train``."""
    from serkit.deploy.bundles import BUNDLES

    if str(name_or_path) in BUNDLES:
        return BUNDLES[str(name_or_path)].get_model()
    return Recognizer(name_or_path)
