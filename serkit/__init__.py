"""serkit: energy-efficient speech emotion recognition.

Public API: :func:`load` returns a :class:`Recognizer` (``labels``, ``sample_rate``,
``predict``, ``predict_batch``). Corpora, frontends and models live in their sub-packages.
"""

from serkit.core.version import __version__


def load(name_or_path="default", adapt="none"):
    """:func:`serkit.deploy.loading.load`: a bundled model by name or a model file;
    ``adapt="online"`` adapts to the speech it answers."""
    from serkit.deploy.loading import load as _load

    return _load(name_or_path, adapt)


__all__ = ["__version__", "load"]
