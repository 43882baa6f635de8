"""RAVDESS speech: ``Actor_01/03-01-05-01-02-01-01.wav``.

Fields: modality (03 audio-only) - vocal channel (01 speech, 02 song) - emotion - intensity
- statement - repetition - actor (odd = male). Only audio-only speech is kept (1,440 files,
8 classes). The statement field gives ``text``; byte-identical duplicates are skipped (two
files of Actor_07 in the public copy).
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happiness",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def _parse(p: Path) -> dict | str | None:
    m = _NAME.match(p.stem)
    if not m or m.group(3) not in EMOTIONS:
        return "file name does not follow RAVDESS's scheme (e.g. 03-01-05-01-02-01-12.wav)"
    modality, channel, emo, inten, stmt, _rep, actor = m.groups()
    if modality != "03" or channel != "01":
        return None  # video or song: not part of the speech set
    a = int(actor)
    return dict(
        id=f"ravdess_{p.stem}",
        label=EMOTIONS[emo],
        speaker=f"ravdess_{a:02d}",
        corpus="ravdess",
        language="en",
        gender="m" if a % 2 else "f",
        text=STATEMENTS.get(stmt),
        intensity={"01": "normal", "02": "strong"}.get(inten),
    )


@register("ravdess")
def prepare_ravdess(root: Path) -> PrepareResult:
    return scan(root, _parse, dedupe=True)
