"""RAVDESS speech: ``Actor_01/03-01-05-01-02-01-01.wav``.

Fields: modality (03 audio-only) - vocal channel (01 speech, 02 song) - emotion - intensity
- statement - repetition - actor (odd = male). Only audio-only speech is kept (1,440 files,
8 classes).
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, audio_files, probe, register

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness", "05": "anger",
            "06": "fear", "07": "disgust", "08": "surprise"}
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


@register("ravdess")
def prepare_ravdess(root: Path) -> PrepareResult:
    cands, bad = [], []
    for p in audio_files(root, (".wav",)):
        m = _NAME.match(p.stem)
        if not m or m.group(3) not in EMOTIONS:
            bad.append((str(p), "file name does not follow RAVDESS's scheme (e.g. 03-01-05-01-02-01-12.wav)"))
            continue
        modality, channel, emo, _inten, _stmt, _rep, actor = m.groups()
        if modality != "03" or channel != "01":
            continue  # video or song: not part of the speech set
        a = int(actor)
        cands.append((p, dict(id=f"ravdess_{p.stem}", label=EMOTIONS[emo], speaker=f"ravdess_{a:02d}",
                              corpus="ravdess", language="en", gender="m" if a % 2 else "f")))
    res = probe(cands)
    res.skipped[:0] = bad
    return res
