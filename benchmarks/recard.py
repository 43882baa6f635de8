"""Replace the measured benchmark in a model file's card (and provenance) with the one of a bench
run folder, keeping its weights bit for bit (a card re-measured with the current serkit).

    .venv/bin/python benchmarks/recard.py serkit/deploy/pretrained/default.pt
    runs/mc/loco_attnpool_tiny_cap800

The run must be the recipe the file was trained with (same manifests, labels and settings: it
is checked against the file's recorded experiment) and is named in ``benchmark.run``.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import torch

from serkit.core.io import atomic_write_bytes
from serkit.estimators.io import FORMAT, read_model_file
from serkit.experiment.results import BenchResult


def _within(a, b) -> bool:
    """Every setting the model file recorded has the run's value (settings added to serkit
    since, absent from the older record, keep their defaults and are not compared)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(k in b and _within(v, b[k]) for k, v in a.items())
    return a == b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("run")
    args = ap.parse_args()
    blob = read_model_file(args.model)
    header = blob["header"]
    res = BenchResult.load(args.run)
    exp = (header.get("provenance") or {}).get("experiment") or {}
    run_cfg = __import__("yaml").safe_load(open(f"{args.run}/config.yaml"))
    for key in ("manifest", "labels", "max_per_corpus", "model", "frontend"):
        if key in exp and not _within(exp[key], run_cfg.get(key)):
            raise SystemExit(
                f"the run's {key} {run_cfg.get(key)!r} differs from the model's {exp[key]!r}"
            )
    record = {**res.benchmark_record(), "run": args.run, "measured": time.strftime("%Y-%m-%d")}
    header["provenance"]["benchmark"] = record
    header.setdefault("card", {})["benchmark"] = record
    buf = io.BytesIO()
    torch.save(
        {"format": FORMAT, "header": json.dumps(header, default=str), "tensors": blob["tensors"]},
        buf,
    )
    atomic_write_bytes(args.model, buf.getvalue())
    print(
        f"{args.model}: card benchmark from {args.run}: UA mean over corpora "
        f"{record.get('ua_corpus_mean', record['ua'])['mean']:.4f}"
    )


if __name__ == "__main__":
    main()
