"""True streaming: the causal compact student and a spiking head, frame by frame with state.

:class:`SpikingStream` runs a model trained on a **causal** student (``compact:<path>`` distilled
with ``student.causal=true``) with the **snn-vanilla** head (PTS-SNN without TSSE and CAMPC)
one step at a time:

    log-mel frames (80, k), any k  ->  CompactStream (student state: left context per block,
    running mean of the context gate)  ->  tap states, 50 frames/s  ->  ``pool`` frames averaged
    into one SNN step  ->  Standardize -> layer weighting -> Linear -> BatchNorm (running
    statistics) -> PLIF (membrane state) -> Linear -> BatchNorm -> PLIF -> running spike count

After every SNN step the readout of the spike rate so far gives class probabilities, so a
prediction is available ``pool`` x 20 ms after the audio (80 ms at the default pool 4) plus the
25 ms log-mel window. State is bounded (the student's left contexts, two membrane vectors, one
spike-count vector, at most ``pool - 1`` pending frames) whatever the stream's length. After
:meth:`close` (which flushes a partial pooling block, as the offline ``ceil_mode`` pooling does)
the last probabilities equal the offline ``model.predict_proba`` of the whole clip (tested).

Why only snn-vanilla: TSSE shifts channels one step *back* in time (one step of look-ahead) and
CAMPC calibrates every neuron with the whole utterance's context; both need the future, so
:class:`SpikingStream` refuses them with a :class:`~serkit.core.errors.ConfigError`.

The log-mel itself is the caller's (:func:`serkit.audio.mel.log_mel` clamps each clip's
dynamic range to 80 dB below its loudest frame, a clip-level step; fed whole-clip log-mel in
pieces the stream is exact, fed pieces computed separately it differs only where that clamp
binds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from serkit.core.errors import ConfigError


@dataclass
class SpikeStep:
    """One SNN step: ``time_s`` (stream time at the end of the step's last frame), ``probs``
    ``(C,)`` from the spikes so far, ``spikes`` (spike count of this step over both layers)."""

    time_s: float
    probs: np.ndarray
    spikes: int


class SpikingStream:
    """``feed(mel (80, k))`` -> list of :class:`SpikeStep`; ``close()`` -> the last steps.

    ``model``: a fitted ``snn-vanilla`` model (``serkit.estimators.pts_snn.SNNVanilla``);
    ``frontend``: the ``compact`` frontend it was trained on (causal student).
    """

    def __init__(self, model, frontend):
        from serkit.features.compact_net import CompactStream

        head = getattr(getattr(model, "net", None), "head", None)
        if getattr(model, "name", "") not in ("snn-vanilla", "pts-snn") or head is None:
            raise ConfigError(
                "SpikingStream runs the snn-vanilla head; got model "
                f"{getattr(model, 'name', model)!r}"
            )
        if head.use_tsse or head.use_campc or not head.spiking:
            raise ConfigError(
                "SpikingStream needs a causal spiking head: snn-vanilla (use_tsse=false, "
                "use_campc=false, neuron=plif); TSSE looks one step ahead and CAMPC reads the "
                "whole utterance"
            )
        if getattr(frontend, "name", "") != "compact" or not frontend.arch.causal:
            raise ConfigError(
                "SpikingStream needs the causal compact student (a frontend compact:<path> "
                "distilled with --set student.causal=true)"
            )
        self.model, self.frontend = model, frontend
        self.net = model.net.eval()
        self.head = head
        self.pool = max(1, int(model.config.pool))
        self.labels = list(getattr(model, "labels", []) or [])
        self._student = CompactStream(frontend.net)
        self._keep = frontend.layer_indices
        self._pending: list[np.ndarray] = []  # (L, D) frames waiting for a full pooling block
        self._frames = 0  # student output frames seen
        self._rate_sum: torch.Tensor | None = None
        self._steps = 0
        self.head.lif1.reset()
        self.head.lif2.reset()
        self.closed = False

    @property
    def state_floats(self) -> int:
        """Floats held between calls (student contexts, membranes, spike counts, pending frames)."""
        s = self._student
        n = s._mel.numel() + s._pending.numel() + sum(c.numel() for c in s._ctx) + s._sum.numel()
        for node in (self.head.lif1, self.head.lif2):
            n += 0 if node.v is None else node.v.numel()
        n += 0 if self._rate_sum is None else self._rate_sum.numel()
        return int(n + sum(f.size for f in self._pending))

    @torch.no_grad()
    def _step(self, frames: list[np.ndarray]) -> SpikeStep:
        x = torch.from_numpy(np.mean(np.stack(frames), axis=0, dtype=np.float32))[
            None, :, None, :
        ]  # (1, L, 1, D)
        z = self.net.featurizer(self.net.norm(x))[:, 0]  # (1, D)
        h = self.head
        m = torch.ones(1, 1, 1)
        cur = h.bn1(h.proj(z)[None], m)[0] if h.use_bn else h.proj(z)
        s1 = h.lif1.step(cur)
        c2 = h.fc2(s1)
        s2 = h.lif2.step(h.bn2(c2[None], m)[0] if h.use_bn else c2)
        self._rate_sum = s2.clone() if self._rate_sum is None else self._rate_sum + s2
        self._steps += 1
        logits = h.out(self._rate_sum / self._steps)[0].numpy().astype(np.float64)
        e = np.exp(logits - logits.max())
        return SpikeStep(self._frames / 50.0, e / e.sum(), int(s1.sum() + s2.sum()))

    def feed(self, mel: np.ndarray) -> list[SpikeStep]:
        """Log-mel frames ``(80, k)`` at 100 frames/s; returns one step per completed pooling
        block."""
        if self.closed:
            raise ConfigError("SpikingStream: feed after close")
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim != 2 or mel.shape[0] != 80 or not np.isfinite(mel).all():
            raise ConfigError(
                f"SpikingStream.feed takes finite log-mel frames (80, k); got shape {mel.shape}"
            )
        taps = self._student.feed(torch.from_numpy(mel))
        out: list[SpikeStep] = []
        for j in range(taps[0].shape[0]):
            self._pending.append(np.stack([taps[i][j].numpy() for i in self._keep]))
            self._frames += 1
            if len(self._pending) == self.pool:
                out.append(self._step(self._pending))
                self._pending = []
        return out

    def close(self) -> list[SpikeStep]:
        """End of stream: a partial pooling block becomes one last step (offline ``ceil_mode``)."""
        if self.closed:
            return []
        out = []
        if self._student._pending.shape[-1]:  # an odd last mel frame: its output frame reads only
            out = self.feed(
                np.zeros((80, 1), np.float32)
            )  # up to that frame, so a zero frame flushes it
        self.closed = True
        if self._pending:
            out.append(self._step(self._pending))
            self._pending = []
        return out
