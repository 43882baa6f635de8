"""BAVED (Basic Arabic Vocal Emotions): ``3/0-m-21-3-1-921.wav`` = folder word 3, speaker 0,
male, 21 years, word 3, level 1, record 921.

Labels are arousal levels, not categories: level 0 -> ``low-arousal`` (tired, down), 1 ->
``neutral`` (everyday speech), 2 -> ``high-arousal`` (strong positive or negative emotion); the
numeric level is kept in ``arousal`` (0 / 1 / 2) for ordinal evaluation. The spoken word is
``text`` (romanised gloss). Byte-identical duplicate files are skipped (27 in the public copy), and
a file whose word
field disagrees with its folder (one: ``0/49-m-23-6-1-201.wav``).

``baved-weak`` (the same files and ids) reads categories off the level and the word, by a rule
fixed before it was measured: level 1 -> ``neutral``; level 0 (tired, down) -> ``sadness``;
level 2 on a positive word ("I liked it", "awesome") -> ``happiness``, on a negative word ("I
did not like it", "bad") -> ``anger``; level 2 on the other three words stays
``high-arousal`` (no category: statistics only under a 4-class label spec). Every clip carries
the rule in ``label_rule``, so the corpus trains only: never a test fold, never an inner
validation part (:func:`serkit.data.protocols.training_only_corpora`).
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

LEVELS = {"0": "low-arousal", "1": "neutral", "2": "high-arousal"}
WORDS = {
    "0": "I liked it",
    "1": "I did not like it",
    "2": "this",
    "3": "the film",
    "4": "awesome",
    "5": "said",
    "6": "bad",
}
"""English glosses of the seven words, in the order of the dataset's README: 5 is مقول
("said"), 6 is سيئ ("bad"). Before the ninth session 5 and 6 were swapped here."""
_NAME = re.compile(r"^(\d+)-([mf])-(\d+)-([0-6])-([012])-(\d+)$")


def _parse(p: Path) -> dict | str:
    m = _NAME.match(p.stem)
    if not m:
        return "file name does not follow BAVED's scheme (e.g. 0-m-21-3-1-921.wav)"
    spk, g, _age, word, level, _rec = m.groups()
    if p.parent.name.isdigit() and p.parent.name != word:
        return f"word {word} in the name disagrees with folder {p.parent.name}"
    return dict(
        id=f"baved_{p.parent.name}_{p.stem}",
        label=LEVELS[level],
        speaker=f"baved_{int(spk)}",
        corpus="baved",
        language="ar",
        gender=g,
        arousal=float(level),
        text=WORDS[word],
    )


POSITIVE = ("I liked it", "awesome")
NEGATIVE = ("I did not like it", "bad")
WEAK_RULE = "baved-weak: level 1 neutral, 0 sadness, 2 happiness/anger by the word's valence"


def _parse_weak(p: Path) -> dict | str:
    d = _parse(p)
    if isinstance(d, str):
        return d
    lab, word = d["label"], d["text"]
    if lab == "low-arousal":
        lab = "sadness"
    elif lab == "high-arousal" and word in POSITIVE + NEGATIVE:
        lab = "happiness" if word in POSITIVE else "anger"
    return dict(d, label=lab, label_rule=WEAK_RULE)


@register("baved")
def prepare_baved(root: Path) -> PrepareResult:
    return scan(root, _parse, dedupe=True)


@register("baved-weak")
def prepare_baved_weak(root: Path) -> PrepareResult:
    """BAVED with categories read off level and word (module docstring): training only."""
    return scan(root, _parse_weak, dedupe=True)
