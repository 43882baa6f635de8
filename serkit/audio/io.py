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
        min_sample_rate: files at a lower rate are refused (a header claiming 1 Hz would turn a
            few kB into hours of resampled audio; 4 kHz is below any telephone band).
        max_peak: float samples whose peak magnitude exceeds this are refused (not audio on the
            [-1, 1] scale); a peak between 1 and ``max_peak`` is clipped to [-1, 1].
    """

    sample_rate: int | None = 16000
    min_duration_s: float = 0.05
    max_duration_s: float = 4 * 3600.0
    mono: bool = True
    min_sample_rate: int = 4000
    max_peak: float = 8.0


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
    if sr < cfg.min_sample_rate:
        raise AudioError(
            source, f"sample rate {sr} Hz is below {cfg.min_sample_rate} Hz (min_sample_rate)"
        )
    if x.size == 0:
        raise AudioError(source, "empty audio (0 samples)")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise AudioError(source, f"contains {bad} NaN/inf samples")
    x = _bounded(x, cfg, source)
    dur = x.size / sr
    if dur < cfg.min_duration_s:
        raise AudioError(
            source, f"too short ({dur * 1000:.0f} ms < {cfg.min_duration_s * 1000:.0f} ms)"
        )
    if dur > cfg.max_duration_s:
        raise AudioError(
            source,
            f"too long ({dur:.0f} s > max_duration_s={cfg.max_duration_s:.0f} s)",
            "too_long",
        )
    x = x.astype(np.float32, copy=False)
    if cfg.sample_rate is not None and sr != cfg.sample_rate:
        x = soxr.resample(x, sr, cfg.sample_rate, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(x)


def _bounded(x: np.ndarray, cfg: AudioConfig, source: str) -> np.ndarray:
    """Float samples on the [-1, 1] scale: a peak above ``cfg.max_peak`` is refused, one in
    ``(1, max_peak]`` clipped (integer input is scaled already and never exceeds 1)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > cfg.max_peak:
        raise AudioError(
            source,
            f"peak amplitude {peak:.3g} is far outside [-1, 1] (max_peak={cfg.max_peak:g}): "
            "float samples must be on the [-1, 1] scale; rescale the file",
        )
    return np.clip(x, -1.0, 1.0) if peak > 1.0 else x


def wav_shortfall(head: bytes, size: int) -> int:
    """Bytes missing from a RIFF/WAVE file whose ``data`` chunk header claims more than the file
    holds (``head``: the file's first bytes, ``size``: its length in bytes); 0 when complete,
    not a WAV, or written by a streaming recorder (size fields 0 or 0xFFFFFFFF)."""
    import struct

    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return 0
    fmt = "<I" if head[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(head):
        cid, n = head[pos : pos + 4], struct.unpack(fmt, head[pos + 4 : pos + 8])[0]
        if cid == b"data":
            if n in (0, 0xFFFFFFFF):
                return 0
            return max(0, pos + 8 + n - size)
        pos += 8 + n + (n & 1)
    return 0


def _check_complete(source, head: bytes, size: int) -> None:
    missing = wav_shortfall(head, size)
    if missing:
        raise AudioError(
            source,
            f"truncated WAV: its header announces {missing} more bytes of samples than the "
            "file holds (an interrupted copy or recording?)",
            "unreadable",
        )


def _check_regular(path: Path) -> None:
    """Refuse what is not a regular readable file before anything blocks on it."""
    import stat

    if path.is_symlink() and not path.exists():
        raise AudioError(path, "dangling symbolic link (its target does not exist)", "missing")
    if not path.exists():
        raise AudioError(path, "file not found", "missing")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = (
            "named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "socket"
            if stat.S_ISSOCK(mode)
            else "device"
        )
        raise AudioError(
            path,
            f"is a {kind}, not a regular file: serkit reads files it can seek "
            "(stream live audio with `serkit listen -`)",
        )


def audio_info(path: str | Path, cfg: AudioConfig | None = None) -> tuple[int, int]:
    """``(frames, sample_rate)`` from the header of a regular, complete, usable file, without
    decoding; every refusal :func:`load_audio` would give for the header is raised here."""
    cfg = cfg or AudioConfig()
    path = Path(path)
    _check_regular(path)
    try:
        info = sf.info(str(path))
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        msg = msg.replace(f"Error opening {str(path)!r}: ", "")
        raise AudioError(path, f"unreadable audio ({msg})", "unreadable") from None
    _check_complete(path, head, path.stat().st_size)
    sr = int(info.samplerate)
    if sr < cfg.min_sample_rate:
        raise AudioError(
            path, f"sample rate {sr} Hz is below {cfg.min_sample_rate} Hz (min_sample_rate)"
        )
    if info.frames > cfg.max_duration_s * sr * 1.01:
        raise AudioError(
            path,
            f"too long ({info.frames / sr:.0f} s > max_duration_s={cfg.max_duration_s:.0f} s)",
            "too_long",
        )
    return int(info.frames), sr


def iter_audio_blocks(path: str | Path, cfg: AudioConfig | None = None, block_s: float = 10.0):
    """A long file in pieces with bounded memory: yields ``(n,)`` float32 mono blocks at
    ``cfg.sample_rate`` (streaming resampler, the same soxr filter as :func:`prepare_signal`),
    each validated like :func:`prepare_signal` (finite, peak). About ``block_s`` s per block."""
    cfg = cfg or AudioConfig()
    path = Path(path)
    frames, sr = audio_info(path, cfg)
    rate = cfg.sample_rate or sr
    res = None
    if rate != sr:
        res = soxr.ResampleStream(sr, rate, 1, dtype="float32", quality="HQ")
    block = max(1024, int(block_s * sr))
    try:
        with sf.SoundFile(str(path)) as fh:
            while True:
                data = fh.read(block, dtype="float32", always_2d=True)
                last = data.shape[0] < block
                if data.shape[0]:
                    x = data.mean(axis=1) if cfg.mono else data[:, 0]
                    if not np.all(np.isfinite(x)):
                        raise AudioError(
                            path, f"contains {int(x.size - np.isfinite(x).sum())} NaN/inf samples"
                        )
                    x = _bounded(x.astype(np.float32, copy=False), cfg, str(path))
                else:
                    x = np.zeros(0, np.float32)
                if res is not None:
                    x = res.resample_chunk(x, last=last)
                if x.size:
                    yield np.ascontiguousarray(x, dtype=np.float32)
                if last:
                    return
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise AudioError(path, f"unreadable audio ({msg})", "unreadable") from None


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
    if start is None and end is None:
        _, sr = audio_info(path, cfg)  # truncation, rate and length refusals from the header
    else:
        _check_regular(path)
    try:
        if start is not None or end is not None:
            sr = int(sf.info(str(path)).samplerate)
        a = int(round(start * sr)) if start is not None else 0
        b = int(round(end * sr)) if end is not None else -1
        data, sr = sf.read(
            str(path), start=a, stop=None if b < 0 else b, dtype="float32", always_2d=True
        )
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        msg = msg.replace(f"Error opening {str(path)!r}: ", "")
        raise AudioError(path, f"unreadable audio ({msg})", "unreadable") from None
    x = prepare_signal(data, sr, cfg, source=str(path))
    return (x, cfg.sample_rate or sr) if return_rate else x


def load_audio_bytes(
    data: bytes, cfg: AudioConfig | None = None, source: str = "<upload>", return_rate: bool = False
):
    """Like :func:`load_audio` for an in-memory file (an HTTP upload): any soundfile format."""
    import io

    cfg = cfg or AudioConfig()
    if not data:
        raise AudioError(source, "empty upload (0 bytes)")
    _check_complete(source, data[: 1 << 16], len(data))
    try:
        with sf.SoundFile(io.BytesIO(data)) as fh:
            sr = int(fh.samplerate)
            if sr < cfg.min_sample_rate:
                raise AudioError(
                    source,
                    f"sample rate {sr} Hz is below {cfg.min_sample_rate} Hz (min_sample_rate)",
                )
            if fh.frames > cfg.max_duration_s * sr * 1.01:
                raise AudioError(
                    source,
                    f"too long ({fh.frames / sr:.0f} s > max_duration_s={cfg.max_duration_s:.0f} "
                    "s)",
                    "too_long",
                )
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
