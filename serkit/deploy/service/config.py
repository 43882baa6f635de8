"""The service's limits and models (:class:`ServeConfig`) and how audio errors map to HTTP codes."""

from dataclasses import dataclass, field

STATUS_OF_KIND = {"unreadable": 415, "too_long": 413, "invalid": 422, "missing": 400}


@dataclass
class ServeConfig:
    """``models``: name -> bundled name or ``.pt`` path (the first is the default).
    ``max_upload_mb``: larger uploads get 413 before decoding. ``max_audio_s``: longer audio
    gets 413 for ``/v1/predict`` (``/v1/timeline`` allows ``max_timeline_s``). ``workers``:
    concurrent inferences. ``threads``: torch threads per inference. ``max_queue``: inferences
    allowed to wait for a worker; beyond it 503 with ``Retry-After: retry_after_s``.
    ``request_timeout_s``: an inference that has not finished (waiting included) gets 504 and
    is cancelled at its next window (it keeps counting in the 503 bound until it has stopped).
    ``shutdown_grace_s``: how long in-flight requests may take to finish on shutdown; what is
    still running or waiting then gets 503 + ``Retry-After``. ``max_timeline_windows``: a
    timeline that would need more windows (duration / hop) is refused (413) before any work.
    ``max_streams``: WebSocket streams open at once (more are refused, close code 1013).
    ``stream_first_message_s`` / ``stream_idle_s``: a stream whose first message, or any later
    message, does not come within these seconds is closed (1008 / 1001). ``adapt``: ``none``
    or ``online`` (each ``X-Client-ID`` gets its own standardisation that follows the speech it
    sent; :mod:`serkit.deploy.service.clients`), for at most ``max_clients`` clients."""

    models: dict[str, str] = field(default_factory=lambda: {"default": "default"})
    max_upload_mb: float = 25.0
    max_audio_s: float = 60.0
    max_timeline_s: float = 3600.0
    workers: int = 1
    threads: int = 1
    max_queue: int = 16
    retry_after_s: int = 1
    request_timeout_s: float = 60.0
    shutdown_grace_s: float = 30.0
    max_timeline_windows: int = 4000
    max_streams: int = 8
    stream_first_message_s: float = 10.0
    stream_idle_s: float = 30.0
    adapt: str = "none"
    max_clients: int = 1000
