"""TESS: ``OAF_angry/OAF_back_angry.wav``: speaker (OAF older, YAF younger female), word, emotion.

Emotion tokens: angry, disgust, fear, happy, neutral, ps / pleasant_surprise(d), sad.
"""

from __future__ import annotations

from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "neutral": "neutral",
    "ps": "surprise",
    "sad": "sadness",
}


def _parse(p: Path) -> dict | str:
    parts = p.stem.split("_")
    spk, emo = parts[0].upper(), parts[-1].lower()
    if len(parts) >= 4 and parts[-2].lower() == "pleasant":  # rare long form
        emo = "ps"
    if spk not in ("OAF", "YAF") or emo not in EMOTIONS or len(parts) < 3:
        return "file name does not follow TESS's scheme (e.g. OAF_back_angry.wav)"
    return dict(
        id=f"tess_{p.stem}",
        label=EMOTIONS[emo],
        speaker=f"tess_{spk}",
        corpus="tess",
        language="en",
        gender="f",
    )


@register("tess")
def prepare_tess(root: Path) -> PrepareResult:
    return scan(root, _parse)
