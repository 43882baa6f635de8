"""``serkit tune``: hyper-parameter search whose objective only ever sees training speakers.

For every outer fold of the protocol the *test* indices are dropped first; what remains (the
training fold) is split by speaker into fit / validation speakers
(:func:`serkit.training.splits.validation_split`). A trial trains the model on the fit
speakers of each outer fold (early stopping on its validation speakers, as in ``bench``) and
scores it by the mean validation UA over the outer folds. The test speakers of a fold are never
passed to a model while tuning, so the search cannot fit the test folds; the final numbers
come from one clean ``serkit bench`` with the chosen setting (``best.yaml``).

Search spaces (``SPACES``) are per model; a YAML file can replace them::

    train.lr: {type: loguniform, low: 3.0e-5, high: 2.0e-4}
    dropout: {type: uniform, low: 0.1, high: 0.5}
    train.batch_size: {type: categorical, choices: [8, 16, 32, 64]}

The study (optuna TPE, seeded) lives in ``OUT/study.db``: an interrupted search resumes.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from serkit.config import dump_yaml, to_dict
from serkit.errors import ConfigError
from serkit.evaluation.bench import BenchConfig, resolve
from serkit.features import FeatureCache, extract_features
from serkit.features.normalize import normalize_features
from serkit.models import Split, build_model
from serkit.training.splits import make_folds, validation_split
from serkit.utils import atomic_write_json, seed_everything, worker_threads

# the published ResLSTM-SA search space (its repository's README)
_RESLSTM_SPACE = {
    "train.lr": {"type": "loguniform", "low": 3e-5, "high": 2e-4},
    "train.weight_decay": {"type": "loguniform", "low": 2e-5, "high": 2e-2},
    "dropout": {"type": "uniform", "low": 0.1, "high": 0.5},
    "train.t0": {"type": "categorical", "choices": [1, 2, 3, 5, 10]},
    "train.batch_size": {"type": "categorical", "choices": [8, 16, 32, 64]},
}
_HEAD_SPACE = {
    "train.lr": {"type": "loguniform", "low": 3e-4, "high": 1e-2},
    "train.weight_decay": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
    "dropout": {"type": "uniform", "low": 0.1, "high": 0.6},
    "hidden": {"type": "categorical", "choices": [64, 128, 256]},
}
SPACES: dict[str, dict] = {
    "reslstm-sa": _RESLSTM_SPACE,
    "lstm-sa": _RESLSTM_SPACE,
    "attnpool": _HEAD_SPACE,
    "mlp": _HEAD_SPACE,
    "pts-snn": _HEAD_SPACE,
    "logreg": {"C": {"type": "loguniform", "low": 1e-3, "high": 10.0}},
}


@dataclass
class TuneConfig:
    """``trials``: optuna trials. ``outer_folds``: outer folds used per trial (0 = all; else
    that many, evenly spaced, chosen before any training). ``seed``: sampler seed and the
    seed of every trial's training (one seed per trial keeps trials comparable)."""

    trials: int = 20
    outer_folds: int = 0
    seed: int = 0


def set_path(d: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def suggest(trial, space: dict) -> dict:
    """One sample of ``space`` (``{dotted.name: spec}``) as a flat ``{dotted.name: value}``."""
    out = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind == "loguniform":
            out[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=True)
        elif kind == "uniform":
            out[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]))
        elif kind == "int":
            out[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]))
        elif kind == "categorical":
            out[name] = trial.suggest_categorical(name, list(spec["choices"]))
        else:
            raise ConfigError(f"search space {name!r}: type must be loguniform, uniform, int or categorical")
    return out


def inner_tasks(utts, folds, seed: int, val_fraction: float, outer_folds: int = 0) -> list[dict]:
    """Per outer fold: fit and validation indices drawn from its *training* indices only."""
    chosen = folds
    if outer_folds and outer_folds < len(folds):
        pick = np.linspace(0, len(folds) - 1, outer_folds).round().astype(int)
        chosen = [folds[i] for i in sorted(set(pick.tolist()))]
    tasks = []
    for f in chosen:
        fit, val = validation_split(utts, f.train, seed, val_fraction)
        if not val:
            raise ConfigError(f"fold {f.name}: tuning needs at least two training speakers")
        tasks.append({"fold": f.name, "fit": fit, "val": val})  # f.test is not carried further
    return tasks


_CTX: dict = {}


def _score_task(args) -> float:
    """Train on one task's fit speakers, return UA on its validation speakers."""
    with worker_threads(_CTX["threads"]):
        return _score(*args)


def _score(task: dict, model_cfg: dict, seed: int) -> float:
    utts, feats, y = _CTX["utts"], _CTX["feats"], _CTX["y"]

    def split(idx):
        return Split([feats[utts[i].id] for i in idx], y[idx], [utts[i].speaker for i in idx],
                     [utts[i].id for i in idx])

    seed_everything(seed)
    model = build_model(_CTX["model"], model_cfg, _CTX["n_classes"], _CTX["n_layers"], _CTX["dim"])
    val = split(task["val"])
    model.fit(split(task["fit"]), val, seed)
    pred = model.predict_proba(val.feats).argmax(1)
    return float(balanced_accuracy_score(val.labels, pred))


def run_tune(cfg: BenchConfig, tcfg: TuneConfig, out: str | Path, space: dict | None = None,
             progress: bool = True, log=print) -> dict:
    """Search ``space`` (default ``SPACES[cfg.model]``); write ``tune.json`` and ``best.yaml``
    (a BenchConfig with the chosen model settings) to ``out``. Returns the summary."""
    import optuna

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    space = space or SPACES.get(cfg.model)
    if not space:
        raise ConfigError(f"no default search space for model {cfg.model!r}; pass --space SPACE.yaml")
    utts, frontend, labels, _ = resolve(cfg)
    ex = extract_features(frontend, utts, FeatureCache(cfg.cache_dir or None), progress=progress)
    utts = [u for u in utts if u.id in ex.features]
    ex.features = normalize_features(ex.features, {u.id: u.speaker for u in utts}, cfg.normalize)[0]
    folds = make_folds(utts, cfg.protocol)
    tasks = inner_tasks(utts, folds, tcfg.seed, cfg.val_fraction, tcfg.outer_folds)
    y = np.array([labels.index(u.label) for u in utts])
    some = next(iter(ex.features.values()))
    _CTX.update(utts=utts, feats=ex.features, y=y, model=cfg.model, n_classes=len(labels),
                n_layers=some.shape[0], dim=some.shape[2],
                threads=1 if cfg.jobs > 1 else max(1, min(2, os.cpu_count() or 1)))
    dump_yaml({"bench": to_dict(cfg), "tune": to_dict(tcfg), "space": space,
               "tasks": [{"fold": t["fold"], "fit_speakers": sorted({utts[i].speaker for i in t["fit"]}),
                          "val_speakers": sorted({utts[i].speaker for i in t["val"]})} for t in tasks]},
              out / "config.yaml")

    pool = None
    if cfg.jobs > 1 and len(tasks) > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(min(cfg.jobs, len(tasks)))

    def objective(trial) -> float:
        params = suggest(trial, space)
        model_cfg = copy.deepcopy(cfg.model_cfg)
        for k, v in params.items():
            set_path(model_cfg, k, v)
        args = [(t, model_cfg, tcfg.seed) for t in tasks]
        t0 = time.time()
        scores = pool.map(_score_task, args) if pool else [_score_task(a) for a in args]
        trial.set_user_attr("fold_val_ua", {t["fold"]: round(s, 4) for t, s in zip(tasks, scores)})
        trial.set_user_attr("wall_s", round(time.time() - t0, 2))
        return float(np.mean(scores))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name="serkit-tune",
                                storage=f"sqlite:///{out / 'study.db'}", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=tcfg.seed))
    done = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    if done:
        log(f"resuming: {done} finished trial(s) reused")
    t_start = time.time()
    try:
        for _ in range(max(0, tcfg.trials - done)):
            study.optimize(objective, n_trials=1)
            t = study.trials[-1]
            if progress:
                log(f"trial {t.number}: val UA {t.value:.4f} {t.params} ({t.user_attrs.get('wall_s')} s)")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    best = study.best_trial
    model_cfg = copy.deepcopy(cfg.model_cfg)
    for k, v in best.params.items():
        set_path(model_cfg, k, v)
    best_cfg = to_dict(cfg)
    best_cfg["model_cfg"] = model_cfg
    dump_yaml(best_cfg, out / "best.yaml")
    summary = {
        "model": cfg.model, "frontend": cfg.frontend, "protocol": cfg.protocol, "objective":
        "mean validation UA over outer folds (validation speakers carved from each training fold)",
        "outer_folds": [t["fold"] for t in tasks], "best_value": round(best.value, 4), "best_params": best.params,
        "best_trial": best.number, "n_trials": len(study.trials), "wall_s_this_run": round(time.time() - t_start, 1),
        "wall_s_all_trials": round(sum(t.user_attrs.get("wall_s", 0.0) for t in study.trials), 1),
        "trials": [{"number": t.number, "value": t.value, "params": t.params, **t.user_attrs}
                   for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE],
    }
    atomic_write_json(out / "tune.json", summary)
    return summary
