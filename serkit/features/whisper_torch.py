"""Whisper tiny.en encoder rebuilt in torch from the bundled CTranslate2 weights.

Returns every hidden state, so heads can learn a softmax layer weighting (s3prl style):
index 0 = convolutional front + positional encoding (input of the first block), 1..4 = after
each transformer block; the last one has the final LayerNorm applied, so it equals the
CTranslate2 ``encode`` output. Padding is masked exactly (conv output zeroed past each
length, key padding mask in attention), so batched results equal one-at-a-time results.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from serkit.features.whisper_weights import read_encoder_weights


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, ff: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        shape = (n, t, self.heads, d // self.heads)
        q, k, v = (z.reshape(shape).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        x = x + self.out(att.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class WhisperEncoder(nn.Module):
    """Whisper encoder. ``forward(mel (N, 80, T), lengths (N,))`` -> list of ``(N, ceil(T/2),
    384)``.

    Args:
        n_layers: keep only the first ``n_layers`` transformer blocks (truncated encoder);
            the final LayerNorm is applied only when all blocks are kept.
    """

    def __init__(self, weights: dict | None = None, n_layers: int | None = None):
        super().__init__()
        w = weights if weights is not None else read_encoder_weights()
        d = w["conv1/weight"].shape[0]
        total = sum(1 for k in w if k.endswith("self_attention/linear_0/weight"))
        self.n_layers = total if n_layers is None else min(n_layers, total)
        self.full = self.n_layers == total
        heads = int(w["num_heads"]) if "num_heads" in w else d // 64
        ff = w["layer_0/ffn/linear_0/weight"].shape[0]
        self.conv1 = nn.Conv1d(w["conv1/weight"].shape[1], d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer(
            "pos", torch.from_numpy(w["position_encodings/encodings"].copy()), persistent=False
        )
        self.blocks = nn.ModuleList(_Block(d, heads, ff) for _ in range(self.n_layers))
        self.ln_post = nn.LayerNorm(d)
        self._load(w)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def _load(self, w: dict) -> None:
        def cp(param: torch.Tensor, key: str) -> None:
            param.data.copy_(torch.from_numpy(w[key].copy()).reshape(param.shape))

        cp(self.conv1.weight, "conv1/weight")
        cp(self.conv1.bias, "conv1/bias")
        cp(self.conv2.weight, "conv2/weight")
        cp(self.conv2.bias, "conv2/bias")
        # block module -> CTranslate2 name of its weights ("gamma"/"beta" for LayerNorms)
        names = {
            "ln1": "self_attention/layer_norm",
            "qkv": "self_attention/linear_0",
            "out": "self_attention/linear_1",
            "ln2": "ffn/layer_norm",
            "fc1": "ffn/linear_0",
            "fc2": "ffn/linear_1",
        }
        for i, b in enumerate(self.blocks):
            for mod, name in names.items():
                m = getattr(b, mod)
                w_key, b_key = (
                    ("gamma", "beta") if isinstance(m, nn.LayerNorm) else ("weight", "bias")
                )
                cp(m.weight, f"layer_{i}/{name}/{w_key}")
                cp(m.bias, f"layer_{i}/{name}/{b_key}")
        cp(self.ln_post.weight, "layer_norm/gamma")
        cp(self.ln_post.bias, "layer_norm/beta")

    @property
    def dim(self) -> int:
        return self.conv1.out_channels

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
        n, _, t = mel.shape
        if lengths is None:
            lengths = torch.full((n,), t, dtype=torch.long)
        h = F.gelu(self.conv1(mel))
        frame = torch.arange(t, device=mel.device)[None, :]
        h = h * (frame < lengths[:, None]).unsqueeze(1).to(h.dtype)
        h = F.gelu(self.conv2(h)).transpose(1, 2)  # (N, T', D)
        t2 = h.shape[1]
        x = h + self.pos[:t2]
        out_len = torch.div(lengths + 1, 2, rounding_mode="floor")
        key_mask = None
        if bool((out_len < t2).any()):
            valid = torch.arange(t2, device=mel.device)[None, :] < out_len[:, None]
            key_mask = valid[:, None, None, :]  # (N, 1, 1, T') True = attend
        states = [x]
        for i, blk in enumerate(self.blocks):
            x = blk(x, key_mask)
            states.append(self.ln_post(x) if (self.full and i == self.n_layers - 1) else x)
        return states


def whisper_encoder_macs(
    n_mel_frames: int, n_layers: int = 4, d: int = 384, ff: int = 1536, n_mels: int = 80
) -> int:
    """Multiply-accumulates of the Whisper encoder on ``n_mel_frames`` (100 per second).

    Counts conv1, conv2, the QKV/output projections, attention scores and weighted sums, and
    the feed-forward layers; LayerNorm, GELU and softmax are not MACs and are left out.
    """
    t1 = n_mel_frames
    t2 = math.ceil(n_mel_frames / 2)
    macs = t1 * d * n_mels * 3 + t2 * d * d * 3
    per_layer = t2 * (4 * d * d + 2 * d * ff) + 2 * t2 * t2 * d
    return int(macs + n_layers * per_layer)
