"""Load test of the WebSocket stream: N concurrent clients each stream speech-like audio at real
time (0.1 s chunks of PCM16) to a fresh `serkit serve` for D seconds. Reports errors, rows
expected vs received (a lost row is an error), result latency (the chunk that completes a window
is sent -> its row arrives) p50/p99, and the server's memory (RSS) before and after; with
--disconnect-every K, every K-th client leaves mid-stream without closing (the soak).
Usage: .venv/bin/python benchmarks/stream_load.py [--clients 20] [--seconds 60] [--workers 2]"""

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from serkit.deploy.latency import free_port, wait_healthy

ap = argparse.ArgumentParser()
ap.add_argument("--clients", type=int, default=20)
ap.add_argument("--seconds", type=float, default=60.0)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--window", type=float, default=2.0)
ap.add_argument("--hop", type=float, default=0.5)
ap.add_argument("--disconnect-every", type=int, default=0)
ap.add_argument("--rounds", type=int, default=1, help="repeat the clients this many times (a soak)")
args = ap.parse_args()
SR, CHUNK = 16000, 1600


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def audio(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 60 * np.sin(2 * np.pi * 0.3 * t + seed)
    x = (
        0.3
        * np.sin(2 * np.pi * np.cumsum(f0) / SR)
        * (0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t) ** 2)
    )
    x += 0.01 * rng.standard_normal(t.size)
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


async def client(url: str, k: int, stats: dict) -> None:
    import websockets

    pcm = audio(args.seconds, k)
    n_samples = len(pcm) // 2
    hop_n, win_n = int(round(args.hop * SR)), int(round(args.window * SR))
    leave = args.disconnect_every and k % args.disconnect_every == args.disconnect_every - 1
    sent_at: dict[float, float] = {}  # window start -> time its last chunk was sent
    try:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(
                json.dumps(
                    {"sample_rate": SR, "format": "pcm16", "window": args.window, "hop": args.hop}
                )
            )
            rows, done = [], asyncio.Event()

            async def reader():
                async for msg in ws:
                    m = json.loads(msg)
                    if "error" in m:
                        stats["errors"].append(m["error"])
                        continue
                    if m.get("done"):
                        break
                    if not m["revised"] and m["start"] in sent_at:
                        stats["latency"].append(time.perf_counter() - sent_at[m["start"]])
                    rows.append(m)
                done.set()

            task = asyncio.create_task(reader())
            t0, fed = time.perf_counter(), 0
            next_win = 0
            for i in range(0, len(pcm), CHUNK * 2):
                await asyncio.sleep(max(0.0, t0 + fed / SR - time.perf_counter()))
                await ws.send(pcm[i : i + CHUNK * 2])
                fed += min(CHUNK, (len(pcm) - i) // 2)
                while next_win * hop_n + win_n <= fed:
                    sent_at[round(next_win * args.hop, 3)] = time.perf_counter()
                    next_win += 1
                if leave and fed >= n_samples // 2:
                    stats["left"] += 1
                    task.cancel()
                    return  # leaves without {"end": true}: the server must clean up
            await ws.send(json.dumps({"end": True}))
            await asyncio.wait_for(done.wait(), timeout=120)
            expected = max(1, math.floor((n_samples - win_n) / hop_n) + 1)
            got = sum(1 for r in rows if not r["revised"])
            stats["rows"] += got
            stats["expected"] += expected
            if got < expected:
                stats["errors"].append(f"client {k}: {got} rows of {expected}")
    except Exception as exc:  # noqa: BLE001 - every failure is counted
        stats["errors"].append(f"client {k}: {type(exc).__name__}: {exc}")


async def main():
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("serkit")),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--no-log-requests",
        ],
        stderr=subprocess.DEVNULL,
    )
    import httpx

    wait_healthy(f"http://127.0.0.1:{port}", proc)
    rss0 = rss_mb(proc.pid)
    stats = {"errors": [], "latency": [], "rows": 0, "expected": 0, "left": 0}
    t0 = time.time()
    try:
        for r in range(args.rounds):
            await asyncio.gather(
                *(
                    client(f"ws://127.0.0.1:{port}/v1/stream", r * args.clients + k, stats)
                    for k in range(args.clients)
                )
            )
        await asyncio.sleep(1.0)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        open_streams = [
            line for line in metrics.splitlines() if line.startswith("serkit_streams_open")
        ]
        rss1 = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    lat = sorted(stats["latency"])
    pct = (
        (lambda q: round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1))
        if lat
        else (lambda q: None)
    )
    print(
        json.dumps(
            {
                "clients": args.clients,
                "rounds": args.rounds,
                "seconds_each": args.seconds,
                "workers": args.workers,
                "window": args.window,
                "hop": args.hop,
                "wall_s": round(time.time() - t0, 1),
                "errors": len(stats["errors"]),
                "first_errors": stats["errors"][:5],
                "rows": stats["rows"],
                "rows_expected": stats["expected"],
                "clients_left_mid_stream": stats["left"],
                "latency_ms_p50": pct(0.5),
                "latency_ms_p99": pct(0.99),
                "latency_ms_mean": round(1000 * statistics.mean(lat), 1) if lat else None,
                "server_rss_mb_start": round(rss0, 1),
                "server_rss_mb_end": round(rss1, 1),
                "streams_open_after": open_streams,
            }
        )
    )


asyncio.run(main())
