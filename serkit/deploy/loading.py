"""``serkit.load(name_or_path)``: a bundled model by name or a model file, as a
:class:`~serkit.deploy.recognizer.Recognizer` (bundles -> recognizer, one way)."""

from __future__ import annotations

from pathlib import Path

from serkit.core.errors import ConfigError
from serkit.deploy.recognizer import Recognizer


def load(name_or_path: str | Path = "default", adapt: str = "none") -> Recognizer:
    """A bundled model by name (``default``; :data:`serkit.deploy.bundles.BUNDLES`) or a
    ``.pt`` file written by ``serkit train`` / ``serkit adapt``. ``adapt="online"``: the
    recogniser adapts its standardisation to the speech it answers
    (:meth:`~serkit.deploy.recognizer.Recognizer.adapt_online`)."""

    if adapt not in ("none", "online"):
        raise ConfigError(
            f"adapt must be 'none' or 'online', got {adapt!r} (offline: rec.adapt(clips))"
        )
    rec = _load(name_or_path)
    return rec.adapt_online() if adapt == "online" else rec


def _load(name_or_path: str | Path) -> Recognizer:
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
