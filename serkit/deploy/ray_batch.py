"""Batch inference over large archives on Ray Data: files in, one Parquet/CSV of predictions out.

:func:`predict_dataset` reads a folder, a manifest (``.jsonl``) or a list of paths, skips the
files an earlier run of the same output already finished (resumable: results are appended in
parts, each written atomically, and merged into ``out`` at the end), and runs ``workers``
long-lived model actors of ``threads`` CPU threads each through ``ray.data`` ``map_batches``.
The same call runs on a cluster: ``address="ray://head:10001"`` (or ``"auto"`` on a node of it),
with the files on storage every node can read. Unusable files never stop the run: they are
listed with their reason in ``<out>.errors.csv`` and tried again by the next run.

:func:`predict_files` is the plain path (one process, batches of files) that the Ray path is
measured against.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from serkit.core.errors import AudioError, SerkitError
from serkit.deploy.batch import expand_paths, open_runner

ROW_KEYS = ("path", "label", "state", "top", "confidence", "speech_s", "duration")


PART_ROWS = 256  # rows per part at most ...
PART_S = 5.0  # ... or this many seconds of work, whichever comes first


def input_files(inputs) -> list[str]:
    """A folder (audio files in it, recursively), a ``.jsonl`` manifest (its ``audio`` paths) or
    paths -> sorted unique file paths."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    out: list[str] = []
    for it in map(Path, items):
        if it.suffix == ".jsonl" and it.is_file():
            with open(it, encoding="utf-8") as f:
                out += [json.loads(line)["audio"] for line in f if line.strip()]
        else:
            out += [str(p) for p in expand_paths([it])]
    if not out:
        raise SerkitError(f"no audio files in {inputs}")
    return sorted(set(out))


def predict_batch(rec, paths: list[str]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Rows for the readable files of ``paths`` (one batched model call) and ``(path, reason)``
    for the others."""
    signals, keep, errors = [], [], []
    for p in paths:
        try:
            signals.append(rec.signal(p))
            keep.append(p)
        except (AudioError, OSError) as exc:
            errors.append((p, str(exc)))
    rows = []
    for p, pred in zip(keep, rec.classify(signals) if signals else []):
        row = {
            "path": p,
            "label": pred.label,
            "state": pred.state,
            "top": pred.top,
            "confidence": round(pred.confidence, 6),
            "speech_s": pred.speech_s,
            "duration": round(pred.duration, 3),
        }
        rows.append({**row, **{f"p_{k}": round(v, 6) for k, v in pred.probabilities.items()}})
    return rows, errors


def predict_files(
    files: list[str],
    model: str = "default",
    engine: str = "auto",
    threads: int = 0,
    batch_size: int = 16,
) -> Iterator[tuple[list[dict], list[tuple[str, str]]]]:
    """The plain path: one runner in this process, ``batch_size`` files per model call."""
    rec = open_runner(model, None, threads, engine)
    for i in range(0, len(files), batch_size):
        yield predict_batch(rec, files[i : i + batch_size])


class _Actor:
    """One model per Ray worker (loaded once), called on batches of paths."""

    def __init__(self, model: str, engine: str, threads: int, speech_check: bool):
        self.rec = open_runner(model, None, threads, engine).configure(speech_check=speech_check)

    def __call__(self, batch: dict) -> dict:
        rows, errors = predict_batch(self.rec, [str(p) for p in batch["path"]])
        out = [{**r, "error": ""} for r in rows] + [{"path": p, "error": e} for p, e in errors]
        keys = (
            list(ROW_KEYS) + [f"p_{lab}" for lab in self.rec.labels] + ["error"]
        )  # one schema for every batch
        return {k: [r.get(k) for r in out] for k in keys}


def _read_table(path: Path):
    import pandas as pd

    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _write_table(df, path: Path) -> None:
    """``df`` at ``path`` (Parquet or CSV by suffix), atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def predict_dataset(
    inputs,
    out: str | Path,
    model: str = "default",
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    batch_size: int = 16,
    engine: str = "auto",
    speech_check: bool = True,
    progress: bool = True,
    log=print,
) -> dict:
    """Predict every file of ``inputs`` into ``out`` (``.parquet`` or ``.csv``) on Ray Data.

    ``address``: a Ray cluster (``None``: a local Ray on this machine); ``workers``: model
    actors (default: the CPUs Ray sees divided by ``threads``); ``batch_size``: files per model
    call. Returns a summary: files, done before, predicted now, errors, wall seconds, clips/s
    and the real-time factor (seconds of audio per second of wall time)."""
    import pandas as pd
    import ray

    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise SerkitError(f"--out must end in .parquet or .csv, got {out}")
    files = input_files(inputs)
    parts = out.with_name(out.name + ".parts")
    done_tables = ([_read_table(out)] if out.exists() else []) + [
        pd.read_parquet(p) for p in sorted(parts.glob("*.parquet"))
    ]
    done = set().union(*(set(t["path"]) for t in done_tables)) if done_tables else set()
    todo = [f for f in files if f not in done]
    t0 = time.time()
    errors: list[tuple[str, str]] = []
    audio_s, n_new = 0.0, 0
    if todo:
        if not ray.is_initialized():
            import logging

            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                configure_logging=True,
                logging_level=logging.ERROR,
            )  # quiet: only errors reach stderr
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        ctx.print_on_execution_start = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n_workers = workers or max(1, cpus // max(1, threads))
        log(
            f"{len(todo)} files to predict ({len(done)} done before) on {n_workers} Ray workers x "
            f"{threads} threads"
        )
        # at least two blocks per worker, so every actor gets work (one block fed a single actor)
        blocks = min(len(todo), max(2 * n_workers, -(-len(todo) // batch_size)))
        step = max(1, min(batch_size, -(-len(todo) // blocks)))
        ds = ray.data.from_items([{"path": f} for f in todo], override_num_blocks=blocks)
        res = ds.map_batches(
            _Actor,
            fn_constructor_kwargs={
                "model": model,
                "engine": engine,
                "threads": threads,
                "speech_check": speech_check,
            },
            batch_size=step,
            concurrency=n_workers,
            num_cpus=threads,
            batch_format="pandas",
        )
        parts.mkdir(parents=True, exist_ok=True)
        k = len(list(parts.glob("*.parquet")))
        pending, last = [], time.time()
        for batch in res.iter_batches(batch_size=step, batch_format="pandas"):
            failed = batch["error"].fillna("").astype(str) != ""
            bad, good = batch[failed], batch[~failed].drop(columns=["error"])
            errors += list(zip(bad["path"], bad["error"]))
            if len(good):
                pending.append(good)
                n_new += len(good)
                audio_s += float(good["duration"].sum())
            # a part by size OR by time: a killed run loses at most PART_ROWS rows or PART_S s
            if pending and (sum(map(len, pending)) >= PART_ROWS or time.time() - last >= PART_S):
                _write_table(pd.concat(pending, ignore_index=True), parts / f"part-{k:05d}.parquet")
                k, pending, last = k + 1, [], time.time()
        if pending:
            _write_table(pd.concat(pending, ignore_index=True), parts / f"part-{k:05d}.parquet")
    wall = time.time() - t0
    tables = ([_read_table(out)] if out.exists() else []) + [
        pd.read_parquet(p) for p in sorted(parts.glob("*.parquet"))
    ]
    if tables:
        df = (
            pd.concat(tables, ignore_index=True)
            .drop_duplicates("path", keep="last")
            .sort_values("path")
        )
        cols = [c for c in ROW_KEYS if c in df] + sorted(c for c in df if c.startswith("p_"))
        _write_table(df[cols], out)
    if parts.exists():
        for p in parts.glob("*.parquet"):
            p.unlink()
        parts.rmdir()
    err_path = out.with_name(out.name + ".errors.csv")
    if errors:
        _write_table(pd.DataFrame(errors, columns=["path", "reason"]), err_path)
    elif err_path.exists():
        err_path.unlink()
    return {
        "files": len(files),
        "done_before": len(done),
        "predicted": n_new,
        "errors": len(errors),
        "errors_file": str(err_path) if errors else None,
        "out": str(out),
        "wall_s": round(wall, 2),
        "clips_per_s": round(n_new / wall, 2) if n_new else None,
        "real_time_factor": round(audio_s / wall, 1) if n_new else None,
    }
