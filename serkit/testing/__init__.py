"""Test helpers shipped inside the package (as lhotse's ``testing/dummies``): tiny synthetic
audio, corpora, manifests and feature tasks built in memory or in a temp folder, and the
conformance batteries run over every registered model (:func:`check_model`) and frontend
(:func:`check_frontend`)."""

from serkit.testing.conformance import check_frontend, check_model
from serkit.testing.dummies import toy_corpus, toy_manifest, toy_result, toy_split, write_tone

__all__ = [
    "check_frontend",
    "check_model",
    "toy_corpus",
    "toy_manifest",
    "toy_result",
    "toy_split",
    "write_tone",
]
