"""Queues in the ``port_messages`` table of SQLite, PostgreSQL and MySQL.

A claim is one statement where the database can update and return rows at
once (SQLite, PostgreSQL: ready rows are picked in push order, skipping rows
other consumers hold, and leased in the same statement); elsewhere (MySQL)
the ready rows are selected, locked, and updated in one short transaction,
retried when InnoDB picks it as a deadlock victim. The statements are in
:mod:`storekeeper.sql.queue`.

Pushes run on the caller's transaction when there is one, so they commit or
roll back with the caller's other writes; wake-ups are sent on commit.

Waiting: where the server delivers notifications (PostgreSQL) consumers
listen for the one each push sends on commit; elsewhere consumers are woken at
once by pushes of this process and poll with a back-off capped at 100 ms for
those of other processes. A consumer reclaims due retries and expired leases
before it claims (at most every 250 ms, and whenever the queue looks empty).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..._compat import rt_async as rt
from ...core.entities import new_id, utcnow_iso
from ...core.queueing import MAX_BATCH
from ...core.records import STATUSES, Message, QueueStats
from ...core.transfer import PortableRows
from ...errors import DatabaseConnectionError, LeaseError, TransactionError
from ...sql.queue import as_utc, is_uuid, message_from_row, queue_sql
from ...sql.queue_transfer import queue_transfer_sql
from ..backends.base import AsyncSQLBackend, Meanwhile
from ..tables import copy_new
from .base import AsyncQueue, NewMessage, lease_error

__all__ = ["AsyncSQLQueue"]

#: how often a consumer reclaims due retries and expired leases while messages flow
REAP_INTERVAL = 0.25
#: the longest pause between two looks of a polling consumer
POLL_MAX = 0.1
#: a listening consumer looks again at least this often (a lost notification,
#: a retry or lease coming due that nobody announces)
LISTEN_MAX = 1.0
#: rows per statement of push_many (7 parameters each, within every dialect's limit)
INSERT_CHUNK = 500
#: claims retried after an InnoDB deadlock before the error surfaces
CLAIM_RETRIES = 20

_UTC = _dt.UTC


class AsyncSQLQueue(AsyncQueue):
    """``ds.queue`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("queue",)

    def __init__(self, backend: AsyncSQLBackend) -> None:
        super().__init__()
        self.backend = backend
        self.name = backend.name
        d = backend.dialect
        self.sql = queue_sql(d.name)
        #: the client supplies the clock (the servers read their own)
        self._clock = d.client_clock
        #: the push statement itself notifies listening consumers on commit
        self._notifies = d.server_notify
        #: claims are one statement (else: select locked, then update by id)
        self._one_statement = d.update_returning
        self._uuid_ids = d.uuid_message_ids
        self._reap_at: dict[str, float] = {}
        #: claims take expired leases and due retries themselves (no reaping pass)
        self._claims_reap = bool(self.sql.given_up_sql)

    # -- parameters ---------------------------------------------------------------
    def _p(self, **params: Any) -> dict[str, Any]:
        """Named parameters, plus the clock where the client supplies it."""
        if self._clock:
            params["now"] = time.time()
            params["ts"] = utcnow_iso()
        return params

    # -- producing ----------------------------------------------------------------
    async def _insert(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        b = self.backend
        if len(rows) <= INSERT_CHUNK:
            await self._insert_chunk(q, rows, delay, max_retries, source, target)
        else:
            async with b.transaction():
                for start in range(0, len(rows), INSERT_CHUNK):
                    chunk = rows[start : start + INSERT_CHUNK]
                    await self._insert_chunk(q, chunk, delay, max_retries, source, target)
        if not self._notifies:
            # in-process consumers learn of it once it is committed
            b.after_commit(lambda: self._notify(q))

    async def _insert_chunk(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        p = self._p(q=q, src=source, tgt=target, mr=max_retries, delay=delay)
        for i, (mid, body, meta) in enumerate(rows):
            p[f"id{i}"] = mid
            p[f"d{i}"] = body
            p[f"m{i}"] = meta
        await self.backend.execute(self.sql.insert(len(rows)), p)

    # -- consuming ----------------------------------------------------------------
    async def _claim(self, q: str, n: int, lease: float | None) -> list[Message]:
        if self._claims_reap:
            while True:
                msgs = await self._claim_once(q, n, lease)
                kept = [m for m in msgs if m.status != "dead_letter"]
                if len(kept) == len(msgs):
                    return msgs
                await self._given_up([m.id for m in msgs if m.status == "dead_letter"])
                if kept:
                    return kept
        reaped = False
        if time.monotonic() >= self._reap_at.get(q, 0.0):
            await self._reap(q)
            reaped = True
        msgs = await self._claim_once(q, n, lease)
        if not msgs and not reaped and await self._reap(q):
            msgs = await self._claim_once(q, n, lease)
        return msgs

    async def _given_up(self, ids: list[str]) -> None:
        """Mark the dead letters a claim moved there (their leases ran out, retries spent) as finished."""
        p: dict[str, Any] = {f"i{i}": mid for i, mid in enumerate(ids)}
        await self.backend.execute(self.sql.given_up(len(ids)), self._p(**p))

    async def _reap(self, q: str) -> int:
        """Send due retries and expired leases back (or to the dead letters); return how many."""
        self._reap_at[q] = time.monotonic() + REAP_INTERVAL
        b = self.backend
        if await b.fetchone(self.sql.reap_probe, self._p(q=q)) is None:
            return 0
        total = 0
        for stmt in self.sql.reap:
            total += await b.execute(stmt, self._p(q=q))
        return total

    async def _claim_once(self, q: str, n: int, lease: float | None) -> list[Message]:
        receipt = new_id() if lease is not None else None
        if not self._one_statement:
            return await self._claim_locked(q, n, lease, receipt)
        s = self.sql
        if n == 1:
            sql = s.claim_pop_one if lease is None else s.claim_lease_one
        else:
            sql = s.claim_pop if lease is None else s.claim_lease
        try:
            rows = await self.backend.fetchall(sql, self._p(q=q, n=n, lease=lease, tok=receipt))
        except DatabaseConnectionError:
            if lease is None or self.backend.in_transaction:
                raise  # a pop cut in flight may have taken its message: the caller is told
            # a leased claim cut in flight: if it went through, what it took comes back
            # when its lease ends (at least once), so claim again on a fresh connection
            receipt = new_id()
            rows = await self.backend.fetchall(sql, self._p(q=q, n=n, lease=lease, tok=receipt))
        if len(rows) > 1:
            rows.sort(key=lambda r: r[-1])
        return [message_from_row(r, q, receipt) for r in rows]

    async def _claim_locked(
        self, q: str, n: int, lease: float | None, receipt: str | None
    ) -> list[Message]:
        b = self.backend
        attempt = 0
        while True:
            committing = False
            try:
                async with b.transaction() as conn:
                    rows = await conn.fetchall(self.sql.select_claim, {"q": q, "n": n})
                    if not rows:
                        return []
                    p: dict[str, Any] = {f"i{i}": r[0] for i, r in enumerate(rows)}
                    p["lease"] = lease
                    p["tok"] = receipt
                    await conn.execute(self.sql.claim_ids(len(rows), lease is None), p)
                    committing = True
                break
            except DatabaseConnectionError:
                # the connection died before the claim was committed: the server rolled
                # it back and nothing was taken, so take again on a fresh connection.
                # A commit cut in flight may have gone through: that one is raised
                if committing or b.in_transaction or attempt >= CLAIM_RETRIES:
                    raise
                attempt += 1
            except TransactionError:
                # a deadlock between competing SKIP LOCKED consumers: InnoDB rolled
                # this claim back, nobody holds its rows; inside a caller's
                # transaction the whole transaction is gone, so it is theirs to retry
                if b.in_transaction or attempt >= CLAIM_RETRIES:
                    raise
                attempt += 1
                await rt.sleep(min(0.05, 0.001 * 2**attempt))
        out = []
        for r in rows:
            m = message_from_row(r, q, receipt)
            m.status = "completed" if lease is None else "processing"
            if lease is not None:
                now = as_utc(r[-1])
                assert now is not None
                m.lease_until = now + _dt.timedelta(seconds=lease)
            out.append(m)
        return out

    async def _next_due(self, q: str) -> float | None:
        row = await self.backend.fetchone(self.sql.next_due, self._p(q=q))
        if row is None or row[0] is None:
            return None
        return float(row[0])

    async def _wait(self, q: str, token: rt.Event, left: float, rounds: int) -> None:
        if self._notifies and not self.backend.in_transaction:
            await self._listen(q, left)
            return
        await rt.wait_event(token, min(left, POLL_MAX, 0.005 * 2**rounds))

    async def _listen(self, q: str, left: float) -> None:
        """Wait for a notification about *q*, a message coming due, or *left* seconds."""
        try:
            async with self.backend.listening(self.backend.dialect.notify_channel) as listener:
                # anything pushed between the last look and listening shows here
                due = await self._next_due(q)
                if due is not None and due <= 0:
                    # due now (rows another consumer is claiming, or a reap to run):
                    # look again after a breath rather than spin
                    await rt.sleep(min(left, 0.002))
                    return
                await listener.wait(q, min(left, LISTEN_MAX, due if due is not None else LISTEN_MAX))
        except DatabaseConnectionError:
            # the listener was cut: poll once; the next wait opens a new one
            await rt.sleep(min(left, POLL_MAX))

    # -- settling -----------------------------------------------------------------
    async def _settle(self, action: str, msg: Message, sql: str, params: dict[str, Any]) -> None:
        params["id"] = msg.id
        params["tok"] = msg.receipt
        n = await self.backend.execute(sql, self._p(**params))
        if n != 1:
            row = await self.backend.fetchone(self.sql.status_of, {"id": msg.id})
            raise lease_error(action, msg, row[0] if row else None)

    async def _ack(self, msg: Message) -> None:
        await self._settle("ack", msg, self.sql.ack, {})

    async def _nack(
        self, msg: Message, status: str, error: str | None, details: str | None, delay: float
    ) -> None:
        await self._settle(
            "nack", msg, self.sql.nack, {"st": status, "err": error, "det": details, "delay": delay}
        )

    async def _ack_many(self, msgs: list[Message]) -> dict[str, LeaseError]:
        return await self._settle_many("ack", [(m, "", 0.0) for m in msgs], {})

    async def _nack_many(
        self, plan: list[tuple[Message, str, float]], error: str | None, details: str | None
    ) -> dict[str, LeaseError]:
        return await self._settle_many("nack", plan, {"err": error, "det": details})

    async def _settle_many(
        self, action: str, plan: list[tuple[Message, str, float]], params: dict[str, Any]
    ) -> dict[str, LeaseError]:
        """One statement per receipt (and, for nacks, per new status and delay)."""
        groups: dict[tuple[str | None, str, float], list[Message]] = {}
        for m, status, wait in plan:
            groups.setdefault((m.receipt, status, wait), []).append(m)
        stale: dict[str, LeaseError] = {}
        for (tok, status, wait), group in groups.items():
            for start in range(0, len(group), MAX_BATCH):
                chunk = group[start : start + MAX_BATCH]
                p = self._p(tok=tok, **params)
                if action == "nack":
                    p["st"] = status
                    p["delay"] = wait
                    sql = self.sql.nack_ids(len(chunk))
                else:
                    sql = self.sql.ack_ids(len(chunk))
                for i, m in enumerate(chunk):
                    p[f"i{i}"] = m.id
                done = await self._settle_ids(sql, chunk, p)
                if len(done) == len(chunk):
                    continue
                for m in chunk:
                    if m.id not in done:
                        row = await self.backend.fetchone(self.sql.status_of, {"id": m.id})
                        stale[m.id] = lease_error(action, m, row[0] if row else None)
        return stale

    async def _settle_ids(self, sql: str, chunk: list[Message], p: dict[str, Any]) -> set[str]:
        """Run a batch settle; return the ids it settled."""
        b = self.backend
        if self._one_statement:
            return {str(r[0]) for r in await b.fetchall(sql, p)}
        async with b.transaction() as conn:
            held = await conn.fetchall(
                self.sql.held_ids(len(chunk)), {k: v for k, v in p.items() if k[0] == "i" or k == "tok"}
            )
            if held:
                await conn.execute(sql, p)
        return {str(r[0]) for r in held}

    async def _extend(self, msg: Message, seconds: float) -> _dt.datetime:
        await self._settle("extend the lease of", msg, self.sql.extend, {"secs": seconds})
        return _dt.datetime.now(_UTC) + _dt.timedelta(seconds=seconds)

    # -- inspecting and repairing -----------------------------------------------------
    async def _dead_letters(self, q: str | None, limit: int, after: str | None) -> list[Message]:
        b = self.backend
        if after is not None:
            if self._uuid_ids and not is_uuid(after):
                return []  # no message has that id
            if q is None:
                rows = await b.fetchall(self.sql.dead_all_after, {"n": limit, "after": after})
            else:
                rows = await b.fetchall(
                    self.sql.dead_queue_after, {"q": q, "n": limit, "after": after}
                )
        elif q is None:
            rows = await b.fetchall(self.sql.dead_all, {"n": limit})
        else:
            rows = await b.fetchall(self.sql.dead_queue, {"q": q, "n": limit})
        return [message_from_row(r, r[11]) for r in rows]

    async def _replay_ids(self, ids: list[str]) -> int:
        if self._uuid_ids:
            ids = [i for i in ids if is_uuid(i)]  # nothing else can match a UUID column
            if not ids:
                return 0
        p = self._p(**{f"i{i}": v for i, v in enumerate(ids)})
        sql = self.sql.replay_ids(len(ids))
        if not self._one_statement:
            return await self.backend.execute(sql, p)
        rows = await self.backend.fetchall(sql, p)
        for q in {r[0] for r in rows}:
            await self._announce(q)
        return len(rows)

    async def _replay_queue(self, q: str, status: str) -> int:
        n = await self.backend.execute(self.sql.replay_queue(status), self._p(q=q))
        if n:
            await self._announce(q)
        return n

    async def _announce(self, q: str) -> None:
        """Wake consumers of *q* (after the caller's commit, when inside a transaction)."""
        if self._notifies:
            await self.backend.execute(self.sql.announce, {"q": q})
        else:
            self.backend.after_commit(lambda: self._notify(q))

    async def _purge(self, q: str, status: str | None) -> int:
        if status is None:
            return await self.backend.execute(self.sql.purge_all, {"q": q})
        return await self.backend.execute(self.sql.purge_status(status), {"q": q})

    async def _length(self, q: str, status: str | None) -> int:
        if status is None:
            row = await self.backend.fetchone(self.sql.length_all, {"q": q})
        else:
            row = await self.backend.fetchone(self.sql.length_status(status), {"q": q})
        return int(row[0]) if row else 0

    async def _names(self) -> list[str]:
        rows = await self.backend.fetchall(self.sql.names, {})
        return [str(r[0]) for r in rows]

    async def _stats(self, q: str) -> QueueStats:
        rows = await self.backend.fetchall(self.sql.stats, {"q": q})
        counts = dict.fromkeys(STATUSES, 0)
        age = None
        for status, count, oldest in rows:
            counts[status] = int(count)
            if status == "pending" and oldest is not None:
                created = as_utc(oldest)
                assert created is not None
                age = max(0.0, (_dt.datetime.now(_UTC) - created).total_seconds())
        return QueueStats(queue=q, oldest_pending_age=age, **counts)

    # -- copy, export, import and retention (storekeeper.copy and ds.cleanup drive these) --
    async def _export_rows(self, kind: str, after: Any, limit: int) -> PortableRows:
        t = queue_transfer_sql(self.backend.dialect.name)
        p: dict[str, Any] = {"n": limit, "now": time.time()}
        if after is None:
            rows = await self.backend.fetchall(t.export_first, p)
        else:
            rows = await self.backend.fetchall(t.export_after, {**p, "after": after})
        return t.portable(rows)

    async def _count_rows(self, kind: str) -> int:
        row = await self.backend.fetchone(queue_transfer_sql(self.backend.dialect.name).count)
        return int(row[0]) if row else 0

    async def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        t = queue_transfer_sql(self.backend.dialect.name)
        w = t.written(rows)
        written = 0
        if t.staged is not None:
            direct, server_now, create, copy, merge = t.staged
            async with self.backend.transaction():
                now = await self.backend.fetchone(server_now)
                assert now is not None
                return await copy_new(
                    self.backend, direct, t.copy_rows(w, now[0]), (create, copy, merge),
                    lambda: t.stage_rows(w), meanwhile,
                )
        now_s = time.time()
        step = t.rows_per_insert
        async with self.backend.transaction():
            for start in range(0, len(rows), step):
                chunk = w.part(start, start + step)
                sql, names = t.insert(len(chunk.id))
                written += await self.backend.execute(sql, t.params(chunk, names, now_s))
        return written

    async def _count_completed_before(self, before: _dt.datetime) -> int:
        t = queue_transfer_sql(self.backend.dialect.name)
        row = await self.backend.fetchone(
            t.count_completed_before, {"t": self.backend.dialect.ts_param(before)}
        )
        return int(row[0]) if row else 0

    async def _delete_completed_before(self, before: _dt.datetime, limit: int) -> int:
        t = queue_transfer_sql(self.backend.dialect.name)
        return await self.backend.execute(
            t.delete_completed_before, {"t": self.backend.dialect.ts_param(before), "n": limit}
        )
