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


def non_speech_clips(n: int = 50, seed: int = 0, sr: int = 16000) -> dict[str, list[np.ndarray]]:
    """Families of 3 s non-speech clips (``n`` each, seeded): digital silence, white / pink /
    brown noise at three levels, pure tones, chords and a square-wave "music-like" signal."""
    SR = sr
    rng = np.random.default_rng(seed)
    t = np.arange(3 * SR) / SR
    fam: dict[str, list[np.ndarray]] = {"silence": [np.zeros(3 * SR, np.float32) for _ in range(n)]}

    def colored(alpha):
        f = np.fft.rfftfreq(3 * SR)
        spec = (rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) / np.maximum(f, 1 / SR) ** (
            alpha / 2
        )
        x = np.fft.irfft(spec, 3 * SR)
        return x / np.abs(x).max()

    for name, alpha in (("white", 0.0), ("pink", 1.0), ("brown", 2.0)):
        fam[f"noise-{name}"] = [
            (colored(alpha) * rng.choice([0.01, 0.1, 0.5])).astype(np.float32) for _ in range(n)
        ]
    fam["tone"] = [
        (0.3 * np.sin(2 * np.pi * rng.uniform(80, 2000) * t)).astype(np.float32) for _ in range(n)
    ]
    fam["chord"] = [
        (0.1 * sum(np.sin(2 * np.pi * f0 * r * t) for r in (1, 1.25, 1.5))).astype(np.float32)
        for f0 in rng.uniform(110, 440, n)
    ]
    fam["music-like"] = [
        (
            0.2
            * np.sign(np.sin(2 * np.pi * rng.uniform(1, 4) * t))
            * np.sin(2 * np.pi * rng.uniform(200, 800) * t)
        ).astype(np.float32)
        for _ in range(n)
    ]
    return fam
