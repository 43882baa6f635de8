"""Compare the fold records of two bench runs of the same setting: how many folds have
bit-identical test probabilities (the check that a refactor changed no value).

    .venv/bin/python benchmarks/compare_folds.py runs/identical/old_logreg runs/identical/new_logreg

The old run is made from a git worktree of the old commit with the same environment and cache:
``git worktree add /tmp/old 87e77f0 && cd /tmp/old && PYTHONPATH=/tmp/old python -m serkit.cli
bench --manifest manifests/emodb.jsonl --model logreg --seeds 1 --jobs 1 --out RUN``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    same = total = 0
    worst = 0.0
    for fa in sorted(Path(args.a, "folds").glob("*.json")):
        fb = Path(args.b, "folds", fa.name)
        if not fb.exists():
            continue
        ra, rb = json.loads(fa.read_text()), json.loads(fb.read_text())
        total += 1
        same += ra["ids"] == rb["ids"] and ra["proba"] == rb["proba"]
        if ra["ids"] == rb["ids"]:
            worst = max(worst, float(np.abs(np.array(ra["proba"]) - np.array(rb["proba"])).max()))
    print(f"{same} of {total} folds bit-identical; largest probability difference {worst:.3g}")


if __name__ == "__main__":
    main()
