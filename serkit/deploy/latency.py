"""``serkit bench-latency``: deployment speed of one model, measured, not estimated.

1. One 3 s clip, file read to probabilities, encoder included, ONE CPU thread: PyTorch
   (``Recognizer.predict``), onnxruntime fp32 and onnxruntime int8, side by side (median and
   p90 over ``runs`` calls after warm-up); the ONNX graphs alone (log-mel in, probabilities
   out: ``onnx_*_from_mel``) and the numpy log-mel alone.
2. ONNX file sizes (fp32, int8) and the int8 head alone.
3. Throughput on a folder of ``folder_clips`` synthetic clips (1-6 s): onnxruntime int8 with
   one process per core, and PyTorch batched; clips/s and real-time factor (processing time /
   audio time).
4. HTTP: ``serkit serve`` on 127.0.0.1 in a subprocess, ``http_clients`` concurrent clients
   sending ``http_requests`` uploads of the 3 s clip: errors, p50/p99 latency, requests/s.

The speech clip is espeak-ng speech when installed (else a synthetic voiced tone), cut or
padded to exactly 3 s. Results go to ``OUT/latency.json``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from serkit.core.io import atomic_write_json


def _clip(seconds: float, seed: int = 0) -> np.ndarray:
    from serkit.audio.synth import espeak_available, espeak_clip, tone_clip

    sr = 16000
    if espeak_available():
        texts = [
            "I told you this would happen, and nobody listened to me.",
            "The weather is nice today, we could walk to the park.",
            "Please put the papers on the table before you leave.",
            "I really do not know what to say about all of this.",
        ]
        import soxr

        x, rate = espeak_clip(
            texts[seed % len(texts)], speed=140 + 10 * (seed % 5), pitch=30 + 7 * (seed % 7)
        )
        x = soxr.resample(x, rate, sr).astype(np.float32) if rate != sr else x.astype(np.float32)
    else:
        x = tone_clip(seconds, sr=sr, seed=seed)
    n = int(seconds * sr)
    return np.pad(x, (0, max(0, n - x.size)))[:n] if x.size < n else x[:n]


def _cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``; ``platform.processor()`` elsewhere): latencies depend on
    it."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _timeit(fn, runs: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts = np.array(ts) * 1000
    return {
        "median_ms": round(float(np.median(ts)), 2),
        "p90_ms": round(float(np.percentile(ts, 90)), 2),
        "runs": runs,
    }


def _export_head_int8(model, out: Path) -> int:
    """The head alone (standardisation + head) as int8 ONNX; returns its size in bytes."""
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    layers = model.n_layers
    if hasattr(model, "net"):
        net = model.net.eval()
    else:  # logreg: its pooled-statistics head (the states it reads)
        net = model.torch_head()
        layers = len(model.states_read())
    x = torch.randn(1, layers, 40, model.dim)
    m = torch.ones(1, 40, dtype=torch.bool)
    fp = out.with_suffix(".fp32.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (x, m),
            str(fp),
            input_names=["feats", "mask"],
            output_names=["logits"],
            dynamic_axes={"feats": {2: "T"}, "mask": {1: "T"}},
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(fp), str(out), weight_type=QuantType.QInt8)
    fp.unlink()
    return out.stat().st_size


def _ort_worker(args):
    path, files = args
    from serkit.deploy.runtime import OnnxRecognizer

    rec = OnnxRecognizer(path, threads=1)
    for f in files:
        rec.predict(f)
    return len(files)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, proc=None, tries: int = 600) -> None:
    """Wait until ``base/healthz`` answers 200 (``tries`` x ~0.1 s); a ``serkit serve``
    subprocess ``proc`` that never gets there raises with the tail of its stderr."""
    import httpx

    for _ in range(tries):
        try:
            if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    tail = (
        proc.stderr.read1().decode()[-2000:] if proc is not None and proc.stderr is not None else ""
    )
    raise RuntimeError(f"serkit serve did not start at {base}: {tail}")


async def _load_test(url: str, payload: bytes, requests: int, clients: int) -> dict:
    import asyncio

    import httpx

    lat, codes = [], {}
    sem = asyncio.Semaphore(clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120.0, limits=limits) as client:

        async def one(i):
            async with sem:
                t0 = time.perf_counter()
                try:
                    r = await client.post(
                        url, files={"file": (f"clip{i}.wav", payload, "audio/wav")}
                    )
                    code = r.status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                lat.append(time.perf_counter() - t0)
                codes[code] = codes.get(code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        wall = time.perf_counter() - t0
    lat = np.array(lat) * 1000
    errors = sum(
        v for k, v in codes.items() if k not in (200, 503)
    )  # 503: refused on purpose (queue bound)
    return {
        "requests": requests,
        "clients": clients,
        "errors": errors,
        "refused_503": codes.get(503, 0),
        "status_codes": {str(k): v for k, v in codes.items()},
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "requests_per_s": round(requests / wall, 2),
        "wall_s": round(wall, 1),
    }


def _single_clip(
    rec, clip: Path, tmp: Path, runs: int, min_layer_weight: float, log
) -> tuple[dict, dict]:
    """1. one 3 s clip, file read to probabilities, one thread: PyTorch, ONNX fp32, ONNX int8;
    2. sizes and the log-mel alone. Returns (results, ONNX files by precision)."""
    import torch

    from serkit.audio.mel import log_mel
    from serkit.deploy.onnx_full import export_full_onnx
    from serkit.deploy.runtime import OnnxRecognizer

    torch.set_num_threads(1)
    res = {"pytorch": _timeit(lambda: rec.predict(clip), runs)}
    log(f"pytorch (1 thread): {res['pytorch']}")
    files = {}
    for q in (False, True):
        p = tmp / f"model{'.int8' if q else ''}.onnx"
        info = export_full_onnx(
            rec.model, rec.frontend.spec(), rec.labels, p, int8=q, min_layer_weight=min_layer_weight
        )
        files["int8" if q else "fp32"] = p
        o = OnnxRecognizer(p, threads=1)
        key = "onnx_int8" if q else "onnx_fp32"
        res[key] = {
            **_timeit(lambda o=o: o.predict(clip), runs),
            "file_mb": round(info["bytes"] / 1e6, 2),
            "encoder_blocks": info["encoder_blocks"],
            "states": info["states"],
        }
        mel = log_mel(_clip(3.0))  # the graph alone: log-mel frames in, probabilities out
        res[f"{key}_from_mel"] = _timeit(lambda o=o, mel=mel: o.predict_mel(mel), runs)
        log(f"{key} (1 thread): {res[key]}")
    wav = _clip(3.0)
    res["log_mel"] = _timeit(lambda: log_mel(wav), runs)
    res["head_int8_mb"] = round(_export_head_int8(rec.model, tmp / "head.int8.onnx") / 1e6, 3)
    res["params_trainable"] = rec.cost(3.0).params_trainable
    log(f"head alone int8: {res['head_int8_mb']} MB; log-mel {res['log_mel']}")
    return res, files


def _folder(rec, onnx_int8: Path, folder: Path, n_clips: int, log) -> dict:
    """3. throughput on a folder of synthetic 1-6 s clips: onnxruntime int8 with one process
    per core, and PyTorch batched."""
    import multiprocessing as mp

    import torch

    folder.mkdir()
    rng = np.random.default_rng(0)
    bank = [_clip(6.0, seed=s) for s in range(8)]
    files, audio_s = [], 0.0
    for i in range(n_clips):
        d = float(rng.uniform(1.0, 6.0))
        f = folder / f"clip{i:05d}.wav"
        sf.write(f, bank[i % len(bank)][: int(d * 16000)], 16000)
        files.append(f)
        audio_s += d
    cores = os.cpu_count() or 1
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(cores) as pool:
        n = sum(pool.map(_ort_worker, [(str(onnx_int8), files[k::cores]) for k in range(cores)]))
    wall = time.perf_counter() - t0
    res = {
        "folder_onnx_int8": {
            "clips": n,
            "audio_s": round(audio_s, 1),
            "processes": cores,
            "wall_s": round(wall, 2),
            "clips_per_s": round(n / wall, 1),
            "rtf": round(wall / audio_s, 5),
        }
    }
    log(f"folder, onnxruntime int8, {cores} processes: {res['folder_onnx_int8']}")
    torch.set_num_threads(cores)
    t0 = time.perf_counter()
    for k in range(0, len(files), 32):
        rec.predict_batch(files[k : k + 32])
    wall = time.perf_counter() - t0
    res["folder_pytorch_batched"] = {
        "clips": len(files),
        "threads": cores,
        "wall_s": round(wall, 2),
        "clips_per_s": round(len(files) / wall, 1),
        "rtf": round(wall / audio_s, 5),
    }
    log(f"folder, PyTorch batched, {cores} threads: {res['folder_pytorch_batched']}")
    torch.set_num_threads(1)
    return res


def _http(model: str, clip: Path, requests: int, clients: int, workers: int, log) -> dict:
    """4. ``serkit serve`` on 127.0.0.1 in a subprocess under ``clients`` concurrent uploads."""
    import asyncio

    import httpx

    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "serkit.cli",
        "serve",
        "--port",
        str(port),
        "--model",
        f"m={model}",
        "--workers",
        str(workers),
        "--threads",
        "1",
        "--no-log-requests",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        res = asyncio.run(_load_test(base + "/v1/predict", clip.read_bytes(), requests, clients))
        res["workers"] = workers
        res["still_healthy"] = httpx.get(base + "/healthz", timeout=5.0).status_code == 200
        log(f"http: {res}")
        return res
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def bench_latency(
    model: str = "default",
    out: str | Path = "runs/latency",
    runs: int = 50,
    folder_clips: int = 1000,
    http_requests: int = 2000,
    http_clients: int = 50,
    http_workers: int = 2,
    min_layer_weight: float = 0.0,
    log=print,
) -> dict:
    """Run the measurements of the module docstring; writes and returns ``OUT/latency.json``."""
    import torch

    from serkit.audio.synth import espeak_available
    from serkit.deploy.loading import load

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {
        "model": str(model),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_name(),
        "torch": torch.__version__,
        "clip": {"seconds": 3.0, "speech": "espeak-ng" if espeak_available() else "tone"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip3s.wav"
        sf.write(clip, _clip(3.0), 16000)
        torch.set_num_threads(1)
        rec = load(model)
        single, onnx_files = _single_clip(rec, clip, tmp, runs, min_layer_weight, log)
        res.update(single)
        if folder_clips:
            res.update(_folder(rec, onnx_files["int8"], tmp / "folder", folder_clips, log))
        if http_requests:
            res["http"] = _http(model, clip, http_requests, http_clients, http_workers, log)
    atomic_write_json(out / "latency.json", res)
    return res
