"""Runtime primitives for the generated sync I/O layer (twin: :mod:`.rt_async`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Event", "Lock", "Semaphore", "Turns", "Worker", "sleep", "wait_event"]

R = TypeVar("R")

sleep = time.sleep
Lock = threading.Lock
Semaphore = threading.Semaphore
Event = threading.Event


def wait_event(event: threading.Event, timeout: float) -> bool:
    """Wait until *event* is set or *timeout* seconds pass; True if it was set."""
    return event.wait(timeout)


class Worker:
    """The sync twin of the async ``Worker``: there is no loop to keep free, calls run inline."""

    __slots__ = ("busy",)

    def __init__(self) -> None:
        self.busy = False

    def idle(self) -> None:
        """Nothing ever runs elsewhere: return at once."""

    def run(self, fn: Callable[[], R], stop: Callable[[], None] | None = None) -> R:
        """Run *fn* in the caller's thread."""
        return fn()

    def close(self) -> None:
        """Nothing to end."""


class Turns:
    """The sync twin of the async ``Turns``: no loop to share, never spent."""

    __slots__ = ()

    def __init__(self, slice_s: float) -> None:
        pass

    def spent(self) -> bool:
        return False

    def wait(self) -> None:
        """Never needed: :meth:`spent` is always False."""
