"""Where the ONNX runner's file-to-probabilities time goes (cProfile, 200 calls, one 3 s clip).

.venv/bin/python benchmarks/profile_onnx_path.py MODEL.onnx   # serkit export MODEL.pt --onnx
MODEL.onnx --int8
"""

import cProfile
import pstats
import sys

import soundfile as sf

from serkit.deploy.latency import _clip
from serkit.deploy.runtime import OnnxRecognizer

wav = _clip(3.0)
sf.write("/tmp/serkit_profile_clip.wav", wav, 16000)
o = OnnxRecognizer(sys.argv[1], threads=1)
for _ in range(20):
    o.predict("/tmp/serkit_profile_clip.wav")
pr = cProfile.Profile()
pr.enable()
for _ in range(200):
    o.predict("/tmp/serkit_profile_clip.wav")
pr.disable()
pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
