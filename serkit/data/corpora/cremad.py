"""CREMA-D: ``AudioWAV/1001_DFA_ANG_XX.wav`` = actor 1001, sentence DFA, emotion ANG, level XX.

Gender comes from ``VideoDemographics.csv`` (ActorID, Age, Sex, ...) when it is present.

Rater votes: when ``processedResults/tabulatedVotes.csv`` is present, each clip gets
``label_dist`` from its **voice-only** row: the CSV's row name is ``100000 * queryType +
clipNum`` (CREMA-D's ``tabulateVotesV2.r``; queryType 1 = voice only, 2 = face only, 3 = audio-
visual), and the columns ``A, D, F, H, N, S`` count the raters who chose anger, disgust, fear,
happiness, neutral, sadness. ``label`` stays the acted emotion of the file name.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happiness",
    "NEU": "neutral",
    "SAD": "sadness",
}
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2}|X)$")


def _genders(root: Path) -> dict[str, str]:
    for p in root.rglob("VideoDemographics.csv"):
        with open(p, newline="", encoding="utf-8", errors="replace") as fh:
            return {
                r["ActorID"]: r.get("Sex", "")[:1].lower() or None
                for r in csv.DictReader(fh)
                if "ActorID" in r
            }
    return {}


VOTE_COLUMNS = {
    "A": "anger",
    "D": "disgust",
    "F": "fear",
    "H": "happiness",
    "N": "neutral",
    "S": "sadness",
}


def read_votes(path: Path, query_type: int = 1) -> dict[str, dict[str, float]]:
    """``fileName -> {label: votes}`` from ``tabulatedVotes.csv``, rows of ``query_type`` only
    (1 = voice only); clips without a vote are left out."""
    out: dict[str, dict[str, float]] = {}
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        key = reader.fieldnames[0] if reader.fieldnames else ""
        for r in reader:
            try:
                if int(float(r[key])) // 100000 != query_type:
                    continue
                votes = {
                    lab: float(r[c]) for c, lab in VOTE_COLUMNS.items() if float(r.get(c) or 0) > 0
                }
            except (KeyError, ValueError):
                continue
            if votes and r.get("fileName"):
                out[r["fileName"]] = votes
    return out


@register("crema-d")
def prepare_cremad(root: Path) -> PrepareResult:
    genders = _genders(root)
    vp = next(iter(root.rglob("tabulatedVotes.csv")), None)
    votes = read_votes(vp) if vp is not None else {}

    def parse(p: Path) -> dict | str:
        m = _NAME.match(p.stem)
        if not m or m.group(3) not in EMOTIONS:
            return "file name does not follow CREMA-D's scheme (e.g. 1001_DFA_ANG_XX.wav)"
        actor, _sent, emo, _lvl = m.groups()
        return dict(
            id=f"cremad_{p.stem}",
            label=EMOTIONS[emo],
            speaker=f"cremad_{actor}",
            corpus="crema-d",
            language="en",
            gender=genders.get(actor),
            label_dist=votes.get(p.stem),
        )

    return scan(root, parse)
