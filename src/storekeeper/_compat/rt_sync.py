"""Runtime primitives for the generated sync I/O layer (twin: :mod:`.rt_async`)."""

from __future__ import annotations

import threading
import time

__all__ = ["Event", "Lock", "Semaphore", "acquire", "sleep"]

sleep = time.sleep
Lock = threading.Lock
Semaphore = threading.Semaphore
Event = threading.Event


def acquire(sem: threading.Semaphore, timeout: float) -> bool:
    """Take *sem* within *timeout* seconds; False if it stayed taken."""
    return sem.acquire(timeout=timeout)
