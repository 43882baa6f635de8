"""Speaker-attribute alteration for debiasing (CO-VADA-style augmentation): Praat's *Change
gender* through ``praat-parselmouth`` (PSOLA resynthesis: pitch median and range scaled,
formants shifted by resampling). No demographic label is read: the direction comes from the
clip's own median F0 (a low voice is raised, a high one lowered), so the method needs what
CO-VADA needs, nothing more.

Praat's reference implementation is used rather than a hand-written vocoder; a true voice
conversion model would be better and none installs offline here (say so in results).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serkit.core.errors import MissingDependencyError

F0_SPLIT_HZ = 165.0
"""Median F0 above which a voice is lowered, else raised (between typical adult male ~120 Hz
and female ~210 Hz medians)."""


@dataclass(frozen=True)
class VoiceShift:
    """One alteration: ``formant_ratio`` (> 1 shorter vocal tract), ``pitch_ratio`` of the
    median F0, ``pitch_range`` factor; ``direction`` 'up' or 'down' (for the record)."""

    formant_ratio: float
    pitch_ratio: float
    pitch_range: float = 1.0
    direction: str = "up"


def _praat():
    try:
        import parselmouth
        from parselmouth.praat import call
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "praat-parselmouth", "analysis", "voice alteration (debiasing)"
        ) from exc
    return parselmouth, call


def median_f0(wav: np.ndarray, sr: int) -> float | None:
    """Median F0 in Hz of the voiced frames (Praat's autocorrelation pitch, 75-600 Hz), or
    ``None`` when no frame is voiced."""
    parselmouth, call = _praat()
    snd = parselmouth.Sound(np.asarray(wav, np.float64), sampling_frequency=float(sr))
    f0 = call(
        snd.to_pitch(pitch_floor=75.0, pitch_ceiling=600.0), "Get quantile", 0, 0, 0.5, "Hertz"
    )
    return None if f0 is None or not np.isfinite(f0) else float(f0)


def opposite_shift(f0: float | None, strength: float = 1.0) -> VoiceShift:
    """The alteration towards the other side of :data:`F0_SPLIT_HZ`: a low voice (median F0
    below it) up by formants x1.17 and pitch x1.7, a high one down by formants x0.86 and pitch
    x0.6; ``strength`` in (0, 1] scales the log-ratios (0.5 = half way)."""
    up = f0 is None or f0 < F0_SPLIT_HZ
    formant, pitch = (1.17, 1.7) if up else (0.86, 0.6)
    return VoiceShift(float(formant**strength), float(pitch**strength), 1.0, "up" if up else "down")


def alter_voice(wav: np.ndarray, sr: int, shift: VoiceShift) -> np.ndarray:
    """``wav`` (N,) float at ``sr`` Hz -> the altered waveform (N,) float32, same rate and
    length (Praat's *Change gender*; unvoiced clips are returned unchanged, never NaN)."""
    parselmouth, call = _praat()
    x = np.asarray(wav, np.float64)
    snd = parselmouth.Sound(x, sampling_frequency=float(sr))
    f0 = median_f0(x, sr)
    if f0 is None:
        return x.astype(np.float32)
    out = call(
        snd,
        "Change gender",
        75.0,
        600.0,
        shift.formant_ratio,
        f0 * shift.pitch_ratio,
        shift.pitch_range,
        1.0,
    )
    y = np.asarray(out.values[0], np.float64)
    y = y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))
    if not np.all(np.isfinite(y)):
        return x.astype(np.float32)
    peak = np.abs(y).max()
    if peak > 0.999:  # resynthesis can overshoot: keep it in range
        y *= 0.999 / peak
    return y.astype(np.float32)
