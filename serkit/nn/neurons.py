"""Spiking neurons: a parametric LIF (PLIF, Fang et al. 2021) with pluggable surrogate gradients.

Conventions follow snnTorch / SpikingJelly: neurons are ordinary ``nn.Module``s with explicit
state (``v``) and an explicit :meth:`PLIFNode.reset`; multi-step tensors are ``(T, N, ...)``.

Dynamics per step (``decay_input`` form, as SpikingJelly's PLIF):

    H[t] = V[t-1] + (X[t] + b - (V[t-1] - V_reset)) / tau       (charge; b = bias voltage)
    S[t] = Heaviside(H[t] - V_th)                                (fire: exactly 0 or 1)
    V[t] = H[t] * (1 - S[t]) + V_reset * S[t]                    (hard reset)
         = H[t] - V_th * S[t]                                    (soft reset)

``1 / tau = sigmoid(w)`` with ``w`` learnable (one per layer, or one per channel), so tau > 1.
The additive bias ``b`` (``(N, D)``: per utterance and channel) is how the PTS-SNN's
context-aware calibration sets the neurons' operating point.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward; the backward pass asks the surrogate for the derivative."""

    @staticmethod
    def forward(ctx, x, surrogate):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.grad(x), None


class Surrogate:
    """Heaviside forward, smooth derivative :meth:`grad` backward. ``alpha`` sets the
    derivative's sharpness (each subclass has its own default)."""

    default_alpha = 2.0

    def __init__(self, alpha: float | None = None):
        self.alpha = float(alpha if alpha is not None else self.default_alpha)
        if not self.alpha > 0:
            raise ValueError(f"surrogate alpha must be > 0, got {alpha!r}")

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """The derivative used in place of Dirac's delta at ``x = h - v_threshold``."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeFn.apply(x, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha})"


class ATan(Surrogate):
    """``d/dx [atan(pi/2 a x) / pi + 1/2] = (a / 2) / (1 + (pi/2 a x)^2)`` (SpikingJelly's
    default)."""

    default_alpha = 2.0

    def grad(self, x):
        return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * x) ** 2)


class Sigmoid(Surrogate):
    """``d/dx sigmoid(a x) = a s (1 - s)``."""

    default_alpha = 4.0

    def grad(self, x):
        s = torch.sigmoid(self.alpha * x)
        return self.alpha * s * (1 - s)


class FastSigmoid(Surrogate):
    """SuperSpike: ``1 / (1 + a |x|)^2``."""

    default_alpha = 10.0

    def grad(self, x):
        return 1.0 / (1 + self.alpha * x.abs()) ** 2


SURROGATES = {"atan": ATan, "sigmoid": Sigmoid, "fast-sigmoid": FastSigmoid}


@torch.jit.script
def plif_multistep(
    x_seq: torch.Tensor,
    bias: torch.Tensor,
    decay: torch.Tensor,
    v_threshold: float,
    v_reset: float,
    soft_reset: bool,
) -> torch.Tensor:
    """Inference-only PLIF time loop (scripted: exports to ONNX as a Loop with dynamic T).

    ``x_seq: (T, N, D)``, ``bias``: broadcastable to ``(N, D)``, ``decay = 1 / tau``. Same
    arithmetic as :meth:`PLIFNode.step`, so spikes agree exactly with the training path.
    """
    v = torch.zeros_like(x_seq[0]) + v_reset
    out = torch.zeros_like(x_seq)
    for t in range(x_seq.shape[0]):
        h = v + ((x_seq[t] + bias) - (v - v_reset)) * decay
        s = (h - v_threshold >= 0).to(x_seq.dtype)
        if soft_reset:
            v = h - v_threshold * s
        else:
            v = h * (1.0 - s) + v_reset * s
        out[t] = s
    return out


class PLIFNode(nn.Module):
    """Parametric leaky integrate-and-fire neuron.

    Args:
        size: number of channels ``D`` (needed for ``tau_per_channel``).
        init_tau: initial membrane time constant (steps), > 1.
        tau_per_channel: learn one tau per channel instead of one per layer.
        v_threshold: firing threshold.
        v_reset: reset potential for a hard reset; ``None`` = soft reset (subtract threshold).
        surrogate: a :class:`Surrogate` (default ATan(2)).

    Multi-step ``forward(x (T, N, D), bias (N, D) | (T, N, D) | None)`` -> spikes ``(T, N, D)``;
    the state is reset before each multi-step call. ``step(x (N, D))`` advances one step and
    keeps state until :meth:`reset`.
    """

    def __init__(
        self,
        size: int = 1,
        init_tau: float = 2.0,
        tau_per_channel: bool = False,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate: Surrogate | None = None,
    ):
        super().__init__()
        if init_tau <= 1.0:
            raise ValueError("init_tau must be > 1")
        w0 = -math.log(init_tau - 1.0)  # sigmoid(w0) = 1 / init_tau
        self.w = nn.Parameter(torch.full((size if tau_per_channel else 1,), w0))
        self.v_threshold = v_threshold
        self.v_reset = v_reset
        self.surrogate = surrogate or ATan()
        self.v: torch.Tensor | None = None
        self.record = False
        self.last_spikes: torch.Tensor | None = None
        self.last_v: torch.Tensor | None = None

    @property
    def tau(self) -> torch.Tensor:
        return 1.0 / torch.sigmoid(self.w.detach())

    def reset(self) -> None:
        self.v = None

    def step(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        v_reset = 0.0 if self.v_reset is None else self.v_reset
        if self.v is None:
            self.v = torch.full_like(x, v_reset)
        inp = x if bias is None else x + bias
        h = self.v + (inp - (self.v - v_reset)) * torch.sigmoid(
            self.w
        )  # same order as plif_multistep
        s = self.surrogate(h - self.v_threshold)
        if self.v_reset is None:
            self.v = h - self.v_threshold * s
        else:
            self.v = h * (1.0 - s) + self.v_reset * s
        return s

    def forward(self, x_seq: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        if (
            not torch.is_grad_enabled()
            and not self.record
            and (bias is None or bias.dim() < x_seq.dim())
        ):
            b = torch.zeros_like(x_seq[0]) if bias is None else bias
            return plif_multistep(
                x_seq,
                b,
                torch.sigmoid(self.w),
                float(self.v_threshold),
                0.0 if self.v_reset is None else float(self.v_reset),
                self.v_reset is None,
            )
        self.reset()
        out, vs = [], []
        for t in range(x_seq.shape[0]):
            b = bias[t] if (bias is not None and bias.dim() == x_seq.dim()) else bias
            out.append(self.step(x_seq[t], b))
            if self.record:
                vs.append(self.v.detach())
        s = torch.stack(out)
        if self.record:
            self.last_spikes = s.detach()
            self.last_v = torch.stack(vs)
        self.reset()
        return s


def firing_health(per_clip_rates: dict) -> dict[str, dict[str, float]]:
    """Per spiking layer, from each clip's per-neuron firing rates ``{layer: [(H,), ...]}``:
    mean rate and the fractions of silent (< 1 %) and saturated (> 99 %) neurons."""
    import numpy as np

    out = {}
    for k, rates in per_clip_rates.items():
        r = np.mean(rates, axis=0)
        out[k] = {
            "rate": round(float(r.mean()), 4),
            "silent": round(float((r < 0.01).mean()), 4),
            "saturated": round(float((r > 0.99).mean()), 4),
        }
    return out
