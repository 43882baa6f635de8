"""Human-readable report (``report.md``) and confusion-matrix figure for a bench result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serkit.utils import atomic_write_bytes, atomic_write_text


def confusion_png(conf: list[list[int]], labels: list[str], path: Path, title: str = "") -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = np.asarray(conf, dtype=float)
    norm = c / np.maximum(c.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(labels), 0.8 + 0.7 * len(labels)), dpi=120)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _protocol(res: dict) -> str:
    """The protocol as printed: speaker normalisation (transductive) is never left unsaid."""
    return res["protocol"] + (" + speaker-norm" if res.get("normalize", "none") != "none" else "")


def write_report(res: dict, out: Path) -> None:
    title = f"{res['model']} on {res['frontend']} | {res['corpus']} {_protocol(res)} | {len(res['seeds'])} seeds"
    confusion_png(res["confusion_matrix"], res["labels"], out / "confusion.png",
                  title=f"{res['model']} / {res['frontend']}: row-normalised, all seeds")
    lines = [f"# {title}", "",
             f"{res['n_utterances']} utterances, {res['n_speakers']} speakers, {res['folds']} folds, "
             f"labels: {', '.join(res['labels'])}.", "",
             "| metric | mean | std |", "|---|---|---|"]
    for k in ("ua", "wa", "f1"):
        lines.append(f"| {k.upper()} | {res[f'{k}_mean']:.4f} | {res[f'{k}_std']:.4f} |")
    lines += ["", "Per-class recall (mean over seeds): " +
              ", ".join(f"{k} {v:.3f}" for k, v in res["per_class_recall"].items()), "",
              "## Cost (per 3 s clip)", "",
              f"- trainable parameters: {res['params_trainable']:,}",
              f"- head: {res['macs_head']:,} MACs, {res['acs_head']:,} ACs, {res['sops_head']:,} SOPs "
              f"-> {res['energy_head_mj']:.6f} mJ",
              f"- encoder: {res['macs_encoder'] or 0:,} MACs -> {res['energy_encoder_mj']} mJ"
              + ("" if res["macs_encoder"] is not None else " (handcrafted DSP, not counted)"),
              f"- convention: {res['energy_convention']}",
              f"- latency: {res['latency_ms_per_clip']} ms per clip (head alone {res['latency_head_ms']} ms); "
              f"{res['latency_protocol']}",
              f"- wall time: {res['wall_s']} s this invocation, {res.get('wall_s_total', res['wall_s'])} s over "
              f"the invocations whose folds it reuses (extraction {res['extract_s']} s, fitting {res['fit_s_total']} s summed over folds)",
              ""]
    if res.get("spike_stats"):
        lines.append("Spiking layers (firing rate / silent / saturated): " + "; ".join(
            f"{k} {v['rate']:.3f} / {v['silent']:.2f} / {v['saturated']:.2f}" for k, v in res["spike_stats"].items()))
    if "layer_weights_mean" in res:
        lines.append("Learned layer weights (mean): " + ", ".join(
            f"{n} {w:.3f}" for n, w in zip(res["layer_names"], res["layer_weights_mean"])))
    if "layer_chosen_counts" in res:
        lines.append(f"Layer chosen on validation speakers (fold count): {res['layer_chosen_counts']}")
    lines += ["", "![confusion](confusion.png)", "",
              "Protocol: " + "; ".join(f"{k}: {v}" for k, v in res["metric_definitions"].items()), ""]
    atomic_write_text(out / "report.md", "\n".join(lines))


def results_table(dirs) -> str:
    """One markdown row per result folder: protocol, UA/WA/F1 (mean +- std), cost, time."""
    import json

    from serkit.errors import SerkitError

    head = ("| corpus | protocol | seeds | model | frontend | UA | WA | macro-F1 | params | head MACs | "
            "head mJ | encoder mJ | latency ms | fit s (sum) |\n|" + "---|" * 14)
    rows = [head]
    for d in dirs:
        p = Path(d) / "results.json"
        if not p.exists():
            raise SerkitError(f"{d}: no results.json (run serkit bench first)")
        r = json.loads(p.read_text())
        enc = "n/a" if r.get("energy_encoder_mj") is None else f"{r['energy_encoder_mj']:.3f}"
        rows.append(
            f"| {r['corpus']} | {_protocol(r)} | {len(r['seeds'])} | {r['model']} | {r['frontend']} | "
            f"{r['ua_mean']:.3f} +- {r['ua_std']:.3f} | {r['wa_mean']:.3f} +- {r['wa_std']:.3f} | "
            f"{r['f1_mean']:.3f} +- {r['f1_std']:.3f} | {r['params_trainable']:,} | {r['macs_head']:,} | "
            f"{r['energy_head_mj']:.5f} | {enc} | {r['latency_ms_per_clip']} | {r['fit_s_total']:.0f} |")
    return "\n".join(rows)


def snn_table(dirs) -> str:
    """Markdown: accuracy, SOPs, energy and firing-rate health of spiking (or twin) runs."""
    import json

    rows = ["| run | seeds | UA | params | head MACs | SOPs | head mJ | per-layer rate (silent, saturated) |",
            "|---|---|---|---|---|---|---|---|"]
    for d in dirs:
        r = json.loads((Path(d) / "results.json").read_text())
        st = r.get("spike_stats") or {}
        health = "; ".join(f"{k} {v['rate']:.3f} ({v['silent']:.2f}, {v['saturated']:.2f})" for k, v in st.items()) or "n/a (ReLU)"
        rows.append(f"| {Path(d).name} | {len(r['seeds'])} | {r['ua_mean']:.3f} +- {r['ua_std']:.3f} | "
                    f"{r['params_trainable']:,} | {r['macs_head']:,} | {r.get('sops_head', 0):,} | "
                    f"{r['energy_head_mj']:.5f} | {health} |")
    return "\n".join(rows)


def per_class_table(dirs) -> str:
    """Markdown: per-class recall (mean over seeds) of each run, and the change of each run
    against the first one (its ``+-`` column: the class it helps most and least)."""
    import json

    from serkit.errors import SerkitError

    res = []
    for d in dirs:
        p = Path(d) / "results.json"
        if not p.exists():
            raise SerkitError(f"{d}: no results.json (run serkit bench first)")
        res.append(("/".join(Path(d).parts[-2:]), json.loads(p.read_text())))
    labels = res[0][1]["labels"]
    if any(r["labels"] != labels for _, r in res):
        raise SerkitError("per-class table needs runs with the same label set")
    rows = ["| run | " + " | ".join(labels) + " | most / least helped vs first row |",
            "|" + "---|" * (len(labels) + 2)]
    base = res[0][1]["per_class_recall"]
    for name, r in res:
        rec = r["per_class_recall"]
        delta = {k: rec[k] - base[k] for k in labels}
        best, worst = max(labels, key=delta.get), min(labels, key=delta.get)
        change = "—" if r is res[0][1] else f"{best} {delta[best]:+.3f} / {worst} {delta[worst]:+.3f}"
        rows.append(f"| {name} | " + " | ".join(f"{rec[k]:.3f}" for k in labels) + f" | {change} |")
    return "\n".join(rows)
