"""The one manifest format: JSONL, one :class:`Utterance` per line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from serkit.core.errors import ManifestError
from serkit.core.io import atomic_write_text


@dataclass
class Utterance:
    """One labelled utterance.

    Attributes:
        id: unique within the manifest.
        audio: path to the audio file (absolute, or relative to the manifest's folder).
        duration: seconds (of the segment when ``start``/``end`` are set).
        label: emotion class name (lower case English, e.g. ``anger``).
        speaker: speaker id, unique across the corpus (``None`` if unknown).
        session: recording session (IEMOCAP/MSP-IMPROV), else ``None``.
        corpus: corpus name.
        language: ISO 639-1 code.
        start, end: optional segment bounds in seconds inside ``audio``.
        gender: ``m``/``f`` when the corpus documents it.
        valence, arousal, dominance: optional dimensional annotations (corpus scale; BAVED's
            arousal level is 0 / 1 / 2).
        text: the words spoken when the corpus says (RAVDESS's sentence, EmoSpeech's keyword).
        intensity: the acted intensity when the corpus documents it (RAVDESS: ``normal`` /
            ``strong``), an ordinal arousal cue within one emotion.
        label_dist: a distribution over labels (e.g. rater votes, CREMA-D's voice-only
            tabulated votes): ``{label: weight}``, normalised when read by an experiment;
            ``label`` stays the majority (what UA is scored on).
        label_rule: set when ``label`` was derived by a rule rather than annotated (the rule,
            in words: BAVED's ``baved-weak`` recipe). Such a clip only ever trains: its corpus
            is never a test fold or an inner validation part.
    """

    id: str
    audio: str
    duration: float
    label: str | None
    speaker: str | None = None
    session: str | None = None
    corpus: str = ""
    language: str | None = None
    start: float | None = None
    end: float | None = None
    gender: str | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    text: str | None = None
    intensity: str | None = None
    label_dist: dict[str, float] | None = None
    label_rule: str | None = None

    def to_json(self) -> str:
        d = {k: v for k, v in asdict(self).items() if v is not None or k in ("label", "speaker")}
        return json.dumps(d, ensure_ascii=False)


_FIELDS = {f.name for f in fields(Utterance)}


def write_manifest(utts: Iterable[Utterance], path: str | Path) -> int:
    """Write utterances atomically; returns the count. Ids must be unique."""
    utts = list(utts)
    seen: set[str] = set()
    for u in utts:
        if u.id in seen:
            raise ManifestError(f"duplicate utterance id {u.id!r}")
        seen.add(u.id)
    atomic_write_text(path, "".join(u.to_json() + "\n" for u in utts))
    return len(utts)


def read_manifest(path: str | Path) -> list[Utterance]:
    """Read a JSONL manifest; relative audio paths resolve against the manifest's folder."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: manifest not found")
    base = path.resolve().parent
    out: list[Utterance] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            unknown = set(d) - _FIELDS
            missing = {"id", "audio", "duration", "label"} - set(d)
            if missing:
                raise ManifestError(f"{path}:{lineno}: missing field(s) {sorted(missing)}")
            for k in unknown:
                d.pop(k)
            audio = Path(d["audio"])
            if not audio.is_absolute():
                d["audio"] = str(base / audio)
            out.append(Utterance(**d))
    if not out:
        raise ManifestError(f"{path}: manifest is empty")
    return out


def read_manifests(paths: str | Path | list) -> list[Utterance]:
    """One or several manifests as one list (``"a.jsonl,b.jsonl"`` or a list); the ``corpus``
    field keeps them apart. An id in two manifests is an error."""
    if isinstance(paths, (str, Path)):
        paths = [p for p in str(paths).split(",") if p.strip()]
    out: list[Utterance] = []
    seen: dict[str, str] = {}
    for p in paths:
        for u in read_manifest(p):
            if u.id in seen:
                raise ManifestError(f"utterance id {u.id!r} is in both {seen[u.id]} and {p}")
            seen[u.id] = str(p)
            out.append(u)
    return out


def label_set(utts: Iterable[Utterance]) -> list[str]:
    return sorted({u.label for u in utts if u.label is not None})
