"""What every queue backend shares: the public API, argument checks, waiting.

A backend implements a handful of primitives (insert, claim, settle, count,
wait); this class validates every argument before any of them runs, so bad
input fails identically on every backend and writes nothing.

Semantics (SPEC §5), the same on every backend:

- ready messages of a queue are delivered in push order;
- a received message is ``processing`` and invisible to other consumers until
  it is acked, nacked, or its lease runs out; an expired lease counts as a
  failed delivery: the message is delivered again (``retry_count`` + 1), or
  dead-lettered once its retries are used up;
- ``nack`` makes the message ``failed``; it is retried after an exponential,
  jittered back-off while ``retry_count < max_retries``, else it becomes
  ``dead_letter`` with the error kept;
- expired leases and due retries are reclaimed by any consumer as it
  receives: there is nothing to schedule.
"""

from __future__ import annotations

import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, overload

from ..._compat import rt_async as rt
from ...core.entities import check_id, new_id
from ...core.queueing import (
    MAX_BATCH,
    backoff_delay,
    check_batch,
    check_component,
    check_delay,
    check_lease,
    check_max_retries,
    check_queue,
    check_status,
    check_timeout,
    encode_message,
    port_name,
)
from ...core.records import Message, QueueStats
from ...errors import LeaseError, ValidationError

__all__ = ["AsyncQueue", "NewMessage", "lease_error"]

#: a message about to be inserted: (id, data JSON, metadata JSON or None)
NewMessage = tuple[str, str, str | None]


def lease_error(action: str, msg: Message, status_now: str | None) -> LeaseError:
    """The error for an ack/nack/extend_lease refused because *msg*'s receipt is stale."""
    why = {
        None: "it no longer exists (purged)",
        "completed": "it was already acked",
        "dead_letter": "it was already nacked into the dead letters",
        "failed": "it was already nacked and waits for its retry",
        "pending": "its lease ran out (or it was replayed) and it waits for redelivery",
        "processing": "its lease ran out and it was delivered to another consumer, which holds it now",
    }.get(status_now, f"its status is now {status_now!r}")
    return LeaseError(f"cannot {action} message {msg.id} of queue {msg.queue!r}: {why}")


def _first_stale(stale: Mapping[str, LeaseError], total: int) -> LeaseError:
    """The error of a batch settle: the first refusal, and how many of the batch were refused."""
    first = next(iter(stale.values()))
    if len(stale) == 1 and total == 1:
        return first
    return LeaseError(f"{len(stale)} of {total} messages were no longer held; the first: {first}")


def describe_error(error: str | BaseException | None) -> tuple[str | None, str | None]:
    """``(error_message, error_details JSON)`` kept with a nacked message."""
    if error is None:
        return None, None
    if isinstance(error, BaseException):
        import orjson

        details = {
            "type": type(error).__qualname__,
            "message": str(error),
            "traceback": "".join(traceback.format_exception(error)) if error.__traceback__ else None,
        }
        return f"{type(error).__name__}: {error}", orjson.dumps(details).decode()
    if not isinstance(error, str):
        raise ValidationError(f"error must be a string or an exception, got {type(error).__name__}")
    return error.replace("\x00", ""), None


class AsyncQueue(ABC):
    """Durable queues between components: ``ds.queue``.

    ::

        mid = await ds.queue.push("queue_a_b", {"n": 1})
        msg = await ds.queue.receive("queue_a_b", timeout=5, lease=30)
        if msg is not None:
            ...  # work
            await ds.queue.ack(msg)          # or: await ds.queue.nack(msg, error=exc)

    Attributes ``backoff`` (seconds before the first retry, default 1) and
    ``max_backoff`` (cap, default 300) shape the retry delay of a nack.
    """

    name = "queue"

    def __init__(self) -> None:
        #: seconds before the first retry of a nacked message; doubles per retry
        self.backoff = 1.0
        #: the longest retry delay, in seconds
        self.max_backoff = 300.0
        self._events: dict[str, rt.Event] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    port_name = staticmethod(port_name)

    # -- producing ----------------------------------------------------------------
    async def push(
        self,
        queue: str,
        data: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
        delay: float | None = None,
        max_retries: int = 3,
        source: str | None = None,
        target: str | None = None,
    ) -> str:
        """Append *data* (any JSON value but null) to *queue*; return the new message's id.

        ``None`` is refused with :class:`ValidationError`: :meth:`pop` returns
        None when nothing came, so a None message could not be told apart.

        :param delay: seconds before the message becomes visible.
        :param max_retries: deliveries after the first before a failing
            message is dead-lettered.
        :param source: the producing component (seed 004 ``source_component``).
        :param target: the consuming component.

        Inside ``ds.transaction()`` on a SQL store, the message is committed
        or rolled back with the transaction's other writes.
        """
        ids = await self.push_many(
            queue, (data,), metadata=metadata, delay=delay, max_retries=max_retries,
            source=source, target=target,
        )
        return ids[0]

    async def push_many(
        self,
        queue: str,
        items: Iterable[Any],
        *,
        metadata: Mapping[str, Any] | None = None,
        delay: float | None = None,
        max_retries: int = 3,
        source: str | None = None,
        target: str | None = None,
    ) -> list[str]:
        """Append every item, in order, all or nothing; return their ids."""
        q = check_queue(queue)
        d = check_delay(delay)
        mr = check_max_retries(max_retries)
        src = check_component(source, "source")
        tgt = check_component(target, "target")
        if isinstance(items, str | bytes | Mapping):
            raise ValidationError("push_many takes an iterable of messages; use push for one")
        rows: list[NewMessage] = []
        for item in items:
            body, meta = encode_message(item, metadata)
            rows.append((new_id(), body, meta))
        if rows:
            await self._insert(q, rows, d, mr, src, tgt)
        return [r[0] for r in rows]

    # -- consuming ----------------------------------------------------------------
    async def pop(self, queue: str, timeout: float | None = None) -> Any:
        """Take the next message and complete it in one step; return its data.

        Waits up to *timeout* seconds (None: do not wait) and returns None
        when nothing came. FIFO. A message popped is never delivered again.
        """
        msgs = await self._take(check_queue(queue), 1, None, check_timeout(timeout))
        return msgs[0].data if msgs else None

    @overload
    async def receive(  # type: ignore[overload-overlap]
        self,
        queue: str,
        timeout: float | None = ...,
        lease: float = ...,
        max_messages: Literal[1] = ...,
    ) -> Message | None: ...

    @overload
    async def receive(
        self, queue: str, timeout: float | None, lease: float, max_messages: int
    ) -> list[Message]: ...

    @overload
    async def receive(
        self, queue: str, timeout: float | None = ..., lease: float = ..., *, max_messages: int
    ) -> list[Message]: ...

    async def receive(
        self,
        queue: str,
        timeout: float | None = None,
        lease: float = 30.0,
        max_messages: int = 1,
    ) -> Message | None | list[Message]:
        """Lease the next message: it stays invisible to others for *lease* seconds.

        Returns the :class:`Message` (None when nothing came within *timeout*
        seconds); with ``max_messages > 1``, a list of up to that many. Settle
        each with :meth:`ack` or :meth:`nack`; one whose lease runs out is
        delivered again.
        """
        n = check_batch(max_messages)
        msgs = await self.receive_batch(queue, n, timeout=timeout, lease=lease)
        if n == 1:
            return msgs[0] if msgs else None
        return msgs

    async def receive_batch(
        self, queue: str, max_messages: int, *, timeout: float | None = None, lease: float = 30.0
    ) -> list[Message]:
        """Like :meth:`receive`, always returning a list (empty when nothing came)."""
        return await self._take(
            check_queue(queue), check_batch(max_messages), check_lease(lease), check_timeout(timeout)
        )

    async def _take(
        self, q: str, n: int, lease: float | None, timeout: float | None
    ) -> list[Message]:
        deadline = time.monotonic() + (timeout or 0.0)
        rounds = 0
        while True:
            token = self._arm(q)
            msgs = await self._claim(q, n, lease)
            if msgs or not timeout:
                return msgs
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            await self._wait(q, token, left, rounds)
            rounds += 1

    # -- settling -----------------------------------------------------------------
    @staticmethod
    def _held(msg: object, action: str) -> Message:
        if not isinstance(msg, Message):
            raise ValidationError(f"{action} takes a Message returned by receive, got {type(msg).__name__}")
        if msg.receipt is None:
            raise ValidationError(
                f"cannot {action} message {msg.id}: only a message returned by receive "
                "can be settled"
            )
        return msg

    async def ack(self, msg: Message) -> None:
        """Mark a received message completed. :class:`LeaseError` if it is no longer ours."""
        m = self._held(msg, "ack")
        await self._ack(m)
        m.status = "completed"
        m.lease_until = None

    async def nack(
        self, msg: Message, error: str | BaseException | None = None, *, delay: float | None = None
    ) -> str:
        """Give a received message back as failed; return its new status.

        It is retried after ``delay`` seconds (default: exponential back-off
        from ``self.backoff``, jittered) while ``retry_count < max_retries``;
        otherwise it becomes ``dead_letter``. *error* (text or exception) is
        kept with it.
        """
        m = self._held(msg, "nack")
        err, details = describe_error(error)
        if delay is None:
            wait = backoff_delay(m.retry_count, self.backoff, self.max_backoff)
        else:
            wait = check_delay(delay)
        status = "dead_letter" if m.retry_count >= m.max_retries else "failed"
        await self._nack(m, status, err, details, wait)
        m.status = status
        m.error = err
        m.lease_until = None
        return status

    def _held_batch(self, msgs: Iterable[Message], action: str) -> list[Message]:
        if isinstance(msgs, Message):
            raise ValidationError(f"{action}_many takes a list of messages; use {action} for one")
        if not isinstance(msgs, Iterable):
            raise ValidationError(f"{action}_many takes a list of messages, got {type(msgs).__name__}")
        out: dict[str, Message] = {}
        for m in msgs:
            out.setdefault(self._held(m, action).id, m)
        return list(out.values())

    async def ack_many(self, msgs: Iterable[Message]) -> None:
        """Ack received messages together: one statement per receipt on SQL stores.

        Every message still held is acked, even if some are not; then
        :class:`LeaseError` names the first that was no longer held (and
        how many). A message listed twice is acked once.
        """
        ms = self._held_batch(msgs, "ack")
        if not ms:
            return
        stale = await self._ack_many(ms)
        for m in ms:
            if m.id not in stale:
                m.status = "completed"
                m.lease_until = None
        if stale:
            raise _first_stale(stale, len(ms))

    async def nack_many(
        self,
        msgs: Iterable[Message],
        error: str | BaseException | None = None,
        *,
        delay: float | None = None,
    ) -> list[str]:
        """Give received messages back as failed together; return their new statuses, in order.

        Each is retried or dead-lettered as :meth:`nack` would; messages
        with the same retry count share one back-off draw, so they settle in
        one statement per receipt. Those no longer held are left alone and,
        after the others are settled, :class:`LeaseError` names the first.
        """
        ms = self._held_batch(msgs, "nack")
        err, details = describe_error(error)
        fixed = None if delay is None else check_delay(delay)
        waits: dict[int, float] = {}
        plan: list[tuple[Message, str, float]] = []
        for m in ms:
            if fixed is not None:
                wait = fixed
            elif m.retry_count in waits:
                wait = waits[m.retry_count]
            else:
                wait = waits[m.retry_count] = backoff_delay(m.retry_count, self.backoff, self.max_backoff)
            plan.append((m, "dead_letter" if m.retry_count >= m.max_retries else "failed", wait))
        if not plan:
            return []
        stale = await self._nack_many(plan, err, details)
        for m, status, _ in plan:
            if m.id not in stale:
                m.status = status
                m.error = err
                m.lease_until = None
        if stale:
            raise _first_stale(stale, len(ms))
        return [status for _, status, _ in plan]

    async def _ack_many(self, msgs: list[Message]) -> dict[str, LeaseError]:
        """Ack each message; return the errors of those no longer held, by id.

        This default settles them one at a time; backends override it with
        one statement (or script) per batch.
        """
        stale: dict[str, LeaseError] = {}
        for m in msgs:
            try:
                await self._ack(m)
            except LeaseError as exc:
                stale[m.id] = exc
        return stale

    async def _nack_many(
        self, plan: list[tuple[Message, str, float]], error: str | None, details: str | None
    ) -> dict[str, LeaseError]:
        """Nack each ``(message, new status, delay)``; return the errors of those no longer held."""
        stale: dict[str, LeaseError] = {}
        for m, status, wait in plan:
            try:
                await self._nack(m, status, error, details, wait)
            except LeaseError as exc:
                stale[m.id] = exc
        return stale

    async def extend_lease(self, msg: Message, seconds: float) -> None:
        """Keep a received message for *seconds* more from now. :class:`LeaseError` if it is no longer ours."""
        m = self._held(msg, "extend the lease of")
        m.lease_until = await self._extend(m, check_lease(seconds))

    # -- inspecting and repairing --------------------------------------------------
    async def dead_letters(
        self, queue: str | None = None, limit: int = 100, *, after: str | Message | None = None
    ) -> list[Message]:
        """Dead-lettered messages (of one queue, or all), oldest first, one page at a time.

        *limit* is the page size (any positive number); *after* is the last
        message (or its id) of the previous page, so::

            page = ds.queue.dead_letters("orders", limit=500)
            while page:
                handle(page)
                page = ds.queue.dead_letters("orders", limit=500, after=page[-1])

        The page follows *after* in push order, even if that message was
        replayed meanwhile; one that no longer exists (purged) ends the paging.
        """
        q = check_queue(queue) if queue is not None else None
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"limit must be a positive integer, got {limit!r}")
        mark: str | None = None
        if after is not None:
            mark = check_id(after.id if isinstance(after, Message) else after)
        return await self._dead_letters(q, limit, mark)

    async def replay(self, target: str | Sequence[str], *, status: str = "dead_letter") -> int:
        """Send messages back to pending with their retries reset; return how many.

        *target* is a queue name (its messages in *status*, default
        ``dead_letter``; ``completed`` and ``failed`` work too) or a list of
        message ids (dead, failed or completed ones; others are left alone).
        """
        st = check_status(status)
        if st not in ("dead_letter", "completed", "failed"):
            raise ValidationError(f"replay takes dead_letter, completed or failed messages, not {st!r}")
        if isinstance(target, str):
            return await self._replay_queue(check_queue(target), st)  # type: ignore[arg-type]
        if not isinstance(target, Iterable):
            raise ValidationError(f"replay takes a queue name or a list of ids, got {target!r}")
        ids = list(dict.fromkeys(check_id(i) for i in target))
        total = 0
        for start in range(0, len(ids), MAX_BATCH):
            total += await self._replay_ids(ids[start : start + MAX_BATCH])
        return total

    async def purge(self, queue: str, status: str | None = None) -> int:
        """Delete a queue's messages (only those in *status* if given); return how many."""
        return await self._purge(check_queue(queue), check_status(status, allow_none=True))

    async def length(self, queue: str, status: str | None = "pending") -> int:
        """How many messages of *queue* are in *status* (None: in any status).

        ``pending`` counts delayed messages too.
        """
        return await self._length(check_queue(queue), check_status(status, allow_none=True))

    async def stats(self, queue: str) -> QueueStats:
        """Count per status and the age of the oldest pending message."""
        return await self._stats(check_queue(queue))

    async def names(self) -> list[str]:
        """The names of the queues holding messages (in any status), sorted."""
        return await self._names()

    async def close(self) -> None:
        """Release what waiting consumers hold (listener connections)."""

    # -- in-process wake-ups ---------------------------------------------------------
    def _arm(self, q: str) -> rt.Event:
        """The event a push to *q* in this process will set; taken before looking."""
        ev = self._events.get(q)
        if ev is None:
            ev = self._events[q] = rt.Event()
        return ev

    def _notify(self, q: str) -> None:
        ev = self._events.pop(q, None)
        if ev is not None:
            ev.set()

    # -- the primitives a backend implements -------------------------------------------
    @abstractmethod
    async def _insert(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        """Insert *rows* atomically as pending messages, visible after *delay* seconds."""

    @abstractmethod
    async def _claim(self, q: str, n: int, lease: float | None) -> list[Message]:
        """Take up to *n* ready messages in push order, without waiting.

        With a *lease*, they turn ``processing`` under a new receipt; with
        None (pop) they turn ``completed``. Reclaims due retries and expired
        leases first, as needed.
        """

    @abstractmethod
    async def _wait(self, q: str, token: rt.Event, left: float, rounds: int) -> None:
        """Block until something may have arrived in *q* (or *left* seconds pass).

        *token* is the in-process event armed before the last look; *rounds*
        counts the waits of this call so far (for backed-off polling). May
        return early: the caller looks again.
        """

    @abstractmethod
    async def _ack(self, msg: Message) -> None: ...

    @abstractmethod
    async def _nack(
        self, msg: Message, status: str, error: str | None, details: str | None, delay: float
    ) -> None: ...

    @abstractmethod
    async def _extend(self, msg: Message, seconds: float) -> datetime:
        """Move the lease end to now + *seconds*; return it."""

    @abstractmethod
    async def _dead_letters(self, q: str | None, limit: int, after: str | None) -> list[Message]: ...

    @abstractmethod
    async def _replay_ids(self, ids: list[str]) -> int: ...

    @abstractmethod
    async def _replay_queue(self, q: str, status: str) -> int: ...

    @abstractmethod
    async def _purge(self, q: str, status: str | None) -> int: ...

    @abstractmethod
    async def _length(self, q: str, status: str | None) -> int: ...

    @abstractmethod
    async def _stats(self, q: str) -> QueueStats: ...

    @abstractmethod
    async def _names(self) -> list[str]: ...
