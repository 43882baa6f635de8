"""Dummies: synthetic clips, a toy folder corpus and its manifest, a toy feature task, a toy
result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from serkit.audio.synth import tone_clip
from serkit.data.corpora import prepare, write_manifest
from serkit.estimators import Split


def write_tone(path: Path, seconds: float = 0.6, sr: int = 16000, seed: int = 0, **kw) -> Path:
    """A synthetic voiced clip (:func:`serkit.audio.synth.tone_clip`) written as WAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone_clip(seconds, sr=sr, seed=seed, **kw), sr)
    return path


def toy_corpus(root: Path, speakers: int = 4, clips: int = 3, seconds: float = 0.5) -> Path:
    """A 2-class folder corpus, ``speakers`` x 2 labels x ``clips`` clips: 'high' (f0 260 Hz,
    fast, loud) vs 'low' (f0 110 Hz, slow, soft); the speaker is in the file name
    (``spkN_label_i.wav``), recoverable with the folder recipe's ``--speaker-regex
    '^(spk\\d+)_'``."""
    root = Path(root)
    k = 0
    for spk in range(speakers):
        for label, f0, rate, loud in [("high", 260, 7.0, 0.5), ("low", 110, 2.5, 0.15)]:
            for i in range(clips):
                k += 1
                write_tone(
                    root / label / f"spk{spk}_{label}_{i}.wav",
                    seconds=seconds + 0.1 * i,
                    seed=k,
                    f0=f0 + 10 * spk,
                    rate_hz=rate,
                    loudness=loud,
                )
    return root


def toy_manifest(folder: Path, **corpus_kw) -> Path:
    """The toy corpus under ``folder/toy`` and its manifest ``folder/toy.jsonl`` (returned)."""
    folder = Path(folder)
    root = toy_corpus(folder / "toy", **corpus_kw)
    m = folder / "toy.jsonl"
    write_manifest(prepare("folder", root, speaker_regex=r"^(spk\d+)_").utterances, m)
    return m


def toy_split(
    rng: np.random.Generator,
    n_per: int = 30,
    n_layers: int = 3,
    dim: int = 16,
    informative_layer: int = 1,
    n_classes: int = 2,
    speakers: int = 6,
) -> Split:
    """Features ``(L, T, D)`` of ``n_classes`` classes separable only in one layer's mean
    (frames 5..40 long), speakers assigned round-robin."""
    feats, y = [], []
    for c in range(n_classes):
        for _ in range(n_per):
            f = rng.normal(0, 1, (n_layers, int(rng.integers(5, 40)), dim)).astype(np.float32)
            f[min(informative_layer, n_layers - 1), :, :4] += 3.0 * (c - (n_classes - 1) / 2)
            feats.append(f)
            y.append(c)
    return Split(
        feats,
        np.array(y),
        [f"s{i % speakers}" for i in range(len(y))],
        [str(i) for i in range(len(y))],
    )


def toy_result(
    labels: list[str], per_class_recall: dict[str, float], model: str = "attnpool", **kw
):
    """A complete :class:`~serkit.experiment.results.BenchResult` with the given recalls (for
    report and table tests; every other figure is a fixed placeholder)."""
    from serkit.core.cost import Cost
    from serkit.experiment.results import BenchResult, MetricSummary

    ua = float(np.mean(list(per_class_recall.values())))
    m = MetricSummary(ua, 0.0, [ua])
    fields = dict(
        corpus="toy",
        protocol="loso",
        normalize="none",
        fold_names=["a", "b"],
        seeds=[0],
        n_utterances=10,
        n_speakers=2,
        labels=labels,
        model=model,
        frontend="logmel",
        ua=m,
        wa=m,
        f1=m,
        per_class_recall=per_class_recall,
        confusion_matrix=[[1] * len(labels)] * len(labels),
        cost=Cost(10, 100),
        metric_definitions={"ua": "balanced accuracy"},
    )
    return BenchResult(**{**fields, **kw})


def toy_multicorpus(
    folder: Path,
    corpora: tuple[str, ...] = ("ca", "cb", "cc"),
    speakers: int = 3,
    labels: dict[str, str] | None = None,
) -> Path:
    """Several toy corpora in one manifest ``folder/multi.jsonl`` (returned): each a
    :func:`toy_corpus` whose ``corpus`` field and speakers carry the corpus name; ``labels``
    renames the toy labels (default ``high`` -> ``anger``, ``low`` -> ``sadness``)."""
    from dataclasses import replace

    folder = Path(folder)
    labels = labels or {"high": "anger", "low": "sadness"}
    utts = []
    for c in corpora:
        root = toy_corpus(folder / c, speakers=speakers)
        for u in prepare("folder", root, speaker_regex=r"^(spk\d+)_").utterances:
            utts.append(
                replace(
                    u,
                    id=f"{c}_{u.id}",
                    corpus=c,
                    speaker=f"{c}_{u.speaker}",
                    label=labels.get(u.label, u.label),
                )
            )
    m = folder / "multi.jsonl"
    write_manifest(utts, m)
    return m
