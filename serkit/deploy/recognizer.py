"""The PyTorch back-end: ``serkit.load(name_or_path)`` -> :class:`Recognizer`.

Example:
    >>> import serkit
    >>> rec = serkit.load("default")            # bundled head on Whisper tiny.en (see its card)
    >>> out = rec.predict("speech.wav")         # doctest: +SKIP
    >>> out.label, out.probabilities["anger"]   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.core.cost import Cost
from serkit.core.errors import ConfigError
from serkit.deploy.runner import Runner, Signal
from serkit.estimators.base import Moments, blend_value, snapshot_state
from serkit.estimators.io import load_model


def _like(template, values):
    """``values`` (nested lists from JSON) in the type, dtype and shape of ``template``."""
    import torch

    if isinstance(template, torch.Tensor):
        return torch.tensor(values, dtype=template.dtype).reshape(template.shape)
    return np.asarray(values, dtype=np.asarray(template).dtype).reshape(np.shape(template))


@dataclass
class OnlineAdaptation:
    """State of :meth:`Recognizer.adapt_online`: the model state it blends from (``base``), the
    running :class:`~serkit.estimators.base.Moments` of the speech answered, its seconds, the
    clips counted and the current blend weight."""

    base: dict
    moments: Moments | None = None
    speech_s: float = 0.0
    clips: int = 0
    weight: float = 0.0

    def record(self, current: dict) -> dict:
        """What ``save`` keeps (JSON): the running statistics and the base values of every entry
        the adaptation changed."""
        changed = {
            k: (v.tolist() if hasattr(v, "tolist") else v)
            for k, v in self.base.items()
            if k in current and blend_value(current[k], v, 0.5) is not current[k]
        }
        return {
            "speech_s": round(self.speech_s, 3),
            "clips": self.clips,
            "weight": self.weight,
            "moments": None if self.moments is None else self.moments.to_dict(),
            "base": changed,
        }


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
        from serkit.features.asr import TranscribeConfig, Transcriber

        self.transcriber = (
            None if model is None else Transcriber(TranscribeConfig(model=model, language=language))
        )

    @property
    def provenance(self) -> dict:
        return self.header.get("provenance", {})

    @property
    def card(self) -> dict:
        return self.header.get("card", {})

    def probabilities(
        self, signals: list[Signal], texts: list[str | None] | None = None
    ) -> np.ndarray:
        """Encoder in padded batches per sample rate, then the head (masked: batched == single).
        A multimodal model also encodes each transcript (``texts``; missing ones come from
        :meth:`use_asr` when set, else the audio alone decides)."""
        feats = self.features(signals)
        if self.online is not None:
            self._pending = feats
        if not self.reads_text:
            return self.model.predict_proba(feats)
        from serkit.nn.multimodal import Bimodal

        texts = list(texts) if texts is not None else [None] * len(signals)
        todo = [i for i, t in enumerate(texts) if t is None]
        if todo and self.transcriber is not None:
            import soxr

            wavs = [
                signals[i][0]
                if signals[i][1] == 16000
                else soxr.resample(signals[i][0], signals[i][1], 16000)
                for i in todo
            ]
            for i, tr in zip(
                todo, self.transcriber.transcribe([w.astype(np.float32) for w in wavs])
            ):
                texts[i] = tr.text or None
        enc = [self.text_encoder.encode(t) for t in texts]
        return self.model.predict_proba(
            [
                Bimodal(f, None if e is None else e.states, True, self.text_encoder.dim)
                for f, e in zip(feats, enc)
            ]
        )

    def features(self, signals: list[Signal]) -> list[np.ndarray]:
        """Frontend features ``(L, T, D)`` of prepared signals, in padded batches per sample
        rate."""
        feats: list = [None] * len(signals)
        by_rate: dict[int, list[int]] = {}
        for i, (_, rate, _) in enumerate(signals):
            by_rate.setdefault(rate, []).append(i)
        for rate, idx in by_rate.items():
            for k in range(0, len(idx), self.batch_size):
                part = idx[k : k + self.batch_size]
                for i, f in zip(
                    part, self.frontend.extract_batch([signals[i][0] for i in part], rate)
                ):
                    feats[i] = f
        return feats

    def embed(self, audio, sr: int | None = None) -> np.ndarray:
        """The utterance embedding ``(E,)`` float32 that the head's output layer reads (the
        pooled vector: the input of the head's final ``Linear`` named ``out``). A recording longer
        than ``whole_file.single_s`` gets the mean over its :class:`~serkit.deploy.runner.WholeFile`
        windows, weighted by window length. Raises ``ConfigError`` for a model without such a
        layer (e.g. a multimodal one)."""
        import torch

        x, rate, _ = self.signal(audio, sr)
        spans = (
            [(0, x.size)]
            if x.size / rate <= self.whole_file.single_s
            else self.whole_file.spans(x.size, rate)
        )
        w = np.array([b - a for a, b in spans], dtype=np.float64)
        if hasattr(self.model, "embedding"):  # a model that names its own (logreg)
            vecs = self.model.embedding(self.features([(x[a:b], rate, "") for a, b in spans]))
            return (vecs * (w / w.sum())[:, None]).sum(0).astype(np.float32)
        net = getattr(self.model, "net", None)
        outs = [
            m
            for name, m in (net.named_modules() if net is not None else [])
            if name.split(".")[-1] == "out"
        ]
        if len(outs) != 1 or not isinstance(outs[0], torch.nn.Linear) or self.reads_text:
            raise ConfigError(f"model {self.model.name!r} has no single pooled embedding to return")
        got: list[torch.Tensor] = []
        hook = outs[0].register_forward_pre_hook(lambda mod, args: got.append(args[0].detach()))
        try:
            self.model.predict_proba(self.features([(x[a:b], rate, "") for a, b in spans]))
        finally:
            hook.remove()
        vecs = torch.cat(got).numpy()
        return (vecs * (w / w.sum())[:, None]).sum(0).astype(np.float32)

    #: seconds of speech below which :meth:`adapt` refuses (statistics of less are noise)
    adapt_min_speech_s: float = 10.0
    #: seconds of speech at which the new domain's statistics weigh as much as the training ones
    adapt_half_s: float = 60.0

    def adapt(self, items: list, sr: int | None = None, source: str = "") -> dict:
        """Adapt to a new domain without labels: re-estimate the model's input standardisation
        from these clips (paths, bytes or arrays; see :meth:`signal`) in place. Clips that
        cannot be read raise ``AudioError``; returns what was done (also kept in ``card``)."""
        return self.adapt_signals([self.signal(a, sr) for a in items], source)

    def adapt_files(self, files: list, source: str = "", on_error=None) -> dict:
        """:meth:`adapt` on files, each read once; an unreadable file is passed to
        ``on_error(path, reason)`` and skipped (``skipped`` in the returned record)."""
        from serkit.core.errors import AudioError, SerkitError

        good = []
        for f in files:
            try:
                good.append(self.signal(f))
            except AudioError as exc:
                if on_error is not None:
                    on_error(f, exc.reason)
        if not good:
            raise SerkitError(f"{source or 'the given files'}: no usable audio to adapt on")
        return {**self.adapt_signals(good, source), "skipped": len(files) - len(good)}

    def adapt_signals(self, signals: list[Signal], source: str = "") -> dict:
        """:meth:`adapt` on signals already prepared by :meth:`signal`.

        Clips without speech (speech check) are left out; fewer than ``adapt_min_speech_s`` s
        of speech in all is refused with the reason. The statistics move toward the new
        domain's by ``w = s / (s + adapt_half_s)`` (``s``: seconds of speech given), so 5 short
        clips move them a little and 500 almost fully: every adapted tensor is
        ``w * new + (1 - w) * trained``."""
        import time

        speech = [self._speech(x, rate) for x, rate, _ in signals]
        kept = [
            (sig, sp) for sig, sp in zip(signals, speech) if sp is None or sp >= self.min_speech_s
        ]
        secs = sum((x.size / rate if sp is None else sp) for (x, rate, _), sp in kept)
        if secs < self.adapt_min_speech_s:
            raise ConfigError(
                f"adapt needs at least {self.adapt_min_speech_s:g} s of speech to estimate a "
                "domain's "
                f"statistics; got {secs:.1f} s in {len(kept)} clip(s) with speech "
                f"({len(signals) - len(kept)} without speech): give more recordings"
            )
        before = snapshot_state(self.model.state())
        moments = self.model.adapt_moments(self.features([sig for sig, _ in kept]))
        w = secs / (secs + self.adapt_half_s)
        info = self._blend_toward(before, moments, w)
        info = {
            **info,
            "source": source or f"{len(signals)} clips",
            "clips_used": len(kept),
            "clips_without_speech": len(signals) - len(kept),
            "speech_s": round(secs, 1),
            "weight": round(w, 3),
            "seconds_of_audio": round(sum(x.size / rate for x, rate, _ in signals), 1),
            "date": time.strftime("%Y-%m-%d"),
        }
        self.header.setdefault("card", {})["adapted"] = info
        return info

    def _blend_toward(self, base: dict, moments, w: float) -> dict:
        """Standardisation = ``w`` x the one ``moments`` give + ``(1 - w)`` x ``base``'s (a state
        of this model): every floating tensor that ``adapt_from`` changes is blended."""
        return self.model.adapt_toward(moments, w, base)

    # --- online adaptation ----------------------------------------------------------------
    online: OnlineAdaptation | None = None

    def adapt_online(self, enable: bool = True) -> Recognizer:
        """Adapt as it listens: after each answer, the speech it has answered (clips, or a long
        recording's windows, with at least ``min_speech_s`` of speech) is added to running
        statistics, and the standardisation moves toward them by ``w = s / (s + adapt_half_s)``
        (``s``: seconds of speech heard) once ``adapt_min_speech_s`` are heard; the statistics
        before it began (trained, or from :meth:`adapt`) are the other side of the blend. The
        answer to a clip never uses that clip's own statistics. :meth:`save` keeps the running
        statistics, and a saved file continues where it stopped. ``enable=False`` stops
        updating (the current standardisation stays). Not thread-safe: one listener per
        ``Recognizer``. Returns self."""
        if not enable:
            self.online = None
            return self
        if self.online is not None:
            return self
        if self.reads_text:
            raise ConfigError("online adaptation reads audio statistics; this model reads text too")
        probe = np.random.default_rng(0).normal(0, 0.05, self.sample_rate).astype(np.float32)
        self.model.adapt_moments(self.features([(probe, self.sample_rate, "")]))  # refuses early
        saved = (self.card or {}).get("online_adaptation")
        base = snapshot_state(self.model.state())
        if saved:
            for k, v in saved["base"].items():
                base[k] = _like(base[k], v)
            self.online = OnlineAdaptation(
                base,
                Moments.from_dict(saved["moments"]) if saved.get("moments") else None,
                float(saved["speech_s"]),
                int(saved["clips"]),
            )
        else:
            self.online = OnlineAdaptation(base)
        return self

    def _observe(self, durations: list[float], speech: list[float | None]) -> None:
        """Online adaptation: add the clips just answered (features kept by
        :meth:`probabilities`) to the running statistics and update the standardisation."""
        feats, self._pending = getattr(self, "_pending", None), None
        if self.online is None or feats is None or len(feats) != len(speech):
            return
        on = self.online
        for f, dur, sp in zip(feats, durations, speech):
            if sp is not None and sp < self.min_speech_s:
                continue
            m = self.model.adapt_moments([f])
            on.moments = m if on.moments is None else on.moments + m
            on.speech_s += dur if sp is None else sp
            on.clips += 1
        if on.moments is not None and on.speech_s >= self.adapt_min_speech_s:
            w = on.speech_s / (on.speech_s + self.adapt_half_s)
            self._blend_toward(on.base, on.moments, w)
            on.weight = round(w, 4)
            self.header.setdefault("card", {})["online_adaptation"] = on.record(self.model.state())

    def save(self, path: str | Path) -> None:
        """Write this (possibly adapted) model as a model file."""
        from serkit.estimators.io import save_model

        save_model(path, self.model, self.frontend, self.labels, self.provenance, self.card)

    def cost(self, duration_s: float = 3.0) -> Cost:
        """Params and operations per clip of ``duration_s`` (head as measured at training, encoder
        analytic for this frontend, and the speech check when it is on: :meth:`gate_macs`)."""
        c = Cost.from_dict(self.provenance["cost"]) if "cost" in self.provenance else Cost(0, 0)
        c = c.with_encoder(self.frontend.encoder_macs(c.clip_s), self.frontend.dsp_macs(c.clip_s))
        return dataclasses.replace(c, macs_gate=self.gate_macs(c.clip_s)).scaled(duration_s)
