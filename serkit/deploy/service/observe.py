"""Request ids, one JSON log line per request, Prometheus metrics; 503 for new requests while
closing."""

# no ``from __future__ import annotations``: FastAPI reads endpoint annotations at run time
import json
import logging
import time
import uuid

from fastapi import Request

from serkit.deploy.service.errors import error_response

log = logging.getLogger("serkit.serve")


def log_requests_to_stderr() -> None:
    """One JSON line per request on stderr (``serkit serve``; idempotent)."""
    import sys

    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can live in a process)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "serkit_requests",
            "HTTP requests by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "serkit_request_seconds",
            "request latency, s",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inflight = Gauge(
            "serkit_inferences_in_flight",
            "inferences running in worker threads",
            registry=self.registry,
        )
        self.waiting = Gauge(
            "serkit_inferences_waiting", "inferences waiting for a worker", registry=self.registry
        )
        self.streams = Gauge(
            "serkit_streams_open", "WebSocket streams open", registry=self.registry
        )
        self.stream_rows = Counter(
            "serkit_stream_rows", "rows sent on WebSocket streams", registry=self.registry
        )

    def text(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def install_observability(app, metrics: Metrics, gate=None) -> None:
    """Request ids (``X-Request-ID``), one JSON log line per request, request metrics; while the
    service shuts down, new requests other than health checks get 503 + ``Retry-After``."""
    known = {
        "/",
        "/v1/stream",
        "/healthz",
        "/v1/models",
        "/v1/predict",
        "/v1/timeline",
        "/metrics",
        "/docs",
        "/openapi.json",
    }

    @app.middleware("http")
    async def _observe(request: Request, call_next):
        rid = (request.headers.get("x-request-id") or "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
        t0 = time.perf_counter()
        status = 500
        try:
            if (
                gate is not None
                and gate.closing
                and request.url.path not in ("/healthz", "/metrics")
            ):
                err = gate.shutting_down()
                response = error_response(request, err.status, err.code, err.message, err.headers)
            else:
                response = await call_next(request)
            status = response.status_code
        finally:
            dt = time.perf_counter() - t0
            path = request.url.path if request.url.path in known else "other"
            metrics.requests.labels(path, str(status)).inc()
            metrics.latency.labels(path).observe(dt)
            log.info(
                json.dumps(
                    {
                        "ts": round(time.time(), 3),
                        "request_id": rid,
                        "method": request.method,
                        "path": request.url.path,
                        "status": status,
                        "ms": round(dt * 1000, 2),
                        "model": request.query_params.get("model"),
                    }
                )
            )
        response.headers["X-Request-ID"] = rid
        return response
