"""Per-client online adaptation for the HTTP service (``serkit serve --adapt online``).

Each client that names itself with the ``X-Client-ID`` header gets its own copy of the model's
standardisation, which follows the speech that client has sent (:meth:`Recognizer.adapt_online`:
each answer uses the statistics of the client's earlier clips, then adds the clip). Requests
without the header are answered by the shared model, unadapted. The encoder is shared; only the
model state is copied per client. At most ``max_clients`` are kept (least recently used first
out); one client's requests run one at a time (its own lock), different clients' in parallel.
The statistics live in memory: a restart forgets them. Memory per client: the model state plus
its running moments, and for a model that balances its answers (``adapt_balance``) the pooled
statistics of its last :attr:`~serkit.estimators.base.Moments.MAX_CLIPS` clips (128 x 1,024
float32 = 0.5 MB for the bundled default), so ``max_clients`` bounds it (1,000 clients: about
0.6 GB).
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict

from serkit.deploy.service.errors import ApiError

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ClientAdaptations:
    """``get(model_name, rec, client_id)`` -> ``(runner, lock)``: the client's adapted copy of
    ``rec`` (created on first use) and the lock its requests hold while they run."""

    def __init__(self, max_clients: int = 1000):
        self.max_clients = max(1, int(max_clients))
        self._clients: OrderedDict[tuple[str, str], tuple] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _fork(rec):
        mine = copy.copy(rec)  # the frontend (encoder) is shared, the model state is not
        mine.model = copy.deepcopy(rec.model)
        mine.header = copy.deepcopy(rec.header)
        mine.online = None
        return mine.adapt_online()

    def check(self, model_name: str, rec) -> None:
        """Refuse (``ConfigError``) a model that cannot adapt online, before serving."""
        self._fork(rec)

    def get(self, model_name: str, rec, client_id: str):
        if not _ID.match(client_id):
            raise ApiError(
                400,
                "bad_client_id",
                "X-Client-ID must be 1-128 characters of letters, digits and . _ : -",
            )
        key = (model_name, client_id)
        with self._lock:
            hit = self._clients.get(key)
            if hit is not None:
                self._clients.move_to_end(key)
                return hit
        entry = (self._fork(rec), threading.Lock())
        with self._lock:
            entry = self._clients.setdefault(key, entry)
            self._clients.move_to_end(key)
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._clients)
