"""``serkit matrix``: the train x test UA matrix over the corpora of a combined manifest.

Diagonal cell (A, A): within-corpus, speaker-independent (``within`` protocol on corpus A).
Row A off the diagonal: ONE model per seed trained on all of A (validation speakers of A
only) and scored on every other corpus (protocol ``cross:A->B+C+...``, UA per test corpus).
A row whose training corpus lacks some of the label spec's classes is scored on the classes
it has (the cell says which, with its chance level): a class the model cannot output is never
silently scored. Every cell is a bench run under ``cells/`` and resumes like one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from serkit.core.io import atomic_write_json, atomic_write_text
from serkit.data.labels import LabelSpec, harmonise
from serkit.data.manifest import read_manifests
from serkit.experiment.bench import run_bench
from serkit.experiment.config import ExperimentConfig, RunConfig
from serkit.experiment.dataset import read_labelled
from serkit.experiment.report import save_figure


def _row_labels(cfg: ExperimentConfig, corpus: str) -> list[str]:
    """The label spec restricted to the targets ``corpus`` has (all its labels without a spec)."""
    utts = [u for u in read_manifests(cfg.manifest) if u.corpus == corpus]
    present = sorted({u.label for u in harmonise(utts, cfg.labels or None, require_all=False)})
    if cfg.labels:
        return LabelSpec.parse(cfg.labels).restrict(present).to_list()
    return present


def run_matrix(
    cfg: ExperimentConfig,
    out: str | Path,
    within: str = "kfold-speaker:5",
    corpora: list[str] | None = None,
    run: RunConfig | None = None,
    log=print,
) -> dict:
    """Run (or resume) every cell; writes ``matrix.json``, ``matrix.md`` and ``matrix.png``."""
    run = run or RunConfig()
    out = Path(out)
    names = corpora or sorted({u.corpus for u in read_labelled(cfg.data)})
    cells: dict[str, dict[str, dict]] = {a: {} for a in names}
    wall: dict[str, float] = {}
    for a in names:
        labels = _row_labels(cfg, a)
        log(f"[matrix] {a}: within ({within})")
        r = run_bench(
            replace(cfg, corpora=[a], protocol=within, labels=labels),
            out / "cells" / f"within_{a}",
            run,
            log,
        )
        cells[a][a] = _cell(r.ua, r.labels, f"cells/within_{a}")
        wall[f"within_{a}"] = r.timing.wall_s_total
        others = [b for b in names if b != a]
        if not others:
            continue
        log(f"[matrix] {a} -> {'+'.join(others)}")
        r = run_bench(
            replace(cfg, corpora=names, protocol=f"cross:{a}->{'+'.join(others)}", labels=labels),
            out / "cells" / f"from_{a}",
            run,
            log,
        )
        wall[f"from_{a}"] = r.timing.wall_s_total
        for b in others:
            ua = (r.per_corpus or {})[b].ua if len(others) > 1 else r.ua
            cells[a][b] = _cell(ua, r.labels, f"cells/from_{a}")
    doc = {
        "corpora": names,
        "within_protocol": within,
        "model": cfg.model.name,
        "frontend": cfg.frontend.name,
        "labels": cfg.labels,
        "seeds": cfg.seed_list,
        "cells": cells,
        "wall_s_total": round(sum(wall.values()), 1),
        "wall_s_per_run": wall,
        "definition": "cells[train][test]: UA mean and std over seeds; diagonal = within-corpus "
        "speaker-independent "
        f"({within}), off-diagonal = trained on all of the row's corpus, tested on the column's; "
        "n_classes/chance: the classes the row's training corpus has",
    }
    atomic_write_json(out / "matrix.json", doc)
    atomic_write_text(out / "matrix.md", matrix_markdown(doc))
    matrix_png(doc, out / "matrix.png")
    return doc


def _cell(ua, labels: list[str], folder: str) -> dict:
    return {
        "ua": ua.mean,
        "std": ua.std,
        "per_seed": ua.per_seed,
        "n_classes": len(labels),
        "chance": round(1 / len(labels), 4),
        "labels": labels,
        "run": folder,
    }


def matrix_markdown(doc: dict) -> str:
    names = doc["corpora"]
    lines = [
        f"UA (mean +- std over {len(doc['seeds'])} seeds) of {doc['model']} / {doc['frontend']}; "
        "rows: training "
        f"corpus, columns: test corpus; diagonal: {doc['within_protocol']} within the corpus.",
        "",
        "| train \\ test | " + " | ".join(names) + " | classes (chance) |",
        "|---" * (len(names) + 2) + "|",
    ]
    for a in names:
        row = doc["cells"][a]
        vals = [
            f"**{row[b]['ua']:.3f}** +- {row[b]['std']:.3f}"
            if a == b
            else f"{row[b]['ua']:.3f} +- {row[b]['std']:.3f}"
            for b in names
        ]
        cell = row[a]
        lines.append(
            f"| {a} | " + " | ".join(vals) + f" | {cell['n_classes']} ({cell['chance']:.2f}) |"
        )
    off = [doc["cells"][a][b]["ua"] for a in names for b in names if a != b]
    if off:
        lines += [
            "",
            f"mean off-diagonal UA {np.mean(off):.3f}; mean diagonal "
            f"{np.mean([doc['cells'][a][a]['ua'] for a in names]):.3f}",
        ]
    lines += [
        "",
        f"wall time of all cell runs: {doc['wall_s_total']} s (summed over their invocations)",
    ]
    return "\n".join(lines) + "\n"


def matrix_png(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = doc["corpora"]
    m = np.array([[doc["cells"][a][b]["ua"] for b in names] for a in names])
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(names), 1.2 + 0.9 * len(names)), dpi=120)
    im = ax.imshow(m, cmap="viridis", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{m[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if m[i, j] < 0.6 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("test corpus")
    ax.set_ylabel("training corpus")
    ax.set_title(f"UA: {doc['model']} / {doc['frontend']}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    save_figure(fig, path)
