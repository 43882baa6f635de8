"""Issue 29, the service and the stream: a client cannot exhaust them. Uploads are bounded
before the body is read, timed-out work is cancelled and counted until it stops, timelines are
bounded before work starts, stream settings are validated and streams limited and timed out,
and shutdown answers 503 + Retry-After instead of dropping requests. Loopback / in-process only."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time

import numpy as np
import pytest
import soundfile as sf

import serkit
from serkit.audio.synth import tone_clip
from serkit.deploy.serve import ServeConfig, create_app

SR = 16000


@pytest.fixture(scope="module")
def rec():
    return serkit.load("default")


def _wav(x, sr=SR):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


async def _call(app, headers, chunks):
    """Drive the ASGI app with a POST whose body comes in ``chunks`` (a generator); returns
    (status, body, bytes the app pulled)."""
    pulled = 0
    sent = []
    it = iter(chunks)

    async def receive():
        nonlocal pulled
        try:
            c = next(it)
        except StopIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(c)
        return {"type": "http.request", "body": c, "more_body": True}

    async def send(msg):
        sent.append(msg)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/predict",
        "raw_path": b"/v1/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


def test_huge_declared_upload_is_refused_before_reading(rec):
    """Item 11: Content-Length 10^12 -> 413 at once; not one body byte is read."""
    app = create_app(ServeConfig(max_upload_mb=1), recognizers={"default": rec})

    def body():
        raise AssertionError("the body was read")
        yield b""

    status, out, pulled = asyncio.run(
        _call(
            app,
            {"content-length": str(10**12), "content-type": "multipart/form-data; boundary=x"},
            body(),
        )
    )
    assert status == 413 and pulled == 0 and json.loads(out)["error"]["code"] == "upload_too_large"


def test_chunked_upload_is_cut_at_the_limit(rec):
    """Item 11: a body without Content-Length stops being read just past the limit."""
    app = create_app(ServeConfig(max_upload_mb=1), recognizers={"default": rec})
    head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'

    def body():  # 400 MB if it were read to the end
        yield head
        for _ in range(400 * 16):
            yield b"\0" * (64 * 1024)

    status, out, pulled = asyncio.run(
        _call(app, {"content-type": "multipart/form-data; boundary=x"}, body())
    )
    assert status == 413 and json.loads(out)["error"]["code"] == "upload_too_large"
    assert pulled < 1.2 * 1024 * 1024 + 128 * 1024


class _Busy:
    """A recognizer whose work takes ``seconds``, checking for cancellation every 10 ms unless
    ``stubborn`` (then it ignores it, like a model call that cannot be interrupted)."""

    def __init__(self, rec, seconds, stubborn=False):
        self._rec, self.seconds, self.stubborn, self.calls = rec, seconds, stubborn, 0

    def __getattr__(self, name):
        return getattr(self._rec, name)

    def classify(self, *a, **k):
        from serkit.deploy.runner import check_cancelled

        self.calls += 1
        t0 = time.time()
        while time.time() - t0 < self.seconds:
            if not self.stubborn:
                check_cancelled()
            time.sleep(0.01)
        return self._rec.classify(*a, **k)


def _post(app, n=1, path="/v1/predict", body=None):
    import httpx

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
            data = body or _wav(tone_clip(1.0))
            return await asyncio.gather(
                *(c.post(path, files={"file": ("a.wav", data)}) for _ in range(n))
            )

    return asyncio.run(go())


def test_timed_out_inference_is_cancelled_and_counted_until_it_stops(rec):
    """Item 12: a 504 stops its work at the next window; until then it keeps its place in the
    503 bound (it used to run on outside the bound)."""
    busy = _Busy(rec, 5.0)
    app = create_app(
        ServeConfig(workers=1, max_queue=0, request_timeout_s=0.2), recognizers={"default": busy}
    )
    gate = app.state.gate
    t0 = time.time()
    (r,) = _post(app)
    assert r.status_code == 504 and time.time() - t0 < 2.0
    deadline = time.time() + 2.0
    while gate.pending and time.time() < deadline:
        time.sleep(0.02)
    assert gate.pending == 0 and gate.running == 0  # the thread stopped, long before its 5 s

    stubborn = _Busy(rec, 1.5, stubborn=True)
    app = create_app(
        ServeConfig(workers=1, max_queue=0, request_timeout_s=0.2),
        recognizers={"default": stubborn},
    )
    (r,) = _post(app)
    assert r.status_code == 504
    (again,) = _post(app)  # the abandoned work still runs: no room for more
    assert again.status_code == 503 and again.headers["retry-after"]
    time.sleep(1.6)
    stubborn.seconds = 0.0  # once it has stopped, the next request runs
    (later,) = _post(app)
    assert later.status_code == 200


def test_timeline_work_is_bounded_before_it_starts(rec):
    """Item 12: more windows than allowed -> 413 before any model call; a 1 Hz header -> refused."""
    busy = _Busy(rec, 0.0)
    app = create_app(ServeConfig(max_timeline_windows=20), recognizers={"default": busy})
    busy.calls = 0
    (r,) = _post(
        app,
        path="/v1/timeline?window=2&hop=1&vad=none",
        body=_wav(np.zeros(30 * SR, np.float32) + 0.01),
    )
    assert r.status_code == 413 and "windows" in r.json()["error"]["message"] and busy.calls == 0
    one_hz = _wav(np.zeros(14000, np.float32) + 0.1, sr=1)
    (r,) = _post(app, path="/v1/timeline", body=one_hz)
    assert (
        r.status_code == 422 and "sample rate" in r.json()["error"]["message"] and busy.calls == 0
    )


@pytest.mark.parametrize(
    "hello,why",
    [
        ('{"sample_rate": 16000, "window": NaN}', "finite"),
        ('{"sample_rate": 16000, "window": Infinity}', "finite"),
        ('{"sample_rate": 16000, "window": "nan"}', "finite"),
        ('{"sample_rate": 16000, "window": 1e6}', "window must be in"),
        ('{"sample_rate": 1}', "sample_rate must be in"),
        ('{"sample_rate": 16000, "hop": 0.0001}', "hop must be in"),
        ('{"sample_rate": true}', "finite"),
    ],
)
def test_stream_first_message_is_validated(rec, hello, why):
    """Item 13: bad settings get a JSON error and a 1008 close, never a traceback."""
    from fastapi.testclient import TestClient

    client = TestClient(create_app(ServeConfig(), recognizers={"default": rec}))
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(hello)
        err = ws.receive_json()["error"]
        assert err["code"] == "bad_start" and why in err["message"]
    assert client.get("/healthz").json()["streams"] == 0


def test_streams_are_limited_and_silent_ones_timed_out(rec):
    from fastapi.testclient import TestClient

    client = TestClient(
        create_app(
            ServeConfig(max_streams=1, stream_first_message_s=0.3, stream_idle_s=0.3),
            recognizers={"default": rec},
        )
    )
    with client.websocket_connect("/v1/stream") as first:
        first.send_text('{"sample_rate": 16000}')
        with client.websocket_connect("/v1/stream") as second:
            assert second.receive_json()["error"]["code"] == "overloaded"
        assert first.receive_json()["error"]["code"] == "timeout"  # idle for 0.3 s
    with client.websocket_connect("/v1/stream") as ws:  # a silent first message
        assert ws.receive_json()["error"]["code"] == "timeout"
    assert client.get("/healthz").json()["streams"] == 0


def test_shutdown_answers_503_with_retry_after_not_500(rec):
    """Item 14: what is running or waiting when the grace ends is answered 503 + Retry-After,
    and requests that arrive while the service closes get the same."""
    import httpx

    busy = _Busy(rec, 3.0, stubborn=True)
    app = create_app(
        ServeConfig(workers=1, max_queue=4, request_timeout_s=30), recognizers={"default": busy}
    )
    gate = app.state.gate

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
            data = _wav(tone_clip(1.0))
            tasks = [
                asyncio.create_task(c.post("/v1/predict", files={"file": ("a.wav", data)}))
                for _ in range(3)
            ]
            while gate.running == 0:
                await asyncio.sleep(0.02)
            gate.drain()
            answers = await asyncio.gather(*tasks)
            late = await c.post("/v1/predict", files={"file": ("a.wav", data)})
            health = await c.get("/healthz")
            return answers, late, health

    answers, late, health = asyncio.run(go())
    assert [a.status_code for a in answers] == [503, 503, 503]
    assert all(
        a.headers["retry-after"] and a.json()["error"]["code"] == "shutting_down" for a in answers
    )
    assert late.status_code == 503 and late.headers["retry-after"] and health.status_code == 200


def test_serve_prints_address_model_and_limits(monkeypatch, rec):
    import uvicorn

    from serkit.deploy import serve

    lines = []
    monkeypatch.setattr(
        serve, "create_app", lambda cfg: create_app(cfg, recognizers={"default": rec})
    )
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    serve.run_server(ServeConfig(), "127.0.0.1", 8123, echo=lines.append)
    assert (
        "http://127.0.0.1:8123/" in lines[0]
        and "default=default" in lines[0]
        and "upload 25 MB" in lines[0]
    )


def test_docs_page_works_offline(rec):
    from fastapi.testclient import TestClient

    html = TestClient(create_app(ServeConfig(), recognizers={"default": rec})).get("/docs").text
    assert (
        "/v1/predict" in html
        and "/v1/stream" in html
        and "<script" not in html
        and "http" not in html.split("<body>")[1].replace("/openapi.json", "")
    )


def test_stream_rejects_bad_settings_in_python_too(rec):
    from serkit.core.errors import ConfigError

    for kw in ({"sr": 1}, {"window": float("nan")}, {"window": 1e6}, {"hop": 1e-4}):
        args = {"sr": 16000, "window": 2.0, "hop": 0.5, **kw}
        with pytest.raises(ConfigError):
            rec.stream(args["sr"], args["window"], args["hop"])
    assert threading.active_count() < 50
