"""Runtime primitives for the async I/O layer (twin: :mod:`.rt_sync`)."""

from __future__ import annotations

import asyncio

__all__ = ["Event", "Lock", "Semaphore", "sleep", "wait_event"]

sleep = asyncio.sleep
Lock = asyncio.Lock
Semaphore = asyncio.Semaphore
Event = asyncio.Event


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until *event* is set or *timeout* seconds pass; True if it was set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
