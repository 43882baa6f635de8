"""Cold start of `serkit predict FILE` on the bundled model: wall time of fresh processes for one
3 s clip (median and max of N), after one run that writes the cached ONNX export.
Usage: .venv/bin/python benchmarks/cold_start.py [--runs 10] [--engine auto|torch]"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=10)
ap.add_argument("--engine", default="auto")
args = ap.parse_args()
serkit = str(Path(sys.executable).with_name("serkit"))
with tempfile.TemporaryDirectory() as d:
    wav = Path(d) / "clip.wav"
    t = np.arange(3 * 16000) / 16000
    sf.write(
        wav,
        (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(
            np.float32
        ),
        16000,
    )
    cmd = [serkit, "predict", str(wav), "--engine", args.engine]
    subprocess.run(
        cmd, check=True, capture_output=True
    )  # writes the cached export (auto), warms the disk cache
    walls = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
print(
    json.dumps(
        {
            "command": "serkit predict CLIP.wav --engine " + args.engine,
            "runs": args.runs,
            "median_s": round(statistics.median(walls), 3),
            "max_s": round(max(walls), 3),
            "walls_s": [round(w, 3) for w in walls],
        }
    )
)
