"""Runtime primitives for the async I/O layer (twin: :mod:`.rt_sync`)."""

from __future__ import annotations

import asyncio

__all__ = ["Event", "Lock", "Semaphore", "sleep"]

sleep = asyncio.sleep
Lock = asyncio.Lock
Semaphore = asyncio.Semaphore
Event = asyncio.Event

