"""Expert acoustic cues of a stretch of speech, measured with the field's own tools.

- Praat through ``praat-parselmouth`` (the phoneticians' reference implementations): F0 mean
  (Hz) and range (semitones between the 10th and 90th percentile of voiced frames), local
  jitter (%), local shimmer (%), harmonics-to-noise ratio (dB), and a speaking-rate proxy
  (voiced stretches, i.e. syllable-like nuclei, per second of the stretch).
- openSMILE eGeMAPS v02 low-level descriptors (``opensmile``), averaged over the stretch's
  frames: loudness (``Loudness_sma3``), alpha ratio (``alphaRatio_sma3``, dB, low over high band
  energy) and the 0-500 Hz spectral slope (``slope0-500_sma3``).

:func:`relative` expresses cues against a reference (the same speaker's neutral clips, else
the corpus mean): F0 and loudness in % change, F0 range / HNR / alpha ratio as differences,
the rest in %.
"""

from __future__ import annotations

import numpy as np

from serkit.core.errors import MissingDependencyError

CUES = (
    "f0_mean_hz",
    "f0_range_st",
    "jitter_pct",
    "shimmer_pct",
    "hnr_db",
    "rate_per_s",
    "loudness",
    "alpha_ratio_db",
    "slope_0_500",
)
UNITS = {
    "f0_mean_hz": "%",
    "f0_range_st": "st",
    "jitter_pct": "%",
    "shimmer_pct": "%",
    "hnr_db": "dB",
    "rate_per_s": "%",
    "loudness": "%",
    "alpha_ratio_db": "dB",
    "slope_0_500": "diff",
}
"""How :func:`relative` reports each cue: % change, or a difference in the cue's unit."""

# Expected direction of each cue against neutral speech, from the vocal-expression literature:
# Juslin & Laukka (2003, Psychological Bulletin 129(5), Table 7: summary of 104 studies) for
# anger, fear, happiness, sadness; Banse & Scherer (1996, JPSP 70(3)) for boredom and disgust.
# +1 higher, -1 lower; cues the sources do not agree on are left out.
EXPECTED = {
    "anger": {"f0_mean_hz": +1, "f0_range_st": +1, "loudness": +1, "rate_per_s": +1},
    "fear": {"f0_mean_hz": +1, "rate_per_s": +1},
    "happiness": {"f0_mean_hz": +1, "f0_range_st": +1, "loudness": +1, "rate_per_s": +1},
    "sadness": {"f0_mean_hz": -1, "f0_range_st": -1, "loudness": -1, "rate_per_s": -1},
    "boredom": {"f0_mean_hz": -1, "f0_range_st": -1, "rate_per_s": -1},
    "disgust": {"f0_mean_hz": -1, "rate_per_s": -1},
}


def _praat():
    try:
        import parselmouth
        from parselmouth.praat import call
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("praat-parselmouth", "analysis", "acoustic cues") from exc
    return parselmouth, call


_SMILE = None


def _smile():
    global _SMILE
    if _SMILE is None:
        import opensmile

        _SMILE = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
        )
    return _SMILE


def measure(
    wav: np.ndarray, sr: int, start: float | None = None, end: float | None = None
) -> dict[str, float]:
    """The cues of ``wav[start:end]`` (seconds; whole clip by default). A cue that cannot be
    measured (no voiced frame, too short) is NaN, never an exception."""
    parselmouth, call = _praat()
    x = np.asarray(wav, np.float64)
    a = 0 if start is None else max(0, int(start * sr))
    b = x.size if end is None else min(x.size, int(end * sr))
    seg = x[a:b]
    out = dict.fromkeys(CUES, float("nan"))
    dur = seg.size / sr
    if dur < 0.06:
        return out
    snd = parselmouth.Sound(seg, sampling_frequency=float(sr))
    pitch = snd.to_pitch(pitch_floor=75.0, pitch_ceiling=600.0)
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    if voiced.sum() >= 2:
        v = f0[voiced]
        out["f0_mean_hz"] = float(v.mean())
        lo, hi = np.percentile(v, [10, 90])
        out["f0_range_st"] = float(12 * np.log2(hi / lo)) if lo > 0 else float("nan")
        onsets = int(voiced[0]) + int(np.sum(voiced[1:] & ~voiced[:-1]))
        out["rate_per_s"] = onsets / dur
        try:
            pp = call(snd, "To PointProcess (periodic, cc)", 75.0, 600.0)
            out["jitter_pct"] = 100 * float(call(pp, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3))
            out["shimmer_pct"] = 100 * float(
                call([snd, pp], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
            )
        except Exception:  # Praat refuses too few periods: leave NaN
            pass
    else:
        out["rate_per_s"] = 0.0
    try:
        harm = call(snd, "To Harmonicity (cc)", 0.01, 75.0, 0.1, 1.0)
        hv = harm.values[harm.values != -200]
        out["hnr_db"] = float(hv.mean()) if hv.size else float("nan")
    except Exception:
        pass
    if dur >= 0.1:
        df = _smile().process_signal(seg.astype(np.float32), sr)
        out["loudness"] = float(df["Loudness_sma3"].mean())
        out["alpha_ratio_db"] = float(df["alphaRatio_sma3"].mean())
        out["slope_0_500"] = float(df["slope0-500_sma3"].mean())
    return {
        k: (float(v) if v is not None and np.isfinite(v) else float("nan")) for k, v in out.items()
    }


def measure_rate(wav: np.ndarray, sr: int) -> float:
    """The speaking-rate proxy alone (voiced stretches per second; Praat pitch): NaN when the
    clip is too short."""
    parselmouth, _ = _praat()
    x = np.asarray(wav, np.float64)
    if x.size / sr < 0.06:
        return float("nan")
    f0 = parselmouth.Sound(x, sampling_frequency=float(sr)).to_pitch(
        pitch_floor=75.0, pitch_ceiling=600.0
    )
    v = f0.selected_array["frequency"] > 0
    return float((int(v[0]) + int(np.sum(v[1:] & ~v[:-1]))) / (x.size / sr)) if v.size else 0.0


def mean_cues(rows: list[dict]) -> dict[str, float]:
    """NaN-aware mean of several :func:`measure` results (a reference)."""
    return {
        k: float(np.nanmean([r[k] for r in rows]))
        if any(np.isfinite(r[k]) for r in rows)
        else float("nan")
        for k in CUES
    }


def relative(c: dict, ref: dict) -> dict[str, float]:
    """``c`` against ``ref`` in the units of :data:`UNITS` (NaN where either is missing)."""
    out = {}
    for k in CUES:
        a, b = c.get(k, np.nan), ref.get(k, np.nan)
        if not (np.isfinite(a) and np.isfinite(b)):
            out[k] = float("nan")
        elif UNITS[k] == "%":
            out[k] = float(100 * (a - b) / abs(b)) if b != 0 else float("nan")
        else:
            out[k] = float(a - b)
    return out


def describe(rel: dict, label: str, start: float, end: float) -> str:
    """One line, e.g. ``anger: F0 +28 %, loudness +40 %, in 0.80-1.60 s``."""
    names = {
        "f0_mean_hz": "F0",
        "f0_range_st": "F0 range",
        "loudness": "loudness",
        "rate_per_s": "rate",
        "hnr_db": "HNR",
        "jitter_pct": "jitter",
        "shimmer_pct": "shimmer",
    }
    parts = [
        f"{names[k]} {rel[k]:+.0f} {'%' if UNITS[k] == '%' else UNITS[k]}"
        for k in names
        if np.isfinite(rel.get(k, np.nan))
    ]
    return f"{label}: {', '.join(parts[:4]) or 'no cue measurable'}, in {start:.2f}-{end:.2f} s"
