"""``compact`` / ``compact:<path>``: the distilled compact frontend (about 100x cheaper than
Whisper).

A :class:`~serkit.features.compact_net.CompactNet` on Whisper's 80-bin log-mel, distilled from
the Whisper tiny.en hidden states that the heads use (``serkit distill``; issue 18). Output
``(L, ceil(T/2), C)``: the states of the network's tap blocks at 50 frames per second, the
same frame rate as Whisper, so every head runs on it unchanged.

``compact`` is the student bundled in the package (``serkit/features/assets/compact.safetensors``;
its header says which corpora it was distilled on); ``compact:<path>`` one a user distilled.
The weight file is safetensors: tensors plus a JSON header (``config``: the architecture,
``provenance``: teacher, corpora, augmentation, losses, wall time). Its SHA-1 is part of the
frontend's spec, so features cached from other weights are never reused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serkit.audio.mel import log_mel, log_mel_macs
from serkit.core.errors import AudioError, ConfigError
from serkit.core.io import file_digest
from serkit.features.base import Frontend, register
from serkit.features.compact_net import CompactNet, CompactNetConfig, compact_macs

BUNDLED = Path(__file__).parent / "assets" / "compact.safetensors"


def read_student(path: str | Path) -> tuple[dict, dict, dict]:
    """``(tensors, config dict, provenance dict)`` of a student weight file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"compact frontend: weight file {str(path)!r} not found (distil one with `serkit "
            "distill`)"
        )
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise ConfigError(
            f"compact frontend: {str(path)!r} is not a student weight file ({exc})"
        ) from None
    if "config" not in meta:
        raise ConfigError(
            f"compact frontend: {str(path)!r} has no 'config' header (not written by serkit "
            "distill)"
        )
    return tensors, json.loads(meta["config"]), json.loads(meta.get("provenance", "{}"))


def load_student(path: str | Path) -> tuple[CompactNet, dict]:
    """The network (eval mode, frozen) and its provenance."""
    tensors, cfg, prov = read_student(path)
    net = CompactNet(CompactNetConfig(**cfg))
    own = {
        k: v for k, v in tensors.items() if not k.startswith("proj.")
    }  # distillation projections stay behind
    missing, unexpected = net.load_state_dict(own, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"compact frontend: {str(path)!r} does not match its config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, prov


@dataclass
class CompactConfig:
    """``path``: a student weight file (empty = the bundled one); ``layers``: indices into the
    student's taps to keep (empty = all); ``batch_size`` and ``threads`` do not change the
    features."""

    path: str = ""
    layers: list[int] = field(default_factory=list)
    batch_size: int = 16
    threads: int = 0


@register
class Compact(Frontend):
    """The distilled student: ``(L, T/2, C)`` tap states at 50 frames per second."""

    name = "compact"
    takes_path = True
    config_cls = CompactConfig
    version = "1"

    def __init__(self, config=None):
        super().__init__(config)
        self._net: CompactNet | None = None
        self._prov: dict | None = None
        self._arch: CompactNetConfig | None = None

    @property
    def weights_path(self) -> Path:
        return Path(self.config.path) if self.config.path else BUNDLED

    @property
    def arch(self) -> CompactNetConfig:
        if self._arch is None:
            _, cfg, self._prov = read_student(self.weights_path)
            self._arch = CompactNetConfig(**cfg)
        return self._arch

    @property
    def net(self) -> CompactNet:
        if self._net is None:
            self._net, self._prov = load_student(self.weights_path)
            self._arch = self._net.config
            n = len(self._arch.taps)
            bad = [i for i in self.config.layers if not 0 <= i < n]
            if bad:
                raise ConfigError(
                    f"compact: layers {bad} out of range 0..{n - 1} (the student has {n} taps)"
                )
        return self._net

    @property
    def provenance(self) -> dict:
        _ = self.arch
        return dict(self._prov or {})

    @property
    def layer_indices(self) -> list[int]:
        return list(self.config.layers) or list(range(len(self.arch.taps)))

    @property
    def dim(self) -> int:
        return self.arch.channels

    @property
    def layer_names(self) -> list[str]:
        return [f"block{self.arch.taps[i]}" for i in self.layer_indices]

    @property
    def frame_rate(self) -> float:
        return 50.0

    def spec(self) -> dict:
        s = super().spec()
        s["weights_sha1"] = file_digest(self.weights_path) if self.weights_path.exists() else None
        return s

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return self.extract_batch([wav], sr)[0]

    def extract_batch(self, wavs: list[np.ndarray], sr: int) -> list[np.ndarray]:
        import torch

        if sr != 16000:
            raise AudioError(
                "<signal>",
                f"the compact frontend takes 16 kHz audio, got {sr} Hz (resample first: "
                "serkit.audio.load_audio does)",
            )
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        mels = [log_mel(w) for w in wavs]
        order = sorted(range(len(mels)), key=lambda i: mels[i].shape[1])
        out: list[np.ndarray | None] = [None] * len(mels)
        keep = self.layer_indices
        bs = max(1, self.config.batch_size)
        from serkit.core.device import get_device

        dev = get_device()
        net = self.net.to(dev)
        with torch.inference_mode():
            for k in range(0, len(order), bs):
                sub = order[k : k + bs]
                lens = torch.tensor([mels[i].shape[1] for i in sub])
                x = torch.zeros(len(sub), 80, int(lens.max()))
                for b, i in enumerate(sub):
                    x[b, :, : mels[i].shape[1]] = torch.from_numpy(mels[i])
                states = [s.cpu() for s in net(x.to(dev), lens.to(dev))]
                for b, i in enumerate(sub):
                    t2 = (mels[i].shape[1] + 1) // 2
                    out[i] = np.stack([states[s][b, :t2].numpy() for s in keep]).astype(np.float32)
        return out  # type: ignore[return-value]

    def encoder_macs(self, duration_s: float) -> int:
        return compact_macs(self.arch, int(duration_s * 100))

    def dsp_macs(self, duration_s: float) -> int:
        return log_mel_macs(duration_s)


def strip_student(src: str | Path, dst: str | Path) -> Path:
    """Copy a student weight file without its distillation projections (what a frontend needs:
    the network and the header; about half the size). Written atomically."""
    from safetensors.torch import save

    from serkit.core.io import atomic_write_bytes

    _, cfg, prov = read_student(src)
    net, _ = load_student(src)  # normalises older layouts (1x1-conv projections) on the way
    keep = {k: v.contiguous() for k, v in net.state_dict().items()}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(
        dst, save(keep, metadata={"config": json.dumps(cfg), "provenance": json.dumps(prov)})
    )
    return dst
