"""Shared fixtures: tiny synthetic audio written to temp folders (no corpus needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit.audio.synth import tone_clip

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


def write_tone(path: Path, seconds: float = 0.6, sr: int = 16000, seed: int = 0, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone_clip(seconds, sr=sr, seed=seed, **kw), sr)
    return path


@pytest.fixture
def tone_writer():
    return write_tone


@pytest.fixture
def toy_corpus(tmp_path) -> Path:
    """A 2-class folder corpus, 4 speakers x 2 labels x 3 clips: 'high' (f0 260 Hz, fast, loud)
    vs 'low' (f0 110 Hz, slow, soft); speaker in the file name (spkN_...)."""
    root = tmp_path / "toy"
    k = 0
    for spk in range(4):
        for label, f0, rate, loud in [("high", 260, 7.0, 0.5), ("low", 110, 2.5, 0.15)]:
            for i in range(3):
                k += 1
                write_tone(root / label / f"spk{spk}_{label}_{i}.wav", seconds=0.5 + 0.1 * i, seed=k,
                           f0=f0 + 10 * spk, rate_hz=rate, loudness=loud)
    return root


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def corpus_or_skip(name: str) -> Path:
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"corpus {name} not available at {p}")
    return p


@pytest.fixture
def rng():
    return np.random.default_rng(0)
