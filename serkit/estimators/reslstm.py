"""ResLSTM-SA and LSTM-SA estimators (heads in :mod:`serkit.nn.heads.reslstm`; the published
recipe's training settings as defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from serkit.estimators.base import register
from serkit.estimators.torch_head import FrameHeadConfig, TorchHeadModel
from serkit.nn.heads import ResLSTMSAHead
from serkit.training.trainer import TrainConfig


@dataclass
class ResLSTMConfig(FrameHeadConfig):
    """ResLSTM-SA settings. ``hidden`` in {32, 64, 128} in the paper. ``train``: published
    recipe — Adam, cosine annealing with warm restarts, plain cross-entropy, 100 epochs, the
    epoch with the best validation UAR (held-out *training* speakers) kept. lr / weight decay /
    dropout / t0 / batch size defaults sit inside the published search space; ``serkit tune``
    picks them on validation speakers only."""

    hidden: int = 64
    dropout: float = 0.3
    residual: bool = True
    pool: int = 1
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=100,
            batch_size=16,
            lr=1e-4,
            weight_decay=1e-3,
            patience=100,
            class_weighted=False,
            layer_lr=1e-2,
            refit=False,
            optimizer="adam",
            scheduler="cosine-restarts",
            t0=10,
        )
    )


@register
class ResLSTMSA(TorchHeadModel):
    """Residual LSTM with soft attention over frames (any frontend; published on
    ``mfcc-chroma``)."""

    name = "reslstm-sa"
    config_cls = ResLSTMConfig
    single = False

    def build_head(self) -> nn.Module:
        c = self.config
        return ResLSTMSAHead(self.dim, self.n_classes, c.hidden, c.dropout, c.residual, self.single)

    def _init_extra(self) -> None:
        self.net.head.init_published()


@register
class LSTMSA(ResLSTMSA):
    """The LSTM-SA baseline: one LSTM + soft attention (no residual stack)."""

    name = "lstm-sa"
    single = True
