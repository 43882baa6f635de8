"""Noise and channel robustness (``serkit robustness``): UA versus SNR per model in one figure.

Each model is benched as usual (speaker-independent folds, trained on clean speech, or with
``augment.name=noise`` for noise-augmented training) with ``test_corruptions`` set, so every
fold's model is also scored on corrupted copies of its own test clips (one fixed corruption
per clip and condition, the same for every model). Results land in ``OUT/<model>/`` (resumable
bench folders); ``OUT/robustness.{json,md,png}`` set them side by side.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.io import atomic_write_json, atomic_write_text

SNRS = (20, 10, 5, 0)
CHANNEL = ("reverb@0.3", "reverb@0.6", "telephone", "mp3@16")


def default_conditions(babble: bool, background: bool) -> list[str]:
    """White and pink noise (and babble / background when their pools are given) at 20, 10, 5
    and 0 dB; reverberation at RT60 0.3 and 0.6 s; telephone band; MP3 at 16 kbit/s."""
    kinds = (
        ["white", "pink"] + (["babble"] if babble else []) + (["background"] if background else [])
    )
    return [f"{k}@{s}" for k in kinds for s in SNRS] + list(CHANNEL)


def run_robustness(
    manifest: str,
    models: list[str],
    out: str | Path,
    conditions: list[str],
    protocol: str = "loso",
    seeds: int = 5,
    babble: str = "",
    noise_dir: str = "",
    overrides: list[str] | None = None,
    frontend: str | None = None,
    run=None,
    log=print,
) -> dict:
    """Bench each model with the corruptions into ``out/<name>`` and write the comparison.
    ``models``: names, optionally ``name+noise`` for the same model trained with noise
    augmentation (``augment.name=noise``, SNR 0-20 dB)."""
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import load_experiment

    out = Path(out)
    for m in models:
        name, _, aug = m.partition("+")
        extra = list(overrides or [])
        if aug:
            if aug != "noise":
                raise SerkitError(f"{m}: only '+noise' (noise-augmented training) is known")
            extra += [
                "augment.name=noise",
                "augment.snr_low=0",
                "augment.snr_high=20",
                "augment.variants=2",
            ]
        cfg = load_experiment(
            None,
            extra,
            manifest=manifest,
            protocol=protocol,
            seeds=seeds,
            model=name,
            frontend=frontend,
            test_corruptions=conditions,
            babble=babble,
            noise_dir=noise_dir,
        )
        log(f"== {m}")
        res = run_bench(cfg, out / m.replace("+", "_"), run, log)
        log(res.summary())
    return summarize(out, [m.replace("+", "_") for m in models])


def summarize(out: str | Path, names: list[str] | None = None) -> dict:
    """``robustness.json`` / ``.md`` / ``.png`` from the bench folders under ``out``."""
    from serkit.experiment.results import BenchResult

    out = Path(out)
    names = names or sorted(p.name for p in out.iterdir() if (p / "results.json").exists())
    rows = {}
    for n in names:
        r = BenchResult.load(out / n)
        if not r.robustness:
            raise SerkitError(f"{out / n}: a bench run without test_corruptions")
        rows[n] = {
            "clean": {"mean": r.ua.mean, "std": r.ua.std},
            **{c: {"mean": v.ua.mean, "std": v.ua.std} for c, v in r.robustness.conditions.items()},
            "_meta": {
                "corpus": r.corpus,
                "protocol": r.protocol_label,
                "seeds": len(r.seeds),
                "energy_total_mj": r.cost.energy_total_mj,
                "augment": r.augment.config.name if r.augment else "none",
            },
        }
    summary = {
        "ua": rows,
        "definition": "UA (mean +- std over seeds) on corrupted copies of each fold's test clips; "
        "models trained on clean speech unless their augment says otherwise",
    }
    atomic_write_json(out / "robustness.json", summary)
    atomic_write_text(out / "robustness.md", _table(rows))
    _plot(rows, out / "robustness.png")
    return summary


def _conds(rows: dict) -> list[str]:
    return [c for c in next(iter(rows.values())) if c not in ("_meta",)]


def _table(rows: dict) -> str:
    conds = _conds(rows)
    meta = next(iter(rows.values()))["_meta"]
    lines = [
        f"UA on {meta['corpus']} ({meta['protocol']}), mean +- std over seeds",
        "",
        "| condition | "
        + " | ".join(f"{m} ({rows[m]['_meta']['seeds']} seeds)" for m in rows)
        + " |",
        "|---|" + "---|" * len(rows),
    ]
    for c in conds:
        lines.append(
            f"| {c} | "
            + " | ".join(f"{rows[m][c]['mean']:.3f} +- {rows[m][c]['std']:.3f}" for m in rows)
            + " |"
        )
    lines.append(
        "| full-pipeline mJ / 3 s | "
        + " | ".join(
            f"{rows[m]['_meta']['energy_total_mj']:.3f}"
            if rows[m]["_meta"]["energy_total_mj"] is not None
            else "n/a"
            for m in rows
        )
        + " |"
    )
    return "\n".join(lines) + "\n"


def _plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from serkit.experiment.report import save_figure

    conds = _conds(rows)
    kinds = sorted(
        {m.group(1) for c in conds if (m := re.match(r"^(white|pink|babble|background)@", c))},
        key=["white", "pink", "babble", "background"].index,
    )
    channel = [
        c for c in conds if c != "clean" and not re.match(r"^(white|pink|babble|background)@", c)
    ]
    n = len(kinds) + (1 if channel else 0)
    fig, axes = plt.subplots(
        1, max(n, 1), figsize=(3.3 * max(n, 1), 3.2), dpi=120, sharey=True, squeeze=False
    )
    for ax, kind in zip(axes[0], kinds):
        for j, (m, r) in enumerate(rows.items()):
            snrs = sorted(
                (float(c.split("@")[1]) for c in conds if c.startswith(kind + "@")), reverse=True
            )
            xs = ["clean"] + [f"{s:g}" for s in snrs]
            ys = [r["clean"]["mean"]] + [r[f"{kind}@{s:g}"]["mean"] for s in snrs]
            es = [r["clean"]["std"]] + [r[f"{kind}@{s:g}"]["std"] for s in snrs]
            ax.errorbar(
                range(len(xs)), ys, yerr=es, marker="o", ms=3, capsize=2, color=f"C{j}", label=m
            )
            ax.set_xticks(range(len(xs)), xs)
        ax.set_title(f"{kind} noise", fontsize=9)
        ax.set_xlabel("SNR (dB)")
        ax.grid(alpha=0.3)
    if channel:
        ax = axes[0][len(kinds)]
        w = 0.8 / len(rows)
        for j, (m, r) in enumerate(rows.items()):
            ax.bar(
                np.arange(len(channel) + 1) + (j - (len(rows) - 1) / 2) * w,
                [r["clean"]["mean"]] + [r[c]["mean"] for c in channel],
                w * 0.9,
                color=f"C{j}",
                label=m,
            )
        ax.set_xticks(range(len(channel) + 1), ["clean"] + channel, rotation=30, fontsize=7)
        ax.set_title("channel", fontsize=9)
    axes[0][0].set_ylabel("UA")
    axes[0][0].set_ylim(0, 1)
    axes[0][0].legend(fontsize=7)
    meta = next(iter(rows.values()))["_meta"]
    fig.suptitle(
        f"robustness on {meta['corpus']} ({meta['protocol']}; trained on clean speech unless "
        "'_noise')",
        fontsize=10,
    )
    fig.tight_layout()
    save_figure(fig, path)
