"""Indian EmoSpeech Command Dataset: ``Metro/help-safe-fearful-20190710134657-<userhash>.wav`` =
keyword - background event - emotion - timestamp - user hash; the folder is the location.

Emotions: calm, fearful, angry, happy (``calm`` stays ``calm``: merge it with ``--labels
neutral=neutral+calm``). ``background`` clips (no keyword, noise only) are unlabelled: they are
kept with ``label: null`` (material for the no-speech check), whatever their emotion field says.
The keyword goes to ``text`` (``unknown`` = a word outside the list: no text). Speakers: the
108 known user hashes; the unknown-user hash (74 % of the clips) is ONE group,
``emospeech_unknown-user``, so a speaker-grouped fold holds all of it at once. ``session`` is
the location folder. Byte-identical duplicate files are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.base import PrepareResult, register, scan

EMOTIONS = {"calm": "calm", "fearful": "fear", "angry": "anger", "happy": "happiness"}
KEYWORDS = ("help", "bacho", "stop", "no", "go", "yes", "unknown", "background")
UNKNOWN_USER = "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
_NAME = re.compile(r"^([a-z]+)-([a-z ]+)-([A-Za-z]+)-([0-9.]+(?: copy)?)-([0-9a-f]+)$")


def _parse(p: Path) -> dict | str:
    m = _NAME.match(p.stem)
    if not m or m.group(1) not in KEYWORDS:
        return (
            "file name does not follow EmoSpeech's scheme (e.g. "
            "help-safe-fearful-20190710134657-<hash>.wav)"
        )
    kw, _event, emo, stamp, user = m.groups()
    if kw == "background":
        label = None
    elif emo in EMOTIONS:
        label = EMOTIONS[emo]
    else:
        return f"emotion {emo!r} is not one of {sorted(EMOTIONS)} on a keyword clip"
    spk = "emospeech_unknown-user" if user == UNKNOWN_USER else f"emospeech_{user[:12]}"
    stem = p.stem[: -len(user) - 1].replace(" ", "_")
    return dict(
        id=f"emospeech_{p.parent.name.replace(' ', '_')}_{stem}_{user[:8]}",
        label=label,
        speaker=spk,
        session=p.parent.name,
        corpus="emospeech",
        language="hi",
        text=None if kw in ("unknown", "background") else kw,
    )


@register("emospeech")
def prepare_emospeech(root: Path) -> PrepareResult:
    return scan(root, _parse, dedupe=True)
