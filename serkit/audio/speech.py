"""Speech presence: is there speech in a clip at all? (numpy + onnxruntime, no torch).

:class:`SileroVAD` runs the Silero VAD v5 ONNX model shipped inside the PyPI wheel
``silero-vad`` (MIT) on 32 ms frames of 16 kHz audio (512 samples plus the 64 samples before
them as context, a recurrent state carried across frames), in one call over the whole clip
(``silero_vad_16k_sequence.onnx``: the same probabilities as the frame-by-frame
``silero_vad.onnx``, 3-4x faster).
:func:`speech_presence` turns the frame probabilities into seconds of speech and a verdict: a
clip with less than ``min_speech_s`` (0.15 s) of frames above ``threshold`` (0.3) is
``no_speech``. (The first rule, 0.25 s above 0.5, flagged 6.6 % of BAVED's short single words;
non-speech test signals stay below 0.05: docs/BENCHMARKS.md.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from serkit.core.errors import SerkitError

FRAME = 512  # samples at 16 kHz (32 ms)
CONTEXT = 64


def silero_model_path() -> Path:
    """The ONNX file inside the installed ``silero-vad`` wheel, found without importing the
    package (its ``__init__`` imports torch; the ONNX runner must work without torch)."""
    import importlib.util

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SerkitError(
            "speech presence needs the Silero VAD model: pip install silero-vad (MIT; its wheel "
            "ships the ONNX file, nothing is downloaded)"
        )
    p = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad_16k_sequence.onnx"
    if not p.exists():
        raise SerkitError(f"{p}: not found in the installed silero-vad package")
    return p


#: output frames of each layer for one 32 ms chunk (576 samples with context, padded by 64):
#: the STFT (256-sample window, hop 128) gives 4, the encoder's convolutions (kernel 3) run on
#: 4, 4, 2 (stride 2) and 1 (stride 2) frames and end on 1, then one LSTM cell step
_SILERO_FRAMES = {"stft_conv": 4, "conv1": 4, "conv2": 2, "conv3": 1, "conv4": 1, "final_conv": 1}


@lru_cache(maxsize=1)
def silero_chunk_macs() -> int:
    """Multiply-accumulates of the Silero VAD (16 kHz model) for one 32 ms chunk, counted from
    the weight shapes in the installed wheel (``silero_vad_16k.safetensors``): every
    convolution ``out x in x kernel`` per output frame (:data:`_SILERO_FRAMES`, checked against
    the wheel's TorchScript model in the tests), the STFT magnitude (2 per bin and frame) and
    the LSTM cell (``4H x (I + H)``)."""
    from safetensors.numpy import load_file

    p = silero_model_path().with_name("silero_vad_16k.safetensors")
    if not p.is_file():
        raise SerkitError(f"{p}: not found in the installed silero-vad package")
    w = load_file(str(p))
    macs = 0
    for name, frames in _SILERO_FRAMES.items():
        o, i, k = w[f"{name}.weight"].shape
        macs += frames * o * i * k
    macs += _SILERO_FRAMES["stft_conv"] * w["stft_conv.weight"].shape[0]  # |X|^2: re^2 + im^2
    gates, n_in = w["lstm_cell.weight_ih"].shape
    macs += gates * (n_in + w["lstm_cell.weight_hh"].shape[1])
    return int(macs)


def silero_macs(seconds: float) -> int:
    """MACs of the speech check over ``seconds`` of audio (one chunk per 32 ms, 16 kHz)."""
    return int(round(seconds * 16000 / FRAME * silero_chunk_macs()))


@lru_cache(maxsize=1)
def silero_available() -> bool:
    """Whether the Silero ONNX file and onnxruntime are installed (looked up once per process:
    the package search costs 0.25 ms, a tenth of a compact model's whole answer)."""
    import importlib.util

    try:
        silero_model_path()
    except SerkitError:
        return False
    return importlib.util.find_spec("onnxruntime") is not None


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = (
        3  # the exported graph has unused initialisers onnxruntime warns about
    )
    return ort.InferenceSession(str(silero_model_path()), opts, providers=["CPUExecutionProvider"])


class SileroVAD:
    """Frame speech probabilities of mono 16 kHz audio: ``probs(x)`` -> ``(ceil(n / 512),)``."""

    sample_rate = 16000

    def probs(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        n = int(np.ceil(x.size / FRAME))
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        pad = np.zeros(n * FRAME + CONTEXT, dtype=np.float32)
        pad[CONTEXT : CONTEXT + x.size] = x
        idx = np.arange(n)[:, None] * FRAME + np.arange(FRAME + CONTEXT)[None, :]
        zero = np.zeros((1, 1, 128), dtype=np.float32)
        p, _, _ = _session().run(None, {"input": pad[idx], "h": zero, "c": zero})
        return np.asarray(p, dtype=np.float32).reshape(-1)


@dataclass
class SpeechPresence:
    """``speech_s``: seconds of frames judged speech; ``max_prob``: highest frame probability;
    ``speech``: the verdict (``speech_s >= min_speech_s``)."""

    speech_s: float
    max_prob: float
    speech: bool


def speech_presence(
    x: np.ndarray, sr: int, threshold: float = 0.3, min_speech_s: float = 0.15
) -> SpeechPresence:
    """Speech presence of mono ``x`` at ``sr`` Hz (resampled to 16 kHz when needed)."""
    if sr != 16000:
        import soxr

        x = soxr.resample(np.asarray(x, dtype=np.float32), sr, 16000)
    p = SileroVAD().probs(x)
    s = float((p > threshold).sum() * FRAME / 16000)
    return SpeechPresence(round(s, 3), float(p.max()) if p.size else 0.0, s >= min_speech_s)
