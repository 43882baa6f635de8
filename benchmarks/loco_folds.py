"""UA per seed and held-out corpus of a LOCO bench run's FINISHED folds, for every adaptation
key (``head``, ``adapt_none``, ``adaptK``, ``adaptK_unbalanced``), from its fold records.

For a run that stopped before ``results.json`` was written (``serkit bench`` resumes it; until
then only these records exist). Labels come from the run's own ``config.yaml`` (manifest and
label spec, through :func:`serkit.experiment.dataset.read_labelled`, as the bench read them).
A seed's mean over corpora is printed only when all of its corpora are finished.

    .venv/bin/python benchmarks/loco_folds.py runs/r31/loco_..._train-corpus-speaker
"""

from __future__ import annotations

import argparse
import glob
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score


def main() -> None:
    import yaml

    from serkit.experiment.config import experiment_from_dict
    from serkit.experiment.dataset import read_labelled

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    for run in ap.parse_args().runs:
        saved = yaml.safe_load((Path(run) / "config.yaml").read_text())
        cfg = experiment_from_dict(  # (the bench adds its frontend's spec and the fingerprint)
            {k: v for k, v in saved.items() if k not in ("frontend_spec", "fingerprint")}
        )
        utts = {u.id: u for u in read_labelled(cfg.data)}
        names = sorted({u.label for u in utts.values()})
        ua = defaultdict(dict)  # (seed, key) -> corpus -> UA
        for f in sorted(glob.glob(str(Path(run) / "folds" / "*.json"))):
            d = json.load(open(f))
            y = np.array([names.index(utts[i].label) for i in d["ids"]])
            corpus = utts[d["ids"][0]].corpus
            for k, p in {"head": d["proba"], **(d.get("adapted") or {})}.items():
                ua[(d["seed"], k)][corpus] = balanced_accuracy_score(y, np.argmax(p, 1))
        print(f"## {Path(run).name}")
        for (seed, k), per in sorted(ua.items()):
            corpora = sorted(per)
            cells = " ".join(f"{c} {per[c]:.3f}" for c in corpora)
            whole = {c for (s, _), v in ua.items() if s == seed for c in v}
            mean = f"  mean {np.mean(list(per.values())):.4f}" if set(per) == whole else ""
            print(f"seed {seed} {k:20s} {cells}{mean}")


if __name__ == "__main__":
    main()
