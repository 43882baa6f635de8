"""``serkit predict``, ``demo``, ``export``: the deployment commands; registered on
:data:`serkit.cli.app`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from serkit.cli import DEVICE, LABELS, _device, app, friendly
from serkit.core.errors import SerkitError


@app.command()
@friendly
def predict(
    files: list[Path] = typer.Argument(
        ..., help="audio files and/or folders (searched recursively)"
    ),
    model: str = typer.Option("default", help="bundled name or a .pt from serkit train"),
    onnx: Path | None = typer.Option(
        None, "--onnx", help="run this ONNX file (numpy + onnxruntime only) instead"
    ),
    engine: str = typer.Option(
        "auto",
        help="auto: the model's cached ONNX export when there is one (a cold "
        "start without torch), written on first use; torch; onnx",
    ),
    json_: bool = typer.Option(False, "--json", help="one JSON object per line"),
    csv_: bool = typer.Option(
        False, "--csv", help="CSV: source[,start,end],label,p_<class>...[,duration,seconds]"
    ),
    timeline: bool = typer.Option(
        False, "--timeline", help="emotion over time (windows) instead of one label"
    ),
    window: float = typer.Option(2.0, help="timeline window in seconds"),
    hop: float = typer.Option(1.0, help="timeline hop in seconds"),
    vad: str = typer.Option(
        "energy", help="timeline windows over speech only (energy) or everywhere (none)"
    ),
    threads: int = typer.Option(0, help="CPU threads (0 = library default)"),
    labels: str | None = LABELS,
    min_confidence: float | None = typer.Option(
        None, help="below this calibrated top probability: 'uncertain' (default: the model card's)"
    ),
    speech_check: bool = typer.Option(True, help="no_speech for clips without speech (Silero VAD)"),
    speech_gate: str = typer.Option(
        "silero",
        help="which speech check: silero (Silero VAD, 0.29 mJ per 3 s) or mel (the log-mel gate, "
        "0.005 mJ; docs/BENCHMARKS.md, issue 32)",
    ),
    asr: str | None = typer.Option(
        None,
        help="multimodal models: transcribe each file with this bundled "
        "Whisper (tiny.en | base) and read the words too",
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="batch on Ray Data: 'local' (this machine) or a cluster "
        "address; needs --out; resumable",
    ),
    out: Path | None = typer.Option(None, "--out", help="--ray: predictions.parquet or .csv"),
    workers: int = typer.Option(0, help="--ray: model workers (0 = CPUs / threads)"),
    batch_size: int = typer.Option(16, help="--ray: files per model call"),
    embed: Path | None = typer.Option(
        None,
        "--embed",
        help="also write each file's utterance embedding "
        "(the vector the head pools) to this .npy; ids in <embed>.ids.txt",
    ),
    device: str = DEVICE,
    adapt: str = typer.Option(
        "none",
        "--adapt",
        help="none; batch: standardise with the given files' own statistics first (unlabelled, "
        "at least 10 s of speech); online: adapt to each answered file in turn (PyTorch engine)",
    ),
):
    """Recognise the emotion of each file ('uncertain' / 'no_speech' when it cannot tell).
    Bad files: one error line each (stderr), exit code 1."""
    from serkit.deploy.batch import open_runner, predict_paths

    if json_ and csv_:
        raise SerkitError("choose one of --json and --csv")
    if ray is not None:
        if out is None:
            raise SerkitError("--ray needs --out predictions.parquet (or .csv)")
        if onnx is not None or asr or timeline or speech_gate != "silero":
            raise SerkitError(
                "--ray runs a model by name (no --onnx, --asr, --timeline or --speech-gate)"
            )
        from serkit.batch import predict_dataset

        r = predict_dataset(
            [str(f) for f in files],
            out,
            model,
            None if ray == "local" else ray,
            workers or None,
            max(1, threads),
            batch_size,
            engine,
            speech_check,
            log=lambda m: typer.echo(m, err=True),
        )
        typer.echo(json.dumps(r))
        if r["errors"]:
            raise typer.Exit(1)
        return
    if adapt not in ("none", "batch", "online"):
        raise SerkitError(f"--adapt must be none, batch or online, got {adapt!r}")
    if adapt != "none":
        if onnx is not None or ray is not None:
            raise SerkitError("--adapt runs the PyTorch model (no --onnx)")
        if adapt == "online" and timeline:
            raise SerkitError(
                "--adapt online learns from whole-file answers; --timeline answers overlapping "
                "windows and would not update it: use --adapt batch with --timeline"
            )
        engine = "torch"
    if embed is not None and (onnx is not None or timeline):
        raise SerkitError("--embed runs a model on PyTorch (no --onnx, no --timeline)")
    if _device(device) == "cuda":
        if onnx is not None:
            raise SerkitError(
                "--device cuda runs the PyTorch model (the ONNX runner is CPU-only): drop --onnx"
            )
        engine = "torch"
    rec = open_runner(
        model, onnx, threads, "torch" if asr or embed is not None else engine
    ).configure(min_confidence, speech_check, labels, speech_gate)
    if asr:
        if not getattr(rec, "reads_text", False):
            raise SerkitError(f"--asr: model {model!r} does not read transcripts")
        rec.use_asr(asr)
    if adapt == "batch":
        from serkit.deploy.batch import expand_paths

        info = rec.adapt_files(
            expand_paths(files),
            "the given files",
            on_error=lambda f, why: typer.echo(f"error: {f}: {why}", err=True),
        )
        typer.echo(
            f"adapted on {info['clips_used']} files ({info['speech_s']} s of speech), "
            f"weight {info['weight']:.0%}",
            err=True,
        )
    elif adapt == "online":
        rec.adapt_online()
    failed = predict_paths(
        rec,
        files,
        "json" if json_ else "csv" if csv_ else "text",
        timeline,
        window,
        hop,
        vad,
        echo=typer.echo,
        err=lambda m: typer.echo(f"error: {m}", err=True),
        embed=embed,
    )
    if failed:
        raise typer.Exit(1)


@app.command()
@friendly
def demo(
    audio: Path | None = typer.Option(
        None, "--audio", help="use this file instead of synthesised speech"
    ),
    model: str = typer.Option("default"),
):
    """Recognise emotion in a few synthesised utterances (espeak-ng) with the bundled model."""
    from serkit.deploy.demo import run_demo
    from serkit.deploy.loading import load

    for line in run_demo(load(model), audio):
        typer.echo(line)


@app.command()
@friendly
def export(
    model: str = typer.Argument(
        "default", help="bundled name (default) or a .pt written by serkit train"
    ),
    onnx: Path = typer.Option(..., "--onnx", help="ONNX file to write"),
    int8: bool = typer.Option(False, "--int8", help="dynamic int8 quantisation of the weights"),
    head_only: bool = typer.Option(
        False, "--head-only", help="spiking heads only: encoder states -> probs, dynamic T"
    ),
    min_layer_weight: float = typer.Option(
        0.0, help="drop encoder layers whose learned weight is below this"
    ),
    check: str | None = typer.Option(None, help="manifest whose clips check ONNX against PyTorch"),
    check_clips: int = typer.Option(0, help="clips of --check to use (0 = all)"),
):
    """Export to ONE ONNX file: log-mel -> probabilities, the Whisper encoder cut after the last
    layer used."""
    from serkit.deploy.export import describe_export, export_model
    from serkit.deploy.loading import load

    typer.echo(
        describe_export(
            export_model(load(model), onnx, int8, head_only, min_layer_weight, check, check_clips)
        )
    )
