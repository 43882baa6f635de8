"""Dimensional emotion (``serkit dimensional``): valence / arousal / dominance regression trained
from categorical labels through published VAD norms (:mod:`serkit.data.vad`) or from a numeric
annotation, evaluated speaker-independently against real arousal annotations.

Two set-ups, each over seeds (mean +- std):

- **within corpus** (``--protocol``): the corpus's speaker-independent folds; each fold's
  regressor trains on its training speakers (validation speakers carved out for early stopping)
  and predicts its test speakers; out-of-fold predictions pooled per seed.
- **zero-shot** (``--test``): trained on the ``--train`` corpora (never the test corpus; checked),
  scored on every clip of the test manifest.

What is scored on the test clips, where the manifest has it:

- ``arousal`` field (BAVED's levels 0 / 1 / 2): Spearman rho of the predicted arousal with the
  level, CCC with the level scaled to [0, 1], and UA of a 3-level decision. The decision:
  within corpus (targets are the scaled levels), thresholds 1/4 and 3/4; zero-shot (the model
  never saw levels), the tertiles of the predicted arousal over the test clips (label-free,
  assumes roughly balanced levels; the level counts are printed beside it).
- ``intensity`` (RAVDESS normal / strong): AUC of the predicted arousal, strong versus normal
  clips of the same emotions (neutral has no strong take).
- categorical labels in the table: CCC per dimension against the table's values of the label.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from serkit.core.config import dump_yaml, to_dict
from serkit.core.errors import ConfigError
from serkit.core.io import atomic_write_json, atomic_write_text
from serkit.data.vad import DEFAULT_TABLE, DIMS, SOURCES, TABLES, category_vad
from serkit.estimators.dimensional import DimConfig, DimRegressor
from serkit.experiment.results import MetricSummary
from serkit.training.regress import ccc

DIM_SCHEMA_VERSION = 1
"""``dimensional.json``: typed (:class:`DimResult`), one flat record of scores per run."""


@dataclass
class DimExperiment:
    """``train``: manifest(s); ``test``: manifest for zero-shot (empty = within-corpus folds of
    ``train`` by ``protocol``); ``target``: ``table`` (category -> VAD norms of ``table``,
    :mod:`serkit.data.vad`) or ``arousal`` (the
    manifest's arousal field min-max scaled to [0, 1] per corpus; other dimensions unknown);
    ``frontend``: its name; ``method``: ``regress`` (``model``: the CCC regressor,
    :class:`DimConfig`) or ``classify`` (the ``classifier`` model trained on the categories, its
    probabilities mapped through the table: :func:`serkit.data.vad.expected_vad`, what
    ``predict``, the service and ONNX report)."""

    train: str = ""
    test: str = ""
    protocol: str = "kfold-speaker:5"
    target: Literal["table", "arousal"] = "table"
    table: Literal["warriner", "nrc"] = DEFAULT_TABLE
    seeds: int = 5
    val_fraction: float = 0.2
    frontend: str = "whisper-tiny-layers"
    method: Literal["regress", "classify"] = "regress"
    classifier: str = "attnpool"
    model: DimConfig = field(default_factory=DimConfig)


def targets_of(utts, target: str, table: str = DEFAULT_TABLE) -> np.ndarray:
    """``(N, 3)`` targets in [0, 1], NaN where unknown."""
    if target == "table":
        return (
            np.stack([category_vad(u.label, table) for u in utts])
            if utts
            else np.zeros((0, 3), np.float32)
        )
    out = np.full((len(utts), 3), np.nan, np.float32)
    for c in sorted({u.corpus for u in utts}):
        idx = [i for i, u in enumerate(utts) if u.corpus == c and u.arousal is not None]
        if not idx:
            continue
        a = np.array([utts[i].arousal for i in idx], np.float64)
        span = a.max() - a.min()
        out[idx, 1] = (a - a.min()) / span if span > 0 else 0.5
    return out


def _load(manifest: str, frontend: str, run, log):
    from serkit.experiment.config import DataConfig
    from serkit.experiment.dataset import load_dataset
    from serkit.features import frontend_component

    return load_dataset(DataConfig(manifest, frontend_component(frontend)), run, log)


class _ViaClasses:
    """A classifier whose probabilities become V / A / D through the table."""

    def __init__(self, model, labels, table):
        self.model, self.labels, self.table = model, labels, table

    def predict(self, feats):
        from serkit.data.vad import expected_vad

        return expected_vad(self.model.predict_proba(feats), self.labels, self.table)


def _fit(ds, idx, targets, exp: DimExperiment, seed: int):
    from serkit.core.io import seed_everything
    from serkit.data.protocols import validation_split

    seed_everything(seed)
    idx = [i for i in idx if np.isfinite(targets[i]).any()]
    fit_i, val_i = validation_split(ds.utts, idx, seed, exp.val_fraction)
    if exp.method == "classify":
        from serkit.estimators import build_model

        if exp.target != "table":
            raise ConfigError(
                "method=classify maps categories through the table: target must be 'table'"
            )
        model = build_model(exp.classifier, len(ds.labels), ds.n_layers, ds.dim)
        model.fit(ds.split(fit_i), ds.split(val_i) if val_i else None, seed)
        return _ViaClasses(model, ds.labels, exp.table)
    reg = DimRegressor(exp.model, ds.n_layers, ds.dim)
    feats = [ds.feats[ds.utts[i].id] for i in fit_i]
    val = ([ds.feats[ds.utts[i].id] for i in val_i], targets[val_i]) if val_i else None
    reg.fit(feats, targets[fit_i], seed, val)
    return reg


@dataclass
class DimScores:
    """What one seed's predictions score (``None`` where the test clips lack the annotation).

    ``spearman_rho`` / ``ccc_scaled_level`` / ``ua_3``: predicted arousal against the annotated
    levels (``decision`` says how the 3-level decision was made, ``level_counts`` how many clips
    each level has); ``intensity_auc``: strong vs normal clips of the same emotions;
    ``ccc_vs_table``: CCC per dimension with the table's values of the clip's label."""

    spearman_rho: float | None = None
    ccc_scaled_level: float | None = None
    ua_3: float | None = None
    decision: str | None = None
    level_counts: str | None = None
    intensity_auc: float | None = None
    ccc_vs_table: dict[str, float] | None = None


@dataclass
class DimSummary:
    """:class:`DimScores` over seeds: every number as a :class:`MetricSummary`."""

    spearman_rho: MetricSummary | None = None
    ccc_scaled_level: MetricSummary | None = None
    ua_3: MetricSummary | None = None
    decision: str | None = None
    level_counts: str | None = None
    intensity_auc: MetricSummary | None = None
    ccc_vs_table: dict[str, MetricSummary] | None = None


DEFINITIONS = {
    "spearman_rho": "rank correlation of predicted arousal with the annotated level",
    "ua_3": "mean recall of the 3-level decision (see decision)",
    "intensity_auc": "P(predicted arousal of a strong clip > a normal clip), same emotions",
    "ccc_vs_table": "CCC with the table's values of the clip's category label (2+ labels)",
    "std": "over seeds (ddof=1)",
}


@dataclass
class DimResult:
    """``dimensional.json``: the set-up, the seeds and :class:`DimSummary`; ``parts_reused``:
    (seed, fold) tasks read back from an earlier, interrupted or shorter run."""

    setup: str
    method: str
    target: str
    table: str | None
    seeds: list[int]
    metrics: DimSummary
    wall_s: float
    parts_reused: int = 0
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))
    schema_version: int = DIM_SCHEMA_VERSION


def score(pred: np.ndarray, utts, zero_shot: bool, table: str = DEFAULT_TABLE) -> DimScores:
    """Metrics of predictions ``(N, 3)`` on ``utts`` (see the module docstring)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    out = DimScores()
    lv = np.array([np.nan if u.arousal is None else u.arousal for u in utts], np.float64)
    if np.isfinite(lv).sum() > 2:
        m = np.isfinite(lv)
        a, y = pred[m, 1], lv[m]
        levels = np.unique(y)
        scaled = (y - y.min()) / max(y.max() - y.min(), 1e-9)
        cut = np.quantile(a, [1 / 3, 2 / 3]) if zero_shot else np.array([0.25, 0.75])
        dec = np.digitize(a, cut)
        true = np.searchsorted(levels, y)
        ua = (
            float(np.mean([np.mean(dec[true == k] == k) for k in range(len(levels))]))
            if len(levels) == 3
            else None
        )
        out.spearman_rho = round(float(spearmanr(a, y).statistic), 4)
        out.ccc_scaled_level = round(ccc(a, scaled), 4)
        out.ua_3 = None if ua is None else round(ua, 4)
        out.decision = (
            "tertiles of the predictions (label-free)" if zero_shot else "thresholds 1/4, 3/4"
        )
        out.level_counts = ", ".join(f"{int(k)}: {int((y == k).sum())}" for k in levels)
    inten = np.array([u.intensity for u in utts], dtype=object)
    m = np.array([x in ("normal", "strong") for x in inten])
    if m.any():
        emos = {u.label for u, k in zip(utts, inten) if k == "strong"}
        m &= np.array([u.label in emos for u in utts])
        y = (inten[m] == "strong").astype(int)
        if 0 < y.sum() < y.size:
            out.intensity_auc = round(float(roc_auc_score(y, pred[m, 1])), 4)
    t = targets_of(utts, "table", table)
    if len({u.label for u, row in zip(utts, t) if np.isfinite(row).all()}) >= 2:
        out.ccc_vs_table = {d: round(ccc(pred[:, k], t[:, k]), 4) for k, d in enumerate(DIMS)}
    return out


def _stat(vals: list[float]) -> MetricSummary:
    a = np.asarray(vals, float)
    return MetricSummary(
        round(float(a.mean()), 4),
        round(float(a.std(ddof=1)) if a.size > 1 else 0.0, 4),
        [round(float(v), 4) for v in a],
    )


def summarise(per_seed: list[DimScores]) -> DimSummary:
    """Mean +- std over seeds of every number (a metric missing in any seed is left out)."""
    out = DimSummary(decision=per_seed[0].decision, level_counts=per_seed[0].level_counts)
    for name in ("spearman_rho", "ccc_scaled_level", "ua_3", "intensity_auc"):
        vals = [getattr(p, name) for p in per_seed]
        if all(v is not None for v in vals):
            setattr(out, name, _stat(vals))
    if all(p.ccc_vs_table for p in per_seed):
        out.ccc_vs_table = {d: _stat([p.ccc_vs_table[d] for p in per_seed]) for d in DIMS}
    return out


@dataclass
class _Context:
    """What every task of one run shares (forked to workers, never pickled)."""

    exp: DimExperiment
    train: Any
    test: Any
    targets: np.ndarray
    folds: list


def _task(ctx: _Context, task: tuple[int, int]) -> np.ndarray:
    """One (seed, fold) -> predictions ``(n_test, 3)`` of that fold's test clips (zero-shot:
    fold -1, every clip of the test set)."""
    seed, k = task
    if k < 0:
        reg = _fit(ctx.train, list(range(len(ctx.train.utts))), ctx.targets, ctx.exp, seed)
        return reg.predict([ctx.test.feats[u.id] for u in ctx.test.utts])
    f = ctx.folds[k]
    reg = _fit(ctx.train, f.train, ctx.targets, ctx.exp, seed)
    return reg.predict([ctx.train.feats[ctx.train.utts[i].id] for i in f.test])


def run_dimensional(exp: DimExperiment, out: str | Path, run=None, log=print) -> DimResult:
    """Run ``exp`` into ``out``: ``dimensional.json`` (:class:`DimResult`; + ``.md``, ``.png``,
    ``config.yaml``) and ``predictions.csv`` (seed 0's out-of-fold / zero-shot predictions).

    Every (seed, fold) is one task of :func:`~serkit.experiment.executor.run_tasks` (``run.jobs``
    workers); its predictions are written atomically to ``parts/<fingerprint>/`` as it ends, so
    an interrupted run resumes where it stopped and more seeds extend a finished one. The
    fingerprint covers the experiment (but the number of seeds), the frontend's spec and the
    clips, so a changed setting never reuses a part."""
    from serkit.core.io import atomic_save_npy, text_digest
    from serkit.data.protocols import make_folds
    from serkit.experiment.config import RunConfig
    from serkit.experiment.executor import run_tasks

    run = run or RunConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not exp.train:
        raise ConfigError("dimensional: --train manifest(s) needed")
    train = _load(exp.train, exp.frontend, run, log)
    tgt = targets_of(train.utts, exp.target, exp.table)
    usable = int(np.isfinite(tgt).any(1).sum())
    if usable == 0:
        raise ConfigError(
            "no training clip has a target: "
            + (
                f"none of its labels is in the {exp.table} table ({sorted(TABLES[exp.table])})"
                if exp.target == "table"
                else "no utterance has an arousal field"
            )
        )
    log(f"training clips with a target: {usable} of {len(train.utts)} ({exp.target})")
    seeds = list(range(exp.seeds))
    test = folds = None
    if exp.test:
        test = _load(exp.test, exp.frontend, run, log)
        shared = {u.corpus for u in train.utts} & {u.corpus for u in test.utts}
        if shared:
            raise ConfigError(f"zero-shot: corpora {sorted(shared)} are in both --train and --test")
        clash = {u.speaker for u in train.utts} & {u.speaker for u in test.utts} - {None}
        if clash:
            raise ConfigError(f"zero-shot: {len(clash)} speaker(s) in both --train and --test")
        tasks = [(s, -1) for s in seeds]
        scored = test.utts
        setup = (
            f"zero-shot: trained on {sorted({u.corpus for u in train.utts})}, tested on "
            f"{sorted({u.corpus for u in test.utts})}"
        )
    else:
        folds = make_folds(train.utts, exp.protocol)
        tasks = [(s, k) for s in seeds for k in range(len(folds))]
        scored = train.utts
        setup = f"within corpus: {exp.protocol} over {sorted({u.corpus for u in train.utts})}"
    fp = text_digest(
        json.dumps(
            [
                {k: v for k, v in to_dict(exp).items() if k != "seeds"},
                train.frontend.spec(),
                [u.id for u in train.utts],
                [u.id for u in scored],
            ],
            sort_keys=True,
            default=str,
        )
    )[:16]
    parts = out / "parts" / fp
    done = {t: parts / f"s{t[0]}_f{t[1]}.npy" for t in tasks}
    todo = [t for t in tasks if not done[t].exists()]
    reused = len(tasks) - len(todo)
    if reused:
        log(f"resuming: {reused} of {len(tasks)} (seed, fold) tasks already in {parts}")
    ctx = _Context(exp, train, test, tgt, folds or [])
    for t, pred in zip(todo, run_tasks(_task, ctx, todo, run.jobs)):
        atomic_save_npy(done[t], np.asarray(pred, np.float32))
        log(f"seed {t[0]}" + (f", fold {t[1]}" if t[1] >= 0 else "") + " done")
    per_seed, preds = [], {}
    for s in seeds:
        if folds is None:
            p = np.load(done[(s, -1)])
        else:
            p = np.full((len(train.utts), 3), np.nan, np.float32)
            for k, f in enumerate(folds):
                p[f.test] = np.load(done[(s, k)])
        per_seed.append(score(p, scored, folds is None, exp.table))
        preds[s] = p
        log(f"seed {s}: {per_seed[-1]}")
    res = DimResult(
        setup,
        exp.method if exp.method == "regress" else f"classify ({exp.classifier}) + table",
        exp.target,
        SOURCES[exp.table] if exp.target == "table" else None,
        seeds,
        summarise(per_seed),
        round(time.time() - t0, 1),
        reused,
    )
    dump_yaml(to_dict(exp), out / "config.yaml")
    atomic_write_json(out / "dimensional.json", to_dict(res))
    p = preds[seeds[0]]
    atomic_write_text(
        out / "predictions.csv",
        "id,corpus,label,arousal_level,intensity,valence,arousal,dominance\n"
        + "".join(
            f"{u.id},{u.corpus},{u.label},"
            f"{'' if u.arousal is None else u.arousal},{u.intensity or ''},"
            f"{q[0]:.4f},{q[1]:.4f},{q[2]:.4f}\n"
            for u, q in zip(scored, p)
        ),
    )
    atomic_write_text(out / "dimensional.md", report_md(res))
    _plot(scored, p, out / "dimensional.png", setup)
    return res


def report_md(res: DimResult) -> str:
    lines = [
        f"# Dimensional: {res.setup}",
        "",
        f"method: {res.method}; target: {res.target}" + (f" ({res.table})" if res.table else ""),
        f"seeds: {len(res.seeds)}, wall {res.wall_s} s",
        "",
    ]
    for name, v in vars(res.metrics).items():
        if isinstance(v, MetricSummary):
            lines.append(f"- {name}: {v.mean:.3f} +- {v.std:.3f}")
        elif isinstance(v, dict):
            lines += [f"- {name}.{d}: {m.mean:.3f} +- {m.std:.3f}" for d, m in v.items()]
        elif v is not None:
            lines.append(f"- {name}: {v}")
    return "\n".join(lines) + "\n"


def _plot(utts, p: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from serkit.experiment.report import save_figure

    groups: dict[str, list[float]] = {}
    for u, q in zip(utts, p):
        if u.arousal is not None:
            key = f"level {u.arousal:g}"
        elif u.intensity:
            key = f"{u.intensity}"
        else:
            key = u.label or "?"
        groups.setdefault(key, []).append(float(q[1]))
    keys = sorted(groups)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=120)
    ax1.boxplot([groups[k] for k in keys], showfliers=False)
    ax1.set_xticks(range(1, len(keys) + 1), keys, rotation=30, fontsize=8)
    ax1.set_ylabel("predicted arousal")
    ax1.set_title("predicted arousal by annotation (seed 0)", fontsize=9)
    labs = sorted({u.label for u in utts if u.label})
    for j, lab in enumerate(labs):
        m = np.array([u.label == lab for u in utts])
        ax2.scatter(p[m, 0], p[m, 1], s=4, alpha=0.4, color=f"C{j % 10}", label=lab)
    ax2.set_xlabel("valence")
    ax2.set_ylabel("arousal")
    ax2.set_xlim(0, 1)
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=6, markerscale=2)
    ax2.set_title("valence-arousal plane", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
