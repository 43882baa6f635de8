"""Live commands: ``listen`` (streaming from a file or stdin) and ``serve`` (HTTP, WebSocket,
web page); registered on :data:`serkit.cli.app`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from serkit.cli import app, friendly


@app.command()
@friendly
def listen(
    source: str = typer.Argument(
        ..., help="an audio file, or - for raw little-endian PCM on stdin"
    ),
    model: str = typer.Option("default", help="bundled name or a .pt from serkit train"),
    rate: int = typer.Option(16000, help="stdin: sample rate of the PCM (Hz)"),
    sample_format: str = typer.Option("pcm16", "--format", help="stdin: pcm16 or float32"),
    window: float = typer.Option(2.0, help="window in seconds"),
    hop: float = typer.Option(0.5, help="a row every hop seconds"),
    chunk: float = typer.Option(0.1, help="seconds of audio read at a time"),
    realtime: bool = typer.Option(
        True, help="a file: feed it at the speed it plays (stdin: as it comes)"
    ),
    json_: bool = typer.Option(False, "--json", help="one JSON object per row"),
    threads: int = typer.Option(0, help="CPU threads (0 = library default)"),
    speech_check: bool = typer.Option(
        True, help="no_speech for windows without speech (Silero VAD)"
    ),
):
    """Stream audio and print an emotion row per hop as the audio arrives (start, end, label, top
    p)."""
    from serkit.deploy.batch import open_runner
    from serkit.deploy.stream import listen_rows

    rec = open_runner(model, None, threads).configure(speech_check=speech_check)
    for r in listen_rows(rec, source, rate, sample_format, window, hop, chunk, realtime):
        if json_:
            typer.echo(json.dumps(r.to_dict()))
        else:
            p = max(r.probabilities.values())
            typer.echo(
                f"{r.start:8.2f} {r.end:8.2f}  {r.label:<12} "
                f"{p:.3f}{'  (revised)' if r.revised else ''}"
            )


@app.command()
@friendly
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    model: list[str] = typer.Option(
        ["default"], "--model", help="NAME=PATH or a bundled name; repeat (first = default)"
    ),
    max_upload_mb: float = typer.Option(25.0, help="larger uploads get HTTP 413"),
    max_audio_s: float = typer.Option(
        60.0, help="longer audio gets 413 on /v1/predict (use /v1/timeline)"
    ),
    workers: int = typer.Option(1, help="concurrent inferences (threads)"),
    threads: int = typer.Option(1, help="torch threads per inference"),
    max_queue: int = typer.Option(
        16, help="inferences that may wait for a worker; beyond: 503 + Retry-After"
    ),
    request_timeout: float = typer.Option(
        60.0, help="seconds an inference may take (waiting included); then 504"
    ),
    shutdown_grace: float = typer.Option(
        30.0,
        help="on SIGTERM/SIGINT, seconds in-flight requests may finish (then 503 + Retry-After)",
    ),
    max_streams: int = typer.Option(8, help="WebSocket streams open at once"),
    adapt: str = typer.Option(
        "none",
        "--adapt",
        help="none, or online: each X-Client-ID gets a standardisation that follows its speech",
    ),
    max_clients: int = typer.Option(1000, help="clients kept with --adapt online (LRU)"),
    log_requests: bool = typer.Option(True, help="one JSON line per request on stderr"),
):
    """HTTP service: POST /v1/predict, POST /v1/timeline, GET /v1/models, GET /healthz, GET
    /metrics, docs at /docs."""
    from serkit.deploy.serve import ServeConfig, log_requests_to_stderr, run_server

    if log_requests:
        log_requests_to_stderr()
    models = {(n if p else Path(n).stem): (p or n) for n, _, p in (m.partition("=") for m in model)}
    cfg = ServeConfig(
        models=models,
        max_upload_mb=max_upload_mb,
        max_audio_s=max_audio_s,
        workers=workers,
        threads=threads,
        max_queue=max_queue,
        request_timeout_s=request_timeout,
        shutdown_grace_s=shutdown_grace,
        max_streams=max_streams,
        adapt=adapt,
        max_clients=max_clients,
    )
    run_server(cfg, host, port, echo=lambda m: typer.echo(m, err=True))
