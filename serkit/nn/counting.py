"""Operation counting: MACs and ACs counted with forward hooks on real inputs.

Energy from the counts is :mod:`serkit.core.cost` (45 nm convention).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


def count_params(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class MacCounter:
    """Accumulates MACs of Linear / Conv1d / LSTM / GRU layers via forward hooks.

    Modules may also add custom counts (attention products, weighted sums) by calling
    :meth:`add` through ``module._mac_counter`` when it is set.
    """

    def __init__(self):
        self.macs = 0
        self.acs = 0

    def add(self, macs: int = 0, acs: int = 0) -> None:
        self.macs += int(macs)
        self.acs += int(acs)

    def _hook(self, mod: nn.Module, inp, out) -> None:
        x = inp[0]
        if isinstance(mod, nn.Linear):
            self.macs += x.numel() // x.shape[-1] * mod.in_features * mod.out_features
        elif isinstance(mod, nn.Conv1d):
            o = out
            self.macs += o.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0]
        elif isinstance(mod, (nn.LSTM, nn.GRU)):
            gates = 4 if isinstance(mod, nn.LSTM) else 3
            steps = (
                x.data.shape[0]
                if isinstance(x, nn.utils.rnn.PackedSequence)
                else x.numel() // x.shape[-1]
            )
            dirs = 2 if mod.bidirectional else 1
            h = mod.hidden_size
            total = 0
            for layer in range(mod.num_layers):
                d_in = mod.input_size if layer == 0 else h * dirs
                total += dirs * steps * gates * h * (d_in + h)
            self.macs += total

    @contextmanager
    def attach(self, model: nn.Module, skip: tuple[nn.Module, ...] = ()):
        """Count ``model``'s layers while inside the block; layers in ``skip`` (e.g. spike-driven
        ones, whose cost is counted from spikes instead) are left out."""
        handles = [
            m.register_forward_hook(self._hook)
            for m in model.modules()
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.LSTM, nn.GRU))
            and not any(m is k for k in skip)
        ]
        for m in model.modules():
            m._mac_counter = self
        try:
            yield self
        finally:
            for h in handles:
                h.remove()
            for m in model.modules():
                m._mac_counter = None


def add_macs(module: nn.Module, macs: int = 0, acs: int = 0) -> None:
    """Record custom operations from inside ``forward`` (no-op unless a counter is attached)."""
    c = getattr(module, "_mac_counter", None)
    if c is not None:
        c.add(macs, acs)


@torch.no_grad()
def measure_macs(
    model: nn.Module, inputs: list[tuple], skip: tuple[nn.Module, ...] = ()
) -> tuple[float, float]:
    """Mean MACs and ACs per input over ``inputs`` (each a tuple of forward args, batch 1);
    layers in ``skip`` are not counted."""
    counter = MacCounter()
    model.eval()
    with counter.attach(model, skip):
        for args in inputs:
            model(*args)
    n = max(1, len(inputs))
    return counter.macs / n, counter.acs / n
