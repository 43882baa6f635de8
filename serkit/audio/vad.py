"""Energy-based voice-activity detection and window layout for timelines (numpy only)."""

from __future__ import annotations

import numpy as np


def energy_vad(
    x: np.ndarray,
    sr: int,
    frame_s: float = 0.025,
    hop_s: float = 0.010,
    floor_db: float = -50.0,
    rel_db: float = 35.0,
    noise_margin_db: float = 10.0,
    min_speech_s: float = 0.25,
    min_gap_s: float = 0.3,
    pad_s: float = 0.1,
) -> list[tuple[float, float]]:
    """Speech regions ``[(start_s, end_s), ...]`` of mono ``x`` at ``sr`` Hz.

    A frame is speech when its RMS level (dBFS) is above all of: ``floor_db``, the loudest
    frame minus ``rel_db``, and the noise floor (10th percentile) plus ``noise_margin_db``.
    Regions closer than ``min_gap_s`` merge, shorter than ``min_speech_s`` are dropped, and
    each is padded by ``pad_s`` on both sides (clipped to the signal).
    """
    n = x.size
    flen, fhop = max(1, int(frame_s * sr)), max(1, int(hop_s * sr))
    if n < flen:
        return (
            [(0.0, n / sr)]
            if n and 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12) > floor_db
            else []
        )
    starts = np.arange(0, n - flen + 1, fhop)
    rms = np.empty(starts.size)
    step = 4096  # frames at a time: memory bounded whatever the recording's length
    for k in range(0, starts.size, step):
        s = starts[k : k + step]
        idx = s[:, None] + np.arange(flen)[None, :]
        rms[k : k + s.size] = np.sqrt(np.mean(x[idx].astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(rms + 1e-12)
    thr = max(floor_db, db.max() - rel_db, np.percentile(db, 10) + noise_margin_db)
    speech = db > thr
    regions: list[list[float]] = []
    for i in np.flatnonzero(speech):
        a, b = starts[i] / sr, (starts[i] + flen) / sr
        if regions and a - regions[-1][1] <= min_gap_s:
            regions[-1][1] = max(regions[-1][1], b)
        else:
            regions.append([a, b])
    dur = n / sr
    return [(max(0.0, a - pad_s), min(dur, b + pad_s)) for a, b in regions if b - a >= min_speech_s]


def windows(
    start: float, end: float, window: float, hop: float, min_window: float = 0.5
) -> list[tuple[float, float]]:
    """Windows of ``window`` s every ``hop`` s covering ``[start, end)``; a region shorter than
    ``window`` is one window; a short tail (< ``min_window``) extends the last window."""
    if end - start <= window:
        return [(start, end)] if end > start else []
    out = []
    a = start
    while a + window < end:
        out.append((a, a + window))
        a += hop
    tail = (a, end)
    if tail[1] - tail[0] >= min_window and tail[1] > out[-1][1]:
        out.append(tail)
    elif tail[1] > out[-1][1]:
        out[-1] = (out[-1][0], end)
    return out
