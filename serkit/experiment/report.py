"""Human-readable report (``report.md``) and confusion-matrix figure for a bench result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serkit.core.cost import ENERGY_CONVENTION
from serkit.core.errors import SerkitError
from serkit.core.io import atomic_write_bytes, atomic_write_text
from serkit.experiment.results import BenchResult, Calibration


def save_figure(fig, path: Path) -> None:
    """Write a matplotlib figure as PNG atomically and close it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def confusion_png(conf: list[list[int]], labels: list[str], path: Path, title: str = "") -> None:

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = np.asarray(conf, dtype=float)
    norm = c / np.maximum(c.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(labels), 0.8 + 0.7 * len(labels)), dpi=120)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.6 else "black",
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def calibration_png(cal: Calibration, path: Path) -> None:
    """Reliability diagram (before / after temperature scaling) and selective accuracy vs
    coverage."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.4), dpi=110)
    centers = (np.arange(10) + 0.5) / 10
    for key, style in (("reliability_before", "o--"), ("reliability_after", "s-")):
        rel = getattr(cal, key)
        acc = [np.nan if v is None else v for v in rel.accuracy]
        a.plot(centers, acc, style, label=f"{key.split('_')[1]} (ECE {rel.ece:.3f})")
    a.plot([0, 1], [0, 1], ":", color="grey")
    a.set_xlabel("confidence")
    a.set_ylabel("accuracy")
    a.set_title("reliability", fontsize=9)
    a.legend(fontsize=7)
    sel = cal.selective
    b.plot([r.coverage for r in sel], [r.accuracy for r in sel], "o-")
    b.set_xlabel("coverage (share answered)")
    b.set_ylabel("accuracy of answered")
    b.set_title("selective accuracy (calibrated)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def _rows(dirs) -> list[tuple[str, BenchResult]]:
    return [("/".join(Path(d).parts[-2:]), BenchResult.load(d)) for d in dirs]


def _recall_table(title: str, per: dict) -> list[str]:
    """Markdown rows: one per test corpus, one column per class (``per``: corpus -> Scores with
    ``recall``, or corpus -> ``{label: MetricSummary}``)."""
    rec = {c: (getattr(v, "recall", v) or {}) for c, v in per.items()}
    labels = sorted({lab for r in rec.values() for lab in r})
    if not labels:
        return []
    out = ["", f"{title} (mean over seeds):", "", "| test corpus | " + " | ".join(labels) + " |"]
    out.append("|---" * (len(labels) + 1) + "|")
    for c, r in rec.items():
        cells = [f"{r[lab].mean:.3f}" if lab in r else "" for lab in labels]
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    return out


def _pm(m) -> str:
    return f"{m.mean:.3f} +- {m.std:.3f}"


def write_report(res: BenchResult, out: Path) -> None:
    """``report.md`` and ``confusion.png`` of one bench run."""
    title = (
        f"{res.model} on {res.frontend} | {res.corpus} {res.protocol_label} | "
        f"{len(res.seeds)} seeds"
    )
    confusion_png(
        res.confusion_matrix,
        res.labels,
        out / "confusion.png",
        title=f"{res.model} / {res.frontend}: row-normalised, all seeds",
    )
    c, t = res.cost, res.timing
    lines = [
        f"# {title}",
        "",
        f"{res.n_utterances} utterances, {res.n_speakers} speakers, {len(res.fold_names)} folds, "
        f"labels: {', '.join(res.labels)}.",
        "",
        "| metric | mean | std |",
        "|---|---|---|",
    ]
    lines += [
        f"| {k.upper()} | {m.mean:.4f} | {m.std:.4f} |"
        for k, m in (("ua", res.ua), ("wa", res.wa), ("f1", res.f1))
    ]
    enc = (
        "handcrafted DSP, not counted"
        if c.macs_encoder is None
        else f"{c.macs_encoder:,} MACs -> {c.energy_encoder_mj:.4f} mJ"
    )
    lines += [
        "",
        "Per-class recall (mean over seeds): "
        + ", ".join(f"{k} {v:.3f}" for k, v in res.per_class_recall.items()),
        "",
        "## Cost (per 3 s clip)",
        "",
        f"- trainable parameters: {c.params_trainable:,}",
        f"- head: {c.macs_head:,} MACs, {c.acs_head:,} ACs, {c.sops_head:,} SOPs -> "
        f"{c.energy_head_mj:.6f} mJ",
        f"- encoder: {enc}",
        f"- convention: {ENERGY_CONVENTION}",
        f"- latency: {res.latency_ms_per_clip} ms per clip (head alone {res.latency_head_ms} ms); "
        f"{res.latency_protocol}",
        f"- wall time: {t.wall_s} s this invocation, {t.wall_s_total} s over the invocations "
        "whose folds it "
        f"reuses (extraction {t.extract_s} s, fitting {t.fit_s_total} s summed over folds)",
        "",
    ]
    if res.spike_stats:
        lines.append(
            "Spiking layers (firing rate / silent / saturated): "
            + "; ".join(
                f"{k} {v.rate:.3f} / {v.silent:.2f} / {v.saturated:.2f}"
                for k, v in res.spike_stats.items()
            )
        )
    if res.cost_parts:
        lines.append(
            "Head per part (per 3 s clip): "
            + "; ".join(
                f"{k} {v.macs:,} MACs + {v.sops:,} SOPs = {v.energy_mj:.6f} mJ"
                for k, v in res.cost_parts.items()
            )
        )
    if res.text:
        t = res.text
        lines.append(
            f"Transcripts: {t.with_transcript} of {res.n_utterances} ({t.missing} without, "
            f"{t.truncated} "
            f"truncated, {t.tokens_mean} tokens on average, [UNK] share {t.unk_frac_mean}); text "
            "encoder "
            f"{t.encoder_macs:,} MACs = {t.encoder_mj:.4f} mJ per 3 s clip"
            + ("" if t.read else " (this variant does not read them)")
            + (
                "; test transcripts SHUFFLED between utterances (reliance diagnostic)"
                if t.shuffled_test
                else ""
            )
        )
    if res.probes:
        lines.append(
            f"Modality probes (same models; UA, intact {_pm(res.ua)}): "
            + "; ".join(
                f"{k.replace('_', ' ')} {v.ua.mean:.3f} +- {v.ua.std:.3f}"
                for k, v in res.probes.items()
            )
        )
    if res.layer_weights_mean:
        lines.append(
            "Learned layer weights (mean): "
            + ", ".join(f"{n} {w:.3f}" for n, w in zip(res.layer_names, res.layer_weights_mean))
        )
    if res.layer_chosen_counts:
        lines.append(f"Layer chosen on training speakers (fold count): {res.layer_chosen_counts}")
    if res.per_corpus:
        lines += ["", "| test corpus | UA | WA | macro-F1 |", "|---|---|---|---|"]
        lines += [
            f"| {k} | {_pm(m.ua)} | {_pm(m.wa)} | {_pm(m.f1)} |" for k, m in res.per_corpus.items()
        ]
        lines.append(f"| mean over corpora | {_pm(res.ua_corpus_mean)} | | |")
        lines += _recall_table("Recall per class and test corpus", res.per_corpus)
    if res.adaptation:
        lines += [
            "",
            "Unlabelled adaptation (UA mean over test corpora): "
            + ", ".join(f"{k} {v.ua_corpus_mean.mean:.3f}" for k, v in res.adaptation.items()),
        ]
        for k, v in res.adaptation.items():
            if v.recall:
                lines += _recall_table(f"Recall per class and test corpus, {k}", v.recall)
    if res.calibration:
        cal = res.calibration
        calibration_png(cal, out / "calibration.png")
        lines += [
            "",
            f"Calibration: ECE {cal.ece_before.mean:.3f} before, {cal.ece_after.mean:.3f} after "
            f"temperature scaling (mean T {cal.temperature_mean}). Selective accuracy: "
            + ", ".join(f"coverage {r.coverage:.0%} -> {r.accuracy:.3f}" for r in cal.selective),
            "",
            "![calibration](calibration.png)",
        ]
    lines += [
        "",
        "![confusion](confusion.png)",
        "",
        "Protocol: " + "; ".join(f"{k}: {v}" for k, v in res.metric_definitions.items()),
        "",
    ]
    atomic_write_text(out / "report.md", "\n".join(lines))


def results_table(dirs) -> str:
    """One markdown row per result folder: protocol, UA/WA/F1 (mean +- std), cost, time."""
    rows = [
        "| corpus | protocol | seeds | model | frontend | UA | WA | macro-F1 | params | head MACs "
        "| "
        "head mJ | encoder mJ | total mJ | latency ms | fit s (sum) |\n|" + "---|" * 15
    ]
    for _, r in _rows(dirs):
        c = r.cost
        enc = "n/a" if c.energy_encoder_mj is None else f"{c.energy_encoder_mj:.3f}"
        tot = "n/a" if c.energy_total_mj is None else f"{c.energy_total_mj:.3f}"
        rows.append(
            f"| {r.corpus} | {r.protocol_label} | {len(r.seeds)} | {r.model} | {r.frontend} | "
            f"{_pm(r.ua)} | "
            f"{_pm(r.wa)} | {_pm(r.f1)} | {c.params_trainable:,} | {c.macs_head:,} | "
            f"{c.energy_head_mj:.5f} | "
            f"{enc} | {tot} | {r.latency_ms_per_clip} | {r.timing.fit_s_total:.0f} |"
        )
    return "\n".join(rows)


def snn_table(dirs) -> str:
    """Markdown: accuracy, SOPs, energy and firing-rate health of spiking (or twin) runs."""
    rows = [
        "| run | seeds | UA | params | head MACs | SOPs | head mJ | per-layer rate (silent, "
        "saturated) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in _rows(dirs):
        health = (
            "; ".join(
                f"{k} {v.rate:.3f} ({v.silent:.2f}, {v.saturated:.2f})"
                for k, v in (r.spike_stats or {}).items()
            )
            or "n/a (ReLU)"
        )
        c = r.cost
        rows.append(
            f"| {name.split('/')[-1]} | {len(r.seeds)} | {_pm(r.ua)} | {c.params_trainable:,} | "
            f"{c.macs_head:,} | "
            f"{c.sops_head:,} | {c.energy_head_mj:.5f} | {health} |"
        )
    return "\n".join(rows)


def modality_table(dirs) -> str:
    """Markdown for multimodal runs: UA/WA/F1, the modality probes of the same models (no
    transcript, no audio, shuffled transcripts), head energy per part, text encoder energy."""
    rows = [
        "| run | seeds | UA | WA | macro-F1 | UA no text | UA no audio | UA text shuffled | "
        "params | "
        "head mJ (audio / text / fusion) | head mJ | text encoder mJ | speech encoder mJ |",
        "|" + "---|" * 13,
    ]
    for name, r in _rows(dirs):
        pr = r.probes or {}
        ua = {k: f"{v.ua.mean:.3f} +- {v.ua.std:.3f}" for k, v in pr.items()}
        parts = " / ".join(
            f"{r.cost_parts[k].energy_mj:.5f}" if k in (r.cost_parts or {}) else "-"
            for k in ("audio", "text", "fusion")
        )
        c = r.cost
        enc = (
            "n/a"
            if c.energy_encoder_mj is None
            else f"{c.energy_encoder_mj:.3f}"
            if c.energy_encoder_mj
            else "-"
        )
        txt = f"{r.text.encoder_mj:.4f}" if r.text and r.text.read else "-"
        rows.append(
            f"| {name.split('/')[-1]} | {len(r.seeds)} | {_pm(r.ua)} | {_pm(r.wa)} | {_pm(r.f1)} | "
            f"{ua.get('no_text', '-')} | {ua.get('no_audio', '-')} | "
            f"{ua.get('text_shuffled', '-')} | "
            f"{c.params_trainable:,} | {parts} | {c.energy_head_mj:.5f} | {txt} | {enc} |"
        )
    return "\n".join(rows)


def per_class_table(dirs) -> str:
    """Markdown: per-class recall (mean over seeds) of each run, and the change of each run
    against the first one (the class it helps most and least)."""
    res = _rows(dirs)
    labels = res[0][1].labels
    if any(r.labels != labels for _, r in res):
        raise SerkitError("per-class table needs runs with the same label set")
    rows = [
        "| run | " + " | ".join(labels) + " | most / least helped vs first row |",
        "|" + "---|" * (len(labels) + 2),
    ]
    base = res[0][1].per_class_recall
    for k, (name, r) in enumerate(res):
        rec = r.per_class_recall
        delta = {lab: rec[lab] - base[lab] for lab in labels}
        best, worst = max(labels, key=delta.get), min(labels, key=delta.get)
        change = "—" if k == 0 else f"{best} {delta[best]:+.3f} / {worst} {delta[worst]:+.3f}"
        rows.append(
            f"| {name} | " + " | ".join(f"{rec[lab]:.3f}" for lab in labels) + f" | {change} |"
        )
    return "\n".join(rows)
