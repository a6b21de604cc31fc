"""Queues on Redis: one Lua script per operation, the server's clock for every lease.

The keys, the scripts (``core/redis_scripts.lua``) and what they answer are
described in :mod:`storekeeper.core.redis_layout`, which builds the script
arguments and decodes the replies; this module runs the scripts.

Waiting: ``wake`` holds at most one token per ready message (64 at most): a
push adds one per message, a claim removes one per message it takes, and a
claim that finds nothing deletes the list. A consumer with nothing to take
BLPOPs it (on a pooled connection reserved for blocking commands) until a
token comes, ``due`` arrives, or :data:`WAIT_MAX` seconds pass, then looks
again. A delayed push or a nack into ``retry`` adds one token, so a waiting
consumer learns the new due time. A push from any process thus wakes a waiting
consumer at once, and an idle consumer sends a BLPOP and a claim a second.

Retention: completed messages are kept 7 days (seed 004 §6), for replay, then
removed by later claims of their queue, a bounded number per claim;
``ds.cleanup(completed_messages_days=…)`` removes them sooner. Dead letters
stay until replayed or purged.

The scripts compute message keys from ids, so they need a standalone Redis (or
a Redis Cluster where one shard holds the whole prefix). Queue keys never
expire: run Redis with ``maxmemory-policy`` ``noeviction`` or a ``volatile-*``
policy (which evicts only keys with a TTL, such as cache entries), never an
``allkeys-*`` one, which could evict messages.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from ..._compat import rt_async as rt
from ...core.queueing import MAX_BATCH
from ...core.records import Message, QueueStats
from ...core.redis_layout import (
    ACK,
    ACK_MANY,
    BATCH,
    CLAIM,
    COUNTS,
    DEAD,
    EXTEND,
    IMPORT,
    NACK,
    NACK_MANY,
    PURGE,
    PUSH,
    PUSH_CHUNK,
    REPLAY_IDS,
    REPLAY_QUEUE,
    TRIM,
    QueueKeys,
    ack_argv,
    claim_argv,
    counts_argv,
    dead_argv,
    decode_claim,
    decode_dead,
    extend_argv,
    from_ms,
    lease_terms,
    length_from_counts,
    nack_argv,
    nack_many_argv,
    purge_argv,
    push_calls,
    replay_queue_argv,
    stats_from_counts,
    text_or_none,
)
from ...core.transfer import from_iso, iso
from ...errors import LeaseError
from ..backends.base import Meanwhile
from ..backends.redis import AsyncRedisBackend
from .base import AsyncQueue, NewMessage, lease_error

__all__ = ["AsyncRedisQueue"]

#: the sorted sets of live messages and dead letters (what a copy moves)
_LIVE_SETS = ("ready", "delayed", "retry", "leases", "dead")
#: the message fields an export reads
_EXPORT_FIELDS = (
    "data", "metadata", "status", "retry_count", "max_retries", "created_at", "source", "target",
    "error", "error_details",
)


def _ms(when: _dt.datetime) -> int:
    """*when* in the scripts' clock: unix milliseconds."""
    return int(when.timestamp() * 1000)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)

#: the longest a waiting consumer blocks before it looks again (it also wakes
#: for pushes and when the next message falls due): covers leases that expire
#: while it waits, which nothing announces
WAIT_MAX = 1.0


class AsyncRedisQueue(AsyncQueue):
    """``ds.queue`` on Redis: Lua-scripted sorted sets and hashes (see the module docstring)."""

    def __init__(self, backend: AsyncRedisBackend) -> None:
        super().__init__()
        self.backend = backend
        self.name = backend.name
        self._keys = QueueKeys.for_prefix(backend.prefix)
        #: seconds until something of a queue falls due, learned by its last empty claim
        self._due: dict[str, float] = {}

    # -- producing ----------------------------------------------------------------
    async def _insert(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        k = self._keys
        keys = (k.base(q), k.ids, k.names)
        calls = push_calls(q, rows, delay, max_retries, source, target)
        if len(calls) == 1:
            await self.backend.eval(PUSH, keys, calls[0])
            return
        # several script calls in one MULTI: the whole push or none of it. EVAL,
        # not EVALSHA: a NOSCRIPT inside EXEC would leave the other chunks applied
        await self.backend.transaction(
            [["EVAL", PUSH.text, len(keys), *keys, *args] for args in calls]
        )

    # -- consuming ----------------------------------------------------------------
    async def _claim(self, q: str, n: int, lease: float | None) -> list[Message]:
        receipt, lease_ms = lease_terms(lease)
        res = await self.backend.eval(
            CLAIM, (self._keys.base(q), self._keys.ids), claim_argv(n, receipt, lease_ms)
        )
        msgs, due = decode_claim(res, q, receipt, lease_ms)
        if due is not None:
            self._due[q] = due
        return msgs

    async def _wait(self, q: str, token: rt.Event, left: float, rounds: int) -> None:
        wait = min(left, WAIT_MAX)
        due = self._due.pop(q, None)
        if due is not None:
            if due <= 0:
                return  # more was due than one claim reclaims: look again now
            wait = min(wait, due)
        await self.backend.blpop(self._keys.wake(q), wait)

    # -- settling -----------------------------------------------------------------
    async def _ack(self, msg: Message) -> None:
        res = await self.backend.eval(ACK, (self._keys.base(msg.queue),), ack_argv(msg))
        if res[0] != 1:
            raise lease_error("ack", msg, text_or_none(res[1]))

    async def _ack_many(self, msgs: list[Message]) -> dict[str, LeaseError]:
        """One script call per queue and receipt (a batch from one receive is one)."""
        groups: dict[tuple[str, str | None], list[Message]] = {}
        for m in msgs:
            groups.setdefault((m.queue, m.receipt), []).append(m)
        stale: dict[str, LeaseError] = {}
        for (q, receipt), group in groups.items():
            for start in range(0, len(group), MAX_BATCH):
                by_id = {m.id: m for m in group[start : start + MAX_BATCH]}
                res = await self.backend.eval(
                    ACK_MANY, (self._keys.base(q),), (receipt, *by_id)
                )
                for i in range(0, len(res), 2):
                    mid = text_or_none(res[i]) or ""
                    stale[mid] = lease_error("ack", by_id[mid], text_or_none(res[i + 1]))
        return stale

    async def _nack_many(
        self, plan: list[tuple[Message, str, float]], error: str | None, details: str | None
    ) -> dict[str, LeaseError]:
        """One script call per queue and receipt, as :meth:`_ack_many`."""
        groups: dict[tuple[str, str | None], list[tuple[Message, str, float]]] = {}
        for item in plan:
            groups.setdefault((item[0].queue, item[0].receipt), []).append(item)
        stale: dict[str, LeaseError] = {}
        for (q, receipt), group in groups.items():
            for start in range(0, len(group), MAX_BATCH):
                chunk = group[start : start + MAX_BATCH]
                by_id = {m.id: m for m, _, _ in chunk}
                res = await self.backend.eval(
                    NACK_MANY, (self._keys.base(q),), nack_many_argv(receipt, chunk, error, details)
                )
                for i in range(0, len(res), 2):
                    mid = text_or_none(res[i]) or ""
                    stale[mid] = lease_error("nack", by_id[mid], text_or_none(res[i + 1]))
        return stale

    async def _nack(
        self, msg: Message, status: str, error: str | None, details: str | None, delay: float
    ) -> None:
        res = await self.backend.eval(
            NACK, (self._keys.base(msg.queue),), nack_argv(msg, status, error, details, delay)
        )
        if res[0] != 1:
            raise lease_error("nack", msg, text_or_none(res[1]))

    async def _extend(self, msg: Message, seconds: float) -> _dt.datetime:
        res = await self.backend.eval(
            EXTEND, (self._keys.base(msg.queue),), extend_argv(msg, seconds)
        )
        if res[0] != 1:
            raise lease_error("extend the lease of", msg, text_or_none(res[1]))
        return from_ms(res[1])

    # -- inspecting and repairing -----------------------------------------------------
    async def _dead_letters(self, q: str | None, limit: int, after: str | None) -> list[Message]:
        k = self._keys
        if q is None and after is not None:
            # across queues the order is decided here: read them all, page after *after*
            rows = await self.backend.eval(DEAD, (k.names,), dead_argv(k.root, None, 2**31 - 1))
            every = decode_dead(rows, len(rows), every_queue=True)
            ids = [m.id for m in every]
            if after not in ids:
                return []
            start = ids.index(after) + 1
            return every[start : start + limit]
        rows = await self.backend.eval(DEAD, (k.names,), dead_argv(k.root, q, limit, after))
        return decode_dead(rows, limit, every_queue=q is None)

    async def _replay_ids(self, ids: list[str]) -> int:
        k = self._keys
        n: int = await self.backend.eval(REPLAY_IDS, (k.ids,), (k.root, *ids))
        return n

    async def _replay_queue(self, q: str, status: str) -> int:
        total = 0
        while True:
            res = await self.backend.eval(
                REPLAY_QUEUE, (self._keys.base(q),), replay_queue_argv(status)
            )
            n: int = res[0]
            seen: int = res[1]
            total += n
            if seen < BATCH:
                return total

    async def _purge(self, q: str, status: str | None) -> int:
        k = self._keys
        keys = (k.base(q), k.ids, k.names)
        total = 0
        while True:
            res = await self.backend.eval(PURGE, keys, purge_argv(q, status))
            n: int = res[0]
            budget: int = res[1]
            total += n
            if budget > 0:
                return total

    async def _counts(self, q: str, oldest: bool) -> list[int]:
        res: list[int] = await self.backend.eval(COUNTS, (self._keys.base(q),), counts_argv(oldest))
        return res

    async def _length(self, q: str, status: str | None) -> int:
        return length_from_counts(await self._counts(q, False), status)

    async def _stats(self, q: str) -> QueueStats:
        return stats_from_counts(q, await self._counts(q, True))

    # -- retention (ds.cleanup) --
    async def _count_completed_before(self, before: _dt.datetime) -> int:
        """Completed messages of every queue settled at or before *before*."""
        k, t = self._keys, _ms(before)
        names = await self._queue_names()
        if not names:
            return 0
        counts = await self.backend.transaction(
            [("ZCOUNT", k.base(q) + "completed", "-inf", t) for q in names]
        )
        return sum(int(c) for c in counts)

    async def _delete_completed_before(self, before: _dt.datetime, limit: int) -> int:
        """Delete up to *limit* completed messages settled at or before *before*; how many."""
        k, t = self._keys, _ms(before)
        total = 0
        for q in await self._queue_names():
            total += int(await self.backend.eval(
                TRIM, (k.base(q), k.ids, k.names), (t, limit - total, q)
            ))
            if total >= limit:
                break
        return total

    # -- copy, export and import (storekeeper.copy drives these) --
    _transfer_kinds = ("queue",)

    async def _names(self) -> list[str]:
        # the names set keeps a queue once it held a message: list those holding some now
        return [q for q in await self._queue_names() if await self._length(q, None)]

    async def _queue_names(self) -> list[str]:
        names = await self.backend.execute("SMEMBERS", self._keys.names)
        return sorted(n.decode() if isinstance(n, bytes) else str(n) for n in names)

    async def _export_pages(self, kind: str, size: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Live messages and dead letters, queue by queue in push order, pages of *size*."""
        b = self.backend
        for q in await self._queue_names():
            base = self._keys.base(q)
            replies = await b.transaction(
                [("TIME",), *[("ZRANGE", base + z, 0, -1, "WITHSCORES") for z in _LIVE_SETS]]
            )
            now_ms = int(replies[0][0]) * 1000 + int(replies[0][1]) // 1000
            members: list[tuple[str, str, float]] = []
            for z, flat in zip(_LIVE_SETS, replies[1:], strict=True):
                for i in range(0, len(flat), 2):
                    members.append((_text(flat[i]), z, float(flat[i + 1])))
            # ready and dead are scored by seq; the others by time: ask their seq
            timed = [m for m in members if m[1] not in ("ready", "dead")]
            seqs: dict[str, int] = {m[0]: int(m[2]) for m in members if m[1] in ("ready", "dead")}
            for start in range(0, len(timed), size):
                chunk = timed[start : start + size]
                got = await b.transaction([("HGET", f"{base}msg:{m[0]}", "seq") for m in chunk])
                for m, seq in zip(chunk, got, strict=True):
                    if seq is not None:
                        seqs[m[0]] = int(seq)
            ordered = sorted((m for m in members if m[0] in seqs), key=lambda m: seqs[m[0]])
            for start in range(0, len(ordered), size):
                chunk = ordered[start : start + size]
                hashes = await b.transaction(
                    [("HMGET", f"{base}msg:{m[0]}", *_EXPORT_FIELDS) for m in chunk]
                )
                rows = []
                for (mid, z, score), h in zip(chunk, hashes, strict=True):
                    if h[0] is None:
                        continue  # settled or purged meanwhile
                    due = score - now_ms if z in ("delayed", "retry") else 0.0
                    rows.append({
                        "seq": seqs[mid], "id": mid, "port_name": q,
                        "source_component": _text(h[6]) or "", "target_component": _text(h[7]) or "",
                        "message_data": _text(h[0]), "message_metadata": _text(h[1]) or None,
                        "status": _text(h[2]), "retry_count": int(h[3] or 0),
                        "max_retries": int(h[4] or 0),
                        "created_at": iso(from_ms(h[5])) if h[5] is not None else None,
                        "error_message": _text(h[8]) or None, "error_details": _text(h[9]) or None,
                        "delay": max(0.0, due / 1000.0),
                    })
                if rows:
                    yield rows

    async def _count_rows(self, kind: str) -> int:
        b = self.backend
        total = 0
        for q in await self._queue_names():
            base = self._keys.base(q)
            counts = await b.transaction([("ZCARD", base + z) for z in _LIVE_SETS])
            total += sum(int(c) for c in counts)
        return total

    async def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        k = self._keys
        by_queue: dict[str, list[Any]] = {}
        for r in rows:
            processing = r["status"] == "processing"
            created = from_iso(r.get("created_at"))
            by_queue.setdefault(r["port_name"], []).extend((
                r["id"], r["message_data"], r.get("message_metadata") or "",
                "pending" if processing else r["status"], int(r.get("retry_count") or 0),
                int(r.get("max_retries") or 0),
                int(created.timestamp() * 1000) if created is not None else 0,
                r.get("source_component") or "", r.get("target_component") or "",
                r.get("error_message") or "", r.get("error_details") or "",
                0 if processing else int(float(r.get("delay") or 0.0) * 1000),
            ))
        written = 0
        for q, args in by_queue.items():
            for start in range(0, len(args), 12 * PUSH_CHUNK):
                n = await self.backend.eval(
                    IMPORT, (k.base(q), k.ids, k.names), (q, *args[start : start + 12 * PUSH_CHUNK])
                )
                written += int(n)
        return written
