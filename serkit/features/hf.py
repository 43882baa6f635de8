"""``hf:<local path>``: a user's own WavLM / HuBERT / wav2vec2 checkpoint via transformers.

Loaded with ``local_files_only=True``: nothing is downloaded. Returns every hidden state
``(L, T, D)`` (L = transformer layers + 1), like ``whisper-tiny-layers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.core.errors import ConfigError, MissingDependencyError
from serkit.features.base import Frontend, register_path_only


@dataclass
class HFConfig:
    path: str = ""
    normalize: bool = True


@register_path_only
class HFFrontend(Frontend):
    name = "hf"
    config_cls = HFConfig
    takes_path = True
    path_in_name = True

    def __init__(self, config=None):
        super().__init__(config)
        if not self.config.path or not Path(self.config.path).exists():
            raise ConfigError(
                f"hf frontend: local checkpoint folder {self.config.path!r} not found "
                "(give hf:/path/to/model; nothing is downloaded)"
            )
        try:
            import transformers  # noqa: F401
        except ImportError:
            raise MissingDependencyError("transformers", "hf", "the hf:<path> frontend") from None
        from transformers import AutoConfig, AutoModel

        self._cfg = AutoConfig.from_pretrained(self.config.path, local_files_only=True)
        self._model = AutoModel.from_pretrained(self.config.path, local_files_only=True).eval()

    def spec(self) -> dict:
        s = super().spec()
        s["name"] = f"hf:{self.config.path}"
        return s

    @property
    def dim(self) -> int:
        return int(self._cfg.hidden_size)

    @property
    def layer_names(self) -> list[str]:
        return [f"hidden{i}" for i in range(int(self._cfg.num_hidden_layers) + 1)]

    @property
    def frame_rate(self) -> float:
        return 50.0

    def extract(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch

        x = wav.astype(np.float32)
        if self.config.normalize:
            x = (x - x.mean()) / (x.std() + 1e-7)
        with torch.inference_mode():
            out = self._model(torch.from_numpy(x)[None], output_hidden_states=True)
        return torch.stack(out.hidden_states)[:, 0].numpy()
