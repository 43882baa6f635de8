"""Runs independent tasks (folds, tuning trials' folds) serially or in forked worker processes.

Workers are forked after the (large) shared context is built, so features are shared
copy-on-write rather than pickled; the context lives in a module slot only while
:func:`run_tasks` runs and is cleared in a ``finally`` even when a task fails. A worker that
dies (killed for memory, a crash in native code) fails the run with a clear error instead of
hanging it (``concurrent.futures`` notices a dead worker; ``multiprocessing.Pool`` waits for
ever); the tasks finished before it are already on disk, so a rerun resumes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from serkit.core.errors import SerkitError
from serkit.core.io import worker_threads

_SLOT: dict[str, Any] = {}


def _call(task):
    fn, ctx, threads = _SLOT["fn"], _SLOT["ctx"], _SLOT["threads"]
    with worker_threads(threads):
        return fn(ctx, task)


def run_tasks(fn: Callable[[Any, Any], Any], ctx: Any, tasks: list, jobs: int = 1) -> Iterator:
    """Yield ``fn(ctx, task)`` for every task, in task order (also with ``jobs`` > 1).

    Each worker gets one torch / BLAS thread when several run at once, else up to two."""
    threads = 1 if jobs > 1 else max(1, min(2, os.cpu_count() or 1))
    _SLOT.update(fn=fn, ctx=ctx, threads=threads)
    try:
        if jobs > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(min(jobs, len(tasks)), mp.get_context("fork")) as pool:
                try:
                    yield from pool.map(_call, tasks)
                except BrokenProcessPool as exc:
                    raise SerkitError(
                        f"a worker process died while running {len(tasks)} task(s) with jobs="
                        f"{jobs} (killed for memory?): rerun with fewer --jobs (e.g. --jobs 1); "
                        "the tasks already finished are kept and reused"
                    ) from exc
        else:
            for t in tasks:
                yield _call(t)
    finally:
        _SLOT.clear()
