"""Models (one module per family) behind one interface; see :mod:`serkit.models.base`."""

from serkit.models import mll, pts_snn, reslstm, sklearn_models, torch_models  # noqa: F401  (registration)
from serkit.models.base import MODELS, Model, Split, build_model

__all__ = ["MODELS", "Model", "Split", "build_model"]
