"""Ray Data batch versus the plain batched path on the same N synthetic 3 s clips, one machine:
clips/s and real-time factor of each, and their ratio.
Usage: .venv/bin/python benchmarks/ray_throughput.py [--files 1000] [--threads 2] [--engine auto]"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from serkit.batch import input_files, predict_dataset, predict_files

ap = argparse.ArgumentParser()
ap.add_argument("--files", type=int, default=1000)
ap.add_argument(
    "--threads",
    type=int,
    default=2,
    help="CPU threads in all (plain: one process; Ray: 1 per worker)",
)
ap.add_argument("--engine", default="auto")
args = ap.parse_args()
with tempfile.TemporaryDirectory() as d:
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    for i in range(args.files):
        f0 = 120 + 100 * rng.random()
        x = 0.3 * np.sin(2 * np.pi * f0 * t) * (
            0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
        ) + 0.01 * rng.standard_normal(t.size)
        sf.write(Path(d) / f"c{i:05d}.wav", x.astype(np.float32), 16000)
    files = input_files(d)
    t0 = time.time()
    n = sum(
        len(rows)
        for rows, _ in predict_files(files, engine=args.engine, threads=args.threads, batch_size=16)
    )
    plain = time.time() - t0
    r = predict_dataset(
        files,
        Path(d) / "out.parquet",
        engine=args.engine,
        workers=args.threads,
        threads=1,
        batch_size=16,
        progress=False,
        log=lambda m: None,
    )
print(
    json.dumps(
        {
            "files": args.files,
            "plain_clips_per_s": round(n / plain, 2),
            "plain_rtf": round(3 * n / plain, 1),
            "ray_clips_per_s": r["clips_per_s"],
            "ray_rtf": r["real_time_factor"],
            "ray_wall_s_incl_start": r["wall_s"],
            "ratio_ray_over_plain": round(r["clips_per_s"] / (n / plain), 2),
        }
    )
)
