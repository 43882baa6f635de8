"""Frontends (one module each) behind one interface, the feature cache, and speaker
normalisation."""

from serkit.features import compact, hf, logmel, mfcc_chroma, none, smile, whisper  # noqa: F401  (registration)
from serkit.features.base import FRONTENDS, Frontend, build_frontend, frontend_component
from serkit.features.cache import ExtractionResult, FeatureCache, extract_features
from serkit.features.normalize import SpeakerNormalizer, normalize_features

__all__ = [
    "FRONTENDS",
    "ExtractionResult",
    "FeatureCache",
    "Frontend",
    "SpeakerNormalizer",
    "build_frontend",
    "frontend_component",
    "extract_features",
    "normalize_features",
]
