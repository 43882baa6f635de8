"""``serkit.load(name_or_path)``: a bundled model by name or a model file, as a
:class:`~serkit.deploy.recognizer.Recognizer` (bundles -> recognizer, one way)."""

from __future__ import annotations

from pathlib import Path

from serkit.core.errors import ConfigError
from serkit.deploy.recognizer import Recognizer


def load(name_or_path: str | Path = "default") -> Recognizer:
    """A bundled model by name (``default``; :data:`serkit.deploy.bundles.BUNDLES`) or a
    ``.pt`` file written by ``serkit train``."""
    from serkit.deploy.bundles import BUNDLES

    if str(name_or_path) in BUNDLES:
        return BUNDLES[str(name_or_path)].get_model()
    if not Path(name_or_path).is_file():
        raise ConfigError(
            f"{name_or_path!r} is neither a bundled model ({', '.join(sorted(BUNDLES))}) nor a "
            "model "
            "file (.pt from `serkit train` / `serkit adapt`)"
        )
    return Recognizer(name_or_path)
