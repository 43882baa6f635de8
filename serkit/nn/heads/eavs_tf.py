"""EAVS-TF: a spiking multimodal head on speech frames and the token states of the words spoken
(serkit's reading of "a bio-inspired spiking neural network for energy-efficient multimodal
emotion recognition"; only the title is public, so every choice below is documented and a
config field).

Input: a :class:`~serkit.nn.multimodal.BimodalBatch` (audio ``(N, L, T, D)`` encoder states
pooled to SNN time steps, text ``(N, T_tok, D_t)`` token states, both with masks). Pipeline:

1. Training-fold standardisation of both modalities; learned softmax weights over the audio
   encoder states (the featurizer) -> ``(N, T, D)``.
2. **Audio encoder** (TSSE, as PTS-SNN): temporal shift of 1/8 of the channels each way, a
   projection ``D -> H`` (real-valued input: MACs), BatchNorm, PLIF -> audio spikes ``(T, N, H)``.
3. **Text encoder**: a projection ``D_t -> H`` per token (MACs), BatchNorm, PLIF -> text spikes
   ``(T_tok, N, H)``; tokens are the text's time steps.
4. **Fusion** (``fusion``):

   - ``cross-attn`` (default): spike-driven cross-modal attention. Audio spikes give binary
     queries (``H -> H`` then PLIF), text spikes binary keys and values (``H -> 2H`` then PLIF);
     no softmax: ``ctx_t = q_t (sum_j k_j^T v_j) / (H n_tok)`` (linear attention; products of
     spikes are accumulates). The context enters the audio stream as an input current of a
     temporal-fusion PLIF layer ``[s_a ; ctx] -> H`` whose membrane integrates over the audio
     time steps; a missing transcript gives ``ctx = 0`` (the audio path alone).
   - ``late``: no cross-modal block; each modality's second spiking layer is read out and the
     two logit vectors are added (late fusion of the two readouts).

5. Readout: time-averaged spikes of the fused (or audio) stream and of the text stream, each
   ``H -> C``, added; an absent modality contributes nothing.

``modalities``: ``both`` | ``audio`` | ``text`` (the unimodal variants of the ablation).
``modality_dropout``: while training, each utterance loses its transcript with this
probability and, independently, its audio with this probability (never both), so that either
modality alone works at inference. ``neuron='relu'`` gives the ANN twin (same topology, all
MACs); ``norm='none'`` removes the BatchNorm before every neuron (the distribution-mismatch
ablation).
"""

from __future__ import annotations

import torch
from torch import nn

from serkit.core.errors import ConfigError
from serkit.nn.counting import add_macs
from serkit.nn.featurizer import Featurizer
from serkit.nn.heads.pts_snn import _ReLUNode, temporal_shift
from serkit.nn.layers import MaskedBatchNorm, Standardize
from serkit.nn.multimodal import BimodalBatch
from serkit.nn.neurons import ATan, PLIFNode


class EAVSTFNet(nn.Module):
    """``forward(batch: BimodalBatch, mask) -> logits (N, C)``; see the module docstring."""

    def __init__(
        self,
        n_layers: int,
        audio_dim: int,
        text_dim: int,
        n_classes: int,
        hidden: int = 128,
        fusion: str = "cross-attn",
        modalities: str = "both",
        neuron: str = "plif",
        norm: str = "bn",
        modality_dropout: float = 0.3,
        shift_frac: float = 0.125,
        dropout: float = 0.2,
        init_tau: float = 2.0,
        layer_mode: int | str = "learned",
    ):
        super().__init__()
        if (
            fusion not in ("cross-attn", "late")
            or modalities not in ("both", "audio", "text")
            or neuron not in ("plif", "relu")
            or norm not in ("bn", "none")
        ):
            raise ConfigError(
                f"eavs-tf: fusion cross-attn|late, modalities both|audio|text, neuron plif|relu, "
                f"norm bn|none; got {fusion!r}, {modalities!r}, {neuron!r}, {norm!r}"
            )
        self.fusion, self.modalities, self.spiking, self.use_bn = (
            fusion,
            modalities,
            neuron == "plif",
            norm == "bn",
        )
        self.p_drop, self.shift_frac = modality_dropout, shift_frac
        self.use_audio, self.use_text = (
            modalities in ("both", "audio"),
            modalities in ("both", "text"),
        )
        self.cross = fusion == "cross-attn" and modalities == "both"
        H = hidden

        def node(
            size, bias_init=0.5
        ):  # BatchNorm shift +0.5: neurons start in their responsive range
            return (
                PLIFNode(size, init_tau, False, 1.0, 0.0, ATan()) if self.spiking else _ReLUNode()
            ), MaskedBatchNorm(size, bias_init=bias_init)

        self.hidden, self.n_classes, self.text_dim = H, n_classes, text_dim
        # (a unimodal variant builds only its own branch: its parameter count is its own)
        self.norm_audio = Standardize(n_layers, audio_dim)
        self.norm_text = Standardize(1, text_dim)
        self.featurizer = Featurizer(n_layers, layer_mode)
        if self.use_audio:
            self.proj_a, (self.lif_a, self.bn_a) = nn.Linear(audio_dim, H), node(H)
            self.out_a = nn.Linear(H, n_classes)
            if not self.cross:
                self.fc_a2, (self.lif_a2, self.bn_a2) = nn.Linear(H, H), node(H)
        if self.use_text:
            self.proj_t, (self.lif_t, self.bn_t) = nn.Linear(text_dim, H), node(H)
            self.fc_t2, (self.lif_t2, self.bn_t2) = nn.Linear(H, H), node(H)
            self.out_t = nn.Linear(H, n_classes)
        if self.cross:
            self.q, (self.lif_q, self.bn_q) = nn.Linear(H, H, bias=False), node(H, 0.5)
            self.kv, (self.lif_kv, self.bn_kv) = nn.Linear(H, 2 * H, bias=False), node(2 * H, 0.5)
            self.fuse, (self.lif_f, self.bn_f) = nn.Linear(2 * H, H), node(H)
        self.drop = nn.Dropout(dropout)

    @property
    def readout(self) -> nn.Linear:
        """The final layer whose input is the pooled representation (centre / SupCon losses)."""
        return self.out_a if self.use_audio else self.out_t

    def spiking_nodes(self) -> dict[str, nn.Module]:
        names = (
            (["lif_a"] + (["lif_q", "lif_kv", "lif_f"] if self.cross else ["lif_a2"]))
            if self.use_audio
            else []
        )
        names += ["lif_t", "lif_t2"] if self.use_text else []
        return {n: getattr(self, n) for n in names}

    def _bn(self, bn, x, m):
        return bn(x, m) if self.use_bn else x

    def _available(self, b: BimodalBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per utterance: audio on, text on (after modality dropout while training)."""
        a_on = b.has_audio.clone() & self.use_audio
        t_on = b.has_text.clone() & self.use_text
        if self.training and self.p_drop > 0 and self.modalities == "both":
            drop_t = torch.rand(len(a_on)) < self.p_drop
            drop_a = torch.rand(len(a_on)) < self.p_drop
            t_on = t_on & ~(drop_t & a_on)  # drop the words only where the audio remains
            a_on = a_on & ~(drop_a & t_on)  # and the audio only where words remain
        return a_on, t_on

    def forward(self, b: BimodalBatch, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(b)[0]

    def run(self, b: BimodalBatch):
        """-> ``(logits (N, C), {layer: spikes (T, N, H)})``."""
        a_on, t_on = self._available(b)
        N = len(a_on)
        logits = torch.zeros(N, self.n_classes)
        spikes: dict[str, torch.Tensor] = {}
        s_t = None
        if self.use_text:
            mt = (b.text_mask & t_on[:, None]).transpose(0, 1).unsqueeze(-1).float()  # (Tt, N, 1)
            xt = self.norm_text(b.text[:, None])[:, 0].transpose(0, 1) * mt  # (Tt, N, Dt)
            s_t = self.lif_t(self._bn(self.bn_t, self.proj_t(xt), mt) * mt) * mt
            s_t2 = self.lif_t2(self._bn(self.bn_t2, self.fc_t2(self.drop(s_t)), mt) * mt) * mt
            spikes.update(lif_t=s_t, lif_t2=s_t2)
            rate_t = s_t2.sum(0) / mt.sum(0).clamp_min(1.0)
            logits = logits + self.out_t(rate_t) * t_on[:, None]
        if self.use_audio:
            ma = (b.audio_mask & a_on[:, None]).transpose(0, 1).unsqueeze(-1).float()  # (T, N, 1)
            za = self.featurizer(self.norm_audio(b.audio)).transpose(0, 1) * ma  # (T, N, D)
            za = temporal_shift(za, self.shift_frac)
            s_a = self.lif_a(self._bn(self.bn_a, self.proj_a(za), ma) * ma) * ma
            spikes["lif_a"] = s_a
            if self.cross:
                q = self.lif_q(self._bn(self.bn_q, self.q(s_a), ma) * ma) * ma  # binary queries
                kv = (
                    self.lif_kv(self._bn(self.bn_kv, self.kv(s_t), mt) * mt) * mt
                )  # binary keys, values
                k, v = kv.chunk(2, dim=-1)
                n_tok = mt.sum(0).clamp_min(1.0)  # (N, 1)
                kv_sum = torch.einsum(
                    "jnh,jng->nhg", k, v
                )  # sum_j k_j^T v_j: accumulates of spikes
                ctx = torch.einsum("tnh,nhg->tng", q, kv_sum) / (n_tok[None] * k.shape[-1])
                ctx = ctx * t_on[None, :, None]
                if not self.spiking:  # ANN twin: the products are MACs
                    add_macs(self, macs=k.numel() * k.shape[-1] + q.numel() * k.shape[-1])
                cur = self.fuse(
                    torch.cat([s_a, ctx], dim=-1)
                )  # ctx is real-valued: its half is MACs
                s_f = self.lif_f(self._bn(self.bn_f, cur, ma) * ma) * ma
                spikes.update(lif_q=q, lif_kv=kv, lif_f=s_f)
                top = s_f
            else:
                top = self.lif_a2(self._bn(self.bn_a2, self.fc_a2(self.drop(s_a)), ma) * ma) * ma
                spikes["lif_a2"] = top
            rate_a = top.sum(0) / ma.sum(0).clamp_min(1.0)
            logits = logits + self.out_a(rate_a) * a_on[:, None]
        return logits, spikes
