"""Synthetic speech-like audio for tests and the demo (no corpus needed).

``tone_clip`` builds a harmonic "vowel" with a pitch contour and amplitude envelope: cheap,
deterministic, and different enough between "emotions" (pitch level/range, loudness, rate)
for pipeline tests. ``espeak_clip`` uses espeak-ng when installed for real synthetic speech.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def tone_clip(
    duration_s: float = 1.0,
    sr: int = 16000,
    f0: float = 150.0,
    f0_range: float = 30.0,
    rate_hz: float = 4.0,
    loudness: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """A harmonic signal with syllable-like amplitude modulation.

    Returns:
        ``(round(duration_s * sr),)`` float32 in [-1, 1].
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    t = np.arange(n) / sr
    f = f0 + f0_range * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f) / sr
    x = sum((0.6**k) * np.sin((k + 1) * phase) for k in range(6))
    env = 0.5 * (1 - np.cos(2 * np.pi * rate_hz * t + rng.uniform(0, 2 * np.pi)))
    x = x * env + 0.01 * rng.standard_normal(n)
    x = loudness * x / (np.max(np.abs(x)) + 1e-9)
    return x.astype(np.float32)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_clip(
    text: str, voice: str = "en", speed: int = 160, pitch: int = 50
) -> tuple[np.ndarray, int]:
    """Synthesise ``text`` with espeak-ng. Returns ``(samples (n,), sample_rate)``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tts.wav"
        subprocess.run(
            [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        x, sr = sf.read(str(out), dtype="float32")
    return x, int(sr)
