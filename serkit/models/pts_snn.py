"""PTS-SNN: prompt-tuned spiking head on frozen encoder frames (arXiv 2602.08240; no public
code, so details below are this implementation's documented choices, each a config field).

Input ``x: (N, L, T, D)`` encoder states, ``mask: (N, T)``. Pipeline:

1. Standardise (training-fold statistics), softmax layer weighting (or one state, ``layer``) -> ``(N, T, D)``; frames
   are average-pooled by ``pool`` and each pooled frame is one SNN time step (Whisper's 50
   frames/s with pool 4 -> 12.5 steps/s, ~37 steps for a 3 s clip).
2. **TSSE** (temporal shift spiking encoder): a parameter-free shift of ``shift_frac`` of the
   channels one step forward in time and another ``shift_frac`` one step back (TSM), then a
   linear projection ``D -> H`` (real-valued input: counted as MACs) and a PLIF layer.
3. **CAMPC** (context-aware membrane potential calibration): an uncalibrated PLIF pass over the
   projected currents gives context spikes; spiking keys/values (``H -> H``, spike-driven:
   ACs) feed a sparse *linear* attention with ``M`` learnable queries ``q_m``:
   ``ctx_m = (1/(T H)) sum_t (q_m . k_t) v_t`` (no softmax; ``1/H`` keeps it O(1) for any
   width). The context-conditioned soft prompts ``z_m = p_m + ctx_m`` set a per-utterance,
   per-channel bias voltage for each PLIF layer ``l``, re-centring its currents in the
   neurons' responsive range:

   - ``bias_map='diag'`` (default): ``b_l = sum_m a_lm * z_m + c_l`` (``*`` elementwise; each
     channel's bias is a mix of the same channel across prompts): ``2 (M + 1) H`` parameters.
   - ``bias_map='dense'``: one linear map ``(M H) -> 2H`` (the first implementation; 0.52 M
     parameters at H = 256, which overfits EmoDB's 10 speakers: see docs/BENCHMARKS.md).

   Both start at zero (calibration begins as "no bias", i.e. the vanilla SNN).
   With ``norm='bn'`` (default) a masked BatchNorm precedes every neuron layer (tdBN style;
   foldable into weights and thresholds at inference); ``norm='none'`` removes it, which
   exposes the raw distribution mismatch the paper describes.
4. A second spiking layer ``H -> H`` (ACs) and a readout of the time-averaged spikes
   (``H -> C``; ACs).

``neuron='relu'`` gives the ANN twin (same topology, ReLU instead of PLIF, everything MACs);
``use_tsse`` / ``use_campc`` switch the two modules for the ablation (both off = vanilla SNN).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from serkit.errors import ConfigError
from serkit.evaluation.energy import add_macs, count_params, measure_macs
from serkit.models.base import register
from serkit.models.heads import LayerWeighting
from serkit.models.neurons import SURROGATES, PLIFNode
from serkit.models.torch_models import TorchHeadModel
from serkit.training.trainer import TrainConfig


def temporal_shift(x: torch.Tensor, frac: float) -> torch.Tensor:
    """Shift ``frac`` of the channels one step forward and ``frac`` one step back in time.

    ``x: (T, N, D)``; step ``t`` of the first slice receives step ``t-1`` (zeros at t=0), of the
    second slice step ``t+1`` (zeros at the end). Parameter-free, zero MACs.
    """
    fold = int(x.shape[-1] * frac)
    if fold == 0:
        return x
    out = torch.zeros_like(x)
    out[1:, :, :fold] = x[:-1, :, :fold]
    out[:-1, :, fold : 2 * fold] = x[1:, :, fold : 2 * fold]
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out


class MaskedBatchNorm(nn.Module):
    """BatchNorm over the real (unpadded) steps of ``x: (T, N, H)`` with ``m: (T, N, 1)``.

    A per-channel affine map at inference, so it folds into the preceding linear layer's
    weights and the neurons' thresholds: it adds no operations to a deployed SNN.
    """

    def __init__(self, size: int, momentum: float = 0.1, eps: float = 1e-5, bias_init: float = 0.0):
        super().__init__()
        self.bias_init = bias_init
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.full((size,), bias_init))
        self.register_buffer("running_mean", torch.zeros(size))
        self.register_buffer("running_var", torch.ones(size))
        self.momentum, self.eps = momentum, eps

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.constant_(self.bias, self.bias_init)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        if self.training:
            n = m.sum().clamp_min(1.0)
            mean = (x * m).sum((0, 1)) / n
            var = (((x - mean) * m) ** 2).sum((0, 1)) / n
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class _ReLUNode(nn.Module):
    """Drop-in for :class:`PLIFNode` in the ANN twin (bias added, no state)."""

    record = False
    last_spikes = None

    def forward(self, x_seq, bias=None):
        y = torch.relu(x_seq if bias is None else x_seq + bias)
        if self.record:
            self.last_spikes = y.detach()
        return y


class PTSSNNHead(nn.Module):
    """``forward(x (N, L, T, D), mask (N, T))`` -> logits ``(N, C)``. See module docstring."""

    def __init__(self, n_layers: int, dim: int, n_classes: int, hidden: int = 256, n_prompts: int = 4,
                 shift_frac: float = 0.125, use_tsse: bool = True, use_campc: bool = True, neuron: str = "plif",
                 init_tau: float = 2.0, tau_per_channel: bool = False, v_threshold: float = 1.0,
                 soft_reset: bool = False, surrogate: str = "atan", layer: int | str | None = None, dropout: float = 0.2,
                 norm: str = "bn", bias_map: str = "diag"):
        super().__init__()
        self.use_bn = norm == "bn"
        self.layers = LayerWeighting(n_layers, layer)
        self.use_tsse, self.use_campc, self.shift_frac = use_tsse, use_campc, shift_frac
        self.spiking = neuron == "plif"

        def node(size):
            if not self.spiking:
                return _ReLUNode()
            return PLIFNode(size, init_tau, tau_per_channel, v_threshold, None if soft_reset else 0.0,
                            SURROGATES[surrogate]())

        self.proj = nn.Linear(dim, hidden)
        self.bn1 = MaskedBatchNorm(hidden)
        self.bn2 = MaskedBatchNorm(hidden)
        self.lif1 = node(hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.lif2 = node(hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)
        if use_campc:
            self.lif_ctx = node(hidden)
            self.kv = nn.Linear(hidden, 2 * hidden, bias=False)  # keys and values in one map
            self.lif_kv = node(2 * hidden)
            # context neurons start in their responsive range (shift +0.5 after normalisation),
            # otherwise the context path can stay silent and never receive a useful gradient
            self.bn_ctx = MaskedBatchNorm(hidden, bias_init=0.5)
            self.bn_kv = MaskedBatchNorm(2 * hidden, bias_init=0.5)
            self.prompts = nn.Parameter(torch.randn(n_prompts, hidden) * 0.1)
            self.queries = nn.Parameter(torch.randn(n_prompts, hidden) * 0.1)
            if bias_map not in ("diag", "dense"):
                raise ConfigError(f"bias_map must be 'diag' or 'dense', got {bias_map!r}")
            self.bias_map = bias_map
            if bias_map == "dense":
                self.to_bias = nn.Linear(n_prompts * hidden, 2 * hidden)
            else:
                self.bias_mix = nn.Parameter(torch.zeros(2, n_prompts, hidden))  # a_lm
                self.bias_offset = nn.Parameter(torch.zeros(2, hidden))  # c_l
            self.reset_calibration()

    def reset_calibration(self) -> None:
        """Prompts and queries small random, prompt-to-bias map zero (no bias at the start)."""
        nn.init.normal_(self.prompts, std=0.1)
        nn.init.normal_(self.queries, std=0.1)
        if self.bias_map == "dense":
            nn.init.zeros_(self.to_bias.weight)
            nn.init.zeros_(self.to_bias.bias)
        else:
            nn.init.zeros_(self.bias_mix)
            nn.init.zeros_(self.bias_offset)

    def bias_voltages(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft prompts ``z: (N, M, H)`` -> bias voltages of lif1 and lif2, each ``(N, H)``."""
        if self.bias_map == "dense":
            b1, b2 = self.to_bias(z.flatten(1)).chunk(2, dim=-1)
            return b1, b2
        b = torch.einsum("lmh,nmh->lnh", self.bias_mix, z) + self.bias_offset[:, None]
        return b[0], b[1]

    def spiking_nodes(self) -> dict[str, nn.Module]:
        names = ["lif1", "lif2"] + (["lif_ctx", "lif_kv"] if self.use_campc else [])
        return {n: getattr(self, n) for n in names}

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.run(x, mask)[0]

    def run(self, x: torch.Tensor, mask: torch.Tensor):
        """Returns ``(logits (N, C), s1 (T, N, H), s2 (T, N, H))``."""
        h = self.layers(x).transpose(0, 1)  # (T, N, D)
        m = mask.transpose(0, 1).unsqueeze(-1).to(h.dtype)  # (T, N, 1)
        h = h * m
        if self.use_tsse:
            h = temporal_shift(h, self.shift_frac)
        cur = self.proj(h)  # (T, N, H) input currents (MACs on real-valued input)
        cur = (self.bn1(cur, m) if self.use_bn else cur) * m
        n_valid = m.sum(0).clamp_min(1.0)  # (N, 1)
        b1 = b2 = None
        if self.use_campc:
            ctx_s = self.lif_ctx(self.bn_ctx(cur, m) if self.use_bn else cur) * m  # uncalibrated context spikes
            kv = self.kv(ctx_s)  # spike-driven
            kv = self.lif_kv(self.bn_kv(kv, m) if self.use_bn else kv) * m  # spiking keys / values
            k, v = kv.chunk(2, dim=-1)
            q = self.queries  # (M, H): input-independent
            if not self.spiking:  # ANN twin: dense products are MACs (spiking: ACs, counted from spikes)
                add_macs(self, macs=2 * k.numel() * q.shape[0])
            scores = torch.einsum("mh,tnh->tnm", q, k)  # q . k_t
            ctx = torch.einsum("tnm,tnh->nmh", scores, v) / (n_valid[:, :, None] * k.shape[-1])
            z = self.prompts[None] + ctx  # (N, M, H) context-conditioned soft prompts
            b1, b2 = self.bias_voltages(z)  # (N, H) bias voltages
            if self.bias_map == "diag":  # M multiply-adds per channel per layer on real values
                add_macs(self, macs=2 * z.numel())
        s1 = self.lif1(cur, b1) * m
        c2 = self.fc2(self.drop(s1))
        s2 = self.lif2(self.bn2(c2, m) if self.use_bn else c2, b2) * m
        rate = s2.sum(0) / n_valid  # (N, H) firing rate (or mean activation for the ANN twin)
        return self.out(rate), s1, s2


@dataclass
class PTSSNNConfig:
    """See :class:`PTSSNNHead`. ``pool``: frames averaged per SNN time step. ``train``:
    optimisation (shared :class:`TrainConfig`); ``layer``: how encoder layers are combined
    (:class:`~serkit.models.heads.LayerWeighting`); ``refit`` is on by default, as for ``attnpool``:
    chosen on EmoDB training speakers only (nested leave-one-speaker-out inside fold 1's
    training speakers, 3 seeds: dev UA 0.845 -> 0.861; ``benchmarks/nested_dev.py``)."""

    pool: int = 4
    hidden: int = 256
    n_prompts: int = 4
    shift_frac: float = 0.125
    use_tsse: bool = True
    use_campc: bool = True
    neuron: str = "plif"
    init_tau: float = 2.0
    tau_per_channel: bool = False
    v_threshold: float = 1.0
    soft_reset: bool = False
    surrogate: str = "atan"
    layer: int | str | None = None
    dropout: float = 0.2
    norm: str = "bn"
    bias_map: str = "diag"
    train: TrainConfig = field(default_factory=lambda: TrainConfig(refit=True))


@register
class PTSSNN(TorchHeadModel):
    name = "pts-snn"
    config_cls = PTSSNNConfig
    preset: dict = {}

    def __init__(self, config, n_classes, n_layers, dim):
        for k, v in self.preset.items():
            setattr(config, k, v)
        if config.surrogate not in SURROGATES:
            raise ConfigError(f"surrogate must be one of {sorted(SURROGATES)}, got {config.surrogate!r}")
        super().__init__(config, n_classes, n_layers, dim)

    def build_head(self) -> nn.Module:
        c = self.config
        return PTSSNNHead(self.n_layers, self.dim, self.n_classes, c.hidden, c.n_prompts, c.shift_frac, c.use_tsse,
                          c.use_campc, c.neuron, c.init_tau, c.tau_per_channel, c.v_threshold, c.soft_reset,
                          c.surrogate, c.layer, c.dropout, c.norm, c.bias_map)

    def _init_extra(self) -> None:
        head = self.net.head
        if head.use_campc:
            head.reset_calibration()

    @torch.no_grad()
    def spike_stats(self, feats: list[np.ndarray]) -> dict:
        """Per spiking layer: mean firing rate, fraction of silent (<1%) and saturated (>99%)
        neurons, and spike counts; measured on real inputs (one clip at a time)."""
        head = self.net.head
        nodes = head.spiking_nodes()
        for n in nodes.values():
            n.record = True
        per = {k: [] for k in nodes}
        counts = {k: 0.0 for k in nodes}
        try:
            for f in self._prep(feats):
                x = torch.from_numpy(f.astype(np.float32))[None]
                self.net(x, torch.ones(1, f.shape[1], dtype=torch.bool))
                for k, n in nodes.items():
                    s = n.last_spikes[:, 0]  # (T, H)
                    per[k].append(s.mean(0).numpy())
                    counts[k] += float(s.sum()) if self.config.neuron == "plif" else float((s > 0).sum())
        finally:
            for n in nodes.values():
                n.record = False
        out = {}
        for k, rates in per.items():
            r = np.mean(rates, axis=0)
            out[k] = {"rate": round(float(r.mean()), 4), "silent": round(float((r < 0.01).mean()), 4),
                      "saturated": round(float((r > 0.99).mean()), 4)}
        return out

    @torch.no_grad()
    def _sops(self, f: np.ndarray) -> float:
        """Synaptic operations on one clip: spikes x fan-out of every spike-driven layer.

        lif1 -> fc2 (H), lif2 -> readout (C), and with CAMPC: ctx -> keys and values (2H); each
        key spike adds one prompt query weight per prompt (M), each value spike one score per
        prompt (M).
        """
        head = self.net.head
        nodes = head.spiking_nodes()
        for n in nodes.values():
            n.record = True
        try:
            x = torch.from_numpy(f.astype(np.float32))[None]
            self.net(x, torch.ones(1, f.shape[1], dtype=torch.bool))
            count = {k: float(n.last_spikes.sum()) for k, n in nodes.items()}
        finally:
            for n in nodes.values():
                n.record = False
        H, C = head.fc2.out_features, head.out.out_features
        sops = count["lif1"] * H + count["lif2"] * C
        if head.use_campc:
            M = head.prompts.shape[0]
            sops += count["lif_ctx"] * 2 * H + count["lif_kv"] * M
        return sops

    def cost(self, feats, durations) -> dict:
        """Per 3 s clip: MACs of layers on real-valued input (standardisation, layer weighting,
        TSSE projection, prompt/bias maps), SOPs from real spike counts; ANN twin: all MACs."""
        from serkit.evaluation.energy import MacCounter

        feats = self._prep(feats[:32])
        durations = list(durations)[:32]
        head = self.net.head
        spiking = self.config.neuron == "plif"
        spike_driven = {id(head.fc2), id(head.out)} | ({id(head.kv)} if head.use_campc else set())
        macs_l, sops_l = [], []
        self.net.eval()
        for f, d in zip(feats, durations):
            x = torch.from_numpy(f.astype(np.float32))[None]
            args = (x, torch.ones(1, f.shape[1], dtype=torch.bool))
            if not spiking:
                m, _ = measure_macs(self.net, [args])
                macs_l.append(m / d)
                sops_l.append(0.0)
                continue
            c = MacCounter()
            hooks = [mod.register_forward_hook(c._hook) for mod in self.net.modules()
                     if isinstance(mod, nn.Linear) and id(mod) not in spike_driven]
            for mod in self.net.modules():
                mod._mac_counter = c
            try:
                with torch.no_grad():
                    self.net(*args)
            finally:
                for h in hooks:
                    h.remove()
                for mod in self.net.modules():
                    mod._mac_counter = None
            macs_l.append(c.macs / d)
            sops_l.append(self._sops(f) / d)
        k = 3.0
        return {"params_trainable": count_params(self.net), "macs_head": int(np.mean(macs_l) * k),
                "acs_head": 0, "sops_head": int(np.mean(sops_l) * k),
                "spike_stats": self.spike_stats(feats) if spiking else None}


@register
class SNNVanilla(PTSSNN):
    """Same spiking head without TSSE and CAMPC."""

    name = "snn-vanilla"
    preset = {"use_tsse": False, "use_campc": False}


@register
class ANNTwin(PTSSNN):
    """Same topology as PTS-SNN with ReLU instead of PLIF neurons (all MACs)."""

    name = "ann-twin"
    preset = {"neuron": "relu"}
