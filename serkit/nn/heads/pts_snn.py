"""PTS-SNN: prompt-tuned spiking head on frozen encoder frames (arXiv 2602.08240; no public
code, so details below are this implementation's documented choices, each a config field).

Input ``x: (N, L, T, D)`` encoder states, ``mask: (N, T)``. Pipeline:

1. (Before the head, in :class:`~serkit.nn.layers.HeadPipeline`: training-fold standardisation
   and the layer featurizer give ``z: (N, T, D)``; frames are average-pooled by ``pool`` and
   each pooled frame is one SNN time step: Whisper's 50 frames/s with pool 4 -> 12.5 steps/s,
   ~37 steps for a 3 s clip.)
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

import torch
from torch import nn

from serkit.core.errors import ConfigError
from serkit.nn.counting import add_macs
from serkit.nn.layers import MaskedBatchNorm
from serkit.nn.neurons import ATan, PLIFNode, Surrogate


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
    """``forward(z (N, T, D), mask (N, T))`` -> logits ``(N, C)``. See the module docstring.

    ``surrogate``: a :class:`~serkit.nn.neurons.Surrogate` (default ATan(2)); ``neuron``:
    ``plif`` or ``relu`` (the ANN twin); ``norm``: ``bn`` or ``none``; ``bias_map``: ``diag``
    or ``dense``.
    """

    def __init__(
        self,
        dim: int,
        n_classes: int,
        hidden: int = 256,
        n_prompts: int = 4,
        shift_frac: float = 0.125,
        use_tsse: bool = True,
        use_campc: bool = True,
        neuron: str = "plif",
        init_tau: float = 2.0,
        tau_per_channel: bool = False,
        v_threshold: float = 1.0,
        soft_reset: bool = False,
        surrogate: Surrogate | None = None,
        dropout: float = 0.2,
        norm: str = "bn",
        bias_map: str = "diag",
    ):
        super().__init__()
        if (
            neuron not in ("plif", "relu")
            or norm not in ("bn", "none")
            or bias_map not in ("diag", "dense")
        ):
            raise ConfigError(
                f"neuron must be plif|relu, norm bn|none, bias_map diag|dense; got "
                f"{neuron!r}, {norm!r}, {bias_map!r}"
            )
        self.use_bn = norm == "bn"
        self.use_tsse, self.use_campc, self.shift_frac = use_tsse, use_campc, shift_frac
        self.spiking = neuron == "plif"

        def node(size):
            if not self.spiking:
                return _ReLUNode()
            return PLIFNode(
                size,
                init_tau,
                tau_per_channel,
                v_threshold,
                None if soft_reset else 0.0,
                surrogate or ATan(),
            )

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

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.run(z, mask)[0]

    def run(self, z: torch.Tensor, mask: torch.Tensor):
        """``z: (N, T, D)`` -> ``(logits (N, C), s1 (T, N, H), s2 (T, N, H))``."""
        h = z.transpose(0, 1)  # (T, N, D)
        m = mask.transpose(0, 1).unsqueeze(-1).to(h.dtype)  # (T, N, 1)
        h = h * m
        if self.use_tsse:
            h = temporal_shift(h, self.shift_frac)
        cur = self.proj(h)  # (T, N, H) input currents (MACs on real-valued input)
        cur = (self.bn1(cur, m) if self.use_bn else cur) * m
        n_valid = m.sum(0).clamp_min(1.0)  # (N, 1)
        b1 = b2 = None
        if self.use_campc:
            ctx_s = (
                self.lif_ctx(self.bn_ctx(cur, m) if self.use_bn else cur) * m
            )  # uncalibrated context spikes
            kv = self.kv(ctx_s)  # spike-driven
            kv = self.lif_kv(self.bn_kv(kv, m) if self.use_bn else kv) * m  # spiking keys / values
            k, v = kv.chunk(2, dim=-1)
            q = self.queries  # (M, H): input-independent
            if (
                not self.spiking
            ):  # ANN twin: dense products are MACs (spiking: ACs, counted from spikes)
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
