"""Runtime primitives for the async I/O layer (twin: :mod:`.rt_sync`)."""

from __future__ import annotations

import asyncio

__all__ = ["Event", "Lock", "Semaphore", "acquire", "sleep"]

sleep = asyncio.sleep
Lock = asyncio.Lock
Semaphore = asyncio.Semaphore
Event = asyncio.Event


async def acquire(sem: asyncio.Semaphore, timeout: float) -> bool:
    """Take *sem* within *timeout* seconds; False if it stayed taken."""
    if not sem.locked():
        await sem.acquire()  # free: returns without suspending
        return True
    try:
        await asyncio.wait_for(sem.acquire(), timeout)
    except TimeoutError:
        return False
    return True
