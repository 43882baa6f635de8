"""Generic recipes for a user's own data.

``folder``: ``ROOT/<label>/**/<file>`` (one sub-folder per label). The speaker is taken from
the file name with ``speaker_regex`` (first group), else unknown.
``csv``: a CSV file with a header holding at least ``path,label`` and optionally ``speaker``,
``session``, ``gender``, ``language``; relative paths resolve against the CSV's folder.
``text-csv``: transcripts without audio, a CSV with at least ``text,label`` (optionally ``id``,
``speaker``, ``language``): for the text branch of multimodal models (``--frontend none --model
eavs-tf-text``). Each row is given a nominal duration of 3 s (costs are per 3 s clip).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from serkit.core.errors import ManifestError
from serkit.data.corpora.base import PrepareResult, audio_files, probe, register
from serkit.data.manifest import Utterance


def _slug(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(rel))


@register("folder")
def prepare_folder(
    root: Path,
    speaker_regex: str | None = None,
    language: str | None = None,
    corpus: str = "folder",
) -> PrepareResult:
    if root.is_file():
        raise ManifestError(
            f"{root}: the folder recipe needs a directory with one sub-folder per label"
        )
    rx = re.compile(speaker_regex) if speaker_regex else None
    cands, bad = [], []
    for label_dir in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for p in audio_files(label_dir):
            spk = None
            if rx is not None:
                m = rx.search(p.stem)
                if not m:
                    bad.append(
                        (str(p), f"speaker_regex {speaker_regex!r} does not match the file name")
                    )
                    continue
                spk = m.group(1) if m.groups() else m.group(0)
            cands.append(
                (
                    p,
                    dict(
                        id=f"{corpus}_{_slug(p, root)}",
                        label=label_dir.name,
                        speaker=spk,
                        corpus=corpus,
                        language=language,
                    ),
                )
            )
    res = probe(cands)
    res.skipped[:0] = bad
    return res


@register("csv")
def prepare_csv(root: Path, corpus: str = "csv", language: str | None = None) -> PrepareResult:
    if not root.is_file():
        raise ManifestError(f"{root}: the csv recipe needs a CSV file (path,label[,speaker])")
    cands, bad = [], []
    with open(root, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        if not {"path", "label"} <= cols:
            raise ManifestError(
                f"{root}: CSV header must contain 'path' and 'label', found {sorted(cols)}"
            )
        for i, row in enumerate(reader, 2):
            p = Path(row["path"].strip())
            if not p.is_absolute():
                p = root.parent / p
            label = (row.get("label") or "").strip()
            if not label:
                bad.append((str(p), f"line {i}: empty label"))
                continue
            if not p.exists():
                bad.append((str(p), f"line {i}: file not found"))
                continue
            cands.append(
                (
                    p,
                    dict(
                        id=f"{corpus}_{i - 1:06d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', p.stem)}",
                        label=label,
                        speaker=(row.get("speaker") or "").strip() or None,
                        session=(row.get("session") or "").strip() or None,
                        gender=(row.get("gender") or "").strip() or None,
                        corpus=corpus,
                        language=(row.get("language") or "").strip() or language,
                    ),
                )
            )
    res = probe(cands)
    res.skipped[:0] = bad
    return res


@register("text-csv")
def prepare_text_csv(
    root: Path, corpus: str = "text", language: str | None = None
) -> PrepareResult:
    if not root.is_file():
        raise ManifestError(
            f"{root}: the text-csv recipe needs a CSV file (text,label[,id,speaker,language])"
        )
    utts, bad = [], []
    with open(root, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        if not {"text", "label"} <= cols:
            raise ManifestError(
                f"{root}: CSV header must contain 'text' and 'label', found {sorted(cols)}"
            )
        for i, row in enumerate(reader, 2):
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if not text or not label:
                bad.append((f"{root}:{i}", "empty text" if not text else "empty label"))
                continue
            uid = (row.get("id") or "").strip() or f"{corpus}_{i - 1:06d}"
            utts.append(
                Utterance(
                    id=uid,
                    audio="none",
                    duration=3.0,
                    label=label,
                    text=text,
                    corpus=corpus,
                    speaker=(row.get("speaker") or "").strip() or None,
                    language=(row.get("language") or "").strip() or language,
                )
            )
    return PrepareResult(utts, bad)
