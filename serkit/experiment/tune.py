"""``serkit tune``: hyper-parameter search whose objective only ever sees training speakers.

For every outer fold of the protocol the *test* indices are dropped first; what remains (the
training fold) is split by speaker into fit / validation speakers
(:func:`serkit.data.protocols.validation_split`). A trial trains the model on the fit
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

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from serkit.core.config import dump_yaml, to_dict
from serkit.core.errors import ConfigError
from serkit.core.io import atomic_write_json, seed_everything
from serkit.data.protocols import make_folds
from serkit.estimators import build_model
from serkit.experiment.config import ExperimentConfig, RunConfig, experiment_from_dict
from serkit.experiment.dataset import Dataset, fit_val_split, load_dataset
from serkit.experiment.executor import run_tasks

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
            raise ConfigError(
                f"search space {name!r}: type must be loguniform, uniform, int or categorical"
            )
    return out


def inner_tasks(utts, folds, seed: int, cfg, outer_folds: int = 0) -> list[dict]:
    """Per outer fold: fit and validation indices drawn from its *training* indices only."""
    chosen = folds
    if outer_folds and outer_folds < len(folds):
        pick = np.linspace(0, len(folds) - 1, outer_folds).round().astype(int)
        chosen = [folds[i] for i in sorted(set(pick.tolist()))]
    tasks = []
    for f in chosen:
        fit, val = fit_val_split(utts, f.train, seed, cfg)
        if not val:
            raise ConfigError(f"fold {f.name}: tuning needs at least two training speakers")
        tasks.append({"fold": f.name, "fit": fit, "val": val})  # f.test is not carried further
    return tasks


@dataclass
class TrialContext:
    data: Dataset
    cfg: ExperimentConfig
    seed: int


def score_task(ctx: TrialContext, task: dict) -> float:
    """Train on one task's fit speakers, return UA on its validation speakers."""
    d = ctx.data
    seed_everything(ctx.seed)
    model = build_model(ctx.cfg.model, len(d.labels), d.n_layers, d.dim)
    pool = task["fit"] + task["val"]  # the training fold: its corpora define the loco view
    val = d.fit_split(task["val"], ctx.cfg.train_norm, pool=pool)  # training speakers held out
    model.fit(d.fit_split(task["fit"], ctx.cfg.train_norm, pool=pool), val, ctx.seed)
    return float(balanced_accuracy_score(val.labels, model.predict_proba(val.feats).argmax(1)))


def with_params(cfg: ExperimentConfig, params: dict) -> ExperimentConfig:
    """``cfg`` with model settings ``{dotted.name: value}`` applied (checked like any config)."""
    data = cfg.to_dict()
    for k, v in params.items():
        set_path(data["model"], k, v)
    return experiment_from_dict(data)


def _study(out: Path, seed: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        direction="maximize",
        study_name="serkit-tune",
        storage=f"sqlite:///{out / 'study.db'}",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
    )


def run_tune(
    cfg: ExperimentConfig,
    tcfg: TuneConfig,
    out: str | Path,
    space: dict | None = None,
    run: RunConfig | None = None,
    log=print,
) -> dict:
    """Search ``space`` (default ``SPACES[model]``); write ``tune.json`` and ``best.yaml`` (the
    experiment config with the chosen model settings) to ``out``. Returns the summary."""
    import optuna

    run = run or RunConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    space = space or SPACES.get(cfg.model.name)
    if not space:
        raise ConfigError(
            f"no default search space for model {cfg.model.name!r}; pass --space SPACE.yaml"
        )
    data = load_dataset(cfg, run, log)
    tasks = inner_tasks(
        data.utts, make_folds(data.utts, cfg.protocol), tcfg.seed, cfg, tcfg.outer_folds
    )
    dump_yaml(
        {
            "experiment": cfg.to_dict(),
            "tune": to_dict(tcfg),
            "space": space,
            "tasks": [
                {
                    "fold": t["fold"],
                    "fit_speakers": data.speakers(t["fit"]),
                    "val_speakers": data.speakers(t["val"]),
                }
                for t in tasks
            ],
        },
        out / "config.yaml",
    )

    def objective(trial) -> float:
        trial_cfg = with_params(cfg, suggest(trial, space))
        t0 = time.time()
        scores = list(
            run_tasks(score_task, TrialContext(data, trial_cfg, tcfg.seed), tasks, run.jobs)
        )
        trial.set_user_attr("fold_val_ua", {t["fold"]: round(s, 4) for t, s in zip(tasks, scores)})
        trial.set_user_attr("wall_s", round(time.time() - t0, 2))
        return float(np.mean(scores))

    study = _study(out, tcfg.seed)
    done = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    if done:
        log(f"resuming: {done} finished trial(s) reused")
    t_start = time.time()
    for _ in range(max(0, tcfg.trials - done)):
        study.optimize(objective, n_trials=1)
        t = study.trials[-1]
        if run.progress:
            log(
                f"trial {t.number}: val UA {t.value:.4f} {t.params} ({t.user_attrs.get('wall_s')} "
                "s)"
            )
    best = study.best_trial
    dump_yaml(with_params(cfg, best.params).to_dict(), out / "best.yaml")
    summary = {
        "model": cfg.model.name,
        "frontend": cfg.frontend.name,
        "protocol": cfg.protocol,
        "objective": "mean validation UA over outer folds (validation speakers carved from each "
        "training fold)",
        "outer_folds": [t["fold"] for t in tasks],
        "best_value": round(best.value, 4),
        "best_params": best.params,
        "best_trial": best.number,
        "n_trials": len(study.trials),
        "wall_s_this_run": round(time.time() - t_start, 1),
        "wall_s_all_trials": round(sum(t.user_attrs.get("wall_s", 0.0) for t in study.trials), 1),
        "trials": [
            {"number": t.number, "value": t.value, "params": t.params, **t.user_attrs}
            for t in study.trials
            if t.state == optuna.trial.TrialState.COMPLETE
        ],
    }
    atomic_write_json(out / "tune.json", summary)
    return summary
