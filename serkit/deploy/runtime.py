"""Run a serkit ONNX file with numpy + onnxruntime only (no torch, no serkit models).

Reading files uses soundfile (+ soxr to resample), as everywhere in serkit. Clips longer than
30 s are cut into 30 s windows whose probabilities are averaged, weighted by window length
(the PyTorch pipeline instead concatenates the windows' encoder frames; for clips <= 30 s the
two are the same computation).

It is a :class:`~serkit.deploy.runner.Runner`: ``predict`` / ``predict_batch`` / ``timeline``
return the same :class:`~serkit.deploy.runner.Prediction` rows as the PyTorch recogniser.

Example::

    from serkit.deploy.runtime import OnnxRecognizer
    rec = OnnxRecognizer("model.onnx")
    out = rec.predict("speech.wav")
    out.label, out.probabilities
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serkit.audio.mel import log_mel
from serkit.core.errors import SerkitError
from serkit.deploy.onnx_meta import OnnxMeta
from serkit.deploy.runner import Runner, Signal

MAX_MEL_FRAMES = 3000


class OnnxRecognizer(Runner):
    """``labels``, ``sample_rate`` and ``meta`` come from the file's metadata."""

    def __init__(self, path: str | Path, threads: int = 1, warmup: bool = True):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        if not Path(path).is_file():
            raise SerkitError(f"{path}: ONNX file not found")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for bad files
            raise SerkitError(f"{path}: not a loadable ONNX model ({type(exc).__name__})") from None
        try:
            self.meta = OnnxMeta.from_props(dict(self.session.get_modelmeta().custom_metadata_map))
        except (ValueError, TypeError) as exc:
            raise SerkitError(f"{path}: not a serkit ONNX file ({exc})") from None
        if self.meta.kind != "full" or [i.name for i in self.session.get_inputs()] != ["mel"]:
            raise SerkitError(
                f"{path}: a serkit '{self.meta.kind}' ONNX file; this runner takes full exports "
                "(input 'mel': serkit export without --head-only)"
            )
        self.labels: list[str] = list(self.meta.labels)
        self.sample_rate = self.target_rate = int(self.meta.sample_rate)
        self.temperature = float(self.meta.calibration.get("temperature", 1.0))
        self.min_confidence = float(self.meta.calibration.get("min_confidence", 0.0))
        if warmup:  # onnxruntime plans kernels on the first run; keep that out of the first answer
            self.predict_mel(np.zeros((80, 200), np.float32))

    def predict_mel(self, mel: np.ndarray) -> np.ndarray:
        """``mel: (80, T)`` -> probabilities ``(C,)``."""
        if mel.shape[1] <= MAX_MEL_FRAMES:
            return self.session.run(None, {"mel": mel[None].astype(np.float32)})[0][0]
        parts, weights = [], []
        for s in range(0, mel.shape[1], MAX_MEL_FRAMES):
            chunk = mel[:, s : s + MAX_MEL_FRAMES]
            parts.append(self.session.run(None, {"mel": chunk[None].astype(np.float32)})[0][0])
            weights.append(chunk.shape[1])
        return np.average(np.stack(parts), axis=0, weights=weights)

    def predict_array(self, wav: np.ndarray) -> np.ndarray:
        """Mono float waveform at :attr:`sample_rate` -> probabilities ``(C,)``."""
        return self.predict_mel(log_mel(np.asarray(wav, dtype=np.float32)))

    def probabilities(self, signals: list[Signal]) -> np.ndarray:
        return np.stack([self.predict_array(x) for x, _, _ in signals])
