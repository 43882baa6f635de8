"""IEMOCAP 4-class (the standard 5,531 utterances: neu, hap + exc merged, ang, sad).

Layout: ``Session{1..5}/sentences/wav/<dialog>/<utt>.wav`` with labels in
``Session{n}/dialog/EmoEvaluation/<dialog>.txt`` lines such as
``[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]`` (V, A, D).
The speaker is the session plus the utterance speaker's gender (last id token, e.g. F000).
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, probe, register

FOUR_CLASS = {
    "neu": "neutral",
    "hap": "happiness",
    "exc": "happiness",
    "ang": "anger",
    "sad": "sadness",
}
_LINE = re.compile(
    r"^\[([\d.]+) - ([\d.]+)\]\s+(Ses\d\d[FM]_\S+)\s+(\w+)\s+\[([\d.]+), ([\d.]+), ([\d.]+)\]"
)


@register("iemocap")
def prepare_iemocap(root: Path, all_classes: bool = False) -> PrepareResult:
    cands, bad = [], []
    for ev in sorted(root.rglob("EmoEvaluation/*.txt")):
        with open(ev, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = _LINE.match(line)
                if not m:
                    continue
                _s, _e, utt, code, v, a, d = m.groups()
                label = FOUR_CLASS.get(code) if not all_classes else code
                if label is None:
                    continue
                dialog = utt.rsplit("_", 1)[0]
                wav = ev.parents[2] / "sentences" / "wav" / dialog / f"{utt}.wav"
                if not wav.exists():
                    bad.append((str(wav), "labelled in EmoEvaluation but audio file missing"))
                    continue
                gender = utt.rsplit("_", 1)[1][0]
                sess = utt[:5]
                cands.append(
                    (
                        wav,
                        dict(
                            id=f"iemocap_{utt}",
                            label=label,
                            speaker=f"iemocap_{sess}{gender}",
                            session=sess,
                            corpus="iemocap",
                            language="en",
                            gender=gender.lower(),
                            valence=float(v),
                            arousal=float(a),
                            dominance=float(d),
                        ),
                    )
                )
    res = probe(cands)
    res.skipped[:0] = bad
    return res
