"""``serkit reproduce``: published numbers beside serkit's, on the published protocol."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli import CACHE, QUIET, _run, app, friendly


@app.command()
@friendly
def reproduce(
    name: str = typer.Argument("ravdess", help="bundled reproduction (ravdess) or a YAML path"),
    manifest: str = typer.Option(
        ..., help="JSONL manifest of the corpus (serkit prepare ravdess ...)"
    ),
    out: Path = typer.Option(
        ..., "--out", help="folder: one run folder per row, reproduce.md, reproduce.json"
    ),
    only: str | None = typer.Option(None, help="comma-separated row ids (default: all rows)"),
    jobs: int = typer.Option(1, help="parallel fold workers"),
    table_only: bool = typer.Option(
        False, "--table-only", help="run nothing: the table from finished rows"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="print the serkit commands the rows run, and stop"
    ),
    cache_dir: Path | None = CACHE,
    quiet: bool = QUIET,
):
    """Run each row's tune (validation speakers only) and bench, resuming finished work, then print
    one table: published number, protocol, serkit mean +- std, best seed apart, params, energy,
    wall time."""
    from serkit.experiment.reproduce import (
        commands,
        load_reproduction,
        run_reproduction,
        select,
        write_table,
    )

    rep = load_reproduction(name)
    ids = [s.strip() for s in only.split(",") if s.strip()] if only else None
    if dry_run:
        for line in commands(select(rep, ids), manifest, out):
            typer.echo(line)
        return
    doc = (
        write_table(rep, out)
        if table_only
        else run_reproduction(rep, manifest, out, _run(jobs, quiet, cache_dir), ids, log=typer.echo)
    )
    typer.echo(doc["markdown"] + f"\n-> {out}/reproduce.md, {out}/reproduce.json")
