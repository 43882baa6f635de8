"""Read any soundfile-supported file (or take an array) and return validated mono audio.

Every failure is an :class:`~serkit.core.errors.AudioError` naming the source and the reason, so
a corpus run can report and skip a bad file, and the CLI can print one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from serkit.core.errors import AudioError


@dataclass
class AudioConfig:
    """How audio is brought to the model.

    Attributes:
        sample_rate: target rate in Hz (every frontend declares the one it needs);
            ``None`` keeps the file's native rate.
        min_duration_s: shorter signals are refused (no encoder frame would be meaningful).
        max_duration_s: longer signals are refused (protects memory; long audio belongs in
            timelines, which cut it into windows first).
        mono: average channels to mono.
    """

    sample_rate: int | None = 16000
    min_duration_s: float = 0.05
    max_duration_s: float = 4 * 3600.0
    mono: bool = True


def prepare_signal(
    signal: np.ndarray, sr: int, cfg: AudioConfig | None = None, source: str = "<array>"
) -> np.ndarray:
    """Validate an in-memory signal and convert it to mono float32 at ``cfg.sample_rate``.

    Args:
        signal: ``(n,)`` or ``(n, channels)`` samples; integer types are scaled to [-1, 1].
        sr: its sample rate in Hz.

    Returns:
        ``(n',)`` float32 at ``cfg.sample_rate`` (or at ``sr`` when that is ``None``).
    """
    cfg = cfg or AudioConfig()
    x = np.asarray(signal)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        x = (x.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    elif x.dtype.kind != "f":
        raise AudioError(source, f"unsupported sample type {x.dtype}")
    if x.ndim == 2:
        # soundfile gives (frames, channels); accept (channels, frames) for tiny channel counts
        if x.shape[0] <= 8 < x.shape[1]:
            x = x.T
        x = x.mean(axis=1) if cfg.mono else x[:, 0]
    elif x.ndim != 1:
        raise AudioError(source, f"expected a 1-D or 2-D signal, got shape {x.shape}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioError(source, f"invalid sample rate {sr!r}")
    if x.size == 0:
        raise AudioError(source, "empty audio (0 samples)")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise AudioError(source, f"contains {bad} NaN/inf samples")
    dur = x.size / sr
    if dur < cfg.min_duration_s:
        raise AudioError(source, f"too short ({dur * 1000:.0f} ms < {cfg.min_duration_s * 1000:.0f} ms)")
    if dur > cfg.max_duration_s:
        raise AudioError(source, f"too long ({dur:.0f} s > max_duration_s={cfg.max_duration_s:.0f} s)", "too_long")
    x = x.astype(np.float32, copy=False)
    if cfg.sample_rate is not None and sr != cfg.sample_rate:
        x = soxr.resample(x, sr, cfg.sample_rate, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(x)


def load_audio(
    path: str | Path,
    cfg: AudioConfig | None = None,
    start: float | None = None,
    end: float | None = None,
    return_rate: bool = False,
):
    """Read ``path`` (optionally the segment ``[start, end)`` in seconds) as mono float32.

    Returns:
        ``(n,)`` float32 samples at ``cfg.sample_rate`` Hz (the native rate when that is
        ``None``); with ``return_rate=True`` the tuple ``(samples, rate_hz)``.

    Raises:
        AudioError: missing, unreadable, empty, non-finite, too short or too long.
    """
    cfg = cfg or AudioConfig()
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found", "missing")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    try:
        info = sf.info(str(path))
        sr = int(info.samplerate)
        if info.frames > cfg.max_duration_s * sr * 1.01 and start is None and end is None:
            raise AudioError(path, f"too long ({info.frames / sr:.0f} s > max_duration_s={cfg.max_duration_s:.0f} s)", "too_long")
        a = int(round(start * sr)) if start is not None else 0
        b = int(round(end * sr)) if end is not None else -1
        data, sr = sf.read(str(path), start=a, stop=None if b < 0 else b, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        msg = msg.replace(f"Error opening {str(path)!r}: ", "")
        raise AudioError(path, f"unreadable audio ({msg})", "unreadable") from None
    x = prepare_signal(data, sr, cfg, source=str(path))
    return (x, cfg.sample_rate or sr) if return_rate else x


def load_audio_bytes(data: bytes, cfg: AudioConfig | None = None, source: str = "<upload>",
                     return_rate: bool = False):
    """Like :func:`load_audio` for an in-memory file (an HTTP upload): any soundfile format."""
    import io

    cfg = cfg or AudioConfig()
    if not data:
        raise AudioError(source, "empty upload (0 bytes)")
    try:
        with sf.SoundFile(io.BytesIO(data)) as fh:
            sr = int(fh.samplerate)
            if fh.frames > cfg.max_duration_s * sr * 1.01:
                raise AudioError(source, f"too long ({fh.frames / sr:.0f} s > max_duration_s={cfg.max_duration_s:.0f} s)",
                                 "too_long")
            x = fh.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        msg = re.sub(r"^Error opening .*?: ", "", msg)
        raise AudioError(source, f"unreadable audio ({msg})", "unreadable") from None
    x = prepare_signal(x, sr, cfg, source=source)
    return (x, cfg.sample_rate or sr) if return_rate else x


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the header (no decoding). Raises AudioError if unreadable."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise AudioError(path, f"unreadable audio ({msg})", "unreadable") from None
    if info.frames <= 0:
        raise AudioError(path, "empty audio (0 samples)")
    return info.frames / float(info.samplerate)
