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
        out += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTS) if p.is_dir() else [p]
    return out


def open_runner(model: str = "default", onnx: Path | None = None, threads: int = 0) -> Runner:
    """The ONNX runner for ``onnx`` (no torch), else the PyTorch recogniser of ``model``."""
    if onnx is not None:
        from serkit.deploy.runtime import OnnxRecognizer

        return OnnxRecognizer(onnx, threads=threads or 1)
    if threads:
        import torch

        torch.set_num_threads(threads)
    from serkit.deploy.recognizer import load

    return load(model)


def format_prediction(p: Prediction) -> str:
    probs = "  ".join(f"{k} {v:.2f}" for k, v in sorted(p.probabilities.items(), key=lambda kv: -kv[1]))
    return f"{p.source}: {p.label}  ({probs})  [{p.duration:.2f} s audio, {p.seconds * 1000:.0f} ms]"


def predict_paths(rec: Runner, paths: list[Path], fmt: str = "text", timeline: bool = False, window: float = 2.0,
                  hop: float = 1.0, vad: str = "energy", echo: Callable = print, err: Callable = print) -> int:
    """Write one row per file (or per timeline window) in ``fmt`` (``text`` | ``json`` | ``csv``);
    returns the number of unusable files (each reported through ``err``)."""
    from tqdm.auto import tqdm

    files = expand_paths(paths)
    if not files:
        raise SerkitError("no audio files found in the given paths")
    writer = csv.writer(sys.stdout) if fmt == "csv" else None
    if writer:
        writer.writerow((["source", "start", "end"] if timeline else ["source"]) + ["label"]
                        + [f"p_{lab}" for lab in rec.labels] + ([] if timeline else ["duration", "seconds"]))
    failed = 0
    for f in tqdm(files, disable=len(files) < 10, unit="file", file=sys.stderr):
        try:
            if timeline:
                _timeline_rows(rec, f, fmt, writer, window, hop, vad, echo)
                continue
            p = rec.predict(f)
        except AudioError as exc:
            failed += 1
            err(str(exc))
            continue
        if writer:
            writer.writerow([p.source, p.label] + [f"{p.probabilities[lab]:.6f}" for lab in rec.labels]
                            + [f"{p.duration:.3f}", f"{p.seconds:.4f}"])
        else:
            echo(json.dumps(p.to_dict()) if fmt == "json" else format_prediction(p))
    return failed


def _timeline_rows(rec: Runner, f: Path, fmt: str, writer, window, hop, vad, echo) -> None:
    rows = rec.timeline(f, window=window, hop=hop, vad=vad)
    for r in rows:
        if writer:
            writer.writerow([str(f), f"{r.start:.3f}", f"{r.end:.3f}", r.label]
                            + [f"{r.probabilities[lab]:.6f}" for lab in rec.labels])
        elif fmt == "json":
            echo(json.dumps({"source": str(f), **r.to_dict()}))
        else:
            echo(f"{f} {r.start:7.2f}-{r.end:7.2f} s: {r.label} ({r.probabilities[r.label]:.2f})")
    if not rows and fmt == "text":
        echo(f"{f}: no speech found")
