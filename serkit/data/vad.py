"""Category -> valence / arousal / dominance, from published norms (two tables, both in [0, 1]).

``warriner`` (default): Warriner, Kuperman & Brysbaert (2013), "Norms of valence, arousal, and
dominance for 13,915 English lemmas", Behavior Research Methods 45, 1191-1207 (9-point SAM
scales as ANEW, ~20 raters per word; columns V/A/D.Mean.Sum), rescaled ``(x - 1) / 8``.

``nrc``: the NRC VAD Lexicon v1.0 (S. M. Mohammad, "Obtaining Reliable Human Ratings of
Valence, Arousal, and Dominance for 20,000 English Words", ACL 2018; best-worst scaling, [0, 1]).

The entries for the category words serkit's label vocabulary uses (docs/LABELS.md), as
published (Warriner on its 1-9 scale; NRC on [0, 1]):

===========  ====================  =====================
label        Warriner V / A / D    NRC V / A / D
===========  ====================  =====================
anger        2.50 / 5.93 / 5.14    0.167 / 0.865 / 0.657
boredom      2.77 / 2.58 / 5.04    0.167 / 0.139 / 0.255
calm         6.89 / 1.67 / 7.44    0.875 / 0.100 / 0.282
disgust      3.32 / 5.00 / 4.84    0.052 / 0.775 / 0.317
fear         2.93 / 6.14 / 3.32    0.073 / 0.840 / 0.293
happiness    8.48 / 6.50 / 7.05    0.960 / 0.732 / 0.850
neutral      5.50 / 3.45 / 5.81    0.469 / 0.184 / 0.357
sadness      2.40 / 2.81 / 3.84    0.052 / 0.288 / 0.164
surprise     7.44 / 6.57 / 5.17    0.875 / 0.875 / 0.562
===========  ====================  =====================

Word norms rate the *word*, not a voice. The two tables disagree where it matters for speech:
NRC rates "neutral" lower in arousal (0.184) than "sadness" (0.288); Warriner puts neutral
(3.45) above sadness (2.81) and boredom (2.58), as neutral speech is heard against sad speech.
serkit keeps the published numbers (no hand tuning). Which one is the default, and when that
was decided, is in docs/BENCHMARKS.md (issue 17, dimensional).

Licences: Warriner et al.'s norms are CC BY-NC-ND 3.0, the NRC lexicon free for research and
education; serkit ships these nine rows per table with the citations, not the lexicons.
"""

from __future__ import annotations

import numpy as np

DIMS = ("valence", "arousal", "dominance")
SOURCES = {
    "warriner": "Warriner, Kuperman & Brysbaert (2013) norms, category words, (x - 1) / 8",
    "nrc": "NRC VAD Lexicon v1.0 (Mohammad, ACL 2018), category words, [0, 1]",
}
DEFAULT_TABLE = "warriner"

NRC_VAD: dict[str, tuple[float, float, float]] = {
    "anger": (0.167, 0.865, 0.657),
    "boredom": (0.167, 0.139, 0.255),
    "calm": (0.875, 0.100, 0.282),
    "disgust": (0.052, 0.775, 0.317),
    "fear": (0.073, 0.840, 0.293),
    "happiness": (0.960, 0.732, 0.850),
    "neutral": (0.469, 0.184, 0.357),
    "sadness": (0.052, 0.288, 0.164),
    "surprise": (0.875, 0.875, 0.562),
}

_WARRINER_1_9 = {
    "anger": (2.50, 5.93, 5.14),
    "boredom": (2.77, 2.58, 5.04),
    "calm": (6.89, 1.67, 7.44),
    "disgust": (3.32, 5.00, 4.84),
    "fear": (2.93, 6.14, 3.32),
    "happiness": (8.48, 6.50, 7.05),
    "neutral": (5.50, 3.45, 5.81),
    "sadness": (2.40, 2.81, 3.84),
    "surprise": (7.44, 6.57, 5.17),
}
WARRINER = {k: tuple(round((x - 1) / 8, 4) for x in v) for k, v in _WARRINER_1_9.items()}
TABLES: dict[str, dict[str, tuple[float, float, float]]] = {"warriner": WARRINER, "nrc": NRC_VAD}


def _table(name: str) -> dict:
    if name not in TABLES:
        from serkit.core.errors import ConfigError

        raise ConfigError(f"unknown VAD table {name!r}: use {', '.join(TABLES)}")
    return TABLES[name]


def category_vad(label: str | None, table: str = DEFAULT_TABLE) -> np.ndarray:
    """``(3,)`` float32 V, A, D of a category; NaN where the table has no such label."""
    v = _table(table).get((label or "").lower())
    return np.array(v if v is not None else (np.nan,) * 3, np.float32)


def expected_vad(proba: np.ndarray, labels: list[str], table: str = DEFAULT_TABLE) -> np.ndarray:
    """Valence / arousal / dominance implied by class probabilities: ``sum_c p_c vad(c)`` over
    the classes ``table`` knows, renormalised over them. ``proba``: ``(N, C)`` -> ``(N, 3)``
    (NaN rows when no class is in the table). What every runner reports beside the label."""
    p = np.atleast_2d(np.asarray(proba, np.float64))
    tab = np.stack([category_vad(lab, table) for lab in labels]).astype(np.float64)  # (C, 3)
    known = np.isfinite(tab[:, 0])
    if not known.any():
        return np.full((p.shape[0], 3), np.nan)
    w = p[:, known]
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    return w @ tab[known]


def sphere_region(vad: np.ndarray) -> np.ndarray:
    """EmoSphere-SER's auxiliary target: the octant of (V, A, D) around the scale centre 0.5,
    ``(N, 3)`` -> ``(N,)`` ints 0..7 (bit 0 valence, bit 1 arousal, bit 2 dominance above 0.5)."""
    v = np.asarray(vad, np.float64) > 0.5
    return (v[:, 0] * 1 + v[:, 1] * 2 + v[:, 2] * 4).astype(np.int64)
