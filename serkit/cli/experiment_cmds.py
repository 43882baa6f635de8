"""``serkit bench``, ``tune``, ``extract``, ``train``: experiments; registered on
:data:`serkit.cli.app`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from serkit.cli import (
    CACHE,
    CONFIG,
    DEVICE,
    FRONTEND,
    LABELS,
    MANIFEST,
    MODEL,
    PROTOCOL,
    QUIET,
    REG,
    SET,
    _device,
    _labels,
    _run,
    app,
    friendly,
)


@app.command()
@friendly
def bench(
    manifest: str | None = MANIFEST,
    model: str | None = MODEL,
    frontend: str | None = FRONTEND,
    protocol: str | None = PROTOCOL,
    labels: str | None = LABELS,
    seeds: int | None = typer.Option(None, help="number of seeds (default 5)"),
    jobs: int = typer.Option(1, help="parallel fold workers"),
    out: Path = typer.Option(
        ..., "--out", help="result folder (re-running resumes finished folds)"
    ),
    config: Path | None = CONFIG,
    set_: list[str] = SET,
    cache_dir: Path | None = CACHE,
    quiet: bool = QUIET,
    device: str = DEVICE,
):
    """Cross-validated experiment: results.json, predictions.csv, config.yaml, report.md,
    confusion.png."""
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import load_experiment

    _device(device, jobs)

    cfg = load_experiment(
        config,
        set_,
        manifest=manifest,
        model=model,
        frontend=frontend,
        protocol=protocol,
        seeds=seeds,
        labels=_labels(labels),
    )
    typer.echo(
        run_bench(cfg, out, _run(jobs, quiet, cache_dir), log=typer.echo).summary()
        + f" -> {out}/results.json"
    )


@app.command()
@friendly
def tune(
    manifest: str | None = MANIFEST,
    model: str | None = MODEL,
    frontend: str | None = FRONTEND,
    protocol: str | None = PROTOCOL,
    trials: int = typer.Option(20, help="optuna trials"),
    outer_folds: int = typer.Option(0, help="outer folds per trial (0 = all, else evenly spaced)"),
    seed: int = typer.Option(0, help="sampler and training seed"),
    jobs: int = typer.Option(1, help="parallel workers (one outer fold each)"),
    space: Path | None = typer.Option(
        None, help="YAML search space {dotted.key: {type, low, high | choices}}"
    ),
    out: Path = typer.Option(
        ..., "--out", help="tuning folder: study.db (resumable), tune.json, best.yaml"
    ),
    config: Path | None = CONFIG,
    set_: list[str] = SET,
    cache_dir: Path | None = CACHE,
    quiet: bool = QUIET,
):
    """Hyper-parameter search on validation speakers inside the training folds only; then run the
    one clean evaluation: serkit bench --config OUT/best.yaml --seeds 10 --out RUN"""
    from serkit.core.config import load_yaml
    from serkit.experiment.config import load_experiment
    from serkit.experiment.tune import TuneConfig, run_tune

    cfg = load_experiment(
        config, set_, manifest=manifest, model=model, frontend=frontend, protocol=protocol
    )
    r = run_tune(
        cfg,
        TuneConfig(trials=trials, outer_folds=outer_folds, seed=seed),
        out,
        load_yaml(space) if space else None,
        _run(jobs, quiet, cache_dir),
        log=typer.echo,
    )
    typer.echo(
        f"best validation UA {r['best_value']:.4f} (trial {r['best_trial']} of {r['n_trials']}) "
        "with "
        f"{r['best_params']}\nevaluate once with: serkit bench --config {out}/best.yaml --seeds "
        "10 --out RUN"
    )


@app.command()
@friendly
def extract(
    manifest: str = typer.Option(..., help="JSONL manifest"),
    frontend: str = typer.Option("whisper-tiny-layers", help=f"frontend, {REG}"),
    cache_dir: Path | None = CACHE,
    set_: list[str] = typer.Option([], "--set", help="frontend setting, e.g. --set layers=[0,2]"),
):
    """Extract (or verify cached) features for a manifest; reports counts, failures and time."""
    from serkit.experiment.jobs import extract as extract_job

    r = extract_job(manifest, frontend, set_, cache_dir)
    typer.echo(
        f"{r.frontend}: {r.features} of {r.utterances} utterances ({r.audio_min:.1f} min "
        f"audio) in {r.wall_s:.1f} s: {r.extracted} extracted, {r.cached} from cache, "
        f"{len(r.failed)} failed"
    )
    for i, reason in r.failed[:20]:
        typer.echo(f"  skipped {i}: {reason}")


@app.command()
@friendly
def train(
    manifest: str | None = MANIFEST,
    model: str | None = MODEL,
    frontend: str | None = FRONTEND,
    labels: str | None = LABELS,
    out: Path = typer.Option(..., "--out", help="model file to write (.pt)"),
    seed: int = typer.Option(0),
    config: Path | None = CONFIG,
    set_: list[str] = SET,
    cache_dir: Path | None = CACHE,
    results: Path | None = typer.Option(
        None, help="bench result folder of the same setting, recorded as provenance"
    ),
    device: str = DEVICE,
):
    """Train one model on a whole manifest (validation speakers for early stopping) and save it."""
    from serkit.experiment.config import load_experiment
    from serkit.experiment.results import BenchResult
    from serkit.experiment.train import train_model

    _device(device)

    cfg = load_experiment(
        config, set_, manifest=manifest, model=model, frontend=frontend, labels=_labels(labels)
    )
    prov = {"command": "serkit " + " ".join(sys.argv[1:]), "created": time.strftime("%Y-%m-%d")}
    if results:
        prov["benchmark"] = BenchResult.load(results).benchmark_record()
    info = train_model(
        cfg, out, seed=seed, provenance=prov, run=_run(1, True, cache_dir), log=typer.echo
    )
    ua = info.fit.train.best_val_ua if info.fit.train else None
    typer.echo(
        f"saved {out}: labels {info.labels}, {info.cost.params_trainable:,} params, best "
        f"validation UA {ua}"
    )
