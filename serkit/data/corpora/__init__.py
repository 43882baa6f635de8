"""Corpus recipes (one module per corpus) writing the shared JSONL manifest."""

from serkit.data.corpora import (
    baved,
    cremad,
    emodb,
    emospeech,
    esd,
    generic,
    iemocap,
    msp_improv,
    ravdess,  # noqa: F401
    savee,
    tess,
    urdu,
)
from serkit.data.corpora.base import RECIPES, PrepareResult, prepare, prepare_manifest
from serkit.data.manifest import Utterance, label_set, read_manifest, write_manifest

__all__ = [
    "RECIPES",
    "PrepareResult",
    "Utterance",
    "label_set",
    "prepare",
    "prepare_manifest",
    "read_manifest",
    "write_manifest",
]
