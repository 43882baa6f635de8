"""Predicting over many files (the ``serkit predict`` verb): folders expanded, one row per file
or per timeline window, unusable files reported and skipped."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

from serkit.core.errors import AudioError, SerkitError
from serkit.deploy.runner import Prediction, Runner

AUDIO_EXTS = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au", ".w64", ".caf"}


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders expanded (recursively, sorted) to their audio files."""
    out = []
    for p in map(Path, paths):
        # not only regular files: a dangling link or a pipe with an audio name is listed, so
        # reading it reports why it was skipped instead of it vanishing from both rows and errors
        out += (
            sorted(q for q in p.rglob("*") if q.suffix.lower() in AUDIO_EXTS and not q.is_dir())
            if p.is_dir()
            else [p]
        )
    return out


ENGINES = ("auto", "torch", "onnx")


def onnx_cache_path(model: str | Path) -> Path | None:
    """Where the fp32 ONNX export of a bundled name or ``.pt`` file is cached:
    ``$SERKIT_ONNX_CACHE`` (default ~/.cache/serkit/onnx) / ``<stem>-<digest of the .pt>.onnx``,
    so a changed model file never meets a stale export. ``None``: no such model file."""
    import os

    from serkit.core.io import file_digest
    from serkit.deploy.bundles import BUNDLES

    pt = BUNDLES[str(model)].path() if str(model) in BUNDLES else Path(model)
    if pt.suffix != ".pt" or not pt.is_file():
        return None
    root = Path(os.environ.get("SERKIT_ONNX_CACHE", Path.home() / ".cache" / "serkit" / "onnx"))
    return root / f"{pt.stem}-{file_digest(pt)[:16]}.onnx"


def open_runner(
    model: str = "default", onnx: Path | None = None, threads: int = 0, engine: str = "torch"
) -> Runner:
    """The ONNX runner for ``onnx`` (no torch), else ``model`` on ``engine``: ``torch`` (the
    PyTorch recogniser), ``onnx`` (its cached fp32 export, written on first use), or ``auto``
    (any model, bundled or a ``.pt`` of yours or from ``serkit adapt``: the cached export,
    keyed by the model file's digest, when there is one, so a cold start imports no torch;
    otherwise PyTorch, and the export is written for the next start). A model that cannot be
    exported (multimodal, or a head without an ONNX form) runs
    on PyTorch, with a note on stderr when ``onnx`` was asked for."""
    if engine not in ENGINES:
        raise SerkitError(f"engine must be one of {ENGINES}, got {engine!r}")
    cacheable = engine in ("onnx", "auto")
    if onnx is None and cacheable:
        cached = onnx_cache_path(model)
        if cached is not None and cached.is_file():
            onnx = cached
    if onnx is not None:
        from serkit.deploy.runtime import OnnxRecognizer

        return OnnxRecognizer(onnx, threads=threads or 1)
    if threads:
        import torch

        torch.set_num_threads(threads)
    from serkit.deploy.loading import load

    rec = load(model)
    cached = onnx_cache_path(model) if cacheable and not getattr(rec, "reads_text", False) else None
    if cached is not None:
        try:
            _write_export(rec, cached)
        except Exception as exc:  # noqa: BLE001 - no export is not an error: PyTorch runs it
            if engine == "onnx":
                print(
                    f"serkit: running on PyTorch ({model} has no ONNX export: {exc})",
                    file=sys.stderr,
                )
            return rec
        if engine == "onnx":
            from serkit.deploy.runtime import OnnxRecognizer

            return OnnxRecognizer(cached, threads=threads or 1)
    return rec


def _write_export(rec, path: Path) -> None:
    """The fp32 ONNX export of ``rec`` at ``path``, atomically (a crash leaves no half file)."""
    import os
    import tempfile

    from serkit.deploy.export import export_model

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        export_model(rec, Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def format_prediction(p: Prediction) -> str:
    if p.state == "error":
        return f"{p.source}: error ({p.error})"
    probs = "  ".join(
        f"{k} {v:.2f}" for k, v in sorted(p.probabilities.items(), key=lambda kv: -kv[1])
    )
    dims = (
        f"  valence {p.dimensions['valence']:.2f} arousal {p.dimensions['arousal']:.2f}"
        if p.dimensions
        else ""
    )
    win = (
        f", {p.windows} windows, {p.speech_s:.1f} s speech"
        if p.windows != 1 and p.speech_s is not None
        else f", {p.windows} windows"
        if p.windows != 1
        else ""
    )
    return (
        f"{p.source}: {p.label}  ({probs}){dims}  [{p.duration:.2f} s audio{win}, "
        f"{p.seconds * 1000:.0f} ms]"
    )


DIM_COLUMNS = ("valence", "arousal", "dominance")


def csv_header(labels: list[str], timeline: bool) -> list[str]:
    """The CSV columns of ``serkit predict --csv`` (``--timeline``: one row per window)."""
    head = ["source", "start", "end"] if timeline else ["source"]
    tail = ["speech_s"] if timeline else ["speech_s", "windows", "duration", "seconds", "error"]
    return (
        head
        + ["label", "state", "top", "confidence"]
        + [f"p_{lab}" for lab in labels]
        + list(DIM_COLUMNS)
        + tail
    )


def _csv_values(row, labels: list[str]) -> list[str]:
    probs = [f"{row.probabilities[lab]:.6f}" if lab in row.probabilities else "" for lab in labels]
    dims = row.dimensions
    sp = "" if row.speech_s is None else f"{row.speech_s:.3f}"
    return (
        [row.label, row.state, row.top, f"{row.confidence:.6f}"]
        + probs
        + [f"{dims[k]:.4f}" if dims else "" for k in DIM_COLUMNS]
        + [sp]
    )


def predict_paths(
    rec: Runner,
    paths: list[Path],
    fmt: str = "text",
    timeline: bool = False,
    window: float = 2.0,
    hop: float = 1.0,
    vad: str = "energy",
    echo: Callable = print,
    err: Callable = print,
    embed: Path | None = None,
) -> int:
    """Write one row per file (or per timeline window) in ``fmt`` (``text`` | ``json`` | ``csv``);
    returns the number of unusable files (each reported through ``err``). ``embed``: also write
    each file's utterance embedding to this ``.npy`` (rows in the order of the answered files,
    ``<embed>.ids.txt`` beside it names them)."""
    from tqdm.auto import tqdm

    files = expand_paths(paths)
    if not files:
        raise SerkitError("no audio files found in the given paths")
    writer = csv.writer(sys.stdout) if fmt == "csv" else None
    if writer:
        writer.writerow(csv_header(rec.labels, timeline))
    failed = 0
    vectors, ids = [], []
    for f in tqdm(files, disable=len(files) < 10, unit="file", file=sys.stderr):
        try:
            if timeline:
                _timeline_rows(rec, f, fmt, writer, window, hop, vad, echo)
                continue
            p = rec.predict(f)
            if embed is not None:
                vectors.append(rec.embed(f))
                ids.append(str(f))
        except AudioError as exc:
            failed += 1
            err(str(exc))
            continue
        if writer:
            writer.writerow(
                [p.source]
                + _csv_values(p, rec.labels)
                + [str(p.windows), f"{p.duration:.3f}", f"{p.seconds:.4f}", ""]
            )
        else:
            echo(json.dumps(p.to_dict()) if fmt == "json" else format_prediction(p))
    if embed is not None and vectors:
        import numpy as np

        from serkit.core.io import atomic_save_npy, atomic_write_text

        atomic_save_npy(Path(embed), np.stack(vectors).astype(np.float32))
        atomic_write_text(Path(str(embed) + ".ids.txt"), "\n".join(ids) + "\n")
    return failed


def _timeline_rows(rec: Runner, f: Path, fmt: str, writer, window, hop, vad, echo) -> None:
    rows = rec.timeline(f, window=window, hop=hop, vad=vad)
    for r in rows:
        if writer:
            writer.writerow([str(f), f"{r.start:.3f}", f"{r.end:.3f}"] + _csv_values(r, rec.labels))
        elif fmt == "json":
            echo(json.dumps({"source": str(f), **r.to_dict()}))
        else:
            what = r.label if r.state == "emotion" else f"{r.label}, top {r.top}"
            echo(f"{f} {r.start:7.2f}-{r.end:7.2f} s: {what} ({r.confidence:.2f})")
    if not rows and fmt == "text":
        echo(f"{f}: no speech found")
