"""Keeping many new objects alive cheaply: the cyclic collector paused for a bulk call.

``bulk_create(docs)`` returns every entity it created, so each of them stays
alive until the call ends. A container that survives makes CPython's cyclic
garbage collector run (and rescan every surviving object) again and again as
the call allocates more: on 100,000 documents that cost about as much as
writing them. Nothing a bulk call allocates forms a reference cycle, so the
collector has nothing to find there: it is paused for the call and runs
again, as before, when the call (and any other bulk call running at once)
ends. Reference counting frees everything as usual meanwhile.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause automatic cyclic collection for the block (nested and concurrent blocks share it)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
