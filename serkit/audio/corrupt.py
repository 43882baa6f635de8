"""Test-time corruptions for noise and channel robustness, named by a short spec.

=================  =========================================================================
spec               what happens to the clip ``x`` (N,) float at ``sr`` Hz
=================  =========================================================================
``white@SNR``      white noise at SNR dB (audiomentations ``AddColorNoise``, f_decay 0)
``pink@SNR``       pink noise (1/f, f_decay -3.01 dB/octave; ``AddColorNoise``)
``babble@SNR``     the sum of 5 utterances of a babble pool (other corpora's speakers, never
                   the test speakers; each scaled to the same RMS), looped / cropped to N
``background@SNR`` one real recording of a noise pool (e.g. EmoSpeech's ``background`` clips)
``reverb@RT60``    one of 8 simulated shoe-box rooms with that RT60 in seconds
                   (pyroomacoustics image method, Sabine absorption), length kept
``telephone``      300-3400 Hz band (audiomentations ``BandPassFilter``) and 8 kHz resampling
                   there and back (soxr)
``mp3@KBPS``       MP3 round trip at that bit rate (audiomentations ``Mp3Compression``, lameenc)
=================  =========================================================================

SNR is the clean clip's mean power over the noise's mean power (both over the whole clip).
Each corruption is a pure function of ``(x, sr, spec, seed, pools)``: the same seed gives the
same corrupted clip, so corrupted features can be cached by content. Never NaN: a silent clip
gets the noise at the level of a -30 dBFS signal.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from serkit.core.errors import ConfigError, MissingDependencyError

NOISES = ("white", "pink", "babble", "background")
_SPEC = re.compile(
    r"^(white|pink|babble|background|reverb|mp3)@(-?\d+(?:\.\d+)?)$|^(telephone|clean)$"
)
BABBLE_TALKERS = 5


@dataclass(frozen=True)
class Corruption:
    """A parsed spec: ``kind`` and its ``value`` (SNR dB, RT60 s or kbit/s; ``None`` for
    ``telephone`` / ``clean``)."""

    kind: str
    value: float | None = None

    @property
    def spec(self) -> str:
        return self.kind if self.value is None else f"{self.kind}@{self.value:g}"


def parse_corruption(spec: str) -> Corruption:
    m = _SPEC.match(spec.strip())
    if not m:
        raise ConfigError(
            f"unknown corruption {spec!r}: use white@SNR, pink@SNR, babble@SNR, background@SNR, "
            "reverb@RT60, telephone, mp3@KBPS (e.g. babble@10)"
        )
    if m.group(3):
        return Corruption(m.group(3))
    c = Corruption(m.group(1), float(m.group(2)))
    if c.kind == "reverb" and not 0.05 <= c.value <= 3.0:
        raise ConfigError(f"{spec}: RT60 must be 0.05-3 s")
    if c.kind == "mp3" and not 8 <= c.value <= 320:
        raise ConfigError(f"{spec}: MP3 bit rate must be 8-320 kbit/s")
    return c


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.asarray(x, np.float64) ** 2))


def mix_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x + g * noise`` with ``g`` such that power(x) / power(g noise) = 10^(snr/10); ``noise``
    looped or cropped to ``x``'s length. A silent ``noise`` adds nothing."""
    x = np.asarray(x, np.float32)
    n = np.resize(np.asarray(noise, np.float32), x.shape)
    p_n = _power(n)
    if not p_n > 0:
        return x.copy()
    p_x = _power(x) if _power(x) > 0 else 1e-3  # a silent clip: noise as under a -30 dBFS signal
    g = np.sqrt(p_x / (10 ** (snr_db / 10) * p_n))
    return (x + g * n).astype(np.float32)


def add_noise(x: np.ndarray, sr: int, color: str, snr_db: float, seed: int) -> np.ndarray:
    """White or pink noise at ``snr_db`` (audiomentations ``AddColorNoise``, seeded)."""
    from audiomentations import AddColorNoise

    decay = {"white": 0.0, "pink": -3.01}[color]
    _seed_global(seed)
    aug = AddColorNoise(
        min_snr_db=snr_db, max_snr_db=snr_db, min_f_decay=decay, max_f_decay=decay, p=1.0
    )
    x = np.asarray(x, np.float32)
    if not _power(x) > 0:
        x = x + np.float32(1e-7)
    return np.nan_to_num(aug(x, sr)).astype(np.float32)


def _seed_global(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)


def babble(
    pool: list[np.ndarray], n: int, rng: np.random.Generator, talkers: int = BABBLE_TALKERS
) -> np.ndarray:
    """``talkers`` clips of ``pool`` (drawn with ``rng``), each looped to ``n`` samples from a
    random offset and scaled to unit RMS, summed."""
    if not pool:
        raise ConfigError(
            "babble needs a babble pool (speech of other speakers): pass --babble MANIFEST"
        )
    out = np.zeros(n, np.float64)
    for j in rng.choice(len(pool), size=min(talkers, len(pool)), replace=False):
        s = np.asarray(pool[int(j)], np.float64)
        s = np.roll(np.resize(s, n), int(rng.integers(0, max(s.size, 1))))
        rms = np.sqrt(np.mean(s**2))
        if rms > 0:
            out += s / rms
    return out.astype(np.float32)


def corrupt(
    x: np.ndarray,
    sr: int,
    c: Corruption | str,
    seed: int,
    babble_pool: list[np.ndarray] | None = None,
    noise_pool: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The corrupted clip (N,) float32 at ``sr`` (same length). Pools: waveforms at ``sr``."""
    c = parse_corruption(c) if isinstance(c, str) else c
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    if c.kind == "clean":
        return x.copy()
    if c.kind in ("white", "pink"):
        return add_noise(x, sr, c.kind, c.value, seed)
    if c.kind == "babble":
        return mix_at_snr(x, babble(babble_pool or [], x.size, rng), c.value)
    if c.kind == "background":
        if not noise_pool:
            raise ConfigError(
                "background noise needs a noise pool (recordings of real noise): pass --noise-dir "
                "DIR"
            )
        n = np.asarray(noise_pool[int(rng.integers(len(noise_pool)))], np.float32)
        return mix_at_snr(
            x, np.roll(np.resize(n, x.size), int(rng.integers(0, max(n.size, 1)))), c.value
        )
    if c.kind == "reverb":
        return _reverb(x, sr, c.value, seed)
    if c.kind == "telephone":
        return _telephone(x, sr, seed)
    if c.kind == "mp3":
        return _mp3(x, sr, int(c.value), seed)
    raise ConfigError(
        f"unknown corruption {c.spec!r}"
    )  # pragma: no cover - parse_corruption checks


ROOMS = 8
"""Distinct simulated rooms per RT60; a clip's seed picks one (the RIRs are computed once)."""


@functools.lru_cache(maxsize=64)
def room_impulse_response(sr: int, rt60: float, room: int) -> np.ndarray:
    """The RIR (M,) of shoe-box room ``room`` (size, source and microphone drawn from a fixed
    seed) with reverberation time ``rt60`` s: pyroomacoustics' image method, wall absorption
    from Sabine's formula (``inverse_sabine``)."""
    try:
        import pyroomacoustics as pra
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("pyroomacoustics", "analysis", "reverberation") from exc
    r = np.random.default_rng(1000 + room)
    dim = np.array([r.uniform(3.6, 6.0), r.uniform(3.0, 4.5), r.uniform(2.4, 3.0)])
    absorption, max_order = pra.inverse_sabine(rt60, dim)
    shoebox = pra.ShoeBox(
        dim, fs=sr, materials=pra.Material(absorption), max_order=min(max_order, 40)
    )
    src = dim * r.uniform(0.2, 0.8, 3)
    mic = np.clip(src + r.normal(0, 1.0, 3), 0.3, dim - 0.3)
    shoebox.add_source(src)
    shoebox.add_microphone(mic)
    shoebox.compute_rir()
    return np.asarray(shoebox.rir[0][0], np.float32)


def _reverb(x, sr, rt60, seed):
    from scipy.signal import fftconvolve

    h = room_impulse_response(int(sr), float(rt60), seed % ROOMS)
    y = fftconvolve(x, h)[: x.size]
    peak, ref = float(np.abs(y).max()), float(np.abs(x).max())
    return (np.nan_to_num(y) * (ref / peak if peak > 0 and ref > 0 else 1.0)).astype(np.float32)


def _telephone(x, sr, seed):
    import soxr
    from audiomentations import BandPassFilter

    _seed_global(seed)
    bw = 3100.0 / 1850.0
    bp = BandPassFilter(
        min_center_freq=1850.0,
        max_center_freq=1850.0,
        min_bandwidth_fraction=bw,
        max_bandwidth_fraction=bw,
        min_rolloff=24,
        max_rolloff=24,
        zero_phase=True,
        p=1.0,
    )
    y = bp(x, sr)  # centre 1850 Hz, bandwidth 3100 Hz: 300-3400 Hz (24 dB/octave)
    if sr > 8000:
        y = soxr.resample(soxr.resample(y, sr, 8000), 8000, sr)
    y = np.resize(np.asarray(y, np.float32), x.shape)
    return np.nan_to_num(y).astype(np.float32)


def _mp3(x, sr, kbps, seed):
    try:
        import lameenc  # noqa: F401
        from audiomentations import Mp3Compression
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("lameenc", "analysis", "MP3 compression") from exc
    _seed_global(seed)
    aug = Mp3Compression(
        min_bitrate=kbps, max_bitrate=kbps, backend="lameenc", preserve_delay=True, p=1.0
    )
    y = np.asarray(aug(x, sr), np.float32)
    return np.resize(np.nan_to_num(y), x.shape).astype(np.float32)


DOMAIN_CHANNELS = ("none", "telephone", "reverb", "shelf", "noise")
"""The channel effects :func:`perturb_domain` draws one of (uniformly)."""


def perturb_domain(x: np.ndarray, sr: int, seed: int) -> tuple[np.ndarray, dict]:
    """One label-preserving copy of ``x`` (N,) float at ``sr`` Hz that changes what differs
    between corpora rather than what the speaker expresses; returns ``(y, what)`` with ``y``
    float32 in [-1, 1] and ``what`` the drawn settings. Each of speed, pitch and gain is applied
    with probability 0.5, then ONE channel of :data:`DOMAIN_CHANNELS`:

    - speed: factor U[0.9, 1.1] by resampling (tempo and pitch together; soxr), length changes;
    - pitch: U[-2, 2] semitones at constant tempo (audiomentations ``PitchShift``);
    - gain: U[-6, 6] dB;
    - channel ``telephone`` (300-3400 Hz, 8 kHz round trip), ``reverb`` (RT60 U[0.2, 0.7] s, one
      of the :data:`ROOMS` simulated rooms), ``shelf`` (a low- or high-shelf filter of
      U[-6, 6] dB: microphone colour), ``noise`` (white or pink, SNR U[10, 30] dB) or ``none``.

    The ranges are fixed (not tuned on any corpus). Deterministic in ``seed``."""
    import soxr
    from audiomentations import Gain, HighShelfFilter, LowShelfFilter, PitchShift

    rng = np.random.default_rng(seed)
    y = np.asarray(x, np.float32)
    what: dict = {}
    if rng.random() < 0.5:
        f = float(rng.uniform(0.9, 1.1))
        y, what["speed"] = soxr.resample(y, sr * f, sr).astype(np.float32), round(f, 3)
    _seed_global(int(rng.integers(2**31)))
    if rng.random() < 0.5 and y.size >= 2048:
        st = float(rng.uniform(-2.0, 2.0))
        y = PitchShift(min_semitones=st, max_semitones=st, p=1.0)(y, sr)
        what["pitch"] = round(st, 2)
    if rng.random() < 0.5:
        g = float(rng.uniform(-6.0, 6.0))
        y, what["gain_db"] = Gain(min_gain_db=g, max_gain_db=g, p=1.0)(y, sr), round(g, 2)
    ch = DOMAIN_CHANNELS[int(rng.integers(len(DOMAIN_CHANNELS)))]
    what["channel"] = ch
    sub = int(rng.integers(2**31))
    if ch == "telephone":
        y = _telephone(y, sr, sub)
    elif ch == "reverb":
        rt = round(float(rng.uniform(0.2, 0.7)), 1)
        y, what["rt60"] = _reverb(y, sr, rt, sub), rt
    elif ch == "shelf":
        g = float(rng.uniform(-6.0, 6.0))
        _seed_global(sub)
        low = bool(rng.random() < 0.5)
        f = (LowShelfFilter if low else HighShelfFilter)(min_gain_db=g, max_gain_db=g, p=1.0)
        y, what["shelf"] = f(y, sr), f"{'low' if low else 'high'}{g:+.1f}dB"
    elif ch == "noise":
        snr = float(rng.uniform(10.0, 30.0))
        color = "white" if rng.random() < 0.5 else "pink"
        y, what["noise"] = add_noise(y, sr, color, snr, sub), f"{color}@{snr:.1f}"
    return np.clip(np.nan_to_num(np.asarray(y, np.float32)), -1.0, 1.0), what
