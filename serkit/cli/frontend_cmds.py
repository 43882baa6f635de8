"""Frontend commands: ``distill`` (the compact student from Whisper; issue 18); registered on
:data:`serkit.cli.app`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from serkit.cli import CACHE, DEVICE, SET, _device, app, friendly


@app.command()
@friendly
def distill(
    manifest: str = typer.Option(
        ..., help="JSONL manifest(s) of UNLABELLED use: a.jsonl,b.jsonl (labels are never read)"
    ),
    out: Path = typer.Option(..., "--out", help="student weight file to write (.safetensors)"),
    config: Path | None = typer.Option(None, help="YAML of serkit.training.distill.DistillConfig"),
    set_: list[str] = SET,
    cache_dir: Path | None = CACHE,
    exclude_corpus: str | None = typer.Option(
        None,
        help="drop these corpora (comma-separated) from the manifest(s), "
        "e.g. the one you will evaluate on",
    ),
    threads: int = typer.Option(0, help="torch threads (0 = library default)"),
    device: str = DEVICE,
):
    """Distil a compact frontend from Whisper's hidden states on unlabelled audio (teacher: --set
    teacher=whisper-base-layers; task-aware: --set head=MODEL.pt --set posterior_weight=1); use it
    with --frontend compact:OUT. Resumes from its checkpoint; teacher states are cached."""
    import torch

    from serkit.experiment.jobs import distill as distill_job

    if threads:
        torch.set_num_threads(threads)
    _device(device)
    drop = {c.strip() for c in (exclude_corpus or "").split(",") if c.strip()}
    r = distill_job(manifest, out, config, set_, cache_dir, drop, log=typer.echo)
    typer.echo(json.dumps(r))
    typer.echo(f"use it: serkit bench --frontend compact:{out} ...")
