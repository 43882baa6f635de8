"""MSP-IMPROV 4-class (consensus labels A, H, S, N; O and X are dropped).

Labels: ``Evalution.txt`` (sic; ``Evaluation.txt`` also accepted) lines such as
``UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.0; V:2.0; D:3.0; N:...``.
Audio: ``Audio/session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav`` anywhere under the root.
Speaker token ``F01`` = female actor of session 1 (one male and one female per session).
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, audio_files, probe, register

EMOTIONS = {"A": "anger", "H": "happiness", "S": "sadness", "N": "neutral"}
_LINE = re.compile(r"^UTD-IMPROV-(S\d\d[A-Z]-([FM])(\d\d)-[A-Z]-[FM]{2}\d\d)\.avi;\s*([A-Z]);(.*)$")
_DIM = re.compile(r"([AVDN]):\s*([\d.]+)")


@register("msp-improv")
def prepare_msp_improv(root: Path) -> PrepareResult:
    wavs = {p.stem: p for p in audio_files(root, (".wav",))}
    evals = sorted(list(root.rglob("Evalution.txt")) + list(root.rglob("Evaluation.txt")))
    cands, bad = [], []
    for ev in evals:
        with open(ev, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = _LINE.match(line.strip())
                if not m:
                    continue
                key, g, num, code, rest = m.groups()
                if code not in EMOTIONS:
                    continue
                wav = wavs.get(f"MSP-IMPROV-{key}")
                if wav is None:
                    bad.append(
                        (
                            f"MSP-IMPROV-{key}.wav",
                            "labelled in Evalution.txt but audio file missing",
                        )
                    )
                    continue
                dims = {k: float(v) for k, v in _DIM.findall(rest)}
                cands.append(
                    (
                        wav,
                        dict(
                            id=f"mspimprov_{key}",
                            label=EMOTIONS[code],
                            speaker=f"mspimprov_{g}{num}",
                            session=f"session{int(num)}",
                            corpus="msp-improv",
                            language="en",
                            gender=g.lower(),
                            valence=dims.get("V"),
                            arousal=dims.get("A"),
                            dominance=dims.get("D"),
                        ),
                    )
                )
    res = probe(cands)
    res.skipped[:0] = bad
    return res
