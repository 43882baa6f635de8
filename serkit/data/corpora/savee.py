"""SAVEE: ``AudioData/DC/a01.wav`` (speaker folder) or the flat ``DC_a01.wav`` form.

Speakers DC, JE, JK, KL (male); emotion prefix a, d, f, h, n, sa, su.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
SPEAKERS = {"DC", "JE", "JK", "KL"}
_FLAT = re.compile(r"^(DC|JE|JK|KL)_(a|d|f|h|n|sa|su)(\d\d)$")
_NESTED = re.compile(r"^(a|d|f|h|n|sa|su)(\d\d)$")


def _parse(p: Path) -> dict | str:
    m = _FLAT.match(p.stem)
    if m:
        spk, emo, num = m.groups()
    else:
        m2 = _NESTED.match(p.stem)
        if not m2 or p.parent.name not in SPEAKERS:
            return "file name does not follow SAVEE's scheme (e.g. DC/a01.wav or DC_a01.wav)"
        spk, (emo, num) = p.parent.name, m2.groups()
    return dict(
        id=f"savee_{spk}_{emo}{num}",
        label=EMOTIONS[emo],
        speaker=f"savee_{spk}",
        corpus="savee",
        language="en",
        gender="m",
    )


@register("savee")
def prepare_savee(root: Path) -> PrepareResult:
    return scan(root, _parse)
