"""Runs independent tasks (folds, tuning trials' folds) serially or in forked worker processes.

Workers are forked after the (large) shared context is built, so features are shared
copy-on-write rather than pickled; the context lives in a module slot only while
:func:`run_tasks` runs and is cleared in a ``finally`` even when a task fails.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from typing import Any

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
            with mp.get_context("fork").Pool(min(jobs, len(tasks))) as pool:
                yield from pool.imap(_call, tasks)
        else:
            for t in tasks:
                yield _call(t)
    finally:
        _SLOT.clear()
