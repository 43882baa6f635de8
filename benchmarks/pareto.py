"""Accuracy versus energy per 3 s clip (log scale) for bench runs: head-only and full-pipeline
points (log-mel + frontend/encoder + head), the full-pipeline Pareto front marked (issue 18).

    .venv/bin/python benchmarks/pareto.py --out docs/pareto_emodb.png runs/compact/emodb_*
    runs/frontends/emodb_*

Prints one markdown row per run (sorted by full-pipeline energy; * = on the Pareto front).
Runs whose encoder is not counted (handcrafted openSMILE functionals) are shown head-only and
say so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serkit.experiment.results import BenchResult  # noqa: E402


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (lower energy and higher accuracy)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -1.0
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="")
    ap.add_argument(
        "--metric",
        default="ua",
        help="ua (pooled over test folds), or for LOCO runs the mean over held-out corpora "
        "after K unlabelled clips: adapt_none, adapt10, adapt50, adaptall",
    )
    ap.add_argument(
        "--speech-check",
        choices=("none", "silero", "mel"),
        default="none",
        help="add this speech check's energy to every full-pipeline point (a deployed model "
        "runs one; bench results do not count it)",
    )
    a = ap.parse_args()
    gate_mj = 0.0
    if a.speech_check != "none":
        from serkit.core.cost import energy_mj

        if a.speech_check == "silero":
            from serkit.audio.speech import silero_macs

            gate_mj = energy_mj(silero_macs(3.0))
        else:
            from serkit.audio.gate import default_gate

            gate_mj = energy_mj(default_gate().macs(3.0))
    rows = []
    for d in a.runs:
        p = Path(d)
        if not (p / "results.json").exists():
            continue
        r = BenchResult.load(p)
        fe = r.frontend + (" (causal)" if "causal" in p.name else "")
        if a.metric == "ua":
            m = r.ua
        elif r.adaptation and a.metric in r.adaptation:
            m = r.adaptation[a.metric].ua_corpus_mean
        else:
            sys.exit(f"{p}: no {a.metric} (a LOCO run with adapt_clips has adapt_none, adaptK)")
        tot = r.cost.energy_total_mj
        rows.append(
            {
                "run": p.name,
                "label": f"{r.model} / {fe}",
                "ua": m.mean,
                "std": m.std,
                "seeds": len(r.seeds),
                "head": r.cost.energy_head_mj,
                "total": None if tot is None else tot + gate_mj,
                "corpus": r.corpus,
                "protocol": r.protocol_label,
            }
        )
    if not rows:
        sys.exit("no results.json in the given folders")
    labels = [r["label"] for r in rows]
    for r in rows:  # two runs of one model / frontend (e.g. two students): name the run
        if labels.count(r["label"]) > 1:
            r["label"] += f" ({r['run']})"
    full = [i for i, r in enumerate(rows) if r["total"] is not None]
    front = {full[j] for j in pareto([(rows[i]["total"], rows[i]["ua"]) for i in full])}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5.2))
    for i, r in enumerate(rows):
        col = f"C{i % 10}"
        ax.errorbar(r["head"], r["ua"], yerr=r["std"], fmt="o", mfc="none", color=col, capsize=2)
        if r["total"] is not None:
            ax.errorbar(
                r["total"], r["ua"], yerr=r["std"], fmt="o", color=col, capsize=2, label=r["label"]
            )
            ax.plot([r["head"], r["total"]], [r["ua"], r["ua"]], ":", color=col, lw=0.8)
        else:
            ax.plot([], [], "o", mfc="none", color=col, label=r["label"] + " (encoder not counted)")
    fr = sorted(front, key=lambda i: rows[i]["total"])
    ax.step(
        [rows[i]["total"] for i in fr],
        [rows[i]["ua"] for i in fr],
        where="post",
        color="k",
        lw=1.2,
        label="Pareto front (full pipeline)",
    )
    ax.axvline(0.3, color="grey", ls="--", lw=0.8)
    ax.text(0.3, ax.get_ylim()[0], " 0.3 mJ", color="grey", va="bottom", fontsize=8)
    ax.set_xscale("log")
    check = "" if a.speech_check == "none" else f" + {a.speech_check} speech check"
    ax.set_xlabel(
        "energy per 3 s clip, mJ (45 nm; hollow = head only, filled = log-mel + frontend + head"
        f"{check})"
    )
    ax.set_ylabel(
        "UA (mean +- std over seeds)"
        if a.metric == "ua"
        else f"LOCO mean UA, {a.metric} (mean +- std)"
    )
    r0 = rows[0]
    ax.set_title(a.title or f"{r0['corpus']} {r0['protocol']}: accuracy vs energy")
    ax.legend(
        fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )  # outside: never hides a point
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=130)
    print(
        "| run | model / frontend | seeds | UA | head mJ | full pipeline mJ | Pareto "
        "|\n|---|---|---|---|---|---|---|"
    )
    for i in sorted(
        range(len(rows)), key=lambda i: rows[i]["total"] if rows[i]["total"] is not None else 1e9
    ):
        r = rows[i]
        tot = "n/a (encoder not counted)" if r["total"] is None else f"{r['total']:.3f}"
        print(
            f"| {r['run']} | {r['label']} | {r['seeds']} | {r['ua']:.3f} +- {r['std']:.3f} | "
            f"{r['head']:.4f} | {tot} | "
            f"{'*' if i in front else ''} |"
        )
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
