"""``serkit`` command line (typer): parsing and printing only; the work is in :mod:`serkit.experiment` and
:mod:`serkit.deploy`. Every failure prints one ``error: ...`` line and exits 2 (1: some inputs unusable)."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import typer

from serkit.core.errors import SerkitError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Energy-efficient speech emotion recognition: prepare corpora, benchmark, train, predict.")
REG = "a registered name (see serkit info)"
SET = typer.Option([], "--set", help="override, e.g. --set model.hidden=64 --set frontend.layers=[0,2]")
CONFIG = typer.Option(None, help="YAML experiment config (fields of serkit.experiment.config.ExperimentConfig)")
MANIFEST = typer.Option(None, help="JSONL manifest")
MODEL = typer.Option(None, help=f"model, {REG} (default attnpool)")
FRONTEND = typer.Option(None, help=f"frontend, {REG}, or hf:<path> (default whisper-tiny-layers)")
PROTOCOL = typer.Option(None, help="loso | loso-session | folds:NAME (ravdess5, emobox-ravdess6, or a split .json) | kfold-speaker:K | loso:CORPUS | loco | cross:A->B")
LABELS = typer.Option(None, help="label spec: restrict and merge, e.g. anger,happiness,neutral=neutral+calm,sadness")
CACHE = typer.Option(None, "--cache-dir", help="feature cache (default $SERKIT_CACHE or ~/.cache/serkit/features)")
QUIET = typer.Option(False, help="no progress output")


def friendly(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except SerkitError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("error: interrupted (finished folds and cached features are kept; re-run to resume)", err=True)
            raise typer.Exit(130) from None

    return wrapper


DEVICE = typer.Option("cpu", "--device", help="where torch work runs: cpu, cuda (an error without one) or auto")


def _device(name: str, jobs: int = 1) -> str:
    from serkit.core.device import set_device

    dev = set_device(name)
    if dev == "cuda" and jobs > 1:
        raise SerkitError("--device cuda runs folds in one process: use --jobs 1 (forked workers cannot share CUDA)")
    return dev


def _labels(spec: str | None) -> list[str] | None:
    return [s for s in spec.split(",") if s.strip()] if spec else None


def _run(jobs, quiet, cache_dir=None):
    from serkit.experiment.config import RunConfig

    return RunConfig(jobs=jobs, cache_dir=str(cache_dir or ""), progress=not quiet)


@app.command()
@friendly
def prepare(corpus: str = typer.Argument(..., help=f"corpus recipe, {REG}"),
            root: Path = typer.Argument(..., help="corpus folder (csv: the CSV file)"),
            out: Path = typer.Option(..., "--out", help="manifest to write (JSONL)"),
            speaker_regex: str | None = typer.Option(None, help="folder recipe: regex whose first group is the speaker")):
    """Write a JSONL manifest for a corpus; unreadable files are listed, not fatal."""
    from serkit.data.corpora import prepare_manifest

    for line in prepare_manifest(corpus, root, out, speaker_regex):
        typer.echo(line)


@app.command()
@friendly
def bench(manifest: str | None = MANIFEST, model: str | None = MODEL, frontend: str | None = FRONTEND,
          protocol: str | None = PROTOCOL, labels: str | None = LABELS, seeds: int | None = typer.Option(None, help="number of seeds (default 5)"),
          jobs: int = typer.Option(1, help="parallel fold workers"),
          out: Path = typer.Option(..., "--out", help="result folder (re-running resumes finished folds)"),
          config: Path | None = CONFIG, set_: list[str] = SET, cache_dir: Path | None = CACHE, quiet: bool = QUIET,
          device: str = DEVICE):
    """Cross-validated experiment: results.json, predictions.csv, config.yaml, report.md, confusion.png."""
    from serkit.experiment.bench import run_bench
    from serkit.experiment.config import load_experiment

    _device(device, jobs)

    cfg = load_experiment(config, set_, manifest=manifest, model=model, frontend=frontend, protocol=protocol, seeds=seeds,
                          labels=_labels(labels))
    typer.echo(run_bench(cfg, out, _run(jobs, quiet, cache_dir), log=typer.echo).summary() + f" -> {out}/results.json")


@app.command()
@friendly
def tune(manifest: str | None = MANIFEST, model: str | None = MODEL, frontend: str | None = FRONTEND,
         protocol: str | None = PROTOCOL, trials: int = typer.Option(20, help="optuna trials"),
         outer_folds: int = typer.Option(0, help="outer folds per trial (0 = all, else evenly spaced)"),
         seed: int = typer.Option(0, help="sampler and training seed"),
         jobs: int = typer.Option(1, help="parallel workers (one outer fold each)"),
         space: Path | None = typer.Option(None, help="YAML search space {dotted.key: {type, low, high | choices}}"),
         out: Path = typer.Option(..., "--out", help="tuning folder: study.db (resumable), tune.json, best.yaml"),
         config: Path | None = CONFIG, set_: list[str] = SET, cache_dir: Path | None = CACHE, quiet: bool = QUIET):
    """Hyper-parameter search on validation speakers inside the training folds only; then run the
    one clean evaluation: serkit bench --config OUT/best.yaml --seeds 10 --out RUN"""
    from serkit.core.config import load_yaml
    from serkit.experiment.config import load_experiment
    from serkit.experiment.tune import TuneConfig, run_tune

    cfg = load_experiment(config, set_, manifest=manifest, model=model, frontend=frontend, protocol=protocol)
    r = run_tune(cfg, TuneConfig(trials=trials, outer_folds=outer_folds, seed=seed), out,
                 load_yaml(space) if space else None, _run(jobs, quiet, cache_dir), log=typer.echo)
    typer.echo(f"best validation UA {r['best_value']:.4f} (trial {r['best_trial']} of {r['n_trials']}) with "
               f"{r['best_params']}\nevaluate once with: serkit bench --config {out}/best.yaml --seeds 10 --out RUN")


@app.command()
@friendly
def extract(manifest: str = typer.Option(..., help="JSONL manifest"),
            frontend: str = typer.Option("whisper-tiny-layers", help=f"frontend, {REG}"),
            cache_dir: Path | None = CACHE, set_: list[str] = typer.Option([], "--set", help="frontend setting, e.g. --set layers=[0,2]")):
    """Extract (or verify cached) features for a manifest; reports counts, failures and time."""
    from serkit.core.config import parse_overrides
    from serkit.data.manifest import read_manifest
    from serkit.features import FeatureCache, build_frontend, extract_features

    utts, fe, t0 = read_manifest(manifest), build_frontend(frontend, parse_overrides(set_)), time.time()
    r = extract_features(fe, utts, FeatureCache(cache_dir))
    typer.echo(f"{fe.name}: {len(r.features)} of {len(utts)} utterances ({sum(u.duration for u in utts) / 60:.1f} min "
               f"audio) in {time.time() - t0:.1f} s: {r.extracted} extracted, {r.cached} from cache, {len(r.failed)} failed")
    for i, reason in r.failed[:20]:
        typer.echo(f"  skipped {i}: {reason}")


@app.command()
@friendly
def train(manifest: str | None = MANIFEST, model: str | None = MODEL, frontend: str | None = FRONTEND, labels: str | None = LABELS,
          out: Path = typer.Option(..., "--out", help="model file to write (.pt)"), seed: int = typer.Option(0),
          config: Path | None = CONFIG, set_: list[str] = SET, cache_dir: Path | None = CACHE,
          results: Path | None = typer.Option(None, help="bench result folder of the same setting, recorded as provenance"),
          device: str = DEVICE):
    """Train one model on a whole manifest (validation speakers for early stopping) and save it."""
    from serkit.experiment.config import load_experiment
    from serkit.experiment.results import BenchResult
    from serkit.experiment.train import train_model

    _device(device)

    cfg = load_experiment(config, set_, manifest=manifest, model=model, frontend=frontend, labels=_labels(labels))
    prov = {"command": "serkit " + " ".join(sys.argv[1:]), "created": time.strftime("%Y-%m-%d")}
    if results:
        prov["benchmark"] = BenchResult.load(results).benchmark_record()
    info = train_model(cfg, out, seed=seed, provenance=prov, run=_run(1, True, cache_dir), log=typer.echo)
    ua = info.fit.train.best_val_ua if info.fit.train else None
    typer.echo(f"saved {out}: labels {info.labels}, {info.cost.params_trainable:,} params, best validation UA {ua}")


from serkit.cli import (analysis_cmds, corpus_cmds, deploy_cmds, frontend_cmds, live_cmds,  # noqa: E402,F401
                        report_cmds, reproduce_cmds)  # (register more commands)

if __name__ == "__main__":  # pragma: no cover
    app()
