"""Abuse a local `serkit serve` for a bounded time and check it stays bounded (issue 29).

Loopback only (127.0.0.1), every loop bounded in count and time. It starts the service as a
subprocess with a short request timeout, then for ``--seconds`` sends, in rotation: uploads
whose Content-Length claims 10^12 bytes, chunked uploads larger than the limit, truncated and
1 Hz WAVs, huge float amplitudes, timelines that time out, WebSocket streams with NaN / huge /
tiny settings, silent streams, and holds ``--idle-sockets`` idle TCP connections open. Prints
bad inputs tried, wrong status codes (expected code per kind), the server's RSS before and
after, and open streams / in-flight inferences once the abuse stops.

    .venv/bin/python benchmarks/fuzz_service.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
import subprocess
import sys
import time

import numpy as np
import soundfile as sf


def wav(x, sr=16000, subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def raw_request(port: int, head: bytes, body_chunks=(), timeout=10.0) -> int:
    """Send a raw HTTP request; returns the status code (0: connection closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        try:
            for c in body_chunks:
                s.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return 0
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


async def main(args) -> int:
    import httpx
    import websockets

    from serkit.audio.synth import tone_clip
    from serkit.deploy.latency import free_port, wait_healthy

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serkit.cli",
            "serve",
            "--port",
            str(port),
            "--request-timeout",
            "2",
            "--max-upload-mb",
            "5",
            "--max-queue",
            "8",
            "--no-log-requests",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    tried, wrong = {}, {}
    try:
        wait_healthy(url, proc)
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:  # warm up, then measure
            await c.post("/v1/predict", files={"file": ("a.wav", wav(tone_clip(2.0)))})
        rss0 = rss_mb(proc.pid)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.idle_sockets)]
        good = wav(tone_clip(2.0))
        cut = good[: len(good) // 2]
        one_hz = wav(np.zeros(14000, np.float32) + 0.1, sr=1)
        loud = wav(tone_clip(1.0) * 1e6, subtype="FLOAT")
        long = wav(
            np.concatenate([tone_clip(3.0, seed=i) for i in range(40)])
        )  # 120 s timeline, 0.1 s hop

        def note(kind, status, expected):
            tried[kind] = tried.get(kind, 0) + 1
            if status not in expected:
                wrong.setdefault(kind, []).append(status)

        async def http_cases(c):
            r = await c.post("/v1/predict", files={"file": ("cut.wav", cut)})
            note("truncated", r.status_code, {415})
            r = await c.post("/v1/predict", files={"file": ("slow.wav", one_hz)})
            note("1 Hz header", r.status_code, {422})
            r = await c.post("/v1/predict", files={"file": ("loud.wav", loud)})
            note("amplitude 1e6", r.status_code, {422})
            r = await c.post(
                "/v1/timeline?window=1&hop=0.1&vad=none", files={"file": ("long.wav", long)}
            )
            note("timeline past timeout", r.status_code, {504, 503})
            r = await c.post("/v1/predict", files={"file": ("ok.wav", good)})
            note("good (between abuse)", r.status_code, {200, 503})

        def declared():
            head = (
                "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                "boundary=x\r\n"
                f"Content-Length: {10**12}\r\n\r\n"
            ).encode()
            note("Content-Length 10^12", raw_request(port, head), {413})

        def chunked():
            head = (
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                b"boundary=x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
            block = b"\0" * (256 * 1024)
            chunks = (
                f"{len(b):x}\r\n".encode() + b + b"\r\n" for b in [part] + [block] * 400
            )  # a valid multipart start, then 100 MB of file
            note("chunked 100 MB", raw_request(port, head, chunks), {413, 0})

        async def stream_case(hello, kind):
            try:
                async with websockets.connect(
                    url.replace("http", "ws") + "/v1/stream", open_timeout=10
                ) as ws:
                    if hello is not None:
                        await ws.send(hello)
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    note(
                        kind,
                        msg.get("error", {}).get("code"),
                        {"bad_start", "timeout", "overloaded"},
                    )
            except Exception as exc:  # noqa: BLE001 - a dropped connection is a wrong answer here
                note(kind, type(exc).__name__, set())

        t_end = time.time() + args.seconds
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            while time.time() < t_end:
                await asyncio.gather(
                    http_cases(c),
                    loop.run_in_executor(None, declared),
                    loop.run_in_executor(None, chunked),
                    stream_case('{"sample_rate": 16000, "window": NaN}', "stream NaN"),
                    stream_case('{"sample_rate": 16000, "window": 1e6}', "stream window 1e6"),
                    stream_case('{"sample_rate": 1}', "stream rate 1 Hz"),
                    stream_case('{"sample_rate": 16000, "hop": 0.0001}', "stream hop 1e-4"),
                    stream_case(None, "stream silent first message"),
                )
        for s in idle:
            s.close()
        time.sleep(3.0)  # abandoned work finishes or is cancelled
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            health = (await c.get("/healthz")).json()
        rss1 = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    n = sum(tried.values())
    print(f"bad inputs tried: {n} ({', '.join(f'{k} x{v}' for k, v in tried.items())})")
    print(f"wrong status codes: {sum(map(len, wrong.values()))} {wrong if wrong else ''}")
    print(
        f"server RSS: {rss0:.0f} MB before, {rss1:.0f} MB after ({rss1 - rss0:+.0f} MB); "
        f"{args.idle_sockets} idle sockets held"
    )
    print(
        f"after the abuse: open streams {health['streams']}, inferences in flight or waiting "
        f"{health['pending']}"
    )
    ok = not wrong and rss1 - rss0 <= 200 and health["streams"] == 0 and health["pending"] == 0
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--idle-sockets", type=int, default=50)
    sys.exit(asyncio.run(main(ap.parse_args())))
