"""Streaming recognition: audio chunks of any size in, one :class:`StreamRow` per hop out.

:class:`Stream` keeps only the audio of the window being filled (bounded state: at most
``window`` s plus one chunk) and classifies a window as soon as its last sample has arrived, so a
row's latency is one model call after the chunk that completes its window. The windows are those
of :meth:`~serkit.deploy.runner.Runner.timeline` with ``vad="none"`` (start ``0, hop, 2 hop, ...``,
the same float arithmetic and sample rounding), so the rows of a whole stream equal the timeline
of the same audio: at :meth:`Stream.close`, a tail of at least ``min_window`` s becomes one more
row and a shorter tail extends the last row, which is then sent again with ``revised=True``.

Input at another rate is resampled with ``soxr.ResampleStream`` (the same filter, fed in pieces;
it lags by a few ms, which only delays rows). No head keeps state across hops: the encoders are
not causal and the windows overlap, so each window is computed whole (a causal frontend with a
stateful spiking head is issue 18's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from serkit.core.errors import ConfigError

MAX_RATE = 384_000
MIN_RATE = 4_000
MAX_WINDOW_S = 30.0  # the encoders' context; also bounds what a stream holds
MIN_HOP_S = 0.05  # at most 20 model calls per second of audio


@dataclass
class StreamRow:
    """One window: ``start``/``end`` in seconds of stream time; ``label`` (an emotion,
    ``uncertain`` or ``no_speech``) and ``state``; ``probabilities``; ``latency_ms``: from the
    arrival of the chunk that completed the window to this row; ``revised``: this row replaces
    the previous one (the stream ended within ``min_window`` s of it)."""

    start: float
    end: float
    label: str
    state: str
    probabilities: dict[str, float]
    latency_ms: float
    revised: bool = False

    def to_dict(self) -> dict:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "label": self.label,
            "state": self.state,
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "latency_ms": round(self.latency_ms, 2),
            "revised": self.revised,
        }


class Stream:
    """``feed(chunk) -> [StreamRow]`` for chunks at ``sr`` Hz (float in [-1, 1] or int16);
    ``close() -> [StreamRow]`` flushes the tail. Built by :meth:`Runner.stream`."""

    def __init__(
        self, runner, sr: int, window: float = 2.0, hop: float = 0.5, min_window: float = 0.5
    ):
        import math

        if (
            isinstance(sr, bool)
            or not isinstance(sr, (int, np.integer))
            or not MIN_RATE <= sr <= MAX_RATE
        ):
            raise ConfigError(
                f"stream: sample rate must be an integer in {MIN_RATE}..{MAX_RATE} Hz, got {sr!r}"
            )
        for name, v in (("window", window), ("hop", hop), ("min_window", min_window)):
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float, np.floating))
                or not math.isfinite(v)
            ):
                raise ConfigError(f"stream: {name} must be a finite number of seconds, got {v!r}")
        if (
            not 0.1 <= window <= MAX_WINDOW_S
            or not MIN_HOP_S <= hop <= MAX_WINDOW_S
            or min_window < 0
        ):
            raise ConfigError(
                f"stream: window must be in [0.1, {MAX_WINDOW_S:g}] s, hop in [{MIN_HOP_S:g}, "
                f"{MAX_WINDOW_S:g}] s, min_window >= 0; got window={window!r}, hop={hop!r}"
            )
        self.runner, self.sr, self.window, self.hop, self.min_window = (
            runner,
            int(sr),
            window,
            hop,
            min_window,
        )
        self.rate = runner.target_rate or self.sr
        self._resampler = None
        if self.rate != self.sr:
            import soxr

            self._resampler = soxr.ResampleStream(self.sr, self.rate, 1, dtype="float32")
        self._buf = np.zeros(
            0, np.float32
        )  # samples [self._offset, self._offset + len(buf)) of the stream
        self._offset = 0
        self._a = 0.0  # start (s) of the next window, accumulated as timeline() does
        self._last: tuple[float, float, np.ndarray] | None = (
            None  # the last row's window and samples
        )
        self._closed = False

    @property
    def samples(self) -> int:
        """Samples received so far at the model's rate."""
        return self._offset + self._buf.size

    @property
    def buffered_s(self) -> float:
        """Seconds of audio held (bounded by ``window`` plus one chunk)."""
        return self._buf.size / self.rate

    def _to_float(self, chunk) -> np.ndarray:
        x = np.asarray(chunk)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        elif x.dtype.kind != "f":
            raise ConfigError(f"stream: chunks must be float or int16 samples, got {x.dtype}")
        x = x.astype(np.float32, copy=False).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise ConfigError("stream: chunk has NaN or infinite samples")
        return x

    def _cut(self, a: float, b: float) -> np.ndarray:
        i, j = int(round(a * self.rate)) - self._offset, int(round(b * self.rate)) - self._offset
        return self._buf[max(0, i) : j]

    def _row(
        self, a: float, b: float, x: np.ndarray, t0: float, revised: bool = False
    ) -> StreamRow:
        p = self.runner.classify([(x, self.rate, f"<stream>[{a:.2f}-{b:.2f}]")])[0]
        self._last = (a, b, x)
        return StreamRow(
            a, b, p.label, p.state, p.probabilities, (time.perf_counter() - t0) * 1000, revised
        )

    def _drop_before(self, t: float) -> None:
        keep = int(round(t * self.rate)) - self._offset
        if keep > 0:
            self._buf = self._buf[keep:]
            self._offset += keep

    def feed(self, chunk) -> list[StreamRow]:
        """Add samples; returns the rows whose windows this chunk completed (often none)."""
        if self._closed:
            raise ConfigError("stream: feed() after close()")
        t0 = time.perf_counter()
        x = self._to_float(chunk)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        return self._add(x, t0)

    def _add(self, x: np.ndarray, t0: float) -> list[StreamRow]:
        self._buf = np.concatenate([self._buf, x.astype(np.float32, copy=False)])
        rows = []
        while int(round((self._a + self.window) * self.rate)) <= self.samples:
            a, b = self._a, self._a + self.window
            rows.append(self._row(a, b, self._cut(a, b).copy(), t0))
            self._a += self.hop
            self._drop_before(min(self._a, a + self.window))
        return rows

    def close(self) -> list[StreamRow]:
        """End of stream: the resampler's last samples, then the tail as :meth:`timeline` ends."""
        if self._closed:
            return []
        t0 = time.perf_counter()
        rows = (
            self._add(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True), t0)
            if self._resampler is not None
            else []
        )
        self._closed = True
        end = self.samples / self.rate
        if self._last is None:  # shorter than one window: one row over everything (if anything)
            if self.samples > 0:
                rows.append(self._row(0.0, end, self._cut(0.0, end).copy(), t0))
            return rows
        a_last, b_last, x_last = self._last
        if end - self._a >= self.min_window and end > b_last:
            rows.append(self._row(self._a, end, self._cut(self._a, end).copy(), t0))
        elif end > b_last:  # a short tail: the last window grows to the end
            tail = self._buf[max(0, int(round(b_last * self.rate)) - self._offset) :]
            rows.append(self._row(a_last, end, np.concatenate([x_last, tail]), t0, revised=True))
        return rows

    def run(self, chunks) -> list[StreamRow]:
        """Feed every chunk of an iterable, then close; all rows (revisions applied in place)."""
        out: list[StreamRow] = []
        for c in chunks:
            out += self.feed(c)
        for r in self.close():
            if r.revised and out:
                out[-1] = r
            else:
                out.append(r)
        return out


def listen_rows(
    rec,
    source: str,
    rate: int = 16000,
    sample_format: str = "pcm16",
    window: float = 2.0,
    hop: float = 0.5,
    chunk: float = 0.1,
    realtime: bool = True,
):
    """Rows of ``rec.stream`` over an audio file (fed at the speed it plays when ``realtime``)
    or, for ``source == "-"``, raw little-endian PCM (``pcm16`` | ``float32`` at ``rate`` Hz)
    from stdin as it arrives; yields each :class:`StreamRow` as soon as it exists."""
    import sys

    from serkit.core.errors import AudioError

    if sample_format not in ("pcm16", "float32"):
        raise ConfigError(f"format must be pcm16 or float32, got {sample_format!r}")
    if source == "-":
        width, dtype = (2, "<i2") if sample_format == "pcm16" else (4, "<f4")
        st, carry, step = rec.stream(rate, window, hop), b"", max(width, int(chunk * rate) * width)
        stdin = sys.stdin.buffer
        while True:
            data = stdin.read1(step) if hasattr(stdin, "read1") else stdin.read(step)
            if not data:
                break
            data = carry + data
            cut = len(data) - len(data) % width
            carry = data[cut:]
            if cut:
                yield from st.feed(np.frombuffer(data[:cut], dtype))
        yield from st.close()
        return
    import soundfile as sf

    try:
        info = sf.info(source)
    except (RuntimeError, OSError) as exc:
        raise AudioError(source, f"cannot read: {exc}") from None
    st, n, t0, fed = (
        rec.stream(info.samplerate, window, hop),
        max(1, int(chunk * info.samplerate)),
        time.time(),
        0,
    )
    for block in sf.blocks(source, blocksize=n, dtype="float32", always_2d=True):
        if realtime:
            time.sleep(max(0.0, t0 + fed / info.samplerate - time.time()))
        yield from st.feed(block.mean(axis=1))
        fed += len(block)
    yield from st.close()
