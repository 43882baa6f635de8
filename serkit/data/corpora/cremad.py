"""CREMA-D: ``AudioWAV/1001_DFA_ANG_XX.wav`` = actor 1001, sentence DFA, emotion ANG, level XX.

Gender comes from ``VideoDemographics.csv`` (ActorID, Age, Sex, ...) when it is present.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"}
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2}|X)$")


def _genders(root: Path) -> dict[str, str]:
    for p in root.rglob("VideoDemographics.csv"):
        with open(p, newline="", encoding="utf-8", errors="replace") as fh:
            return {r["ActorID"]: r.get("Sex", "")[:1].lower() or None for r in csv.DictReader(fh) if "ActorID" in r}
    return {}


@register("crema-d")
def prepare_cremad(root: Path) -> PrepareResult:
    genders = _genders(root)

    def parse(p: Path) -> dict | str:
        m = _NAME.match(p.stem)
        if not m or m.group(3) not in EMOTIONS:
            return "file name does not follow CREMA-D's scheme (e.g. 1001_DFA_ANG_XX.wav)"
        actor, _sent, emo, _lvl = m.groups()
        return dict(id=f"cremad_{p.stem}", label=EMOTIONS[emo], speaker=f"cremad_{actor}", corpus="crema-d",
                    language="en", gender=genders.get(actor))

    return scan(root, parse)
