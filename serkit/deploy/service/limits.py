"""What bounds the service: the request body (:class:`BodyLimit`, an ASGI layer) and inference
(:class:`Gate`: workers, queue, deadlines, cancellation, shutdown)."""

# no ``from __future__ import annotations``: FastAPI reads endpoint annotations at run time
import json
import threading

import anyio
from fastapi import Request, UploadFile

from serkit.deploy.service.config import ServeConfig
from serkit.deploy.service.errors import ApiError
from serkit.deploy.service.observe import Metrics


async def read_upload(request: Request, file: UploadFile, max_bytes: int, max_mb: float) -> bytes:
    """The upload's bytes (the body was already bounded by :class:`BodyLimit`); 413 when the
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


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI layer that bounds every HTTP request body before the app parses it: a declared
    ``Content-Length`` over the limit is refused at once (nothing is read), and a body without
    one (chunked) is cut off as soon as it passes the limit. Both answer 413 JSON."""

    def __init__(self, app, max_bytes: int, max_mb: float):
        self.app, self.max_bytes, self.max_mb = app, max_bytes, max_mb

    async def _refuse(self, scope, send) -> None:
        rid = (scope.get("state") or {}).get("request_id")
        body = json.dumps(
            {
                "error": {
                    "code": "upload_too_large",
                    "message": f"upload larger than {self.max_mb:g} MB",
                    "request_id": rid,
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
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
                    raise BodyTooLarge()
            return msg

        async def guarded_send(msg):
            nonlocal started
            if over:  # whatever the app made of the cut body, the client gets 413
                return
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if over and not started:
            await self._refuse(scope, send)


class Gate:
    """The bound on inference: at most ``workers`` run and ``max_queue`` wait; each piece of
    work counts until its thread has really stopped (a 504 cancels it at its next window, see
    :func:`serkit.deploy.runner.cancel_on`); on shutdown, what is still running or waiting is
    cancelled and answered 503 + ``Retry-After``."""

    def __init__(self, cfg: "ServeConfig", metrics: "Metrics"):
        self.cfg = cfg
        self.limiter = anyio.CapacityLimiter(max(1, cfg.workers))
        self.pending = (
            0  # admitted and not yet finished (running + waiting + cancelled-but-running)
        )
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
        return ApiError(
            503,
            "overloaded",
            f"{self.pending} inferences in flight or waiting (limit "
            f"{self.cfg.workers} + {self.cfg.max_queue} queued); retry later",
            {"Retry-After": str(self.cfg.retry_after_s)},
        )

    def shutting_down(self) -> ApiError:
        return ApiError(
            503,
            "shutting_down",
            "the service is shutting down; retry on another instance or later",
            {"Retry-After": str(self.cfg.retry_after_s)},
        )

    async def run(self, work, timeout: float | None = None):
        """``work()`` in a worker thread, under the bound (503), the deadline (504) and shutdown
        (503)."""
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
                    with anyio.fail_after(
                        timeout if timeout is not None else self.cfg.request_timeout_s
                    ):
                        return await anyio.to_thread.run_sync(
                            body, limiter=self.limiter, abandon_on_cancel=True
                        )
                except TimeoutError:
                    timed_out = True
        except Cancelled:
            raise (
                self.shutting_down()
                if self.closing
                else ApiError(504, "timeout", "inference was cancelled")
            ) from None
        finally:
            self.active.discard(entry)
            ev.set()  # a thread still running stops at its next window
            with self.lock:
                if not token["started"]:
                    token["dropped"] = True
                    self.pending -= 1
        if timed_out:
            raise ApiError(
                504, "timeout", f"inference did not finish within {self.cfg.request_timeout_s:g} s"
            )
        raise self.shutting_down()  # the scope was cancelled by drain()

    def drain(self) -> None:
        """Shutdown: refuse new work; cancel what is running or waiting (answered 503)."""
        self.closing = True
        for scope, ev in list(self.active):
            ev.set()
            scope.cancel()
