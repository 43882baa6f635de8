"""Corpus recipes (one module per corpus) writing the shared JSONL manifest."""

from serkit.corpora import cremad, emodb, generic, iemocap, msp_improv, ravdess, savee, tess, urdu  # noqa: F401
from serkit.corpora.base import RECIPES, PrepareResult, prepare
from serkit.corpora.manifest import Utterance, label_set, read_manifest, write_manifest

__all__ = ["RECIPES", "PrepareResult", "Utterance", "label_set", "prepare", "read_manifest", "write_manifest"]
