"""URDU: ``Angry/SM1_F01_A012.wav``: S + gender + speaker number, file number, emotion + index."""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {"A": "anger", "H": "happiness", "N": "neutral", "S": "sadness"}
FOLDERS = {"angry": "A", "happy": "H", "neutral": "N", "sad": "S"}
_NAME = re.compile(r"^S([MF])(\d+)_F(\d+)_([AHNS])(\d+)$")


def _parse(p: Path) -> dict | str:
    m = _NAME.match(p.stem)
    if not m:
        return "file name does not follow URDU's scheme (e.g. SM1_F01_A012.wav)"
    g, num, _f, emo, _i = m.groups()
    folder = FOLDERS.get(p.parent.name.lower())
    if folder is not None and folder != emo:
        return f"emotion code {emo} disagrees with folder {p.parent.name}"
    return dict(
        id=f"urdu_{p.stem}",
        label=EMOTIONS[emo],
        speaker=f"urdu_S{g}{int(num)}",
        corpus="urdu",
        language="ur",
        gender=g.lower(),
    )


@register("urdu")
def prepare_urdu(root: Path) -> PrepareResult:
    return scan(root, _parse)
