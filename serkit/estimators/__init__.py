"""Estimators: fit / predict / cost / state around the heads (one module per family) behind
one interface (:class:`Model`) and one registry (:data:`MODELS`)."""

from serkit.estimators import (
    eavs_tf,
    ft_block,
    ft_compact,
    logreg,
    mll,
    pts_snn,
    reslstm,
    torch_head,
)  # noqa: F401  (registration)
from serkit.estimators.base import MODELS, FitReport, Model, Split, build_model, model_component

__all__ = ["MODELS", "FitReport", "Model", "Split", "build_model", "model_component"]
