"""``serkit serve``: emotion recognition over HTTP (FastAPI + uvicorn).

Endpoints (OpenAPI docs at ``/docs``):

- ``GET  /``              a web page: upload a file or record from the microphone (streamed
  over ``/v1/stream``), the emotion timeline as a chart, the model card and cost per clip

- ``GET  /healthz``       liveness: ``{"status": "ok"}``
- ``GET  /v1/models``     the loaded models: labels, sample rate, frontend, cost
- ``POST /v1/predict``    multipart field ``file`` (any soundfile format) -> label (an emotion,
  ``uncertain`` or ``no_speech``), state, top class, confidence, seconds of speech found,
  probabilities, duration and timing (decode / inference / total, ms)
- ``POST /v1/timeline``   same upload + ``window``, ``hop``, ``vad`` -> rows (start, end, label,
  probabilities)

- ``WS   /v1/stream``     streaming: a first text message ``{"sample_rate": 16000, "format":
  "pcm16" | "float32", "window": 2.0, "hop": 0.5, "model": NAME}`` (all but ``sample_rate``
  optional), then binary messages of little-endian samples in any sizes; a row
  ``{"start", "end", "label", "state", "probabilities", "latency_ms", "revised"}`` is sent per
  hop as its window fills; the text message ``{"end": true}`` flushes the tail, answers
  ``{"done": true, "rows": N}`` and closes. A bad first message or bad samples get
  ``{"error": {...}}`` and a close (code 1008 / 1007); the service keeps serving.
- ``GET  /metrics``        Prometheus text format: requests by path and status, latency
  histogram, inferences in flight and waiting

Errors are JSON ``{"error": {"code": ..., "message": ..., "request_id": ...}}``: 400 (empty upload,
bad
parameters), 413 (upload or audio too long), 415 (not decodable audio), 422 (decodable but
unusable: NaN/inf, too short; or a missing field), 404 (unknown model), 503 + ``Retry-After``
(more than ``workers + max_queue`` inferences in flight and waiting: the request is refused at
once rather than queued without bound), 504 (an inference past ``request_timeout_s``). Models
load once at start-up; inference runs in worker threads (``workers`` at a time), never on the
event loop, so the service keeps answering health checks while it computes. Every response
carries ``X-Request-ID`` (the client's, or a new one) and every request is logged as one JSON
line on the ``serkit.serve`` logger (id, method, path, status, ms, model). ``serkit serve``
shuts down gracefully on SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish
(up to ``shutdown_grace_s``), then exits.
"""

# no ``from __future__ import annotations``: FastAPI reads endpoint annotations at run time
import numpy as np

try:
    import anyio  # noqa: F401
    from fastapi import FastAPI, WebSocket
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    from serkit.core.errors import MissingDependencyError

    raise MissingDependencyError("fastapi", "serve", "serkit serve") from _exc

from serkit.deploy.bundles import card_headline
from serkit.deploy.service.config import STATUS_OF_KIND, ServeConfig
from serkit.deploy.service.errors import ApiError, install_error_handlers
from serkit.deploy.service.limits import BodyLimit, Gate
from serkit.deploy.service.observe import Metrics, install_observability, log_requests_to_stderr
from serkit.deploy.service.routes import add_audio_routes, add_info_routes
from serkit.deploy.service.stream import stream_session

__all__ = [
    "STATUS_OF_KIND",
    "ApiError",
    "ServeConfig",
    "card_headline",
    "create_app",
    "log_requests_to_stderr",
    "run_server",
]


def create_app(cfg: ServeConfig | None = None, recognizers: dict | None = None):
    """The FastAPI app: loaded models, the inference gate, the body limit, observability, and
    the routes (``_add_*_routes``). ``recognizers`` (name -> Recognizer) skips loading (tests)."""
    import torch

    from serkit.core.version import __version__
    from serkit.deploy.loading import load

    cfg = cfg or ServeConfig()
    torch.set_num_threads(max(1, cfg.threads))
    recs = recognizers if recognizers is not None else {n: load(p) for n, p in cfg.models.items()}
    for r in recs.values():  # first inference pays one-off set-up costs: not on a user's request
        r.predict(np.zeros(16000, np.float32) + 1e-3, sr=16000)

    app = FastAPI(
        title="serkit",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Speech emotion recognition: upload audio, get emotion probabilities.",
    )
    install_error_handlers(app)
    metrics = Metrics()
    gate = Gate(cfg, metrics)
    app.state.gate = gate
    app.add_middleware(
        BodyLimit,
        max_bytes=int(cfg.max_upload_mb * 1024 * 1024) + 64 * 1024,
        max_mb=cfg.max_upload_mb,
    )
    install_observability(app, metrics, gate)
    add_info_routes(app, recs, metrics)
    add_audio_routes(app, recs, cfg, gate)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        await stream_session(ws, recs, next(iter(recs)), gate, metrics, cfg)

    return app


def run_server(cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000, echo=print) -> None:
    """``serkit serve``: load the models, print the address, models and limits, serve until
    SIGTERM / SIGINT. On the signal, new requests get 503; after ``shutdown_grace_s - 1`` s what
    is still running or waiting is cancelled and answered 503 + ``Retry-After`` (not dropped)."""
    import asyncio

    import uvicorn

    app = create_app(cfg)
    gate: Gate = app.state.gate
    echo(
        f"serkit serve: http://{host}:{port}/ (API reference /docs), models "
        + ", ".join(f"{n}={p}" for n, p in cfg.models.items())
        + f"; limits: upload {cfg.max_upload_mb:g} MB, audio {cfg.max_audio_s:g} s (timeline "
        f"{cfg.max_timeline_s:g} s, "
        f"{cfg.max_timeline_windows} windows), {cfg.workers} worker(s) + {cfg.max_queue} queued, "
        f"{cfg.max_streams} streams, timeout {cfg.request_timeout_s:g} s, shutdown grace "
        f"{cfg.shutdown_grace_s:g} s"
    )

    class _Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            if not gate.closing:
                gate.closing = True
                try:
                    loop = asyncio.get_running_loop()
                    loop.call_later(max(0.0, cfg.shutdown_grace_s - 1.0), gate.drain)
                except RuntimeError:
                    gate.drain()
            super().handle_exit(sig, frame)

    _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=int(cfg.shutdown_grace_s) or None,
        )
    ).run()
