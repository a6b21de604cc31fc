"""Runtime primitives for the generated sync I/O layer (twin: :mod:`.rt_async`)."""

from __future__ import annotations

import threading
import time

__all__ = ["Event", "Lock", "Semaphore", "sleep", "wait_event"]

sleep = time.sleep
Lock = threading.Lock
Semaphore = threading.Semaphore
Event = threading.Event


def wait_event(event: threading.Event, timeout: float) -> bool:
    """Wait until *event* is set or *timeout* seconds pass; True if it was set."""
    return event.wait(timeout)
