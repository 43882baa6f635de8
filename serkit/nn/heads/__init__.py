"""Heads: plain ``nn.Module``s, one per file. Each takes frames ``z: (N, T, D)`` (the
featurizer has already combined the encoder layers) and ``mask: (N, T)`` (True = real frame)
and returns logits ``(N, C)``; the final layer is a ``Linear`` named ``out`` (its input is the
pooled representation that centre / SupCon losses read)."""

from serkit.nn.heads.attnpool import AttnPoolHead
from serkit.nn.heads.flam import FLAMHead
from serkit.nn.heads.ftblock import FineTunedBlockHead
from serkit.nn.heads.ftcompact import FineTunedCompactHead
from serkit.nn.heads.linear import LinearHead
from serkit.nn.heads.mlp import MLPHead
from serkit.nn.heads.pts_snn import PTSSNNHead
from serkit.nn.heads.reslstm import ResLSTMSAHead

__all__ = [
    "AttnPoolHead",
    "FLAMHead",
    "FineTunedBlockHead",
    "FineTunedCompactHead",
    "LinearHead",
    "MLPHead",
    "PTSSNNHead",
    "ResLSTMSAHead",
]
