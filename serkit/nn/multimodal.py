"""Two-modality inputs: one utterance's speech frames and the token states of its words.

:class:`Bimodal` is one utterance (numpy); :func:`collate_bimodal` pads a list of them into a
:class:`BimodalBatch` (torch), which multimodal heads take in place of the audio tensor. Either
modality may be absent: a missing transcript has ``text None``; a text-only item (trained from
a CSV of transcripts) has a one-frame zero placeholder for audio and ``has_audio False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Bimodal:
    """``audio: (L, T, D)`` encoder states; ``text: (T_tok, D_t)`` token states or ``None``;
    ``text_dim``: ``D_t`` (known even when this item has no text)."""

    audio: np.ndarray
    text: np.ndarray | None
    has_audio: bool = True
    text_dim: int = 384

    @property
    def shape(self) -> tuple[int, ...]:
        """The audio shape (what length bucketing and pooling read)."""
        return self.audio.shape


@dataclass
class BimodalBatch:
    """``audio: (N, L, T, D)``, ``audio_mask: (N, T)``, ``text: (N, T_tok, D_t)``,
    ``text_mask: (N, T_tok)``; ``has_audio`` / ``has_text``: ``(N,)`` bool."""

    audio: torch.Tensor
    audio_mask: torch.Tensor
    text: torch.Tensor
    text_mask: torch.Tensor
    has_audio: torch.Tensor
    has_text: torch.Tensor


def collate_bimodal(items: list[Bimodal]) -> tuple[BimodalBatch, torch.Tensor]:
    """Pad both modalities; returns ``(batch, audio_mask)`` like the audio-only collate."""
    n, text_dim = len(items), items[0].text_dim
    L, _, D = items[0].audio.shape
    T = max(b.audio.shape[1] for b in items)
    Tt = max([1] + [b.text.shape[0] for b in items if b.text is not None])
    xa = np.zeros((n, L, T, D), np.float32)
    ma = np.zeros((n, T), bool)
    xt = np.zeros((n, Tt, text_dim), np.float32)
    mt = np.zeros((n, Tt), bool)
    for i, b in enumerate(items):
        xa[i, :, : b.audio.shape[1]] = b.audio
        ma[i, : b.audio.shape[1]] = True
        if b.text is not None:
            xt[i, : b.text.shape[0]] = b.text
            mt[i, : b.text.shape[0]] = True
    has_a = torch.tensor([b.has_audio for b in items])
    batch = BimodalBatch(
        torch.from_numpy(xa),
        torch.from_numpy(ma),
        torch.from_numpy(xt),
        torch.from_numpy(mt),
        has_a,
        torch.from_numpy(mt.any(1)),
    )
    return batch, batch.audio_mask
