"""Berlin EmoDB: ``wav/03a01Fa.wav`` = speaker 03, text a01, emotion F (Freude), version a.

The ten sentences (EmoDB's documentation, Burkhardt et al. 2005) give ``text``: the same
emotionally neutral words in every emotion, so the words carry no emotion here."""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
GENDER = {
    "03": "m",
    "08": "f",
    "09": "f",
    "10": "m",
    "11": "m",
    "12": "m",
    "13": "f",
    "14": "f",
    "15": "m",
    "16": "f",
}
SENTENCES = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")


def _parse(p: Path) -> dict | str:
    m = _NAME.match(p.stem)
    if not m:
        return "file name does not follow EmoDB's scheme (e.g. 03a01Fa.wav)"
    spk, text, emo, _ver = m.groups()
    return dict(
        id=f"emodb_{p.stem}",
        label=EMOTIONS[emo],
        speaker=f"emodb_{spk}",
        corpus="emodb",
        language="de",
        gender=GENDER.get(spk),
        text=SENTENCES.get(text),
    )


@register("emodb")
def prepare_emodb(root: Path) -> PrepareResult:
    return scan(root, _parse)
