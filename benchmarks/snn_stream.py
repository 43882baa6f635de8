"""True streaming, frame by frame with state: causal compact student + snn-vanilla head (issue 18).

    .venv/bin/python benchmarks/snn_stream.py runs/compact/emodb_snn-vanilla_causal.pt --manifest
    manifests/emodb.jsonl --clips 20

For ``--clips`` clips of the manifest (every n-th; the output is about computation and the
streamed-vs-offline equality, not accuracy: the model may have been trained on them), feeds the
clip's log-mel to :class:`~serkit.deploy.snn_stream.SpikingStream` 2 mel frames
(20 ms) at a time on ONE thread and reports: compute per 20 ms of audio (median, p99), the
interval between predictions (``pool`` x 20 ms), the state kept, how often the running
prediction already equals the clip-level one after 1 s / half the clip, and the largest
difference between the final streamed probabilities and the offline ``predict_proba``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from serkit.audio.io import AudioConfig, load_audio  # noqa: E402
from serkit.audio.mel import log_mel  # noqa: E402
from serkit.data.manifest import read_manifest  # noqa: E402
from serkit.deploy.loading import load  # noqa: E402
from serkit.deploy.snn_stream import SpikingStream  # noqa: E402


def _label_at(steps: list, t: float) -> int:
    """The running prediction of the step closest to stream time ``t`` (s)."""
    return int(np.argmax(min(steps, key=lambda x: abs(x.time_s - t)).probs))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("model")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--clips", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rec = load(a.model)
    utts = [u for u in read_manifest(a.manifest) if u.label]
    utts = utts[:: max(1, len(utts) // a.clips)][: a.clips]
    times, diffs, agree_1s, agree_half, steps_n, state = [], [], [], [], 0, 0
    for u in utts:
        wav = load_audio(u.audio, AudioConfig(sample_rate=16000), u.start, u.end)
        mel = log_mel(wav)
        st = SpikingStream(rec.model, rec.frontend)
        steps = []
        for k in range(0, mel.shape[1], 2):
            t0 = time.perf_counter()
            steps += st.feed(mel[:, k : k + 2])
            times.append(time.perf_counter() - t0)
            state = max(state, st.state_floats)
        steps += st.close()
        steps_n += len(steps)
        offline = rec.model.predict_proba([rec.frontend.extract(wav, 16000)])[0]
        diffs.append(float(np.abs(steps[-1].probs - offline).max()))
        final = int(np.argmax(steps[-1].probs))
        agree_1s.append(_label_at(steps, 1.0) == final)
        agree_half.append(_label_at(steps, steps[-1].time_s / 2) == final)
    t = np.array(times[10:]) * 1000
    pool = rec.model.config.pool
    print(
        json.dumps(
            {
                "model": a.model,
                "clips": len(utts),
                "steps": steps_n,
                "prediction_every_ms": 20 * pool,
                "compute_ms_per_20ms_median": round(float(np.median(t)), 3),
                "compute_ms_per_20ms_p99": round(float(np.percentile(t, 99)), 3),
                "real_time_factor": round(float(np.median(t)) / 20.0, 3),
                "state_floats_max": int(state),
                "max_abs_diff_vs_offline": max(diffs),
                "running_label_equals_final_after_1s": round(float(np.mean(agree_1s)), 3),
                "running_label_equals_final_at_half": round(float(np.mean(agree_half)), 3),
                "threads": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
