"""``serkit`` command line (typer): parsing and printing only; the work is in
:mod:`serkit.experiment` and
:mod:`serkit.deploy`. Every failure prints one ``error: ...`` line and exits 2 (1: some inputs
unusable)."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import typer

from serkit.core.errors import SerkitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Energy-efficient speech emotion recognition: prepare corpora, benchmark, train, predict.",
)
REG = "a registered name (see serkit info)"
SET = typer.Option(
    [], "--set", help="override, e.g. --set model.hidden=64 --set frontend.layers=[0,2]"
)
CONFIG = typer.Option(
    None, help="YAML experiment config (fields of serkit.experiment.config.ExperimentConfig)"
)
MANIFEST = typer.Option(None, help="JSONL manifest")
MODEL = typer.Option(None, help=f"model, {REG} (default attnpool)")
FRONTEND = typer.Option(None, help=f"frontend, {REG}, or hf:<path> (default whisper-tiny-layers)")
PROTOCOL = typer.Option(
    None,
    help="loso | loso-session | folds:NAME (ravdess5, emobox-ravdess6, or a split .json) | "
    "kfold-speaker:K | loso:CORPUS | loco | cross:A->B",
)
LABELS = typer.Option(
    None, help="label spec: restrict and merge, e.g. anger,happiness,neutral=neutral+calm,sadness"
)
CACHE = typer.Option(
    None, "--cache-dir", help="feature cache (default $SERKIT_CACHE or ~/.cache/serkit/features)"
)
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
            typer.echo(
                "error: interrupted (finished folds and cached features are kept; re-run to "
                "resume)",
                err=True,
            )
            raise typer.Exit(130) from None

    return wrapper


DEVICE = typer.Option(
    "cpu", "--device", help="where torch work runs: cpu, cuda (an error without one) or auto"
)


def _device(name: str, jobs: int = 1) -> str:
    from serkit.core.device import set_device

    dev = set_device(name)
    if dev == "cuda" and jobs > 1:
        raise SerkitError(
            "--device cuda runs folds in one process: use --jobs 1 (forked workers cannot share "
            "CUDA)"
        )
    return dev


def _labels(spec: str | None) -> list[str] | None:
    return [s for s in spec.split(",") if s.strip()] if spec else None


def _run(jobs, quiet, cache_dir=None):
    from serkit.experiment.config import RunConfig

    return RunConfig(jobs=jobs, cache_dir=str(cache_dir or ""), progress=not quiet)


@app.command()
@friendly
def prepare(
    corpus: str = typer.Argument(..., help=f"corpus recipe, {REG}"),
    root: Path = typer.Argument(..., help="corpus folder (csv: the CSV file)"),
    out: Path = typer.Option(..., "--out", help="manifest to write (JSONL)"),
    speaker_regex: str | None = typer.Option(
        None, help="folder recipe: regex whose first group is the speaker"
    ),
):
    """Write a JSONL manifest for a corpus; unreadable files are listed, not fatal."""
    from serkit.experiment.jobs import prepare as prepare_job

    for line in prepare_job(corpus, root, out, speaker_regex):
        typer.echo(line)


from serkit.cli import (
    analysis_cmds,
    corpus_cmds,
    deploy_cmds,
    experiment_cmds,
    frontend_cmds,
    live_cmds,  # noqa: E402,F401
    report_cmds,
    reproduce_cmds,
)  # (register more commands)

if __name__ == "__main__":  # pragma: no cover
    app()
