"""Frontends (one module each) behind one interface, plus the feature cache."""

from serkit.features import logmel, mfcc_chroma, smile, whisper  # noqa: F401  (registration)
from serkit.features.base import FRONTENDS, Frontend, build_frontend
from serkit.features.cache import ExtractionResult, FeatureCache, extract_features

__all__ = ["FRONTENDS", "ExtractionResult", "FeatureCache", "Frontend", "build_frontend", "extract_features"]
