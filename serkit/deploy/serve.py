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

Errors are JSON ``{"error": {"code": ..., "message": ..., "request_id": ...}}``: 400 (empty upload, bad
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

# no ``from __future__ import annotations``: FastAPI reads the endpoint annotations at run time
import functools
import json
import logging
import threading
import time
import uuid

import numpy as np
from dataclasses import dataclass, field

try:
    import anyio
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile, WebSocket
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    from serkit.core.errors import MissingDependencyError

    raise MissingDependencyError("fastapi", "serve", "serkit serve") from _exc

from serkit.core.cost import ENERGY_CONVENTION
from serkit.core.errors import AudioError
from serkit.deploy.bundles import card_headline

STATUS_OF_KIND = {"unreadable": 415, "too_long": 413, "invalid": 422, "missing": 400}


@dataclass
class ServeConfig:
    """``models``: name -> bundled name or ``.pt`` path (the first is the default).
    ``max_upload_mb``: larger uploads get 413 before decoding. ``max_audio_s``: longer audio
    gets 413 for ``/v1/predict`` (``/v1/timeline`` allows ``max_timeline_s``). ``workers``:
    concurrent inferences. ``threads``: torch threads per inference. ``max_queue``: inferences
    allowed to wait for a worker; beyond it 503 with ``Retry-After: retry_after_s``.
    ``request_timeout_s``: an inference that has not finished (waiting included) gets 504 and
    is cancelled at its next window (it keeps counting in the 503 bound until it has stopped).
    ``shutdown_grace_s``: how long in-flight requests may take to finish on shutdown; what is
    still running or waiting then gets 503 + ``Retry-After``. ``max_timeline_windows``: a
    timeline that would need more windows (duration / hop) is refused (413) before any work.
    ``max_streams``: WebSocket streams open at once (more are refused, close code 1013).
    ``stream_first_message_s`` / ``stream_idle_s``: a stream whose first message, or any later
    message, does not come within these seconds is closed (1008 / 1001)."""

    models: dict[str, str] = field(default_factory=lambda: {"default": "default"})
    max_upload_mb: float = 25.0
    max_audio_s: float = 60.0
    max_timeline_s: float = 3600.0
    workers: int = 1
    threads: int = 1
    max_queue: int = 16
    retry_after_s: int = 1
    request_timeout_s: float = 60.0
    shutdown_grace_s: float = 30.0
    max_timeline_windows: int = 4000
    max_streams: int = 8
    stream_first_message_s: float = 10.0
    stream_idle_s: float = 30.0


log = logging.getLogger("serkit.serve")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ApiError(Exception):
    """An answer with an HTTP ``status`` and a JSON body ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _err(req, status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    rid = getattr(req.state, "request_id", None)
    return JSONResponse(status_code=status, headers=headers,
                        content={"error": {"code": code, "message": message, "request_id": rid}})


def _install_error_handlers(app) -> None:
    """Every failure becomes a JSON error; the service keeps serving."""

    @app.exception_handler(ApiError)
    async def _api_error(req, exc: ApiError):
        return _err(req, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(req, exc: RequestValidationError):
        msgs = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors())
        return _err(req, 422, "invalid_request", msgs or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(req, exc: StarletteHTTPException):
        return _err(req, exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(req, exc: Exception):  # the client learns why
        return _err(req, 500, "internal_error", f"{type(exc).__name__}: {exc}"[:500])


class _Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can live in a process)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("serkit_requests", "HTTP requests by path and status", ["path", "status"],
                                registry=self.registry)
        self.latency = Histogram("serkit_request_seconds", "request latency, s", ["path"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.inflight = Gauge("serkit_inferences_in_flight", "inferences running in worker threads",
                              registry=self.registry)
        self.waiting = Gauge("serkit_inferences_waiting", "inferences waiting for a worker", registry=self.registry)
        self.streams = Gauge("serkit_streams_open", "WebSocket streams open", registry=self.registry)
        self.stream_rows = Counter("serkit_stream_rows", "rows sent on WebSocket streams", registry=self.registry)

    def text(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _install_observability(app, metrics: _Metrics, gate=None) -> None:
    """Request ids (``X-Request-ID``), one JSON log line per request, request metrics; while the
    service shuts down, new requests other than health checks get 503 + ``Retry-After``."""
    known = {"/", "/v1/stream", "/healthz", "/v1/models", "/v1/predict", "/v1/timeline", "/metrics", "/docs", "/openapi.json"}

    @app.middleware("http")
    async def _observe(request: Request, call_next):
        rid = (request.headers.get("x-request-id") or "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
        t0 = time.perf_counter()
        status = 500
        try:
            if gate is not None and gate.closing and request.url.path not in ("/healthz", "/metrics"):
                err = gate.shutting_down()
                response = _err(request, err.status, err.code, err.message, err.headers)
            else:
                response = await call_next(request)
            status = response.status_code
        finally:
            dt = time.perf_counter() - t0
            path = request.url.path if request.url.path in known else "other"
            metrics.requests.labels(path, str(status)).inc()
            metrics.latency.labels(path).observe(dt)
            log.info(json.dumps({"ts": round(time.time(), 3), "request_id": rid, "method": request.method,
                                 "path": request.url.path, "status": status, "ms": round(dt * 1000, 2),
                                 "model": request.query_params.get("model")}))
        response.headers["X-Request-ID"] = rid
        return response


async def _read_upload(request: Request, file: UploadFile, max_bytes: int, max_mb: float) -> bytes:
    """The upload's bytes (the body was already bounded by :class:`_BodyLimit`); 413 when the
    file part alone is larger than ``max_bytes``, 400 when empty."""
    chunks, size = [], 0
    while True:
        chunk = await file.read(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "upload_too_large", f"upload larger than {max_mb:g} MB")
        chunks.append(chunk)
    if size == 0:
        raise ApiError(400, "empty_upload", "the uploaded file is empty (0 bytes)")
    return b"".join(chunks)


class _BodyTooLarge(Exception):
    pass


class _BodyLimit:
    """ASGI layer that bounds every HTTP request body before the app parses it: a declared
    ``Content-Length`` over the limit is refused at once (nothing is read), and a body without
    one (chunked) is cut off as soon as it passes the limit. Both answer 413 JSON."""

    def __init__(self, app, max_bytes: int, max_mb: float):
        self.app, self.max_bytes, self.max_mb = app, max_bytes, max_mb

    async def _refuse(self, scope, send) -> None:
        rid = (scope.get("state") or {}).get("request_id")
        body = json.dumps({"error": {"code": "upload_too_large", "message": f"upload larger than {self.max_mb:g} MB",
                                     "request_id": rid}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(scope, send)
        seen, over, started = 0, False, False

        async def limited_receive():
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _BodyTooLarge()
            return msg

        async def guarded_send(msg):
            nonlocal started
            if over:  # whatever the app made of the cut body, the client gets 413
                return
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if over and not started:
            await self._refuse(scope, send)


class _Gate:
    """The bound on inference: at most ``workers`` run and ``max_queue`` wait; each piece of
    work counts until its thread has really stopped (a 504 cancels it at its next window, see
    :func:`serkit.deploy.runner.cancel_on`); on shutdown, what is still running or waiting is
    cancelled and answered 503 + ``Retry-After``."""

    def __init__(self, cfg: "ServeConfig", metrics: "_Metrics"):
        self.cfg = cfg
        self.limiter = anyio.CapacityLimiter(max(1, cfg.workers))
        self.pending = 0  # admitted and not yet finished (running + waiting + cancelled-but-running)
        self.running = 0
        self.streams = 0
        self.closing = False
        self.lock = threading.Lock()
        self.active: set = set()  # (CancelScope, Event) of work awaited now
        metrics.inflight.set_function(lambda: self.running)
        metrics.waiting.set_function(lambda: max(0, self.pending - self.running))

    def busy(self) -> dict:
        return {"pending": self.pending, "running": self.running, "streams": self.streams}

    def overloaded(self) -> ApiError:
        return ApiError(503, "overloaded", f"{self.pending} inferences in flight or waiting (limit "
                        f"{self.cfg.workers} + {self.cfg.max_queue} queued); retry later",
                        {"Retry-After": str(self.cfg.retry_after_s)})

    def shutting_down(self) -> ApiError:
        return ApiError(503, "shutting_down", "the service is shutting down; retry on another instance or later",
                        {"Retry-After": str(self.cfg.retry_after_s)})

    async def run(self, work, timeout: float | None = None):
        """``work()`` in a worker thread, under the bound (503), the deadline (504) and shutdown (503)."""
        from serkit.core.errors import Cancelled
        from serkit.deploy.runner import cancel_on

        if self.closing:
            raise self.shutting_down()
        with self.lock:
            if self.pending >= self.cfg.workers + self.cfg.max_queue:
                raise self.overloaded()
            self.pending += 1
        ev = threading.Event()
        token = {"started": False, "dropped": False}

        def body():
            with self.lock:
                if token["dropped"]:  # given up before it started: never run it
                    raise Cancelled("dropped before it started")
                token["started"] = True
                self.running += 1
            try:
                with cancel_on(ev):
                    return work()
            finally:
                with self.lock:
                    self.running -= 1
                    self.pending -= 1

        scope = anyio.CancelScope()
        entry = (scope, ev)
        self.active.add(entry)
        timed_out = False
        try:
            with scope:
                try:
                    with anyio.fail_after(timeout if timeout is not None else self.cfg.request_timeout_s):
                        return await anyio.to_thread.run_sync(body, limiter=self.limiter, abandon_on_cancel=True)
                except TimeoutError:
                    timed_out = True
        except Cancelled:
            raise (self.shutting_down() if self.closing else ApiError(
                504, "timeout", "inference was cancelled")) from None
        finally:
            self.active.discard(entry)
            ev.set()  # a thread still running stops at its next window
            with self.lock:
                if not token["started"]:
                    token["dropped"] = True
                    self.pending -= 1
        if timed_out:
            raise ApiError(504, "timeout", f"inference did not finish within {self.cfg.request_timeout_s:g} s")
        raise self.shutting_down()  # the scope was cancelled by drain()

    def drain(self) -> None:
        """Shutdown: refuse new work; cancel what is running or waiting (answered 503)."""
        self.closing = True
        for scope, ev in list(self.active):
            ev.set()
            scope.cancel()


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

    app = FastAPI(title="serkit", version=__version__, docs_url=None, redoc_url=None,
                  description="Speech emotion recognition: upload audio, get emotion probabilities.")
    _install_error_handlers(app)
    metrics = _Metrics()
    gate = _Gate(cfg, metrics)
    app.state.gate = gate
    app.add_middleware(_BodyLimit, max_bytes=int(cfg.max_upload_mb * 1024 * 1024) + 64 * 1024,
                       max_mb=cfg.max_upload_mb)
    _install_observability(app, metrics, gate)
    _add_info_routes(app, recs, metrics)
    _add_audio_routes(app, recs, cfg, gate)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        await _stream_session(ws, recs, next(iter(recs)), gate, metrics, cfg)

    return app


def _add_info_routes(app, recs: dict, metrics: "_Metrics") -> None:
    default = next(iter(recs))

    @app.get("/", summary="Web page", include_in_schema=False)
    async def page():
        from importlib.resources import files

        from fastapi.responses import HTMLResponse

        return HTMLResponse((files("serkit.deploy") / "web" / "index.html").read_text(encoding="utf-8"))

    @app.get("/docs", summary="API reference (offline)", include_in_schema=False)
    async def docs():
        from fastapi.responses import HTMLResponse

        return HTMLResponse(_docs_page(app.openapi()))

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics_endpoint():
        from fastapi.responses import Response

        body, ctype = metrics.text()
        return Response(body, media_type=ctype)

    @app.get("/healthz", summary="Liveness")
    async def healthz():
        return {"status": "ok", "models": sorted(recs), **app.state.gate.busy()}

    @app.get("/v1/models", summary="Loaded models")
    async def models():
        out = []
        for n, r in recs.items():
            c = r.cost(3.0)
            card = r.card or {}
            out.append({"name": n, "default": n == default, "model": r.model.name, "labels": r.labels,
                        "licence": card.get("licence"), "terms": card.get("terms"),
                        "training_corpora": (card.get("training_data") or {}).get("corpora")
                        if isinstance(card.get("training_data"), dict) else card.get("training_corpora"),
                        "headline": card_headline(card),
                        "sample_rate": r.sample_rate, "frontend": r.frontend.spec()["name"],
                        "params_trainable": c.params_trainable, "energy_head_mj_per_3s": c.energy_head_mj,
                        "energy_encoder_mj_per_3s": c.energy_encoder_mj, "energy_total_mj_per_3s": c.energy_total_mj,
                        "reads_text": bool(getattr(r, "reads_text", False)),
                        "energy_convention": ENERGY_CONVENTION,
                        "card": r.card})
        return {"models": out}


def _docs_page(schema: dict) -> str:
    """The API reference as one self-contained HTML page (no script or style from a CDN, so it
    works offline): every path, method, summary and parameter of the OpenAPI schema."""
    import html

    rows = []
    for path, ops in sorted(schema.get("paths", {}).items()):
        for method, op in ops.items():
            params = ", ".join(f"{p['name']} ({p.get('in')})" for p in op.get("parameters", []))
            body = "multipart: " + ", ".join(
                (op.get("requestBody", {}).get("content", {}).get("multipart/form-data", {}).get("schema", {})
                 .get("properties", {}) or {}).keys()) if op.get("requestBody") else ""
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(params)}</td>"
                        f"<td>{html.escape(body)}</td></tr>")
    rows.append("<tr><td><code>WS</code></td><td><code>/v1/stream</code></td><td>Streaming: first message JSON "
                "{sample_rate, format, window, hop, model}, then binary samples, then {\"end\": true}</td>"
                "<td></td><td></td></tr>")
    info = schema.get("info", {})
    return ("<!doctype html><html><head><meta charset='utf-8'><title>serkit API</title><style>body{font:15px "
            "system-ui,sans-serif;margin:24px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}"
            "</style></head><body>"
            f"<h1>{html.escape(info.get('title', 'serkit'))} {html.escape(str(info.get('version', '')))}</h1>"
            f"<p>{html.escape(info.get('description', ''))} The machine-readable schema: "
            "<a href='/openapi.json'>/openapi.json</a>. Errors are JSON <code>{\"error\": {code, message, "
            "request_id}}</code>.</p><table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th>"
            "<th>body</th></tr>" + "".join(rows) + "</table></body></html>")


def _add_audio_routes(app, recs: dict, cfg: ServeConfig, gate: _Gate) -> None:
    from serkit.audio.io import AudioConfig, load_audio_bytes

    default = next(iter(recs))
    max_bytes = int(cfg.max_upload_mb * 1024 * 1024)

    def pick(model: str | None):
        name = model or default
        if name not in recs:
            raise ApiError(404, "unknown_model", f"model {name!r} is not loaded; loaded: {sorted(recs)}")
        return name, recs[name]

    def decode(data: bytes, name: str, rec, max_s: float):
        acfg = AudioConfig(sample_rate=rec.target_rate, max_duration_s=max_s)
        return load_audio_bytes(data, acfg, source=name, return_rate=True)

    def audio_error(exc: AudioError) -> ApiError:
        return ApiError(STATUS_OF_KIND.get(exc.kind, 422), f"audio_{exc.kind}", str(exc))

    @app.post("/v1/predict", summary="Emotion of one recording (long ones: speech-weighted windows)")
    async def predict(request: Request, file: UploadFile = File(..., description="audio file (wav, flac, ogg, mp3)"),
                      model: str | None = Query(None, description="model name (default: the first loaded)"),
                      text: str | None = Form(None, description="the words spoken (multimodal models such as "
                                              "eavs-tf; omit for audio alone)")):
        t0 = time.perf_counter()
        name, rec = pick(model)
        if text is not None and not getattr(rec, "reads_text", False):
            raise ApiError(422, "text_not_read", f"model {name!r} does not read transcripts (a multimodal model such "
                           "as eavs-tf does); send the audio alone")
        data = await _read_upload(request, file, max_bytes, cfg.max_upload_mb)

        def work():
            t1 = time.perf_counter()
            x, rate = decode(data, file.filename or "<upload>", rec, cfg.max_audio_s)
            t2 = time.perf_counter()
            p = rec.classify([(x, rate, file.filename or "<upload>")], t2, None if text is None else [text])[0]
            return p, (t2 - t1), time.perf_counter() - t2

        try:
            p, dec_s, inf_s = await gate.run(work)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {"model": name, "label": p.label, "state": p.state, "top": p.top, "confidence": round(p.confidence, 6),
                "speech_s": p.speech_s, "windows": p.windows, "probabilities": p.probabilities,
                "dimensions": p.dimensions, "duration": round(p.duration, 3),
                "timing_ms": {"decode": round(dec_s * 1000, 2), "inference": round(inf_s * 1000, 2),
                              "total": round((time.perf_counter() - t0) * 1000, 2)}}

    @app.post("/v1/timeline", summary="Emotion over time for long audio")
    async def timeline(request: Request, file: UploadFile = File(...),
                       window: float = Query(2.0, gt=0.2, le=30.0, description="window length, s"),
                       hop: float = Query(1.0, gt=0.05, le=30.0, description="hop, s"),
                       vad: str = Query("energy", pattern="^(energy|none)$"),
                       model: str | None = Query(None)):
        t0 = time.perf_counter()
        name, rec = pick(model)
        data = await _read_upload(request, file, max_bytes, cfg.max_upload_mb)
        max_s = min(cfg.max_timeline_s, cfg.max_timeline_windows * hop)

        def work():
            try:
                x, rate = decode(data, file.filename or "<upload>", rec, max_s)
            except AudioError as exc:
                if exc.kind == "too_long" and max_s < cfg.max_timeline_s:
                    raise AudioError(exc.source, f"{exc.reason}: more than {cfg.max_timeline_windows} windows at hop "
                                     f"{hop:g} s; use a longer hop", "too_long") from None
                raise
            return rec.timeline(x, sr=rate, window=window, hop=hop, vad=vad), x.size / rate

        try:
            rows, dur = await gate.run(work)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {"model": name, "duration": round(dur, 3), "window": window, "hop": hop, "vad": vad,
                "rows": [r.to_dict() for r in rows], "timing_ms": {"total": round((time.perf_counter() - t0) * 1000, 2)}}


def _number(hello: dict, key: str, default, lo: float, hi: float, integer: bool = False):
    """A finite number in ``[lo, hi]`` from the stream's first message (a ``ValueError`` says why)."""
    import math

    v = hello.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{key} must be a finite number, got {v!r}")
    if integer and int(v) != v:
        raise ValueError(f"{key} must be a whole number, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{key} must be in [{lo:g}, {hi:g}], got {v!r}")
    return int(v) if integer else float(v)


async def _stream_session(ws, recs: dict, default: str, gate: _Gate, metrics: "_Metrics", cfg: ServeConfig) -> None:
    """One WebSocket stream (see the module docstring for the protocol). Its first message is
    validated (finite numbers in range), it counts toward ``max_streams``, every feed runs
    through the inference gate, and a silent client is timed out."""
    from starlette.websockets import WebSocketDisconnect

    from serkit.core.errors import ConfigError
    from serkit.deploy.stream import MAX_RATE, MAX_WINDOW_S, MIN_HOP_S, MIN_RATE

    await ws.accept()

    async def fail(code: str, message: str, close_code: int):
        await ws.send_json({"error": {"code": code, "message": message}})
        await ws.close(close_code)

    if gate.closing:
        return await fail("shutting_down", "the service is shutting down", 1001)
    if gate.streams >= cfg.max_streams:
        return await fail("overloaded", f"{gate.streams} streams open (limit {cfg.max_streams}); retry later", 1013)
    gate.streams += 1
    metrics.streams.inc()
    try:
        try:
            with anyio.fail_after(cfg.stream_first_message_s):
                first = await ws.receive()
        except TimeoutError:
            return await fail("timeout", f"no first message within {cfg.stream_first_message_s:g} s", 1008)
        if first["type"] == "websocket.disconnect":
            return
        try:
            hello = json.loads(first.get("text") or "")
            if not isinstance(hello, dict):
                raise ValueError("not an object")
        except ValueError:
            return await fail("bad_start", 'the first message must be JSON text: {"sample_rate": 16000, '
                              '"format": "pcm16"}', 1008)
        name = hello.get("model") or default
        fmt = hello.get("format", "pcm16")
        if not isinstance(name, str) or name not in recs:
            return await fail("unknown_model", f"model {name!r} is not loaded; loaded: {sorted(recs)}", 1008)
        if fmt not in ("pcm16", "float32"):
            return await fail("bad_format", f"format must be pcm16 or float32, got {fmt!r}", 1008)
        try:
            rate = _number(hello, "sample_rate", None, MIN_RATE, MAX_RATE, integer=True)
            window = _number(hello, "window", 2.0, 0.1, MAX_WINDOW_S)
            hop = _number(hello, "hop", 0.5, MIN_HOP_S, MAX_WINDOW_S)
            st = recs[name].stream(rate, window, hop)
        except (ConfigError, TypeError, ValueError) as exc:
            return await fail("bad_start", str(exc), 1008)
        width, dtype = (2, "<i2") if fmt == "pcm16" else (4, "<f4")
        carry, sent = b"", 0
        while True:
            try:
                with anyio.fail_after(cfg.stream_idle_s):
                    msg = await ws.receive()
            except TimeoutError:
                return await fail("timeout", f"no message for {cfg.stream_idle_s:g} s", 1001)
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("bytes") is not None:
                data = carry + msg["bytes"]
                cut = len(data) - len(data) % width
                carry, data = data[cut:], data[:cut]
                if not data:
                    continue
                chunk = np.frombuffer(data, dtype)
                try:
                    rows = await gate.run(functools.partial(st.feed, chunk))
                except ConfigError as exc:
                    return await fail("bad_samples", str(exc), 1007)
                except ApiError as exc:
                    return await fail(exc.code, exc.message, 1013)
            else:
                try:
                    end = json.loads(msg.get("text") or "").get("end")
                except (ValueError, AttributeError):
                    end = None
                if not end:
                    await ws.send_json({"error": {"code": "bad_message", "message": 'send binary samples, or '
                                                  '{"end": true} to finish'}})
                    continue
                try:
                    rows = await gate.run(st.close)
                except ApiError as exc:
                    return await fail(exc.code, exc.message, 1013)
            for r in rows:
                await ws.send_json(r.to_dict())
            sent += len(rows)
            metrics.stream_rows.inc(len(rows))
            if msg.get("bytes") is None:
                await ws.send_json({"done": True, "rows": sent})
                await ws.close(1000)
                return
    except WebSocketDisconnect:
        return
    finally:
        gate.streams -= 1
        metrics.streams.dec()


def run_server(cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000, echo=print) -> None:
    """``serkit serve``: load the models, print the address, models and limits, serve until
    SIGTERM / SIGINT. On the signal, new requests get 503; after ``shutdown_grace_s - 1`` s what
    is still running or waiting is cancelled and answered 503 + ``Retry-After`` (not dropped)."""
    import asyncio

    import uvicorn

    app = create_app(cfg)
    gate: _Gate = app.state.gate
    echo(f"serkit serve: http://{host}:{port}/ (API reference /docs), models "
         + ", ".join(f"{n}={p}" for n, p in cfg.models.items())
         + f"; limits: upload {cfg.max_upload_mb:g} MB, audio {cfg.max_audio_s:g} s (timeline {cfg.max_timeline_s:g} s, "
           f"{cfg.max_timeline_windows} windows), {cfg.workers} worker(s) + {cfg.max_queue} queued, "
           f"{cfg.max_streams} streams, timeout {cfg.request_timeout_s:g} s, shutdown grace {cfg.shutdown_grace_s:g} s")

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

    _Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                           timeout_graceful_shutdown=int(cfg.shutdown_grace_s) or None)).run()
