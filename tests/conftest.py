"""Shared fixtures: tiny synthetic audio from :mod:`serkit.testing` (no corpus needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serkit.testing import dummies

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
write_tone = dummies.write_tone


@pytest.fixture
def tone_writer():
    return dummies.write_tone


@pytest.fixture
def toy_corpus(tmp_path) -> Path:
    """:func:`serkit.testing.toy_corpus`: 4 speakers x 2 labels ('high', 'low') x 3 clips."""
    return dummies.toy_corpus(tmp_path / "toy")


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def corpus_or_skip(name: str) -> Path:
    """The corpus folder: ../shared/corpora/NAME when it holds audio, else $SERKIT_CORPORA/NAME
    or ~/corpora/NAME (where ../shared/corpora/extract.sh puts the snapshot corpora)."""
    import os

    for root in (SHARED, Path(os.environ.get("SERKIT_CORPORA", Path.home() / "corpora"))):
        p = root / name
        if p.exists() and any(p.rglob("*.wav")):
            return p
    pytest.skip(f"corpus {name} not available (../shared/corpora/{name} or ~/corpora/{name})")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
