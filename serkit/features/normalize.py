"""Speaker-level feature normalisation (per-speaker z-scoring of frame features).

Each speaker's frames are standardised with that speaker's own mean and standard deviation,
per layer and feature dimension, estimated from the speaker's *unlabelled* utterances. This is
the "speaker normalisation" of the SER literature (e.g. Schuller et al., ASRU 2009, who report
EmoDB with and without it): it removes a speaker's habitual level (pitch, voice quality, the
encoder's speaker code) so that what is left is the deviation that emotion causes.

Two things a user must know:

* It is **transductive** for a test speaker: the statistics come from all of that speaker's
  test utterances (no labels). A deployment needs enrolment speech of the speaker that covers
  their range of emotions.
* It assumes every speaker shows a mix of emotions. When a speaker mostly shows one emotion
  (talk-show corpora such as URDU), the speaker mean *is* the emotion and z-scoring removes it;
  see docs/BENCHMARKS.md for the collapse this causes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from serkit.core.errors import ConfigError

NORMALIZE_MODES = ("none", "speaker", "corpus")


@dataclass
class SpeakerStats:
    """One speaker's frame statistics: ``mean`` and ``std``, both ``(L, 1, D)`` float32,
    over ``frames`` frames of ``utterances`` utterances."""

    mean: np.ndarray
    std: np.ndarray
    frames: int
    utterances: int


class SpeakerNormalizer:
    """Per-speaker z-scoring of ``(L, T, D)`` frame features.

    Args:
        eps: variance floor added before the square root (features whose dimension is
            constant for a speaker, e.g. a silent speaker, map to 0, never NaN/inf).

    ``fit(feats, speakers)`` estimates one :class:`SpeakerStats` per speaker (no labels
    involved); ``transform(x, speaker)`` standardises one utterance (or an augmented variant of
    one) with its speaker's statistics.
    """

    def __init__(self, eps: float = 1e-5):
        self.eps = eps
        self.stats: dict[str, SpeakerStats] = {}

    def fit(self, feats: list[np.ndarray], speakers: list) -> "SpeakerNormalizer":
        """``feats``: per utterance ``(L, T, D)``; ``speakers``: same length (``None`` is an error:
        a speaker is needed to normalise by)."""
        if len(feats) != len(speakers):
            raise ConfigError(f"{len(feats)} feature arrays but {len(speakers)} speaker ids")
        groups: dict[str, list[np.ndarray]] = defaultdict(list)
        for f, s in zip(feats, speakers):
            if s is None:
                raise ConfigError("speaker normalisation needs a speaker id for every utterance")
            if f.ndim != 3:
                raise ConfigError(f"expected (L, T, D) features, got shape {f.shape}")
            groups[str(s)].append(f)
        for s, fs in groups.items():
            n = sum(f.shape[1] for f in fs)
            # float64 running sums: one pass, no concatenation of a speaker's frames
            acc = np.zeros((fs[0].shape[0], 1, fs[0].shape[2]))
            acc2 = np.zeros_like(acc)
            for f in fs:
                f64 = f.astype(np.float64)
                acc += f64.sum(1, keepdims=True)
                acc2 += (f64 * f64).sum(1, keepdims=True)
            mean = acc / max(n, 1)
            var = np.maximum(acc2 / max(n, 1) - mean * mean, 0.0)
            self.stats[s] = SpeakerStats(
                mean.astype(np.float32), np.sqrt(var + self.eps).astype(np.float32), n, len(fs)
            )
        return self

    def mean_stats(self, exclude=()) -> SpeakerStats | None:
        """The average of the groups' statistics (mean of means, mean of stds), groups in
        ``exclude`` left out: the guess for a group never seen (``None``: no group left)."""
        sts = [st for g, st in self.stats.items() if g not in set(exclude)]
        if not sts:
            return None
        return SpeakerStats(
            np.mean([st.mean for st in sts], axis=0).astype(np.float32),
            np.mean([st.std for st in sts], axis=0).astype(np.float32),
            sum(st.frames for st in sts),
            sum(st.utterances for st in sts),
        )

    def transform(self, x: np.ndarray, speaker) -> np.ndarray:
        """``(L, T, D)`` -> ``(L, T, D)`` float32, standardised with ``speaker``'s statistics."""
        st = self.stats.get(str(speaker))
        if st is None:
            raise ConfigError(
                f"no statistics for speaker {speaker!r}; fit() on their utterances first"
            )
        return ((x.astype(np.float32) - st.mean) / st.std).astype(np.float32)

    def transform_bank(self, bank: dict, speaker_of: dict) -> None:
        """In place: every augmented variant (objects with a ``feats`` ``(L, T, D)`` array, as in
        an EAM bank ``target id -> [Variant]``) standardised with its *target* utterance's
        speaker statistics, stored as float16 like the cache."""
        for uid, variants in bank.items():
            for v in variants:
                v.feats = self.transform(v.feats, speaker_of[uid]).astype(np.float16)


def normalize_features(
    feats: dict[str, np.ndarray], speaker_of: dict[str, object], mode: str, dtype=np.float16
) -> tuple[dict[str, np.ndarray], SpeakerNormalizer | None]:
    """Apply ``mode`` (``none`` | ``speaker`` | ``corpus``: groups given by ``speaker_of``) to a
    feature table ``id -> (L, T, D)``.

    Returns the new table (``dtype``, as the feature cache stores it) and the fitted normaliser
    (``None`` for ``none``), whose statistics use every utterance of each speaker, labels never."""
    if mode not in NORMALIZE_MODES:
        raise ConfigError(f"normalize must be one of {NORMALIZE_MODES}, got {mode!r}")
    if mode == "none":
        return feats, None
    ids = list(feats)
    norm = SpeakerNormalizer().fit([feats[i] for i in ids], [speaker_of[i] for i in ids])
    return {i: norm.transform(feats[i], speaker_of[i]).astype(dtype) for i in ids}, norm
