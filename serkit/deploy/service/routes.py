"""The HTTP routes: the page, the offline API reference, health, metrics, models, predict,
timeline."""

# no ``from __future__ import annotations``: FastAPI reads endpoint annotations at run time
import time

from fastapi import File, Form, Query, Request, UploadFile

from serkit.core.cost import ENERGY_CONVENTION
from serkit.core.errors import AudioError, ConfigError
from serkit.deploy.bundles import card_headline
from serkit.deploy.service.config import STATUS_OF_KIND, ServeConfig
from serkit.deploy.service.errors import ApiError
from serkit.deploy.service.limits import Gate, read_upload
from serkit.deploy.service.observe import Metrics


def add_info_routes(app, recs: dict, metrics: "Metrics") -> None:
    default = next(iter(recs))

    @app.get("/", summary="Web page", include_in_schema=False)
    async def page():
        from importlib.resources import files

        from fastapi.responses import HTMLResponse

        return HTMLResponse(
            (files("serkit.deploy") / "web" / "index.html").read_text(encoding="utf-8")
        )

    @app.get("/docs", summary="API reference (offline)", include_in_schema=False)
    async def docs():
        from fastapi.responses import HTMLResponse

        return HTMLResponse(docs_page(app.openapi()))

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
            out.append(
                {
                    "name": n,
                    "default": n == default,
                    "model": r.model.name,
                    "labels": r.labels,
                    "licence": card.get("licence"),
                    "terms": card.get("terms"),
                    "training_corpora": (card.get("training_data") or {}).get("corpora")
                    if isinstance(card.get("training_data"), dict)
                    else card.get("training_corpora"),
                    "headline": card_headline(card),
                    "sample_rate": r.sample_rate,
                    "frontend": r.frontend.spec()["name"],
                    "params_trainable": c.params_trainable,
                    "energy_head_mj_per_3s": c.energy_head_mj,
                    "energy_encoder_mj_per_3s": c.energy_encoder_mj,
                    "energy_speech_check_mj_per_3s": c.energy_gate_mj,
                    "energy_total_mj_per_3s": c.energy_total_mj,
                    "reads_text": bool(getattr(r, "reads_text", False)),
                    "energy_convention": ENERGY_CONVENTION,
                    "card": r.card,
                }
            )
        return {"models": out}


def docs_page(schema: dict) -> str:
    """The API reference as one self-contained HTML page (no script or style from a CDN, so it
    works offline): every path, method, summary and parameter of the OpenAPI schema."""
    import html

    rows = []
    for path, ops in sorted(schema.get("paths", {}).items()):
        for method, op in ops.items():
            params = ", ".join(f"{p['name']} ({p.get('in')})" for p in op.get("parameters", []))
            body = (
                "multipart: "
                + ", ".join(
                    (
                        op.get("requestBody", {})
                        .get("content", {})
                        .get("multipart/form-data", {})
                        .get("schema", {})
                        .get("properties", {})
                        or {}
                    ).keys()
                )
                if op.get("requestBody")
                else ""
            )
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(params)}</td>"
                f"<td>{html.escape(body)}</td></tr>"
            )
    rows.append(
        "<tr><td><code>WS</code></td><td><code>/v1/stream</code></td><td>Streaming: first message "
        "JSON "
        '{sample_rate, format, window, hop, model}, then binary samples, then {"end": true}</td>'
        "<td></td><td></td></tr>"
    )
    info = schema.get("info", {})
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>serkit "
        "API</title><style>body{font:15px "
        "system-ui,sans-serif;margin:24px}td,th{border-bottom:1px solid #ddd;padding:4px "
        "8px;text-align:left}"
        "</style></head><body>"
        f"<h1>{html.escape(info.get('title', 'serkit'))} "
        f"{html.escape(str(info.get('version', '')))}</h1>"
        f"<p>{html.escape(info.get('description', ''))} The machine-readable schema: "
        "<a href='/openapi.json'>/openapi.json</a>. Errors are JSON <code>{\"error\": {code, "
        "message, "
        "request_id}}</code>.</p><table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th>"
        "<th>body</th></tr>" + "".join(rows) + "</table></body></html>"
    )


def add_audio_routes(app, recs: dict, cfg: ServeConfig, gate: Gate) -> None:
    from serkit.audio.io import AudioConfig, load_audio_bytes
    from serkit.deploy.service.clients import ClientAdaptations

    if cfg.adapt not in ("none", "online"):
        raise ConfigError(f"adapt must be 'none' or 'online', got {cfg.adapt!r}")
    clients = ClientAdaptations(cfg.max_clients) if cfg.adapt == "online" else None
    if clients is not None:  # a model that cannot adapt refuses now, not on a user's request
        for n, r in recs.items():
            if not getattr(r, "reads_text", False):
                clients.check(n, r)
    app.state.clients = clients

    default = next(iter(recs))
    max_bytes = int(cfg.max_upload_mb * 1024 * 1024)

    def pick(model: str | None):
        name = model or default
        if name not in recs:
            raise ApiError(
                404, "unknown_model", f"model {name!r} is not loaded; loaded: {sorted(recs)}"
            )
        return name, recs[name]

    def decode(data: bytes, name: str, rec, max_s: float):
        acfg = AudioConfig(sample_rate=rec.target_rate, max_duration_s=max_s)
        return load_audio_bytes(data, acfg, source=name, return_rate=True)

    def audio_error(exc: AudioError) -> ApiError:
        return ApiError(STATUS_OF_KIND.get(exc.kind, 422), f"audio_{exc.kind}", str(exc))

    @app.post(
        "/v1/predict", summary="Emotion of one recording (long ones: speech-weighted windows)"
    )
    async def predict(
        request: Request,
        file: UploadFile = File(..., description="audio file (wav, flac, ogg, mp3)"),
        model: str | None = Query(None, description="model name (default: the first loaded)"),
        text: str | None = Form(
            None,
            description="the words spoken (multimodal models such as "
            "eavs-tf; omit for audio alone)",
        ),
    ):
        t0 = time.perf_counter()
        name, rec = pick(model)
        client = request.headers.get("x-client-id") if clients is not None else None
        lock = None
        if client is not None and not getattr(rec, "reads_text", False):
            rec, lock = clients.get(name, rec, client)
        if text is not None and not getattr(rec, "reads_text", False):
            raise ApiError(
                422,
                "text_not_read",
                f"model {name!r} does not read transcripts (a multimodal model such "
                "as eavs-tf does); send the audio alone",
            )
        data = await read_upload(request, file, max_bytes, cfg.max_upload_mb)

        def work():
            t1 = time.perf_counter()
            x, rate = decode(data, file.filename or "<upload>", rec, cfg.max_audio_s)
            t2 = time.perf_counter()
            sig = [(x, rate, file.filename or "<upload>")]
            if lock is None:
                p = rec.classify(sig, t2, None if text is None else [text])[0]
            else:
                with lock:  # one client's answers and updates in order
                    p = rec.classify(sig, t2)[0]
            return p, (t2 - t1), time.perf_counter() - t2

        try:
            p, dec_s, inf_s = await gate.run(work)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {
            "model": name,
            "label": p.label,
            "state": p.state,
            "top": p.top,
            "confidence": round(p.confidence, 6),
            "speech_s": p.speech_s,
            "windows": p.windows,
            "probabilities": p.probabilities,
            "dimensions": p.dimensions,
            "duration": round(p.duration, 3),
            **(
                {}
                if lock is None
                else {
                    "adaptation": {
                        "client": client,
                        "clips": rec.online.clips,
                        "speech_s": round(rec.online.speech_s, 2),
                        "weight": rec.online.weight,
                    }
                }
            ),
            "timing_ms": {
                "decode": round(dec_s * 1000, 2),
                "inference": round(inf_s * 1000, 2),
                "total": round((time.perf_counter() - t0) * 1000, 2),
            },
        }

    @app.post("/v1/timeline", summary="Emotion over time for long audio")
    async def timeline(
        request: Request,
        file: UploadFile = File(...),
        window: float = Query(2.0, gt=0.2, le=30.0, description="window length, s"),
        hop: float = Query(1.0, gt=0.05, le=30.0, description="hop, s"),
        vad: str = Query("energy", pattern="^(energy|none)$"),
        model: str | None = Query(None),
    ):
        t0 = time.perf_counter()
        name, rec = pick(model)
        data = await read_upload(request, file, max_bytes, cfg.max_upload_mb)
        max_s = min(cfg.max_timeline_s, cfg.max_timeline_windows * hop)

        def work():
            try:
                x, rate = decode(data, file.filename or "<upload>", rec, max_s)
            except AudioError as exc:
                if exc.kind == "too_long" and max_s < cfg.max_timeline_s:
                    raise AudioError(
                        exc.source,
                        f"{exc.reason}: more than {cfg.max_timeline_windows} windows at hop "
                        f"{hop:g} s; use a longer hop",
                        "too_long",
                    ) from None
                raise
            return rec.timeline(x, sr=rate, window=window, hop=hop, vad=vad), x.size / rate

        try:
            rows, dur = await gate.run(work)
        except AudioError as exc:
            raise audio_error(exc) from None
        return {
            "model": name,
            "duration": round(dur, 3),
            "window": window,
            "hop": hop,
            "vad": vad,
            "rows": [r.to_dict() for r in rows],
            "timing_ms": {"total": round((time.perf_counter() - t0) * 1000, 2)},
        }
