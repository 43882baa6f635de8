"""Fairness audit of a bench run (``serkit fairness RUN_DIR``): accuracy per speaker group.

From a run's ``predictions.csv`` (out-of-fold predictions of every seed) and the manifest's
speaker metadata (``gender`` by default; any :class:`~serkit.data.manifest.Utterance` field
such as ``corpus`` or ``language`` works):

- UA per group: mean +- std over seeds (each seed's pooled predictions), and a 95 %
  **speaker-cluster bootstrap** interval: speakers are resampled with replacement inside each
  group (an utterance is not an independent draw: clips of one speaker share a voice), all
  seeds' predictions of the drawn speakers pooled; ``B`` replicates, percentile interval.
- the gap (first group minus second in sorted order, e.g. ``f - m``) with its bootstrap
  interval, from the same replicates;
- per-speaker UA (all seeds pooled): mean, std, min, max and the worst speakers;
- per-class recall by group.

:func:`compare` sets two runs on the SAME folds and seeds side by side (before / after a
debiasing) with a *paired* bootstrap of the change in gap and in UA: one speaker draw per
replicate is applied to both runs, so the interval is about the method, not the sample.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from serkit.core.errors import ConfigError, SerkitError
from serkit.data.manifest import read_manifests

N_BOOT = 1000


@dataclass
class _Rows:
    """The predictions of one run joined with the manifest: one row per (seed, utterance)."""

    ids: np.ndarray
    seed: np.ndarray
    truth: np.ndarray  # label names
    pred: np.ndarray
    speaker: np.ndarray
    group: np.ndarray
    labels: list[str]


def _read_run(run_dir: Path, manifest: str | None, attribute: str) -> _Rows:
    pred_csv = run_dir / "predictions.csv"
    if not pred_csv.exists():
        raise SerkitError(
            f"{run_dir}: no predictions.csv (is it a finished `serkit bench` folder?)"
        )
    if manifest is None:
        cfg_path = run_dir / "config.yaml"
        if not cfg_path.exists():
            raise SerkitError(f"{run_dir}: no config.yaml to find the manifest in; pass --manifest")
        manifest = (yaml.safe_load(cfg_path.read_text()) or {}).get("manifest")
        if not manifest:
            raise SerkitError(f"{cfg_path}: names no manifest; pass --manifest")
    utts = {u.id: u for u in read_manifests(manifest)}
    with open(pred_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise SerkitError(f"{pred_csv}: no predictions")
    missing = [r["id"] for r in rows if r["id"] not in utts]
    if missing:
        raise SerkitError(
            f"{len(missing)} predicted utterance(s) are not in {manifest} (first: {missing[0]}); "
            "pass the manifest the run was made from with --manifest"
        )
    field = attribute
    if not hasattr(next(iter(utts.values())), field):
        raise ConfigError(
            f"unknown attribute {field!r}: use a manifest field such as gender, corpus, language"
        )
    keep = [r for r in rows if getattr(utts[r["id"]], field) not in (None, "")]
    if not keep:
        raise SerkitError(
            f"no predicted utterance has a {field!r} value in {manifest}: nothing to audit"
        )
    labels = sorted({r["truth"] for r in keep})
    return _Rows(
        np.array([r["id"] for r in keep]),
        np.array([int(r["seed"]) for r in keep]),
        np.array([r["truth"] for r in keep]),
        np.array([r["prediction"] for r in keep]),
        np.array([str(utts[r["id"]].speaker) for r in keep]),
        np.array([str(getattr(utts[r["id"]], field)) for r in keep]),
        labels,
    )


def unweighted_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``truth`` (NaN when empty)."""
    classes = np.unique(truth)
    if classes.size == 0:
        return float("nan")
    return float(np.mean([np.mean(pred[truth == c] == c) for c in classes]))


def _boot_indices(r: _Rows, rng: np.random.Generator, n_boot: int) -> list[np.ndarray]:
    """Per replicate, row indices of a speaker-cluster resample inside each group."""
    by_spk = {s: np.flatnonzero(r.speaker == s) for s in np.unique(r.speaker)}
    spk_of_group = {g: sorted({s for s in r.speaker[r.group == g]}) for g in np.unique(r.group)}
    reps = []
    for _ in range(n_boot):
        parts = []
        for g, spks in spk_of_group.items():
            for s in rng.choice(spks, size=len(spks), replace=True):
                parts.append(by_spk[s][r.group[by_spk[s]] == g])
        reps.append(np.concatenate(parts))
    return reps


def _ci(values: list[float]) -> list[float]:
    v = np.asarray([x for x in values if np.isfinite(x)])
    return (
        [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
        if v.size
        else [None, None]
    )


def _group_stats(r: _Rows, reps: list[np.ndarray]) -> tuple[dict, dict]:
    groups = sorted(np.unique(r.group))
    seeds = sorted(np.unique(r.seed))
    out = {}
    boot = {g: [] for g in groups}
    for idx in reps:
        for g in groups:
            m = idx[r.group[idx] == g]
            boot[g].append(unweighted_accuracy(r.truth[m], r.pred[m]))
    for g in groups:
        per_seed = [
            unweighted_accuracy(
                r.truth[(r.group == g) & (r.seed == s)], r.pred[(r.group == g) & (r.seed == s)]
            )
            for s in seeds
        ]
        m = r.group == g
        out[g] = {
            "ua_mean": round(float(np.mean(per_seed)), 4),
            "ua_std": round(float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0, 4),
            "ua_per_seed": [round(x, 4) for x in per_seed],
            "ua_ci95": _ci(boot[g]),
            "speakers": int(len(np.unique(r.speaker[m]))),
            "clips": int(m.sum() // max(len(seeds), 1)),
            "recall": {
                lab: (
                    round(float(np.mean(r.pred[m & (r.truth == lab)] == lab)), 4)
                    if (m & (r.truth == lab)).any()
                    else None
                )
                for lab in r.labels
            },
        }
    return out, boot


def audit(
    run_dir: str | Path,
    manifest: str | None = None,
    attribute: str = "gender",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict:
    """The audit of one run (see the module docstring) as a JSON-ready dict."""
    run_dir = Path(run_dir)
    r = _read_run(run_dir, manifest, attribute)
    groups = sorted(np.unique(r.group))
    reps = _boot_indices(r, np.random.default_rng(seed), n_boot)
    per_group, boot = _group_stats(r, reps)
    res = {
        "run": str(run_dir),
        "attribute": attribute,
        "labels": r.labels,
        "seeds": sorted(int(s) for s in np.unique(r.seed)),
        "groups": per_group,
        "n_boot": n_boot,
    }
    res["ua_overall"] = round(
        float(
            np.mean(
                [
                    unweighted_accuracy(r.truth[r.seed == s], r.pred[r.seed == s])
                    for s in np.unique(r.seed)
                ]
            )
        ),
        4,
    )
    if len(groups) >= 2:
        a, b = groups[0], groups[1]
        gaps = [x - y for x, y in zip(boot[a], boot[b])]
        seeds = sorted(np.unique(r.seed))
        res["gap"] = {
            "definition": f"UA({a}) - UA({b})",
            "mean": round(per_group[a]["ua_mean"] - per_group[b]["ua_mean"], 4),
            "per_seed": [
                round(x - y, 4)
                for x, y in zip(per_group[a]["ua_per_seed"], per_group[b]["ua_per_seed"])
            ],
            "ci95": _ci(gaps),
        }
        if len(seeds) > 1:
            res["gap"]["std"] = round(float(np.std(res["gap"]["per_seed"], ddof=1)), 4)
    spk = {}
    for s in np.unique(r.speaker):
        m = r.speaker == s
        spk[s] = {
            "ua": round(unweighted_accuracy(r.truth[m], r.pred[m]), 4),
            "group": str(r.group[m][0]),
        }
    vals = np.array([v["ua"] for v in spk.values()])
    res["speakers"] = {
        "ua_mean": round(float(vals.mean()), 4),
        "ua_std": round(float(vals.std(ddof=1)) if vals.size > 1 else 0.0, 4),
        "ua_min": round(float(vals.min()), 4),
        "ua_max": round(float(vals.max()), 4),
        "worst": sorted(spk, key=lambda k: spk[k]["ua"])[:3],
        "per_speaker": spk,
    }
    res["definitions"] = {
        "ua": "mean recall over the classes present in the group; per seed over that seed's "
        "pooled out-of-fold "
        "predictions, then mean +- std (ddof=1) over seeds",
        "ci95": f"2.5-97.5 percentile of {n_boot} speaker-cluster bootstrap replicates (speakers "
        "resampled with "
        "replacement inside each group, all seeds' predictions of a drawn speaker pooled)",
        "per_speaker": "UA over one speaker's clips, all seeds pooled",
    }
    return res


def compare(
    before: str | Path,
    after: str | Path,
    manifest: str | None = None,
    attribute: str = "gender",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict:
    """Two runs on the same clips (e.g. without / with a debiasing): both audits and a paired
    speaker-cluster bootstrap of the change (after - before) in gap and in UA."""
    rb, ra = (
        _read_run(Path(before), manifest, attribute),
        _read_run(Path(after), manifest, attribute),
    )
    key_b = {(s, i): k for k, (s, i) in enumerate(zip(rb.seed, rb.ids))}
    if set(key_b) != set(zip(ra.seed, ra.ids)):
        raise SerkitError(
            f"{before} and {after} did not predict the same (seed, clip) pairs: run both on the "
            "same "
            "manifest, protocol and seeds"
        )
    order = np.array(
        [key_b[(s, i)] for s, i in zip(ra.seed, ra.ids)]
    )  # ra row k <-> rb row order[k]
    reps = _boot_indices(ra, np.random.default_rng(seed), n_boot)
    groups = sorted(np.unique(ra.group))
    d_gap, d_ua = [], []
    for idx in reps:
        vals = {}
        for name, r, ix in (("after", ra, idx), ("before", rb, order[idx])):
            ua_g = [
                unweighted_accuracy(r.truth[ix][r.group[ix] == g], r.pred[ix][r.group[ix] == g])
                for g in groups
            ]
            vals[name] = (
                ua_g[0] - ua_g[1] if len(groups) > 1 else 0.0,
                unweighted_accuracy(r.truth[ix], r.pred[ix]),
            )
        d_gap.append(abs(vals["after"][0]) - abs(vals["before"][0]))
        d_ua.append(vals["after"][1] - vals["before"][1])
    a, b = (
        audit(before, manifest, attribute, n_boot, seed),
        audit(after, manifest, attribute, n_boot, seed),
    )
    return {
        "before": b_strip(a),
        "after": b_strip(b),
        "change": {
            "abs_gap": round(
                abs(b.get("gap", {}).get("mean", 0.0)) - abs(a.get("gap", {}).get("mean", 0.0)), 4
            ),
            "abs_gap_ci95": _ci(d_gap),
            "ua": round(b["ua_overall"] - a["ua_overall"], 4),
            "ua_ci95": _ci(d_ua),
            "definition": "after - before; |gap| change and UA change with a paired "
            "speaker-cluster bootstrap "
            "(the same speaker draw applied to both runs)",
        },
    }


def b_strip(a: dict) -> dict:
    """An audit without its per-speaker table (for side-by-side reports)."""
    out = dict(a)
    out["speakers"] = {k: v for k, v in a["speakers"].items() if k != "per_speaker"}
    return out


def report_md(a: dict) -> str:
    """Markdown summary of :func:`audit`'s result."""
    lines = [
        f"# Fairness audit: {a['run']}",
        "",
        f"attribute `{a['attribute']}`, seeds {a['seeds']}, UA overall {a['ua_overall']:.3f}",
        "",
        "| group | speakers | clips | UA mean +- std | 95 % CI |",
        "|---|---|---|---|---|",
    ]
    for g, s in a["groups"].items():
        lines.append(
            f"| {g} | {s['speakers']} | {s['clips']} | {s['ua_mean']:.3f} +- {s['ua_std']:.3f} | "
            f"{s['ua_ci95'][0]:.3f}-{s['ua_ci95'][1]:.3f} |"
        )
    if "gap" in a:
        g = a["gap"]
        lines += [
            "",
            f"gap {g['definition']}: {g['mean']:+.3f} (95 % CI {g['ci95'][0]:+.3f} to "
            f"{g['ci95'][1]:+.3f})",
        ]
    s = a["speakers"]
    lines += [
        "",
        f"per-speaker UA: mean {s['ua_mean']:.3f}, std {s['ua_std']:.3f}, range "
        f"{s['ua_min']:.3f}-{s['ua_max']:.3f}; "
        f"worst: {', '.join(s['worst'])}",
        "",
        "| class | " + " | ".join(a["groups"]) + " |",
        "|---|" + "---|" * len(a["groups"]),
    ]
    for lab in a["labels"]:
        cells = [
            (
                "-"
                if a["groups"][g]["recall"][lab] is None
                else f"{a['groups'][g]['recall'][lab]:.2f}"
            )
            for g in a["groups"]
        ]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- {k}: {v}" for k, v in a["definitions"].items())]
    return "\n".join(lines) + "\n"


def plot(a: dict, path: Path, other: dict | None = None) -> None:
    """Left: UA per group with its bootstrap interval and the per-speaker UAs as dots (a second
    audit, e.g. after debiasing, beside it). Right: per-class recall by group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from serkit.experiment.report import save_figure

    audits = [("before" if other else "", a)] + ([("after", other)] if other else [])
    groups = list(a["groups"])
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(11, 4), dpi=120, gridspec_kw={"width_ratios": [1, 1.6]}
    )
    width = 0.8 / len(audits)
    for k, (name, au) in enumerate(audits):
        for j, g in enumerate(groups):
            s = au["groups"][g]
            x = j + (k - (len(audits) - 1) / 2) * width
            lo, hi = s["ua_ci95"]
            ax1.bar(
                x,
                s["ua_mean"],
                width * 0.9,
                color=f"C{k}",
                alpha=0.7,
                label=name or None if j == 0 else None,
            )
            ax1.errorbar(
                x,
                s["ua_mean"],
                yerr=[[s["ua_mean"] - lo], [hi - s["ua_mean"]]],
                color="k",
                capsize=3,
            )
            pts = [v["ua"] for v in au["speakers"]["per_speaker"].values() if v["group"] == g]
            ax1.scatter(
                np.full(len(pts), x) + np.linspace(-width / 4, width / 4, len(pts)),
                pts,
                s=8,
                color="k",
                zorder=3,
            )
    ax1.set_xticks(range(len(groups)), groups)
    ax1.set_ylabel("UA")
    ax1.set_ylim(0, 1)
    ax1.set_title(f"UA by {a['attribute']} (95 % speaker bootstrap; dots: speakers)", fontsize=9)
    if other:
        ax1.legend(fontsize=8)
    labs = a["labels"]
    w2 = 0.8 / len(groups)
    for j, g in enumerate(groups):
        vals = [a["groups"][g]["recall"][lab] or 0.0 for lab in labs]
        ax2.bar(np.arange(len(labs)) + (j - (len(groups) - 1) / 2) * w2, vals, w2 * 0.9, label=g)
    ax2.set_xticks(range(len(labs)), labs, rotation=30, fontsize=8)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("recall")
    ax2.set_title("per-class recall by group" + (" (before)" if other else ""), fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
