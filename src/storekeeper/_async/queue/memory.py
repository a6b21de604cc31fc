"""Queues held in this process: the reference semantics of every queue backend.

Per queue: every message by id, a heap of ready messages by push order, and a
heap of timed events (a delayed message or retry coming due, a lease running
out). Heap entries carry the message's version and are dropped when stale,
so every operation is O(log n). Pushes inside ``ds.transaction()`` are taken
back if it rolls back (like every memory write, they are visible to other
tasks before the commit).
"""

from __future__ import annotations

import datetime as _dt
import heapq
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from ..._compat import rt_async as rt
from ...core.entities import loads, new_id
from ...core.records import STATUSES, Message, QueueStats
from ...core.transfer import from_iso, iso
from ...errors import StorageError
from ..backends.base import Meanwhile
from ..backends.memory import AsyncMemoryBackend
from .base import AsyncQueue, NewMessage, lease_error

__all__ = ["AsyncMemoryQueue"]

_UTC = _dt.UTC


@dataclass(slots=True)
class _Rec:
    id: str
    queue: str
    seq: int
    data: str
    meta: str | None
    max_retries: int
    created: float
    source: str
    target: str
    status: str = "pending"
    retry_count: int = 0
    visible_at: float = 0.0
    receipt: str | None = None
    error: str | None = None
    details: str | None = None
    version: int = 0
    #: when it was acknowledged (unix time), for retention
    completed: float | None = None


@dataclass(slots=True)
class _Queue:
    msgs: dict[str, _Rec] = field(default_factory=dict)
    #: (seq, id, version) of pending messages that are visible
    ready: list[tuple[int, str, int]] = field(default_factory=list)
    #: (due, seq, id, version) of delayed, failed and processing messages
    timed: list[tuple[float, int, str, int]] = field(default_factory=list)


def _when(t: float | None) -> _dt.datetime | None:
    return _dt.datetime.fromtimestamp(t, _UTC) if t is not None else None


class AsyncMemoryQueue(AsyncQueue):
    """``ds.queue`` on ``memory://`` (see the module docstring)."""

    _transfer_kinds = ("queue",)

    def __init__(self, backend: AsyncMemoryBackend) -> None:
        super().__init__()
        self.backend = backend
        self.name = "memory"
        self._queues: dict[str, _Queue] = {}
        self._seq = itertools.count(1)
        self._lock = backend.lock

    def _queue(self, q: str) -> _Queue:
        if self.backend._closed:
            raise StorageError("the memory store was closed")
        qq = self._queues.get(q)
        if qq is None:
            qq = self._queues[q] = _Queue()
        return qq

    # -- state changes (under the lock) -------------------------------------------------
    def _schedule(self, qq: _Queue, rec: _Rec, now: float) -> None:
        """File *rec* under the heap its status and visibility call for."""
        rec.version += 1
        if rec.status == "pending" and rec.visible_at <= now:
            heapq.heappush(qq.ready, (rec.seq, rec.id, rec.version))
        elif rec.status in ("pending", "failed", "processing"):
            heapq.heappush(qq.timed, (rec.visible_at, rec.seq, rec.id, rec.version))

    def _due(self, qq: _Queue, now: float) -> None:
        """Move everything that came due: delayed messages, retries, expired leases."""
        timed = qq.timed
        while timed and timed[0][0] <= now:
            _, _, mid, version = heapq.heappop(timed)
            rec = qq.msgs.get(mid)
            if rec is None or rec.version != version:
                continue
            if rec.status == "failed":
                rec.status = "pending"
                rec.retry_count += 1
            elif rec.status == "processing":
                rec.receipt = None
                if rec.retry_count >= rec.max_retries:
                    rec.status = "dead_letter"
                    rec.error = "lease expired before ack (the consumer died or took too long)"
                    rec.version += 1
                    continue
                rec.status = "pending"
                rec.retry_count += 1
            self._schedule(qq, rec, now)

    def _message(self, rec: _Rec) -> Message:
        return Message(
            id=rec.id,
            queue=rec.queue,
            data=loads(rec.data),
            metadata=loads(rec.meta) if rec.meta is not None else None,
            status=rec.status,
            retry_count=rec.retry_count,
            max_retries=rec.max_retries,
            created_at=_when(rec.created),
            source=rec.source,
            target=rec.target,
            error=rec.error,
            lease_until=_when(rec.visible_at) if rec.receipt is not None else None,
            receipt=rec.receipt,
        )

    # -- producing ----------------------------------------------------------------
    async def _insert(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        now = time.time()
        with self._lock:
            qq = self._queue(q)
            for mid, body, meta in rows:
                rec = _Rec(
                    id=mid, queue=q, seq=next(self._seq), data=body, meta=meta,
                    max_retries=max_retries, created=now, source=source, target=target,
                    visible_at=now + delay,
                )
                qq.msgs[mid] = rec
                self._schedule(qq, rec, now)
        ids = [r[0] for r in rows]

        def undo() -> None:
            for mid in ids:
                qq.msgs.pop(mid, None)  # its heap entries go stale

        self.backend.on_rollback(undo)
        self._notify(q)

    # -- consuming ----------------------------------------------------------------
    async def _claim(self, q: str, n: int, lease: float | None) -> list[Message]:
        now = time.time()
        out: list[Message] = []
        with self._lock:
            qq = self._queue(q)
            self._due(qq, now)
            receipt = new_id() if lease is not None else None
            ready = qq.ready
            while ready and len(out) < n:
                _, mid, version = heapq.heappop(ready)
                rec = qq.msgs.get(mid)
                if rec is None or rec.version != version or rec.status != "pending":
                    continue
                if lease is None:
                    rec.status, rec.completed = "completed", time.time()
                    rec.version += 1
                else:
                    rec.status = "processing"
                    rec.receipt = receipt
                    rec.visible_at = now + lease
                    self._schedule(qq, rec, now)
                out.append(self._message(rec))
        return out

    async def _wait(self, q: str, token: rt.Event, left: float, rounds: int) -> None:
        with self._lock:
            timed = self._queue(q).timed
            due = timed[0][0] - time.time() if timed else left
        await rt.wait_event(token, max(0.0, min(left, due)))

    # -- settling -----------------------------------------------------------------
    def _owned(self, action: str, msg: Message) -> tuple[_Queue, _Rec]:
        qq = self._queue(msg.queue)
        rec = qq.msgs.get(msg.id)
        if rec is None or rec.status != "processing" or rec.receipt != msg.receipt:
            raise lease_error(action, msg, rec.status if rec is not None else None)
        return qq, rec

    async def _ack(self, msg: Message) -> None:
        with self._lock:
            _, rec = self._owned("ack", msg)
            rec.status, rec.completed = "completed", time.time()
            rec.receipt = None
            rec.version += 1

    async def _nack(
        self, msg: Message, status: str, error: str | None, details: str | None, delay: float
    ) -> None:
        now = time.time()
        with self._lock:
            qq, rec = self._owned("nack", msg)
            rec.status = status
            rec.receipt = None
            rec.error = error
            rec.details = details
            rec.visible_at = now + delay
            self._schedule(qq, rec, now)

    async def _extend(self, msg: Message, seconds: float) -> _dt.datetime:
        now = time.time()
        with self._lock:
            qq, rec = self._owned("extend the lease of", msg)
            rec.visible_at = now + seconds
            self._schedule(qq, rec, now)
        return _dt.datetime.fromtimestamp(now + seconds, _UTC)

    # -- inspecting and repairing -----------------------------------------------------
    def _all(self, q: str | None) -> list[_Rec]:
        if q is not None:
            return list(self._queue(q).msgs.values())
        return [r for qq in self._queues.values() for r in qq.msgs.values()]

    async def _dead_letters(self, q: str | None, limit: int, after: str | None) -> list[Message]:
        with self._lock:
            now = time.time()
            for name in [q] if q is not None else list(self._queues):
                self._due(self._queue(name), now)
            dead = sorted((r for r in self._all(q) if r.status == "dead_letter"), key=lambda r: r.seq)
            if after is not None:
                marks = [r.seq for r in self._all(None) if r.id == after]
                if not marks:
                    return []
                dead = [r for r in dead if r.seq > marks[0]]
            return [self._message(r) for r in dead[:limit]]

    def _replay(self, recs: list[_Rec], statuses: tuple[str, ...]) -> int:
        now = time.time()
        n = 0
        woken = set()
        for rec in recs:
            if rec.status not in statuses:
                continue
            rec.status = "pending"
            rec.retry_count = 0
            rec.visible_at = now
            rec.receipt = None
            rec.error = rec.details = None
            self._schedule(self._queue(rec.queue), rec, now)
            woken.add(rec.queue)
            n += 1
        for q in woken:
            self._notify(q)
        return n

    async def _replay_ids(self, ids: list[str]) -> int:
        with self._lock:
            wanted = set(ids)
            recs = [r for r in self._all(None) if r.id in wanted]
            return self._replay(recs, ("dead_letter", "completed", "failed"))

    async def _replay_queue(self, q: str, status: str) -> int:
        with self._lock:
            self._due(self._queue(q), time.time())
            return self._replay(sorted(self._all(q), key=lambda r: r.seq), (status,))

    async def _purge(self, q: str, status: str | None) -> int:
        with self._lock:
            qq = self._queue(q)
            self._due(qq, time.time())
            doomed = [m for m, r in qq.msgs.items() if status is None or r.status == status]
            for mid in doomed:
                del qq.msgs[mid]
            if status is None:
                qq.ready.clear()
                qq.timed.clear()
            return len(doomed)

    async def _length(self, q: str, status: str | None) -> int:
        with self._lock:
            qq = self._queue(q)
            self._due(qq, time.time())
            if status is None:
                return len(qq.msgs)
            return sum(1 for r in qq.msgs.values() if r.status == status)

    async def _names(self) -> list[str]:
        with self._lock:
            return sorted(name for name, qq in self._queues.items() if qq.msgs)

    async def _stats(self, q: str) -> QueueStats:
        with self._lock:
            qq = self._queue(q)
            now = time.time()
            self._due(qq, now)
            counts = dict.fromkeys(STATUSES, 0)
            oldest: float | None = None
            for r in qq.msgs.values():
                counts[r.status] += 1
                if r.status == "pending" and (oldest is None or r.created < oldest):
                    oldest = r.created
        age = max(0.0, now - oldest) if oldest is not None else None
        return QueueStats(queue=q, oldest_pending_age=age, **counts)

    # -- copy, export, import and retention (storekeeper.copy and ds.cleanup drive these) --
    async def _export_rows(self, kind: str, after: Any, limit: int) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            recs = heapq.nsmallest(limit, (
                r for qq in self._queues.values() for r in qq.msgs.values()
                if r.status in ("pending", "processing", "failed", "dead_letter")
                and (after is None or r.seq > after)
            ), key=attrgetter("seq"))
        return [
            {
                "seq": r.seq, "id": r.id, "port_name": r.queue, "source_component": r.source,
                "target_component": r.target, "message_data": r.data, "message_metadata": r.meta,
                "status": r.status, "retry_count": r.retry_count, "max_retries": r.max_retries,
                "created_at": iso(_when(r.created)), "error_message": r.error,
                "error_details": r.details, "delay": max(0.0, r.visible_at - now),
            }
            for r in recs
        ]

    async def _count_rows(self, kind: str) -> int:
        with self._lock:
            return sum(
                1 for qq in self._queues.values() for r in qq.msgs.values()
                if r.status in ("pending", "processing", "failed", "dead_letter")
            )

    async def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        now = time.time()
        n = 0
        touched: set[str] = set()
        with self._lock:
            known = {mid for qq in self._queues.values() for mid in qq.msgs}
            for p in rows:
                if p["id"] in known:
                    continue
                processing = p["status"] == "processing"
                created = from_iso(p.get("created_at"))
                rec = _Rec(
                    id=p["id"], queue=p["port_name"], seq=next(self._seq), data=p["message_data"],
                    meta=p.get("message_metadata"), max_retries=int(p.get("max_retries") or 0),
                    created=created.timestamp() if created is not None else now,
                    source=p.get("source_component") or "", target=p.get("target_component") or "",
                    status="pending" if processing else p["status"],
                    retry_count=int(p.get("retry_count") or 0),
                    visible_at=now + (0.0 if processing else float(p.get("delay") or 0.0)),
                    error=p.get("error_message"), details=p.get("error_details"),
                )
                qq = self._queue(rec.queue)
                qq.msgs[rec.id] = rec
                self._schedule(qq, rec, now)
                known.add(rec.id)
                touched.add(rec.queue)
                n += 1
        for q in touched:
            self._notify(q)
        return n

    async def _count_completed_before(self, before: _dt.datetime) -> int:
        t = before.timestamp()
        with self._lock:
            return sum(
                1 for qq in self._queues.values() for r in qq.msgs.values()
                if r.status == "completed" and r.completed is not None and r.completed < t
            )

    async def _delete_completed_before(self, before: _dt.datetime, limit: int) -> int:
        t = before.timestamp()
        with self._lock:
            doomed = [
                (qq, r.id) for qq in self._queues.values() for r in qq.msgs.values()
                if r.status == "completed" and r.completed is not None and r.completed < t
            ][:limit]
            for qq, mid in doomed:
                del qq.msgs[mid]
        return len(doomed)
