"""Spearman correlation between BAVED's arousal level (0 / 1 / 2) and the expected level under a
bench run's out-of-fold probabilities (``p_neutral + 2 * p_high-arousal``), per seed.

    serkit bench --manifest manifests/baved.jsonl --protocol kfold-speaker:5 --model logreg --seeds
    1 --out runs/mc/baved_logreg_tiny
    python benchmarks/arousal_spearman.py runs/mc/baved_logreg_tiny
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from scipy.stats import spearmanr

LEVEL = {"low-arousal": 0, "neutral": 1, "high-arousal": 2}

if __name__ == "__main__":
    rows = list(csv.DictReader(open(Path(sys.argv[1]) / "predictions.csv")))
    for seed in sorted({r["seed"] for r in rows}):
        sub = [r for r in rows if r["seed"] == seed]
        rho = spearmanr(
            [LEVEL[r["truth"]] for r in sub],
            [float(r["p_neutral"]) + 2 * float(r["p_high-arousal"]) for r in sub],
        ).statistic
        print(f"seed {seed}: Spearman {rho:.3f} over {len(sub)} clips")
