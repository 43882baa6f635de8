"""EAVS-TF estimators: the spiking multimodal head of :mod:`serkit.nn.heads.eavs_tf` on speech
frames and transcript token states (``Split.feats[i]`` is a :class:`~serkit.nn.multimodal.Bimodal`:
the dataset builds them for models whose ``modalities`` include ``text``).

Registered variants (one config, presets): ``eavs-tf`` (spiking, cross-modal attention),
``eavs-tf-ann`` (ReLU twin), ``eavs-tf-late`` (late fusion of the two readouts, no temporal
block), ``eavs-tf-audio`` and ``eavs-tf-text`` (unimodal). Energy: MACs of the layers on
real-valued input and SOPs from real spike counts, per modality (``cost_parts``: audio branch,
text branch, fusion), firing-rate health per spiking layer as for PTS-SNN.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from serkit.core.cost import Cost, energy_mj
from serkit.core.errors import ConfigError
from serkit.estimators.base import FitReport, Split, register
from serkit.estimators.torch_net import COST_CLIPS, TorchNetModel
from serkit.nn.counting import count_params
from serkit.nn.featurizer import LayerMode
from serkit.nn.heads.eavs_tf import EAVSTFNet
from serkit.nn.layers import pool_frames
from serkit.nn.multimodal import Bimodal
from serkit.nn.neurons import firing_health
from serkit.training.trainer import TrainConfig, collate, train_classifier


@dataclass
class EAVSTFConfig:
    """See :class:`~serkit.nn.heads.eavs_tf.EAVSTFNet`. ``pool``: audio frames averaged per SNN
    time step (Whisper's 50 frames/s with 4 -> 12.5 steps/s); ``text_dim``: width of the text
    encoder's states (MiniLM: 384). Training as PTS-SNN (AdamW, one-cycle, early stopping on
    validation speakers, refit on fit + validation speakers for the best epoch count); these
    settings were fixed before any multimodal run, not tuned."""

    pool: int = 4
    layer: int | LayerMode = "learned"
    hidden: int = 128
    fusion: Literal["cross-attn", "late"] = "cross-attn"
    modalities: Literal["both", "audio", "text"] = "both"
    neuron: Literal["plif", "relu"] = "plif"
    norm: Literal["bn", "none"] = "bn"
    modality_dropout: float = 0.3
    shift_frac: float = 0.125
    dropout: float = 0.2
    init_tau: float = 2.0
    text_dim: int = 384
    train: TrainConfig = field(default_factory=lambda: TrainConfig(refit=True))


@register
class EAVSTF(TorchNetModel):
    name = "eavs-tf"
    config_cls = EAVSTFConfig
    modalities = ("audio", "text")

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        c = self.config
        if c.layer in ("auto", "cv"):
            raise ConfigError(
                "eavs-tf: layer must be learned, mean, concat or an index (auto/cv are not "
                "implemented here)"
            )
        self.net = self._build()

    @property
    def uses(self) -> tuple[str, ...]:
        return {"both": ("audio", "text"), "audio": ("audio",), "text": ("text",)}[
            self.config.modalities
        ]

    def _build(self) -> EAVSTFNet:
        c = self.config
        return EAVSTFNet(
            self.n_layers,
            self.dim,
            c.text_dim,
            self.n_classes,
            c.hidden,
            c.fusion,
            c.modalities,
            c.neuron,
            c.norm,
            c.modality_dropout,
            c.shift_frac,
            c.dropout,
            c.init_tau,
            c.layer,
        )

    # ---- data ---------------------------------------------------------------------------
    def _prep(self, feats: list) -> list[Bimodal]:
        bad = [type(f).__name__ for f in feats[:1] if not isinstance(f, Bimodal)]
        if bad:
            raise ConfigError(
                f"eavs-tf needs audio + text items (the dataset builds them); got {bad[0]}"
            )
        return [dataclasses.replace(f, audio=pool_frames(f.audio, self.config.pool)) for f in feats]

    def _fit_norms(self, items: list[Bimodal]) -> None:
        audio = [b.audio for b in items if b.has_audio]
        text = [b.text[None] for b in items if b.text is not None]
        if audio:
            self.net.norm_audio.fit(audio)
        if text:
            self.net.norm_text.fit(text)

    # ---- fit / predict ------------------------------------------------------------------
    def _reset(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.net = self._build()

    def _train(self, items, labels, cfg: TrainConfig, seed: int, val=None):
        self._fit_norms(items)
        return train_classifier(
            self.net, items, labels, self.n_classes, cfg, seed, val, readout=self.net.readout
        )

    def fit(self, train: Split, val: Split | None, seed: int) -> FitReport:
        self._reset(seed)
        items = self._prep(train.feats)
        has_val = val is not None and len(val) > 0
        v = (self._prep(val.feats), val.labels) if has_val else None
        report = FitReport(train=self._train(items, train.labels, self.config.train, seed, v))
        self.val_proba = self.predict_proba(val.feats) if has_val else None
        if self.config.train.refit and has_val:
            self._reset(seed)
            cfg = self.refit_config(report)
            self._train(items + v[0], np.concatenate([train.labels, val.labels]), cfg, seed)
            report.refit_epochs = cfg.epochs
        if self.net.use_audio and self.net.featurizer.logits is not None:
            report.layer_weights = [round(float(w), 4) for w in self.net.featurizer.weights()]
        return report

    # ---- energy -------------------------------------------------------------------------
    @torch.no_grad()
    def _clip_parts(self, item: Bimodal) -> dict[str, dict[str, float]]:
        """Operations of one clip per part: ``{audio|text|fusion: {macs, sops}}``."""
        net = self.net
        net.eval()
        b, _ = collate([item])
        _, sp = net.run(b)
        n_spk = {k: float(s.sum()) for k, s in sp.items()}
        dense = {
            k: float(s.numel()) for k, s in sp.items()
        }  # ANN twin: every activation is a MAC operand
        count = n_spk if net.spiking else dense
        L, T, D = item.audio.shape
        Tt = 0 if item.text is None else item.text.shape[0]
        H, C, Dt = net.hidden, net.n_classes, net.text_dim
        a_on = bool(item.has_audio) and net.use_audio
        t_on = Tt > 0 and net.use_text
        parts = {
            "audio": {"macs": 0.0, "sops": 0.0},
            "text": {"macs": 0.0, "sops": 0.0},
            "fusion": {"macs": 0.0, "sops": 0.0},
        }
        key = "sops" if net.spiking else "macs"
        if a_on:
            parts["audio"]["macs"] += (
                2 * L * T * D + T * D * H
            )  # standardise + layer weights, projection
            parts["audio"][key] += count["lif_a"] * (2 * H if net.cross else H)
            if not net.cross:
                parts["audio"][key] += count["lif_a2"] * C
        if t_on:
            parts["text"]["macs"] += Tt * Dt + Tt * Dt * H
            parts["text"][key] += (
                count["lif_t"] * (H + (2 * H if net.cross else 0)) + count["lif_t2"] * C
            )
        if net.cross and a_on:
            parts["fusion"]["macs"] += T * H * H  # the real-valued context half of the fusion input
            k, v = sp["lif_kv"][:, 0].chunk(2, dim=-1)
            outer = float((k.sum(-1) * v.sum(-1)).sum()) if net.spiking else float(k.numel() * H)
            parts["fusion"][key] += count["lif_q"] * H + outer + count["lif_f"] * C
        return parts

    def cost_parts(self, feats: list, durations: list[float]) -> dict:
        """Per part, per 3 s clip (rates per second of audio, as every serkit cost): MACs, SOPs
        and energy (mJ), measured on up to 32 real test clips."""
        items = self._prep(feats[:COST_CLIPS])
        per = [self._clip_parts(b) for b in items]
        ds = [max(float(d), 1e-3) for d in list(durations)[: len(items)]]
        out = {}
        for p in ("audio", "text", "fusion"):
            macs = 3.0 * float(np.mean([c[p]["macs"] / d for c, d in zip(per, ds)]))
            sops = 3.0 * float(np.mean([c[p]["sops"] / d for c, d in zip(per, ds)]))
            out[p] = {
                "macs": int(macs),
                "sops": int(sops),
                "energy_mj": round(energy_mj(macs, sops), 6),
            }
        return out

    def cost(self, feats: list, durations: list[float]) -> Cost:
        parts = self.cost_parts(feats, durations)
        macs = sum(p["macs"] for p in parts.values())
        sops = sum(p["sops"] for p in parts.values())
        return Cost(count_params(self.net), int(macs), 0, int(sops))

    def spike_stats(self, feats: list) -> dict | None:
        """Per spiking layer: mean firing rate, silent (<1 %) and saturated (>99 %) fractions."""
        if self.config.neuron != "plif":
            return None
        self.net.eval()
        per: dict[str, list] = {}
        with torch.no_grad():
            for item in self._prep(feats[:COST_CLIPS]):
                b, _ = collate([item])
                _, sp = self.net.run(b)
                has = {"t": item.text is not None, "a": bool(item.has_audio)}
                for k, s in sp.items():  # a layer of an absent modality is not "silent"
                    if has["t" if k in ("lif_t", "lif_t2", "lif_kv") else "a"]:
                        per.setdefault(k, []).append(s[:, 0].mean(0).numpy())
        return firing_health(per)


@register
class EAVSTFANN(EAVSTF):
    """Same topology with ReLU instead of PLIF neurons (all MACs)."""

    name = "eavs-tf-ann"
    preset = {"neuron": "relu"}


@register
class EAVSTFLate(EAVSTF):
    """No cross-modal block: the two spiking branches' readouts are added (late fusion)."""

    name = "eavs-tf-late"
    preset = {"fusion": "late"}


@register
class EAVSTFAudio(EAVSTF):
    """The audio branch alone (the transcript is ignored)."""

    name = "eavs-tf-audio"
    preset = {"modalities": "audio"}


@register
class EAVSTFText(EAVSTF):
    """The text branch alone (the audio is ignored)."""

    name = "eavs-tf-text"
    preset = {"modalities": "text"}
