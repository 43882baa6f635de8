"""ESD (Emotional Speech Dataset; Zhou et al., ICASSP 2021): ``0020/Angry/0020_000351.wav``:
speaker folder, emotion folder, ``<speaker>_<index>`` (the index range also encodes the emotion:
1-350 Neutral, 351-700 Angry, 701-1050 Happy, 1051-1400 Sad, 1401-1750 Surprise). Speakers
0001-0010 speak Mandarin, 0011-0020 English. Each speaker folder's ``<speaker>.txt`` holds
``<id><TAB><sentence><TAB><emotion>`` lines: the sentence becomes ``text`` (parallel sentences,
so the words carry no emotion). A file whose emotion folder and index range disagree is listed,
not used. Licence: ESD's research licence (non-commercial research use).
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {
    "neutral": "neutral",
    "angry": "anger",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
}
RANGES = (
    ("neutral", 1, 350),
    ("angry", 351, 700),
    ("happy", 701, 1050),
    ("sad", 1051, 1400),
    ("surprise", 1401, 1750),
)
GENDER = {"0020": "m"}
"""Known genders (the public snapshot's speaker; ESD's others are not recorded here)."""
_NAME = re.compile(r"^(\d{4})_(\d{6})$")


def _emotion_of(index: int) -> str | None:
    return next((e for e, a, b in RANGES if a <= index <= b), None)


def _transcripts(root: Path) -> dict[str, str]:
    out = {}
    for txt in root.rglob("*.txt"):
        if not re.fullmatch(r"\d{4}", txt.stem):
            continue
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.strip().split("\t")
            if len(parts) >= 2 and _NAME.match(parts[0]):
                out[parts[0]] = parts[1].strip()
    return out


def prepare_esd_from(root: Path) -> PrepareResult:
    texts = _transcripts(root)

    def parse(p: Path) -> dict | str:
        m = _NAME.match(p.stem)
        if not m:
            return "file name does not follow ESD's scheme (e.g. 0020/Angry/0020_000351.wav)"
        spk, idx = m.group(1), int(m.group(2))
        folder, by_index = p.parent.name.lower(), _emotion_of(idx)
        if folder not in EMOTIONS:
            return (
                f"emotion folder {p.parent.name!r} is not one of ESD's "
                f"({', '.join(sorted(EMOTIONS))})"
            )
        if by_index != folder:
            return (
                f"index {idx} belongs to {by_index or 'no'} emotion, but the file is in "
                f"{p.parent.name}"
            )
        return dict(
            id=f"esd_{p.stem}",
            label=EMOTIONS[folder],
            speaker=f"esd_{spk}",
            corpus="esd",
            language="zh" if int(spk) <= 10 else "en",
            gender=GENDER.get(spk),
            text=texts.get(p.stem),
        )

    return scan(root, parse)


@register("esd")
def prepare_esd(root: Path) -> PrepareResult:
    return prepare_esd_from(Path(root))
