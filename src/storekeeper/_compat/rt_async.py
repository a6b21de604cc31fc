"""Runtime primitives for the async I/O layer (twin: :mod:`.rt_sync`)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["Event", "Lock", "Semaphore", "Turns", "Worker", "sleep", "wait_event"]

R = TypeVar("R")

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


#: how much lower than the loop's thread a worker thread runs (Linux nice steps)
WORKER_NICE = 10


def _yield_cpu_to_the_loop() -> None:
    """Run this thread at a lower priority than the loop's (Linux only: there a
    thread id names one thread to ``setpriority``; elsewhere it may name a process).

    On a busy machine the long statement on the worker and the loop's thread
    compete for a core; the loop's thread, mostly idle and short of work, then
    gets the core as soon as it wakes, and the worker has every spare cycle.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, nice + WORKER_NICE))
    except OSError:
        pass


class Worker:
    """A thread of its own that runs blocking calls off the event loop, one at a time.

    ``busy`` is True while a call runs there; callers that share what the call
    uses (a driver connection) wait with :meth:`idle` before touching it. The
    thread starts on the first call and ends with :meth:`close`.
    """

    __slots__ = ("_pool", "_idle", "busy")

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._idle: asyncio.Event | None = None
        self.busy = False

    async def idle(self) -> None:
        """Return once the call running on the thread (if any) has finished."""
        while self.busy:
            if self._idle is None:
                self._idle = asyncio.Event()
            await self._idle.wait()

    async def run(self, fn: Callable[[], R], stop: Callable[[], None] | None = None) -> R:
        """Run *fn* on the thread and return its result (the caller waits for :meth:`idle` first).

        If the caller is cancelled, *stop* (when given) asks *fn* to end early;
        either way this returns only once *fn* has ended, so nothing else uses
        what *fn* uses while it runs, then the cancellation goes on.
        """
        self.busy = True
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    1, thread_name_prefix="storekeeper-worker", initializer=_yield_cpu_to_the_loop
                )
            fut = asyncio.get_running_loop().run_in_executor(self._pool, fn)
            try:
                return await asyncio.shield(fut)
            except asyncio.CancelledError:
                if stop is not None:
                    stop()
                while not fut.done():
                    try:
                        await asyncio.wait([fut])
                    except asyncio.CancelledError:
                        pass
                if not fut.cancelled():
                    fut.exception()  # retrieved: the caller gets the cancellation
                raise
        finally:
            self.busy = False
            idle, self._idle = self._idle, None
            if idle is not None:
                idle.set()

    def close(self) -> None:
        """Let the thread end (it finishes the call it runs, if any)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


class Turns:
    """Bounds how long work that never suspends holds one turn of the event loop.

    Calls that finish without suspending (a statement run inline) do not let
    the loop run: a thousand of them started together, or a loop of them in
    one task, hold the loop for their whole sum. Before such a call, ask
    :meth:`spent`; once the calls of the loop's current turn have taken more
    than *slice_s* it answers True, and the caller waits for a later turn with
    :meth:`wait`, so timers and I/O run first. Waiters go in order, about one
    per turn of the loop (each one that gets going lets the next one go),
    rather than all waking at once and filling one turn again. A turn is known
    to be over when a callback queued at its first call has run.
    """

    __slots__ = ("slice_s", "since", "marked", "countdown", "_loop", "_waiters")

    #: calls between two looks at the clock (a clock read costs about as much
    #: as the rest of the check; 8 inline statements take well under 0.1 ms)
    CHECK_EVERY = 8

    def __init__(self, slice_s: float) -> None:
        self.slice_s = slice_s
        self.since = 0.0
        self.marked = False
        self.countdown = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: deque[asyncio.Future[None]] = deque()

    def spent(self) -> bool:
        """True once this turn of the loop has run inline calls for longer than the slice."""
        if self.marked:
            self.countdown -= 1
            if self.countdown > 0:
                pass
            elif time.perf_counter() - self.since <= self.slice_s:
                self.countdown = self.CHECK_EVERY
            elif asyncio.get_running_loop() is self._loop:
                return True  # and every later call of this turn looks at the clock
            else:
                self._start(asyncio.get_running_loop())
        else:
            self._start(asyncio.get_running_loop())
        if self._waiters:
            self._wake_one()
        return False

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new turn of *loop* begins."""
        if loop is not self._loop:
            # a store used from a new loop: the old loop's turn and waiters are gone
            self._loop = loop
            self._waiters.clear()
        self.marked = True
        self.countdown = self.CHECK_EVERY
        self.since = time.perf_counter()
        loop.call_soon(self._next_turn)

    async def wait(self) -> None:
        """Wait for a later turn of the loop (behind the callers already waiting)."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._wake_one()  # woken, then cancelled: the next waiter goes instead
            raise

    def _next_turn(self) -> None:
        self.marked = False
        if self._waiters:
            self._wake_one()

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
