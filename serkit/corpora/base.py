"""Recipe registry and the shared scan step (probe each file, list the bad ones)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from serkit.audio.io import audio_duration
from serkit.corpora.manifest import Utterance
from serkit.errors import AudioError, ManifestError

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


@dataclass
class PrepareResult:
    """What a recipe found: usable utterances and files it had to skip (path, reason)."""

    utterances: list[Utterance]
    skipped: list[tuple[str, str]] = field(default_factory=list)


RECIPES: dict[str, Callable[..., PrepareResult]] = {}


def register(name: str):
    def deco(fn):
        RECIPES[name] = fn
        return fn

    return deco


def prepare(corpus: str, root: str | Path, **kwargs) -> PrepareResult:
    """Run recipe ``corpus`` on ``root``."""
    if corpus not in RECIPES:
        raise ManifestError(f"unknown corpus recipe {corpus!r}; known: {sorted(RECIPES)}")
    root = Path(root)
    if not root.exists():
        raise ManifestError(f"{root}: corpus folder not found")
    return RECIPES[corpus](root, **kwargs)


def audio_files(root: Path, exts: tuple[str, ...] = AUDIO_EXTS) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in exts and p.is_file())


def probe(candidates: Iterable[tuple[Path, dict]]) -> PrepareResult:
    """Read each candidate's header; the unreadable ones go to ``skipped`` with a reason.

    Args:
        candidates: ``(path, fields)`` where ``fields`` holds the Utterance fields except
            ``audio`` and ``duration`` (``duration`` is taken from the header unless given).
    """
    res = PrepareResult([])
    for path, f in candidates:
        try:
            dur = f.pop("duration", None) or audio_duration(path)
        except AudioError as exc:
            res.skipped.append((str(path), exc.reason))
            continue
        res.utterances.append(Utterance(audio=str(path.resolve()), duration=round(dur, 4), **f))
    return res
