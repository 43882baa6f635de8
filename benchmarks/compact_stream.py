"""Frame-by-frame streaming of a causal compact student (issue 18, item 4): compute per step
and the equality with the offline pass.

    .venv/bin/python benchmarks/compact_stream.py runs/compact/student_causal.safetensors
    [--seconds 10]

Feeds the log-mel of a synthetic speech-like clip to :class:`CompactStream` 2 mel frames
(20 ms, one output frame) at a time on ONE thread, and reports the median and p99 compute per
step, the look-ahead (output frame j reads mel frames up to 2j, whose 25 ms analysis window
ends 12.5 ms after frame j's time; nothing later), the state kept, and the largest difference
to the offline forward pass on the same frames. (Streaming starts from mel frames: Whisper's
log-mel clamps each clip at its own maximum minus 8 decades, which a live log-mel would do
with the running maximum.)
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

from serkit.audio.mel import log_mel  # noqa: E402
from serkit.audio.synth import tone_clip  # noqa: E402
from serkit.features.compact import load_student  # noqa: E402
from serkit.features.compact_net import CompactStream  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("student")
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    net, prov = load_student(a.student)
    mel = torch.from_numpy(log_mel(tone_clip(a.seconds, seed=0)))
    mel = mel[:, : mel.shape[1] - mel.shape[1] % 2]
    st = CompactStream(net)
    outs, times = [], []
    for k in range(0, mel.shape[1], 2):
        t0 = time.perf_counter()
        outs.append(st.feed(mel[:, k : k + 2]))
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        off = net(mel[None])
    diff = max(
        float((torch.cat([o[i] for o in outs]) - off[i][0]).abs().max()) for i in range(len(off))
    )
    state = sum(c.numel() for c in st._ctx) + st._mel.numel() + st._sum.numel()
    t = np.array(times[5:]) * 1000
    print(
        json.dumps(
            {
                "student": a.student,
                "causal": net.config.causal,
                "steps": len(times),
                "step_ms_median": round(float(np.median(t)), 3),
                "step_ms_p99": round(float(np.percentile(t, 99)), 3),
                "output_every_ms": 20,
                "lookahead_ms": 12.5,
                "state_floats": int(state),
                "max_abs_diff_vs_offline": diff,
                "threads": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
