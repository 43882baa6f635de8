"""A distilled compact frontend, fine-tuned end to end with a head on top.

``forward(z (N, T, 80), mask (N, T))`` -> logits ``(N, C)``: ``z`` is Whisper's raw 80-bin
log-mel at 100 frames/s (``logmel`` frontend with ``pool: 1``). The student (any module
``student(mel (N, 80, T), lengths (N,))`` -> list of ``L`` tap states ``(N, T2, D)`` at
``T2 = ceil(T/2)``, e.g. :class:`serkit.features.compact_net.CompactNet`) lives under the
attribute ``pretrained`` (the trainer gives it ``TrainConfig.pretrained_lr_scale`` times the
learning rate). Its taps are standardised with fixed per-tap statistics (buffers ``mean`` /
``std``: ``(L, D)``, set from the training fold's clips by :meth:`set_stats`, so at the start of
training the head sees exactly what it sees on the frozen frontend), combined by a
:class:`~serkit.nn.featurizer.Featurizer`, averaged over ``pool`` frames (masked: each group
averages its real frames only, as :func:`serkit.nn.layers.pool_frames` does on one clip) and
read by ``head(h (N, T2/pool, D), mask)``.

While training, SpecAugment-style masks (``freq_masks`` bands of up to ``freq_width`` mel
bins, ``time_masks`` spans of up to ``time_width`` frames, filled with the clip's mean) are
applied to the log-mel; evaluation never masks.
"""

from __future__ import annotations

import torch
from torch import nn

from serkit.nn.counting import add_macs
from serkit.nn.featurizer import Featurizer


def masked_pool(h: torch.Tensor, mask: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Average ``p`` consecutive real frames: ``h (N, T, D)``, ``mask (N, T)`` ->
    ``(N, ceil(T/p), D)`` and its mask (a group with no real frame is masked out)."""
    if p <= 1:
        return h, mask
    n, t, d = h.shape
    g = -(-t // p)
    m = mask.to(h.dtype)
    pad = g * p - t
    hm = torch.nn.functional.pad(h * m[..., None], (0, 0, 0, pad)).reshape(n, g, p, d).sum(2)
    cnt = torch.nn.functional.pad(m, (0, pad)).reshape(n, g, p).sum(2)
    return hm / cnt.clamp_min(1.0)[..., None], cnt > 0


class FineTunedCompactHead(nn.Module):
    def __init__(
        self,
        student: nn.Module,
        n_taps: int,
        dim: int,
        featurizer: Featurizer,
        head: nn.Module,
        pool: int = 4,
        freeze: bool = False,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: int = 20,
    ):
        super().__init__()
        self.pretrained = student
        self.featurizer = featurizer
        self.head = head
        self.pool = int(pool)
        self.freq_masks, self.freq_width = int(freq_masks), int(freq_width)
        self.time_masks, self.time_width = int(time_masks), int(time_width)
        self.register_buffer("mean", torch.zeros(n_taps, dim))
        self.register_buffer("std", torch.ones(n_taps, dim))
        for p in self.pretrained.parameters():
            p.requires_grad_(not freeze)

    @property
    def out(self) -> nn.Linear:
        return self.head.out

    def states(self, mel: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (unstandardised) tap states ``(N, L, T2, D)`` and their mask ``(N, T2)``."""
        x = torch.stack(self.pretrained(mel, lengths), 1)
        t2 = x.shape[2]
        m2 = (
            torch.arange(t2, device=x.device)[None, :]
            < torch.div(lengths + 1, 2, rounding_mode="floor")[:, None]
        )
        return x, m2

    @torch.no_grad()
    def set_stats(self, clips: list[torch.Tensor]) -> None:
        """Per-tap, per-dimension mean and std of the student's states over every real frame of
        ``clips`` (each ``(80, T)`` log-mel), in float64; the student runs in eval mode."""
        was = self.pretrained.training
        self.pretrained.eval()
        s = torch.zeros_like(self.mean, dtype=torch.float64)
        s2 = torch.zeros_like(s)
        n = 0
        for mel in clips:
            x, _ = self.states(mel[None], torch.tensor([mel.shape[-1]]))
            t2 = (mel.shape[-1] + 1) // 2
            x = x[0, :, :t2].double()
            s += x.sum(1)
            s2 += (x**2).sum(1)
            n += t2
        mean = s / max(n, 1)
        std = torch.sqrt((s2 / max(n, 1) - mean**2).clamp_min(1e-8)).clamp_min(1e-4)
        self.mean.copy_(mean.float())
        self.std.copy_(std.float())
        self.pretrained.train(was)

    def _spec_mask(self, mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``mel (N, 80, T)`` with random frequency and time bands set to each clip's mean."""
        n, f, t = mel.shape
        valid = (torch.arange(t)[None, :] < lengths[:, None]).to(mel.dtype)  # (N, T)
        fill = (mel * valid[:, None]).sum(-1, keepdim=True).sum(1, keepdim=True) / (
            valid.sum(-1)[:, None, None] * f
        ).clamp_min(1.0)
        keep = torch.ones_like(mel, dtype=torch.bool)
        for b in range(n):
            for _ in range(self.freq_masks):
                w = int(torch.randint(0, self.freq_width + 1, ()))
                if w:
                    f0 = int(torch.randint(0, f - w + 1, ()))
                    keep[b, f0 : f0 + w] = False
            length = int(lengths[b])
            for _ in range(self.time_masks):
                w = min(int(torch.randint(0, self.time_width + 1, ())), max(length // 10, 0))
                if w:
                    t0 = int(torch.randint(0, max(length - w, 0) + 1, ()))
                    keep[b, :, t0 : t0 + w] = False
        return torch.where(keep, mel, fill.expand_as(mel))

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1)
        mel = z.transpose(1, 2)
        if self.training and (self.freq_masks or self.time_masks):
            mel = self._spec_mask(mel, lengths)
        x, m2 = self.states(mel, lengths)
        add_macs(self, macs=x.numel())  # the standardisation (one fused multiply-add per value)
        x = (x - self.mean[None, :, None]) / self.std[None, :, None]
        h = self.featurizer(x) * m2[..., None].to(x.dtype)
        add_macs(self, acs=h.numel() if self.pool > 1 else 0)  # the frame pooling's sums
        if (
            torch.jit.is_tracing()
        ):  # export (one clip, every frame real): the same average, length-dynamic
            h = torch.nn.functional.avg_pool1d(
                h.transpose(1, 2), self.pool, self.pool, ceil_mode=True
            ).transpose(1, 2)
            m = torch.ones_like(h[..., 0], dtype=torch.bool)
        else:
            h, m = masked_pool(h, m2, self.pool)
        return self.head(h, m)
