"""``ft-block``: partial fine-tuning of the Whisper encoder on cached states.

The frozen encoder's state ``block - 1`` is cached like any frontend output; a copy of encoder
block ``block``, initialised from the pretrained weights, is trained together with an
``attnpool`` head on top (at ``lr * pretrained_lr_scale``). So the last block the encoder runs
is fine-tuned inside the speaker-independent protocol, at the cost of one block's backward pass
per clip and epoch, never the whole encoder's. ``freeze_block: true`` is the control: the same
computation with the block frozen (its output is then exactly the cached state ``block``).

Input: a ``whisper-*-layers`` frontend whose cached states include ``block - 1`` (default
frontend states 0-2 and ``block: 2`` -> the block-1 state feeds block 2). Frames are not pooled
before the block (``pool: 1``: the block attends over the encoder's own 50 frames/s) unless
set. No input standardisation (the block expects raw activations): ``serkit adapt`` does not
apply; no ONNX export yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from serkit.core.errors import ConfigError
from serkit.estimators.base import register
from serkit.estimators.torch_head import AttnPoolConfig, TorchHeadModel
from serkit.nn.heads import AttnPoolHead
from serkit.nn.heads.ftblock import FineTunedBlockHead
from serkit.training.trainer import train_classifier

VARIANT_BY_DIM = {384: "tiny.en", 512: "base"}


@dataclass
class FTBlockConfig(AttnPoolConfig):
    """``block``: encoder block to fine-tune (1-based); its input is cached state ``block - 1``,
    which must be the frontend's state of that index (``layer``, default 1). ``freeze_block``:
    the control run."""

    block: int = 2
    layer: int = 1
    pool: int = 1
    freeze_block: bool = False


@register
class FTBlock(TorchHeadModel):
    name, config_cls, head_cls = "ft-block", FTBlockConfig, AttnPoolHead
    head_args = ("hidden", "att_dim", "dropout", "pooled_norm", "skip_stats")
    supports_augment = False
    conformance_dim = 384  # it needs Whisper tiny.en (384-d) or base (512-d) states

    def build_head(self):
        from serkit.features.whisper import model_dir
        from serkit.features.whisper_torch import WhisperEncoder
        from serkit.features.whisper_weights import read_encoder_weights

        c = self.config
        if not isinstance(c.layer, int) or c.layer != c.block - 1:
            raise ConfigError(
                f"ft-block: layer must be the cached state feeding block {c.block} "
                f"(layer={c.block - 1}), "
                f"got {c.layer!r}"
            )
        if self.dim not in VARIANT_BY_DIM:
            raise ConfigError(
                f"ft-block needs Whisper states (384-d tiny.en or 512-d base), got {self.dim}-d "
                "features"
            )
        enc = WhisperEncoder(
            read_encoder_weights(str(model_dir(VARIANT_BY_DIM[self.dim]) / "model.bin")),
            n_layers=c.block,
        )
        block = enc.blocks[c.block - 1]
        self._pretrained_state = {k: v.clone() for k, v in block.state_dict().items()}
        return FineTunedBlockHead(block, super().build_head(), freeze=c.freeze_block)

    def _init_extra(self) -> None:
        """After the seeded re-initialisation: the block gets its pretrained weights back."""
        with torch.no_grad():
            self.net.head.pretrained.load_state_dict(self._pretrained_state)

    def _train(self, feats, labels, cfg, seed: int, val=None, variants=None, soft=None):
        """No standardisation (identity): the block expects the encoder's raw activations."""
        v = (self._prep(val.feats), val.labels) if val is not None and len(val) else None
        return train_classifier(
            self.net.body(),
            feats,
            labels,
            self.n_classes,
            cfg,
            seed,
            v,
            readout=self.net.head.out,
            soft_targets=soft,
        )

    def adapt_moments(self, feats):
        raise ConfigError(
            "ft-block has no input standardisation to adapt (its block expects raw activations)"
        )
