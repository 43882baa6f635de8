"""TESS: ``OAF_angry/OAF_back_angry.wav``: speaker (OAF older, YAF younger female), word, emotion.

Emotion tokens: angry, disgust, fear, happy, neutral, ps / pleasant_surprise(d), sad.
"""

from __future__ import annotations

from pathlib import Path

from serkit.data.corpora.base import PrepareResult, audio_files, probe, register

EMOTIONS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
            "neutral": "neutral", "ps": "surprise", "sad": "sadness"}


@register("tess")
def prepare_tess(root: Path) -> PrepareResult:
    cands, bad = [], []
    for p in audio_files(root, (".wav",)):
        parts = p.stem.split("_")
        spk = parts[0].upper()
        emo = parts[-1].lower()
        if len(parts) >= 4 and parts[-2].lower() == "pleasant":  # rare long form
            emo = "ps"
        if spk not in ("OAF", "YAF") or emo not in EMOTIONS or len(parts) < 3:
            bad.append((str(p), "file name does not follow TESS's scheme (e.g. OAF_back_angry.wav)"))
            continue
        cands.append((p, dict(id=f"tess_{p.stem}", label=EMOTIONS[emo], speaker=f"tess_{spk}",
                              corpus="tess", language="en", gender="f")))
    res = probe(cands)
    res.skipped[:0] = bad
    return res
