"""Where torch work runs: one process-wide device (``cpu`` by default; ``--device cuda`` on
``serkit predict`` / ``train`` / ``bench``). The torch frontends (Whisper layers, the compact
student) and the training loop read :func:`get_device`; tensors come back to the CPU as numpy,
so nothing else changes. Results computed on a GPU differ from the CPU's by float rounding only.
"""

from __future__ import annotations

from contextlib import contextmanager

from serkit.core.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
_current = "cpu"


def resolve(name: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a CUDA device, else ``cpu``; ``cuda`` without one is
    a :class:`ConfigError` (never a silent fall-back)."""
    if name not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "cpu":
        return "cpu"
    import torch

    has = torch.cuda.is_available()
    if name == "cuda" and not has:
        raise ConfigError(
            "--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False; "
            "the CPU build of torch has none); use --device cpu"
        )
    return "cuda" if has else "cpu"


def set_device(name: str) -> str:
    """Make ``name`` (see :func:`resolve`) the device of torch work in this process; returns it."""
    global _current
    _current = resolve(name)
    return _current


def get_device() -> str:
    return _current


@contextmanager
def using(name: str):
    """Run a block on ``name``, then restore the previous device."""
    global _current
    prev = _current
    set_device(name)
    try:
        yield _current
    finally:
        _current = prev
