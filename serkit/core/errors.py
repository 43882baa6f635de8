"""Typed errors. Every user-facing failure is one of these, with a one-line message."""

from __future__ import annotations


class SerkitError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits non-zero."""


class AudioError(SerkitError):
    """An audio file or array that cannot be used (unreadable, empty, too short, non-finite)."""

    #: ``kind`` values: ``missing``, ``unreadable`` (not audio / damaged / unsupported format),
    #: ``invalid`` (empty, too short, NaN/inf, bad shape), ``too_long``.
    def __init__(self, source: str, reason: str, kind: str = "invalid"):
        self.source = str(source)
        self.reason = reason
        self.kind = kind
        super().__init__(f"{self.source}: {reason}")


class ManifestError(SerkitError):
    """A manifest line or corpus layout that cannot be parsed."""


class ProtocolError(SerkitError):
    """An evaluation protocol that cannot be built or would leak speakers into the test fold."""


class ConfigError(SerkitError):
    """An unknown config key, a bad value or an unknown registry name."""


class ModelMismatchError(SerkitError):
    """A saved model used with a different frontend or label set than it was trained on."""


class MissingDependencyError(SerkitError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the optional package '{package}': pip install 'serkit[{extra}]'"
        )


class Cancelled(SerkitError):
    """Work stopped on request (an HTTP request past its deadline, a client gone): raised at the
    next window boundary, so abandoned inference frees its worker within one window."""
