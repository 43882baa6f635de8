"""UA per fold of bench runs (and of their modality probes), from the fold records.

For protocols whose folds differ in kind, e.g. EmoSpeech's ``kfold-speaker:5`` where fold 1
tests on every unknown-user clip (one group) and folds 2-5 on known users: the pooled UA of
results.json mixes them. Labels come from the run's manifest; mean +- std over seeds.

    .venv/bin/python benchmarks/fold_ua.py runs/eavs_tf/emospeech_eavs-tf ... --manifest
    manifests/emospeech.jsonl
"""

from __future__ import annotations

import argparse
import glob
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score


def _cell(v: dict, k: str) -> str:
    return f"{np.mean(v[k]):.3f} +- {np.std(v[k]):.3f}" if v.get(k) else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--manifest", required=True)
    args = ap.parse_args()
    label = {}
    for line in open(args.manifest):
        r = json.loads(line)
        label[r["id"]] = r.get("label")
    print("| run | fold | test clips | seeds | UA | UA no text | UA text shuffled | UA no audio |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        res = json.load(open(Path(run) / "results.json"))
        names = res["labels"]
        by_fold = defaultdict(lambda: defaultdict(list))
        for f in sorted(glob.glob(str(Path(run) / "folds" / "*.json"))):
            d = json.load(open(f))
            if int(d["seed"]) not in res["seeds"]:
                continue
            y = np.array([names.index(label[i]) for i in d["ids"]])
            kinds = {"UA": d["proba"], **(d.get("probes") or {})}
            for k, p in kinds.items():
                by_fold[d["fold"]][k].append(balanced_accuracy_score(y, np.argmax(p, 1)))
            by_fold[d["fold"]]["n"] = [len(y)]
        for fold in sorted(by_fold, key=lambda s: int(re.sub(r"\D", "", s) or 0)):
            v = by_fold[fold]
            cells = " | ".join(_cell(v, k) for k in ("UA", "no_text", "text_shuffled", "no_audio"))
            print(f"| {Path(run).name} | {fold} | {v['n'][0]} | {len(v['UA'])} | {cells} |")


if __name__ == "__main__":
    main()
