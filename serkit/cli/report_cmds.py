"""Reporting commands: ``bench-latency``, ``table``, ``info`` (registered on
:data:`serkit.cli.app`)."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli import app, friendly


@app.command("bench-latency")
@friendly
def bench_latency_cmd(
    model: str = typer.Option("default", help="bundled name or a .pt from serkit train"),
    out: Path = typer.Option(Path("runs/latency"), "--out", help="folder for latency.json"),
    runs: int = typer.Option(50, help="timed calls per clip"),
    folder_clips: int = typer.Option(1000, help="clips for throughput (0 = skip)"),
    http_requests: int = typer.Option(2000, help="HTTP requests (0 = skip)"),
    http_clients: int = 50,
    http_workers: int = 2,
    min_layer_weight: float = 0.0,
):
    """Latency (1 thread: PyTorch, ONNX fp32, ONNX int8), sizes, folder throughput, HTTP load
    test."""
    from serkit.deploy.latency import bench_latency

    r = bench_latency(
        model,
        out,
        runs,
        folder_clips,
        http_requests,
        http_clients,
        http_workers,
        min_layer_weight,
        log=typer.echo,
    )
    typer.echo(
        f"-> {out}/latency.json\n3 s clip, 1 thread, median: PyTorch {r['pytorch']['median_ms']} "
        "ms, ONNX fp32 "
        f"{r['onnx_fp32']['median_ms']} ms, ONNX int8 {r['onnx_int8']['median_ms']} ms"
    )


@app.command()
@friendly
def table(
    dirs: list[Path] = typer.Argument(..., help="bench result folders"),
    snn: bool = typer.Option(False, "--snn", help="spiking view: SOPs and firing-rate health"),
    per_class: bool = typer.Option(
        False, "--per-class", help="per-class recall, and each run's change vs the first"
    ),
    modalities: bool = typer.Option(
        False,
        "--modalities",
        help="multimodal view: modality probes, head energy per part, encoders",
    ),
):
    """Markdown table (accuracy and cost side by side) from bench result folders."""
    from serkit.experiment.report import modality_table, per_class_table, results_table, snn_table

    typer.echo(
        per_class_table(dirs)
        if per_class
        else snn_table(dirs)
        if snn
        else modality_table(dirs)
        if modalities
        else results_table(dirs)
    )


@app.command()
def info():
    """List corpus recipes, frontends, models and protocols (the registries)."""
    from serkit.experiment.jobs import registries

    r = registries()
    typer.echo(
        f"corpora:   {', '.join(r['corpora'])}\nfrontends: {', '.join(r['frontends'])}, "
        "hf:<local path>\n"
        f"models:    {', '.join(r['models'])}\nprotocols: {', '.join(r['protocols'])}\n"
        f"splits:    {', '.join(r['splits'])} (folds:NAME, or folds:FILE.json)\n"
        f"reproductions: {', '.join(r['reproductions'])} (serkit reproduce NAME)"
    )
    from serkit.deploy.bundles import BUNDLES, headline_text

    typer.echo("bundles (serkit.load(NAME), --model NAME):")
    for name, b in BUNDLES.items():
        typer.echo(f"  {name}: {b.description}; {headline_text(b.card())}; {b.terms}")
