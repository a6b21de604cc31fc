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
removed by later claims of their queue, a bounded number per claim. Dead
letters stay until replayed or purged.

The scripts compute message keys from ids, so they need a standalone Redis (or
a Redis Cluster where one shard holds the whole prefix). Queue keys never
expire: run Redis with ``maxmemory-policy`` ``noeviction`` or a ``volatile-*``
policy (which evicts only keys with a TTL, such as cache entries), never an
``allkeys-*`` one, which could evict messages.
"""

from __future__ import annotations

import datetime as _dt

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
    NACK,
    NACK_MANY,
    PURGE,
    PUSH,
    REPLAY_IDS,
    REPLAY_QUEUE,
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
from ...errors import LeaseError
from ..backends.redis import AsyncRedisBackend
from .base import AsyncQueue, NewMessage, lease_error

__all__ = ["AsyncRedisQueue"]

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
