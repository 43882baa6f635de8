"""Recipe registry and the shared scan step (probe each file, list the bad ones)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from serkit.audio.io import audio_duration
from serkit.core.errors import AudioError, ManifestError
from serkit.data.manifest import Utterance

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


def scan(
    root: Path,
    parse: Callable[[Path], dict | str | None],
    exts: tuple[str, ...] = (".wav",),
    dedupe: bool = False,
) -> PrepareResult:
    """Every audio file under ``root`` through ``parse(path)``: a dict of Utterance fields (used),
    a string (why the file is unusable: listed in ``skipped``) or ``None`` (not part of the set,
    e.g. RAVDESS song; left out silently). The usable files are then probed.

    ``dedupe``: a file byte-identical to an earlier one (path order) is skipped with the name of
    the file it copies (a copy under another speaker would leak across folds)."""
    cands, bad = [], []
    seen: dict[str, Path] = {}
    for p in audio_files(root, exts):
        r = parse(p)
        if isinstance(r, str):
            bad.append((str(p), r))
        elif r is not None:
            if dedupe:
                digest = hashlib.sha1(p.read_bytes()).hexdigest()
                if digest in seen:
                    bad.append((str(p), f"byte-identical to {seen[digest]} (duplicate skipped)"))
                    continue
                seen[digest] = p
            cands.append((p, r))
    res = probe(cands)
    res.skipped[:0] = bad
    return res


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


def prepare_manifest(
    corpus: str, root: str | Path, out: str | Path, speaker_regex: str | None = None
) -> list[str]:
    """Run recipe ``corpus`` and write its manifest to ``out`` (skipped files to
    ``OUT.skipped.tsv``); returns the summary lines the CLI prints."""
    from collections import Counter

    from serkit.core.io import atomic_write_text
    from serkit.data.manifest import write_manifest

    res = prepare(
        corpus,
        root,
        **({"speaker_regex": speaker_regex} if corpus == "folder" and speaker_regex else {}),
    )
    if not res.utterances:
        raise ManifestError(
            f"{root}: no usable {corpus} utterances found ({len(res.skipped)} file(s) skipped)"
        )
    n = write_manifest(res.utterances, out)
    counts = Counter(u.label for u in res.utterances)
    lines = [
        f"wrote {out}: {n} utterances, {len({u.speaker for u in res.utterances})} speakers, "
        f"{sum(u.duration for u in res.utterances) / 60:.1f} min",
        "labels: "
        + ", ".join(
            f"{k or '(unlabelled)'} {v}"
            for k, v in sorted(counts.items(), key=lambda kv: kv[0] or "")
        ),
    ]
    if res.skipped:
        skipped = Path(str(out) + ".skipped.tsv")
        atomic_write_text(skipped, "".join(f"{p}\t{r}\n" for p, r in res.skipped))
        lines.append(
            f"skipped {len(res.skipped)} file(s), listed in {skipped}; first: {res.skipped[0][0]}: "
            f"{res.skipped[0][1]}"
        )
    return lines
