"""``ft-compact``: the distilled compact frontend fine-tuned end to end with the emotion labels.

The student (``serkit distill``; the bundled one by default, ``student: PATH`` for another) is
copied into the model, initialised from its distilled weights, and trained together with an
``attnpool`` head on the log-mel frames, inside the speaker-independent protocol (its learning
rate is ``train.lr * train.pretrained_lr_scale``; validation speakers pick the epoch as for
every torch head, then the refit). The frozen pipeline ``--frontend compact --model attnpool``
is its starting point: the tap standardisation is fitted on the training fold's clips, and
``layer: auto`` picks a tap (or their mean) by the same inner speaker-grouped CV, on the frozen
student's states. ``freeze_student: true`` is the control (the frozen pipeline, computed the
same way).

Input: ``--frontend logmel --set frontend.pool=1`` (raw 80-bin Whisper log-mel, 100 frames/s,
``(1, T, 80)`` per clip). Cost: the student's operations are the model's (it is trained), so
they are counted as head MACs; the log-mel is the frontend's DSP cost; there is no separate
encoder. ``adapt`` re-estimates the tap standardisation from unlabelled clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from serkit.core.errors import ConfigError
from serkit.estimators.base import Model, blend_value, register, snapshot_state
from serkit.estimators.torch_head import AttnPoolConfig, TorchHeadModel
from serkit.nn.featurizer import Featurizer
from serkit.nn.heads import AttnPoolHead, FineTunedCompactHead
from serkit.nn.layers import HeadPipeline, Standardize
from serkit.training.trainer import train_classifier


@dataclass
class FTCompactConfig(AttnPoolConfig):
    """``student``: a student weight file (empty = the bundled ``compact`` frontend's);
    ``pool`` must stay 1 (the student reads 100 frames/s); ``state_pool``: frames of the
    student's 50/s states averaged before the head (4 = the frozen pipeline's default);
    ``layer``: over the student's taps; ``freeze_student``: the control run;
    ``freq_masks``/``freq_width``/``time_masks``/``time_width``: SpecAugment-style masks on
    the log-mel in training (0 masks = off); ``time_width`` is also capped at a tenth of a clip.

    Fixed before any run, never tuned on test folds: ``pretrained_lr_scale`` 0.1 (the trainer's
    default for fine-tuned pretrained modules), masks 2 x 8 bins and 2 x 20 frames (0.2 s)."""

    student: str = ""
    pool: int = 1
    state_pool: int = 4
    freeze_student: bool = False
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 20


@register
class FTCompact(TorchHeadModel):
    name, config_cls, head_cls = "ft-compact", FTCompactConfig, AttnPoolHead
    head_args = ("hidden", "att_dim", "dropout", "pooled_norm", "skip_stats")
    supports_augment = False
    conformance_dim, conformance_layers = 80, 1  # it reads raw log-mel frames

    def __init__(self, *a, **k):
        Model.__init__(self, *a, **k)
        c = self.config
        if c.pool != 1:
            raise ConfigError(
                f"ft-compact: pool must be 1 (the student reads 100 log-mel frames/s), got {c.pool}"
            )
        if self.dim != 80 or self.n_layers != 1:
            raise ConfigError(
                f"ft-compact reads raw log-mel frames: use --frontend logmel --set frontend.pool=1 "
                f"(got {self.n_layers} x {self.dim}-d features)"
            )
        self.net = HeadPipeline(Standardize(1, self.dim), Featurizer(1, 0), self.build_head())
        self._layer_init = None

    def build_head(self):
        from serkit.features.compact import BUNDLED, load_student

        c = self.config
        student, self.provenance = load_student(c.student or BUNDLED)
        n_taps, d = len(student.config.taps), student.config.channels
        self._pretrained_state = {k: v.clone() for k, v in student.state_dict().items()}
        head = AttnPoolHead(d, self.n_classes, *(getattr(c, a) for a in self.head_args))
        return FineTunedCompactHead(
            student,
            n_taps,
            d,
            Featurizer(n_taps, c.layer, c.layer_temp),
            head,
            pool=c.state_pool,
            freeze=c.freeze_student,
            freq_masks=c.freq_masks,
            freq_width=c.freq_width,
            time_masks=c.time_masks,
            time_width=c.time_width,
        )

    @property
    def body(self) -> FineTunedCompactHead:
        return self.net.head

    @property
    def layer_featurizer(self) -> Featurizer:
        return self.body.featurizer

    def _init_extra(self) -> None:
        """After the seeded re-initialisation: the student gets its distilled weights back."""
        with torch.no_grad():
            self.body.pretrained.load_state_dict(self._pretrained_state)

    @staticmethod
    def _mels(feats: list[np.ndarray]) -> list[torch.Tensor]:
        return [torch.from_numpy(np.ascontiguousarray(f[0].T, dtype=np.float32)) for f in feats]

    @torch.no_grad()
    def _frozen_states(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        """The (initial) student's standardised tap states per clip, ``(L, T2, D)``, eval mode."""
        body = self.body
        was = body.training
        body.eval()
        out = []
        for mel in self._mels(feats):
            x, _ = body.states(mel[None], torch.tensor([mel.shape[-1]]))
            out.append(((x[0] - body.mean[:, None]) / body.std[:, None]).numpy())
        body.train(was)
        return out

    def _choice_feats(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        """``layer: auto`` / ``cv`` choose over the student's taps, on the frozen student's
        standardised states of the training fold (fit + validation speakers)."""
        self.body.set_stats(self._mels(feats))
        return self._frozen_states(feats)

    def _train(self, feats, labels, cfg, seed: int, val=None, variants=None, soft=None):
        """No input standardisation (the student reads raw log-mel); the tap statistics come
        from the (distilled, not yet fine-tuned) student on the training clips."""
        self.body.set_stats(self._mels(feats))
        v = (self._prep(val.feats), val.labels) if val is not None and len(val) else None
        return train_classifier(
            self.net.body(),
            feats,
            labels,
            self.n_classes,
            cfg,
            seed,
            v,
            readout=self.body.out,
            soft_targets=soft,
        )

    def adapt(self, feats: list[np.ndarray], weight: float = 1.0) -> dict:
        """The tap standardisation (``(L, D)`` mean / std of the fine-tuned student's states)
        from unlabelled clips of a new domain, shrunk toward the current one by ``weight``."""
        if not feats:
            raise ConfigError("adapt needs at least one clip")
        base = snapshot_state(self.state())
        self.body.set_stats(self._mels(feats))
        if weight < 1:
            self.load_state(
                {k: blend_value(v, base.get(k), weight) for k, v in self.state().items()}
            )
        return {
            "standardize": "student tap-state mean/std per tap and dimension",
            "clips": len(feats),
        }

    def adapt_moments(self, feats):
        raise ConfigError(
            "ft-compact adapts from whole clips (serkit adapt), not online: its tap statistics "
            "come from the student's states"
        )
