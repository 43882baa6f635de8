"""Write a long synthetic recording (voiced tones and pauses) block by block, for the memory
and whole-file checks of issue 29.

    .venv/bin/python benchmarks/make_long_wav.py /tmp/hour.wav --seconds 3600
    /usr/bin/time -v .venv/bin/serkit predict /tmp/hour.wav --json   # "Maximum resident set size"

Each 5 s block is 3.5 s of ``serkit.audio.synth.tone_clip`` (seed and pitch cycling over 13
values) at half amplitude, then 1.5 s of silence; 16 kHz, 16-bit.
"""

from __future__ import annotations

import argparse

import numpy as np
import soundfile as sf

from serkit.audio.synth import tone_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seconds", type=float, default=3600.0)
    args = ap.parse_args()
    with sf.SoundFile(args.out, "w", 16000, 1, "PCM_16") as fh:
        for i in range(int(args.seconds // 5)):
            voiced = tone_clip(3.5, seed=i % 13, f0=100 + 10 * (i % 13)) * 0.5
            fh.write(np.concatenate([voiced, np.zeros(24000, np.float32)]))
    print(f"{args.out}: {sf.info(args.out).duration:.1f} s")


if __name__ == "__main__":
    main()
