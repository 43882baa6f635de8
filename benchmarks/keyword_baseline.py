"""What the words alone can give on EmoSpeech: a lookup from transcript to class, fitted per
training fold (class-balanced: each transcript's class-frequency profile divided by the
training class priors, argmax), scored on the fold's test clips (UA). A ceiling-style
reference for a text-only model on keyword transcripts; clips without text get the lookup of
the empty transcript. Folds as in a run's fold records (the same protocol and seeds).

    .venv/bin/python benchmarks/keyword_baseline.py runs/eavs_tf/emospeech_eavs-tf-text --manifest
    manifests/emospeech.jsonl
"""

from __future__ import annotations

import argparse
import glob
import json
from collections import Counter, defaultdict
from pathlib import Path

from sklearn.metrics import balanced_accuracy_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--manifest", required=True)
    args = ap.parse_args()
    rows = {r["id"]: r for r in map(json.loads, open(args.manifest)) if r.get("label")}
    res = json.load(open(Path(args.run) / "results.json"))
    names = res["labels"]
    seed = min(res["seeds"])
    folds = {}
    for f in sorted(glob.glob(str(Path(args.run) / "folds" / f"seed{seed}_*.json"))):
        d = json.load(open(f))
        folds[d["fold"]] = set(d["ids"])
    text = lambda i: (rows[i].get("text") or "").strip().lower()  # noqa: E731
    print("| fold | test clips | keyword-lookup UA |")
    print("|---|---|---|")
    for fold, test in folds.items():
        train = [i for i in rows if i not in test and rows[i]["label"] in names]
        prior = Counter(rows[i]["label"] for i in train)
        prof: dict[str, Counter] = defaultdict(Counter)
        for i in train:
            prof[text(i)][rows[i]["label"]] += 1
        best = {t: max(names, key=lambda c: c_[c] / max(prior[c], 1)) for t, c_ in prof.items()}
        fallback = max(names, key=lambda c: prior[c])
        ids = [i for i in test if rows[i]["label"] in names]
        y = [names.index(rows[i]["label"]) for i in ids]
        p = [names.index(best.get(text(i), fallback)) for i in ids]
        print(f"| {fold} | {len(ids)} | {balanced_accuracy_score(y, p):.3f} |")


if __name__ == "__main__":
    main()
