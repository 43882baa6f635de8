"""The compact frontend network: a depthwise-separable 1-D convolution stack on log-mel frames.

A student distilled from the Whisper encoder's hidden states (:mod:`serkit.training.distill`),
about 100x cheaper than the teacher. Shapes:

``mel (N, 80, T)`` at 100 frames/s -> stem (conv k=3, stride 2: 50 frames/s, as Whisper) ->
``blocks`` residual blocks ``x + PW(GELU(DW(LN(x))))`` (depthwise conv of ``kernel`` taps with a
per-block dilation, then a pointwise ``C x C`` projection) -> optional global context after
block ``context_after`` (squeeze-excitation from the running mean over frames: a per-channel
sigmoid gate) -> the outputs of the blocks listed in ``taps``, each ``(N, ceil(T/2), C)``.

``causal=True`` pads every convolution on the left only and the context is the cumulative mean
of the frames so far, so frame ``t`` never sees audio after ``t`` (plus the stem's one mel
frame): the network can run frame by frame with state (:class:`CompactStream`), and its output
equals the offline pass on the same frames.

Padding is masked exactly (frames past each length zeroed after every layer, the context mean
over valid frames only), so batched output equals one-at-a-time output.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class CompactNetConfig:
    """Architecture of the student (saved in its weight file).

    ``channels``: width ``C``; ``blocks``: residual blocks; ``kernel``: depthwise taps;
    ``dilations``: one per block (cycled); ``taps``: 1-based block indices whose outputs are
    the frontend's states; ``context_after``: block after which the mean-context gate sits
    (0 = none); ``causal``: left-only padding and a cumulative context (streamable)."""

    n_mels: int = 80
    channels: int = 192
    blocks: int = 6
    kernel: int = 5
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4])
    taps: list[int] = field(default_factory=lambda: [2, 4, 6])
    context_after: int = 3
    causal: bool = False

    def dilation(self, i: int) -> int:
        return int(self.dilations[i % len(self.dilations)])

    def to_dict(self) -> dict:
        return asdict(self)


def _pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    return F.pad(x, (left, right)) if left or right else x


class _Block(nn.Module):
    def __init__(self, c: int, kernel: int, dilation: int, causal: bool):
        super().__init__()
        self.ln = nn.LayerNorm(c)
        self.dw = nn.Conv1d(c, c, kernel, dilation=dilation, groups=c)
        # the pointwise projection as a Linear on channels-last frames: the same product as a
        # 1x1 convolution, exported as MatMul, which int8 quantisation runs fast
        self.pw = nn.Linear(c, c)
        span = (kernel - 1) * dilation
        self.pad = (span, 0) if causal else (span // 2, span - span // 2)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``x (N, C, T)``, ``valid (N, 1, T)`` float 0/1 -> ``(N, C, T)``."""
        y = self.ln(x.transpose(1, 2)).transpose(1, 2) * valid
        y = self.pw(F.gelu(self.dw(_pad(y, *self.pad))).transpose(1, 2)).transpose(1, 2)
        return (x + y) * valid


class _Context(nn.Module):
    """Squeeze-excitation from the (running) mean over valid frames: ``x * sigmoid(W2 relu(W1
    m))``."""

    def __init__(self, c: int, causal: bool, reduction: int = 4):
        super().__init__()
        self.fc1 = nn.Linear(c, c // reduction)
        self.fc2 = nn.Linear(c // reduction, c)
        self.causal = causal

    def gate(self, mean: torch.Tensor) -> torch.Tensor:
        """``mean (N, T, C)`` -> gate ``(N, T, C)``."""
        return torch.sigmoid(self.fc2(F.relu(self.fc1(mean))))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if self.causal:
            count = valid.cumsum(-1).clamp(min=1.0)
            mean = (x * valid).cumsum(-1) / count  # (N, C, T)
        else:
            mean = (x * valid).sum(-1, keepdim=True) / valid.sum(-1, keepdim=True).clamp(min=1.0)
            mean = mean.expand_as(x)
        return x * self.gate(mean.transpose(1, 2)).transpose(1, 2) * valid


class CompactNet(nn.Module):
    """``forward(mel (N, 80, T), lengths (N,) | None)`` -> list of ``(N, ceil(T/2), C)`` states,
    one per tap."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # files written while the pointwise projection was a 1x1 Conv1d: weight (C, C, 1) -> (C, C)
        for k in list(state_dict):
            if k.startswith(prefix) and k.endswith("pw.weight") and state_dict[k].dim() == 3:
                state_dict[k] = state_dict[k][..., 0]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __init__(self, config: CompactNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or CompactNetConfig()
        bad = [t for t in cfg.taps if not 1 <= t <= cfg.blocks]
        if bad or not cfg.taps:
            raise ValueError(f"taps {cfg.taps} must name blocks 1..{cfg.blocks}")
        c = cfg.channels
        self.stem = nn.Conv1d(cfg.n_mels, c, 3, stride=2)
        self.stem_pad = (2, 0) if cfg.causal else (1, 1)
        self.blocks = nn.ModuleList(
            _Block(c, cfg.kernel, cfg.dilation(i), cfg.causal) for i in range(max(cfg.taps))
        )
        self.context = (
            _Context(c, cfg.causal) if 0 < cfg.context_after <= len(self.blocks) else None
        )

    @property
    def dim(self) -> int:
        return self.config.channels

    @staticmethod
    def out_lengths(lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths + 1, 2, rounding_mode="floor")

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
        n, _, t = mel.shape
        if lengths is None:
            lengths = torch.full((n,), t, dtype=torch.long, device=mel.device)
        frame = torch.arange(t, device=mel.device)[None, :]
        mel = mel * (frame < lengths[:, None]).unsqueeze(1).to(mel.dtype)
        x = F.gelu(self.stem(_pad(mel, *self.stem_pad)))
        t2 = x.shape[-1]
        valid = torch.arange(t2, device=mel.device)[None, :] < self.out_lengths(lengths)[:, None]
        valid = valid.unsqueeze(1).to(x.dtype)
        x = x * valid
        out = []
        for i, blk in enumerate(self.blocks, start=1):
            x = blk(x, valid)
            if self.context is not None and i == self.config.context_after:
                x = self.context(x, valid)
            if i in self.config.taps:
                out.append(x.transpose(1, 2))
        return out


def compact_macs(config: CompactNetConfig, n_mel_frames: int) -> int:
    """Multiply-accumulates of :class:`CompactNet` on ``n_mel_frames`` (100 per second).

    Counts the stem, depthwise and pointwise convolutions, the context gate (once per frame:
    two small products; the running mean is one add per value and counted as a MAC), and the
    LayerNorms (2 MACs per value: scale and shift). GELU is not a MAC and is left out.
    """
    c, t2 = config.channels, math.ceil(n_mel_frames / 2)
    n_blocks = max(config.taps)
    per_frame = config.n_mels * 3 * c + n_blocks * (c * config.kernel + c * c + 2 * c)
    if 0 < config.context_after <= n_blocks:
        r = c // 4
        per_frame += 2 * c * r + c + c  # fc1, fc2, the mean, the gate product
    return int(t2 * per_frame)


class CompactStream:
    """Frame-by-frame (chunk-by-chunk) inference of a causal :class:`CompactNet` with state.

    ``feed(mel (80, k))`` with any ``k`` (mel frames at 100/s) returns the new output frames
    ``list of (k', C)`` per tap; the concatenation of all outputs equals
    ``net(mel_all)`` restricted to the same frames. Each layer keeps only the left context
    its receptive field needs, so memory is bounded whatever the stream's length.
    """

    def __init__(self, net: CompactNet):
        if not net.config.causal:
            raise ValueError("CompactStream needs a causal network (CompactNetConfig.causal=True)")
        self.net = net.eval()
        c = net.config.channels
        self._mel = torch.zeros(1, net.config.n_mels, 2)  # stem left context (2 frames of zeros)
        self._phase = 0  # mel frames fed so far, mod 2: the stem advances by 2
        self._pending = torch.zeros(1, net.config.n_mels, 0)
        self._ctx = [torch.zeros(1, c, blk.pad[0]) for blk in net.blocks]
        self._sum = torch.zeros(1, c, 1)
        self._count = 0

    @torch.no_grad()
    def feed(self, mel: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        x = torch.cat([self._pending, torch.as_tensor(mel, dtype=torch.float32)[None]], dim=-1)
        usable = x.shape[-1] - x.shape[-1] % 2
        # the stem's output frame j reads mel frames 2j-2, 2j-1, 2j (left padding of 2)
        if usable == 0:
            self._pending = x
            return [torch.zeros(0, net.config.channels) for _ in net.config.taps]
        inp = torch.cat([self._mel, x[..., :usable]], dim=-1)
        h = F.gelu(net.stem(inp))  # (1, C, usable/2)
        self._mel = inp[..., -2:]
        self._pending = x[..., usable:]
        out = []
        ones = torch.ones(1, 1, h.shape[-1])
        for i, blk in enumerate(net.blocks, start=1):
            left = blk.pad[0]
            y = blk.ln(h.transpose(1, 2)).transpose(1, 2)
            ctx_in = torch.cat([self._ctx[i - 1], y], dim=-1)
            self._ctx[i - 1] = ctx_in[..., ctx_in.shape[-1] - left :] if left else ctx_in[..., :0]
            h = h + blk.pw(F.gelu(blk.dw(ctx_in)).transpose(1, 2)).transpose(1, 2)
            if net.context is not None and i == net.config.context_after:
                csum = self._sum + h.cumsum(-1)
                count = self._count + ones.cumsum(-1)
                self._sum = csum[..., -1:]
                self._count += h.shape[-1]
                h = h * net.context.gate((csum / count).transpose(1, 2)).transpose(1, 2)
            if i in net.config.taps:
                out.append(h[0].transpose(0, 1))
        return out
