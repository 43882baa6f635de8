"""Berlin EmoDB: ``wav/03a01Fa.wav`` = speaker 03, text a01, emotion F (Freude), version a."""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
GENDER = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f", "14": "f", "15": "m", "16": "f"}
_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")


def _parse(p: Path) -> dict | str:
    m = _NAME.match(p.stem)
    if not m:
        return "file name does not follow EmoDB's scheme (e.g. 03a01Fa.wav)"
    spk, _text, emo, _ver = m.groups()
    return dict(id=f"emodb_{p.stem}", label=EMOTIONS[emo], speaker=f"emodb_{spk}", corpus="emodb", language="de",
                gender=GENDER.get(spk))


@register("emodb")
def prepare_emodb(root: Path) -> PrepareResult:
    return scan(root, _parse)
