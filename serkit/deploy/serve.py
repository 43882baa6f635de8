"""``serkit serve``: emotion recognition over HTTP (FastAPI + uvicorn).

Endpoints (OpenAPI docs at ``/docs``):

- ``GET  /healthz``       liveness: ``{"status": "ok"}``
- ``GET  /v1/models``     the loaded models: labels, sample rate, frontend, cost
- ``POST /v1/predict``    multipart field ``file`` (any soundfile format) -> label (an emotion,
  ``uncertain`` or ``no_speech``), state, top class, confidence, seconds of speech found,
  probabilities, duration and timing (decode / inference / total, ms)
- ``POST /v1/timeline``   same upload + ``window``, ``hop``, ``vad`` -> rows (start, end, label,
  probabilities)

Errors are JSON ``{"error": {"code": ..., "message": ...}}``: 400 (empty upload, bad
parameters), 413 (upload or audio too long), 415 (not decodable audio), 422 (decodable but
unusable: NaN/inf, too short; or a missing field), 404 (unknown model). Models load once at
start-up; inference runs in worker threads (``workers`` at a time), never on the event loop, so
the service keeps answering health checks while it computes.
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoint annotations at run time
import time

import numpy as np
from dataclasses import dataclass, field

try:
    import anyio
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    from serkit.core.errors import MissingDependencyError

    raise MissingDependencyError("fastapi", "serve", "serkit serve") from _exc

from serkit.core.errors import AudioError

STATUS_OF_KIND = {"unreadable": 415, "too_long": 413, "invalid": 422, "missing": 400}


@dataclass
class ServeConfig:
    """``models``: name -> bundled name or ``.pt`` path (the first is the default).
    ``max_upload_mb``: larger uploads get 413 before decoding. ``max_audio_s``: longer audio
    gets 413 for ``/v1/predict`` (``/v1/timeline`` allows ``max_timeline_s``). ``workers``:
    concurrent inferences. ``threads``: torch threads per inference."""

    models: dict[str, str] = field(default_factory=lambda: {"default": "default"})
    max_upload_mb: float = 25.0
    max_audio_s: float = 60.0
    max_timeline_s: float = 3600.0
    workers: int = 1
    threads: int = 1


class ApiError(Exception):
    """An answer with an HTTP ``status`` and a JSON body ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def _install_error_handlers(app) -> None:
    """Every failure becomes a JSON error; the service keeps serving."""

    @app.exception_handler(ApiError)
    async def _api_error(_req, exc: ApiError):
        return _err(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req, exc: RequestValidationError):
        msgs = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors())
        return _err(422, "invalid_request", msgs or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req, exc: StarletteHTTPException):
        return _err(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_req, exc: Exception):  # the client learns why
        return _err(500, "internal_error", f"{type(exc).__name__}: {exc}"[:500])


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

    @app.get("/healthz", summary="Liveness")
    async def healthz():
        return {"status": "ok", "models": sorted(recs)}

    @app.get("/v1/models", summary="Loaded models")
    async def models():
        out = []
        for n, r in recs.items():
            c = r.cost(3.0)
            out.append({"name": n, "default": n == default, "model": r.model.name, "labels": r.labels,
                        "sample_rate": r.sample_rate, "frontend": r.frontend.spec()["name"],
                        "params_trainable": c.params_trainable, "energy_head_mj_per_3s": c.energy_head_mj,
                        "energy_encoder_mj_per_3s": c.energy_encoder_mj, "reads_text": bool(getattr(r, "reads_text", False)),
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
            p, dec_s, inf_s = await anyio.to_thread.run_sync(work, limiter=limiter)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {"model": name, "label": p.label, "state": p.state, "top": p.top, "confidence": round(p.confidence, 6),
                "speech_s": p.speech_s, "probabilities": p.probabilities, "duration": round(p.duration, 3),
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
        data = await read_upload(request, file)

        def work():
            x, rate = decode(data, file.filename or "<upload>", rec, cfg.max_timeline_s)
            return rec.timeline(x, sr=rate, window=window, hop=hop, vad=vad), x.size / rate

        try:
            rows, dur = await anyio.to_thread.run_sync(work, limiter=limiter)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {"model": name, "duration": round(dur, 3), "window": window, "hop": hop, "vad": vad,
                "rows": [r.to_dict() for r in rows], "timing_ms": {"total": round((time.perf_counter() - t0) * 1000, 2)}}

    return app
