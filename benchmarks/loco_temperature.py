"""What a temperature fitted on a LOCO run's unadapted held-out predictions would be (issue 31),
and how far K clips move each held-out corpus's statistics under bench's shrinkage.

    .venv/bin/python benchmarks/loco_temperature.py runs/r31/loco_logreg_base_corpus_Cauto_shrink

Reads ``folds/*.json`` (``adapted.adapt_none``: each held-out corpus answered with the mean of
the other corpora's statistics) and ``predictions.csv`` (the labels); pools every fold and seed;
fits ``fit_temperature`` and prints ECE before / after and the share of answers at or above the
0.4 confidence threshold. Then, per held-out corpus, the mean clip duration and the weight
``w = s / (s + adapt_half_s)`` of K = 10 and 50 clips of mean duration.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--threshold", type=float, default=0.4)
    a = ap.parse_args()
    from serkit.core.calibration import apply_temperature, coverage_at, ece, fit_temperature
    from serkit.data.manifest import read_manifests
    from serkit.experiment.results import BenchResult

    res = BenchResult.load(a.run / "results.json")
    labels = res.labels
    truth = {r["id"]: r["truth"] for r in csv.DictReader(open(a.run / "predictions.csv"))}
    p, y, corpus = [], [], []
    for f in sorted((a.run / "folds").glob("*.json")):
        rec = json.loads(f.read_text())
        p.append(np.array(rec["adapted"]["adapt_none"]))
        y += [labels.index(truth[i]) for i in rec["ids"]]
        corpus += [rec["fold"]] * len(rec["ids"])
    p, y = np.concatenate(p), np.array(y)
    t = fit_temperature(p, y)
    q = apply_temperature(p, t)
    print(
        json.dumps(
            {
                "clips_pooled": len(y),
                "clips_per_corpus": dict(Counter(corpus)),
                "temperature": round(t, 3),
                "ece_before": round(ece(p, y), 3),
                "ece_after": round(ece(q, y), 3),
                f"coverage_at_{a.threshold}": round(coverage_at(q, a.threshold), 4),
            },
            indent=1,
        )
    )
    import yaml

    cfg = yaml.safe_load((a.run / "config.yaml").read_text())
    cfg = cfg.get("experiment", cfg)
    half = float(cfg.get("adapt_half_s", 60.0))
    utts = [u for u in read_manifests(cfg["manifest"]) if u.label is not None]
    for c in sorted(set(corpus)):
        d = float(np.mean([u.duration or 0.0 for u in utts if u.corpus == c]))
        w = {k: round(k * d / (k * d + half), 2) for k in (10, 50)}
        print(f"{c}: mean clip {d:.2f} s; weight of 10 / 50 clips {w[10]} / {w[50]}")


if __name__ == "__main__":
    main()
