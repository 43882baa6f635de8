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

STATUS_OF_KIND = {"unreadable": 415, "too_long": 413, "invalid": 422, "missing": 400}


@dataclass
class ServeConfig:
    """``models``: name -> bundled name or ``.pt`` path (the first is the default).
    ``max_upload_mb``: larger uploads get 413 before decoding. ``max_audio_s``: longer audio
    gets 413 for ``/v1/predict`` (``/v1/timeline`` allows ``max_timeline_s``). ``workers``:
    concurrent inferences. ``threads``: torch threads per inference. ``max_queue``: inferences
    allowed to wait for a worker; beyond it 503 with ``Retry-After: retry_after_s``.
    ``request_timeout_s``: an inference that has not finished (waiting included) gets 504.
    ``shutdown_grace_s``: how long in-flight requests may take to finish on shutdown."""

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


def _install_observability(app, metrics: _Metrics) -> None:
    """Request ids (``X-Request-ID``), one JSON log line per request, request metrics."""
    known = {"/", "/v1/stream", "/healthz", "/v1/models", "/v1/predict", "/v1/timeline", "/metrics", "/docs", "/openapi.json"}

    @app.middleware("http")
    async def _observe(request: Request, call_next):
        rid = (request.headers.get("x-request-id") or "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
        t0 = time.perf_counter()
        status = 500
        try:
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
    """The upload's bytes, refused early when larger than ``max_bytes`` (413) or empty (400)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise ApiError(413, "upload_too_large", f"upload larger than {max_mb:g} MB")
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


def create_app(cfg: ServeConfig | None = None, recognizers: dict | None = None):
    """The FastAPI app. ``recognizers`` (name -> Recognizer) skips loading (tests). (The
    endpoints are closures over the loaded models and limits, hence one function.)"""
    import torch

    from serkit import __version__
    from serkit.audio.io import AudioConfig, load_audio_bytes
    from serkit.deploy.recognizer import load

    cfg = cfg or ServeConfig()
    torch.set_num_threads(max(1, cfg.threads))
    recs = recognizers if recognizers is not None else {n: load(p) for n, p in cfg.models.items()}
    default = next(iter(recs))
    for r in recs.values():  # first inference pays one-off set-up costs: not on a user's request
        r.predict(np.zeros(16000, np.float32) + 1e-3, sr=16000)
    limiter = anyio.CapacityLimiter(max(1, cfg.workers))
    max_bytes = int(cfg.max_upload_mb * 1024 * 1024)

    app = FastAPI(title="serkit", version=__version__,
                  description="Speech emotion recognition: upload audio, get emotion probabilities.")
    _install_error_handlers(app)
    metrics = _Metrics()
    _install_observability(app, metrics)
    state = {"pending": 0, "running": 0}  # pending: in flight + waiting (counted on the event loop)
    lock = threading.Lock()
    metrics.inflight.set_function(lambda: state["running"])
    metrics.waiting.set_function(lambda: max(0, state["pending"] - state["running"]))

    async def infer(work):
        """Run ``work`` in a worker thread: 503 beyond the queue bound, 504 past the deadline
        (a timed-out inference is abandoned: its thread finishes and frees its worker)."""
        if state["pending"] >= cfg.workers + cfg.max_queue:
            raise ApiError(503, "overloaded", f"{state['pending']} inferences in flight or waiting (limit "
                           f"{cfg.workers} + {cfg.max_queue} queued); retry later",
                           {"Retry-After": str(cfg.retry_after_s)})
        state["pending"] += 1

        def timed():
            with lock:
                state["running"] += 1
            try:
                return work()
            finally:
                with lock:
                    state["running"] -= 1

        try:
            with anyio.fail_after(cfg.request_timeout_s):
                return await anyio.to_thread.run_sync(timed, limiter=limiter, abandon_on_cancel=True)
        except TimeoutError:
            raise ApiError(504, "timeout", f"inference did not finish within {cfg.request_timeout_s:g} s") from None
        finally:
            state["pending"] -= 1

    def pick(model: str | None):
        name = model or default
        if name not in recs:
            raise ApiError(404, "unknown_model", f"model {name!r} is not loaded; loaded: {sorted(recs)}")
        return name, recs[name]

    async def read_upload(request: Request, file: UploadFile) -> bytes:
        return await _read_upload(request, file, max_bytes, cfg.max_upload_mb)

    def decode(data: bytes, name: str, rec, max_s: float):
        acfg = AudioConfig(sample_rate=rec.target_rate, max_duration_s=max_s)
        return load_audio_bytes(data, acfg, source=name, return_rate=True)

    def audio_error(exc: AudioError) -> ApiError:
        return ApiError(STATUS_OF_KIND.get(exc.kind, 422), f"audio_{exc.kind}", str(exc))

    @app.get("/", summary="Web page", include_in_schema=False)
    async def page():
        from importlib.resources import files

        from fastapi.responses import HTMLResponse

        return HTMLResponse((files("serkit.deploy") / "web" / "index.html").read_text(encoding="utf-8"))

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics_endpoint():
        from fastapi.responses import Response

        body, ctype = metrics.text()
        return Response(body, media_type=ctype)

    @app.get("/healthz", summary="Liveness")
    async def healthz():
        return {"status": "ok", "models": sorted(recs)}

    @app.get("/v1/models", summary="Loaded models")
    async def models():
        out = []
        for n, r in recs.items():
            c = r.cost(3.0)
            card = r.card or {}
            out.append({"name": n, "default": n == default, "model": r.model.name, "labels": r.labels,
                        "licence": card.get("licence"), "training_corpora": (card.get("training_data") or {}).get("corpora"),
                        "sample_rate": r.sample_rate, "frontend": r.frontend.spec()["name"],
                        "params_trainable": c.params_trainable, "energy_head_mj_per_3s": c.energy_head_mj,
                        "energy_encoder_mj_per_3s": c.energy_encoder_mj, "energy_total_mj_per_3s": c.energy_total_mj,
                        "reads_text": bool(getattr(r, "reads_text", False)),
                        "energy_convention": ENERGY_CONVENTION,
                        "card": r.card})
        return {"models": out}

    @app.post("/v1/predict", summary="Emotion of one clip")
    async def predict(request: Request, file: UploadFile = File(..., description="audio file (wav, flac, ogg, mp3)"),
                      model: str | None = Query(None, description="model name (default: the first loaded)"),
                      text: str | None = Form(None, description="the words spoken (multimodal models such as "
                                              "eavs-tf; omit for audio alone)")):
        t0 = time.perf_counter()
        name, rec = pick(model)
        if text is not None and not getattr(rec, "reads_text", False):
            raise ApiError(422, "text_not_read", f"model {name!r} does not read transcripts (a multimodal model such "
                           "as eavs-tf does); send the audio alone")
        data = await read_upload(request, file)

        def work():
            t1 = time.perf_counter()
            x, rate = decode(data, file.filename or "<upload>", rec, cfg.max_audio_s)
            t2 = time.perf_counter()
            p = rec.classify([(x, rate, file.filename or "<upload>")], t2, None if text is None else [text])[0]
            return p, (t2 - t1), time.perf_counter() - t2

        try:
            p, dec_s, inf_s = await infer(work)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {"model": name, "label": p.label, "state": p.state, "top": p.top, "confidence": round(p.confidence, 6),
                "speech_s": p.speech_s, "probabilities": p.probabilities, "dimensions": p.dimensions,
                "duration": round(p.duration, 3), "timing_ms": {"decode": round(dec_s * 1000, 2), "inference": round(inf_s * 1000, 2),
                              "total": round((time.perf_counter() - t0) * 1000, 2)}}

    @app.post("/v1/timeline", summary="Emotion over time for long audio")
    async def timeline(request: Request, file: UploadFile = File(...),
                       window: float = Query(2.0, gt=0.2, le=30.0, description="window length, s"),
                       hop: float = Query(1.0, gt=0.05, le=30.0, description="hop, s"),
                       vad: str = Query("energy", pattern="^(energy|none)$"),
                       model: str | None = Query(None)):
        t0 = time.perf_counter()
        name, rec = pick(model)
        data = await read_upload(request, file)

        def work():
            x, rate = decode(data, file.filename or "<upload>", rec, cfg.max_timeline_s)
            return rec.timeline(x, sr=rate, window=window, hop=hop, vad=vad), x.size / rate

        try:
            rows, dur = await infer(work)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {"model": name, "duration": round(dur, 3), "window": window, "hop": hop, "vad": vad,
                "rows": [r.to_dict() for r in rows], "timing_ms": {"total": round((time.perf_counter() - t0) * 1000, 2)}}

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        await _stream_session(ws, recs, default, limiter, metrics)

    return app


async def _stream_session(ws, recs: dict, default: str, limiter, metrics: "_Metrics") -> None:
    """One WebSocket stream (see the module docstring for the protocol)."""
    from starlette.websockets import WebSocketDisconnect

    from serkit.core.errors import ConfigError

    await ws.accept()
    metrics.streams.inc()

    async def fail(code: str, message: str, close_code: int):
        await ws.send_json({"error": {"code": code, "message": message}})
        await ws.close(close_code)

    try:
        first = await ws.receive()
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
        if name not in recs:
            return await fail("unknown_model", f"model {name!r} is not loaded; loaded: {sorted(recs)}", 1008)
        if fmt not in ("pcm16", "float32"):
            return await fail("bad_format", f"format must be pcm16 or float32, got {fmt!r}", 1008)
        try:
            st = recs[name].stream(hello.get("sample_rate"), float(hello.get("window", 2.0)),
                                   float(hello.get("hop", 0.5)))
        except (ConfigError, TypeError, ValueError) as exc:
            return await fail("bad_start", str(exc), 1008)
        width, dtype = (2, "<i2") if fmt == "pcm16" else (4, "<f4")
        carry, sent = b"", 0
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("bytes") is not None:
                data = carry + msg["bytes"]
                cut = len(data) - len(data) % width
                carry, data = data[cut:], data[:cut]
                if not data:
                    continue
                try:
                    rows = await anyio.to_thread.run_sync(st.feed, np.frombuffer(data, dtype), limiter=limiter)
                except ConfigError as exc:
                    return await fail("bad_samples", str(exc), 1007)
            else:
                try:
                    end = json.loads(msg.get("text") or "").get("end")
                except (ValueError, AttributeError):
                    end = None
                if not end:
                    await ws.send_json({"error": {"code": "bad_message", "message": 'send binary samples, or '
                                                  '{"end": true} to finish'}})
                    continue
                rows = await anyio.to_thread.run_sync(st.close, limiter=limiter)
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
        metrics.streams.dec()
