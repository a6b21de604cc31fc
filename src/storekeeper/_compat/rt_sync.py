"""Runtime primitives for the generated sync I/O layer (twin: :mod:`.rt_async`)."""

from __future__ import annotations

import threading
import time

__all__ = ["Event", "Lock", "Semaphore", "sleep"]

sleep = time.sleep
Lock = threading.Lock
Semaphore = threading.Semaphore
Event = threading.Event

