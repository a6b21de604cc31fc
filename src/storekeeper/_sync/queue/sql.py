# Generated from src/storekeeper/_async/queue/sql.py by tools/gen_sync.py: do not edit.

"""Queues in the ``port_messages`` table of SQLite, PostgreSQL and MySQL.

A claim is one statement where the database allows it: SQLite and
PostgreSQL ``UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP
LOCKED]) RETURNING …``; MySQL, which has no ``UPDATE … RETURNING``, selects
``FOR UPDATE SKIP LOCKED`` and updates in one short transaction, retried
when InnoDB picks it as a deadlock victim.

Pushes run on the caller's transaction when there is one, so they commit or
roll back with the caller's other writes; wake-ups are sent on commit.

Waiting: PostgreSQL consumers ``LISTEN`` (the push statement itself sends
``pg_notify`` on commit); SQLite and MySQL consumers are woken at once by
pushes of this process and poll with a back-off capped at 100 ms for those
of other processes. A consumer reclaims due retries and expired leases
before it claims (at most every 250 ms, and whenever the queue looks empty).
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from typing import Any

from ..._compat import rt_sync as rt
from ...core.entities import loads, new_id, utcnow_iso
from ...core.records import STATUSES, Message, QueueStats
from ...errors import DatabaseConnectionError, TransactionError
from ...sql.queue import queue_sql
from ..backends.base import SQLBackend
from .base import Queue, NewMessage, lease_error

__all__ = ["SQLQueue"]

#: how often a consumer reclaims due retries and expired leases while messages flow
REAP_INTERVAL = 0.25
#: the longest pause between two looks of a polling consumer
POLL_MAX = 0.1
#: a LISTENing consumer looks again at least this often (a lost notification,
#: a retry or lease coming due that nobody announces)
LISTEN_MAX = 1.0
#: rows per INSERT of push_many (7 parameters each, within every dialect's limit)
INSERT_CHUNK = 500
#: claims retried after an InnoDB deadlock before the error surfaces
CLAIM_RETRIES = 20

_UTC = _dt.UTC


def _dt_of(value: Any) -> _dt.datetime | None:
    """A stored timestamp as an aware UTC datetime (PostgreSQL, MySQL or SQLite text)."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.astimezone(_UTC) if value.tzinfo is not None else value.replace(tzinfo=_UTC)
    if isinstance(value, int | float):
        return _dt.datetime.fromtimestamp(value, _UTC)
    parsed = _dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


class SQLQueue(Queue):
    """``ds.queue`` on a SQL store (see the module docstring)."""

    def __init__(self, backend: SQLBackend) -> None:
        super().__init__()
        self.backend = backend
        self.name = backend.name
        d = backend.dialect.name
        self.sql = queue_sql(d)
        self._sqlite = d == "sqlite"
        self._pg = d == "postgresql"
        self._mysql = d == "mysql"
        self._reap_at: dict[str, float] = {}

    # -- parameters ---------------------------------------------------------------
    def _p(self, **params: Any) -> dict[str, Any]:
        """Named parameters, plus the clock on SQLite (the servers read their own)."""
        if self._sqlite:
            params["now"] = time.time()
            params["ts"] = utcnow_iso()
        return params

    def _msg(self, row: tuple[Any, ...], q: str, receipt: str | None = None) -> Message:
        return Message(
            id=str(row[0]),
            queue=q,
            data=loads(row[1]),
            metadata=loads(row[2]) if row[2] is not None else None,
            status=row[3],
            retry_count=int(row[4]),
            max_retries=int(row[5]),
            created_at=_dt_of(row[6]),
            source=row[7] or "",
            target=row[8] or "",
            error=row[9],
            lease_until=_dt_of(row[10]) if receipt is not None else None,
            receipt=receipt,
        )

    # -- producing ----------------------------------------------------------------
    def _insert(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        b = self.backend
        if len(rows) <= INSERT_CHUNK:
            self._insert_chunk(q, rows, delay, max_retries, source, target)
        else:
            with b.transaction():
                for start in range(0, len(rows), INSERT_CHUNK):
                    chunk = rows[start : start + INSERT_CHUNK]
                    self._insert_chunk(q, chunk, delay, max_retries, source, target)
        if not self._pg:
            # in-process consumers learn of it once it is committed (PostgreSQL: NOTIFY)
            b.after_commit(lambda: self._notify(q))

    def _insert_chunk(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        p = self._p(q=q, src=source, tgt=target, mr=max_retries, delay=delay)
        for i, (mid, body, meta) in enumerate(rows):
            p[f"id{i}"] = mid
            p[f"d{i}"] = body
            p[f"m{i}"] = meta
        self.backend.execute(self.sql.insert(len(rows)), p)

    # -- consuming ----------------------------------------------------------------
    def _claim(self, q: str, n: int, lease: float | None) -> list[Message]:
        reaped = False
        if time.monotonic() >= self._reap_at.get(q, 0.0):
            self._reap(q)
            reaped = True
        msgs = self._claim_once(q, n, lease)
        if not msgs and not reaped and self._reap(q):
            msgs = self._claim_once(q, n, lease)
        return msgs

    def _reap(self, q: str) -> int:
        """Send due retries and expired leases back (or to the dead letters); return how many."""
        self._reap_at[q] = time.monotonic() + REAP_INTERVAL
        b = self.backend
        if b.fetchone(self.sql.reap_probe, self._p(q=q)) is None:
            return 0
        total = 0
        for stmt in self.sql.reap:
            total += b.execute(stmt, self._p(q=q))
        return total

    def _claim_once(self, q: str, n: int, lease: float | None) -> list[Message]:
        receipt = new_id() if lease is not None else None
        if self._mysql:
            return self._claim_mysql(q, n, lease, receipt)
        sql = self.sql.claim_pop if lease is None else self.sql.claim_lease
        rows = self.backend.fetchall(sql, self._p(q=q, n=n, lease=lease, tok=receipt))
        if len(rows) > 1:
            rows.sort(key=lambda r: r[-1])
        return [self._msg(r, q, receipt) for r in rows]

    def _claim_mysql(
        self, q: str, n: int, lease: float | None, receipt: str | None
    ) -> list[Message]:
        b = self.backend
        attempt = 0
        while True:
            try:
                with b.transaction() as conn:
                    rows = conn.fetchall(self.sql.select_claim, {"q": q, "n": n})
                    if not rows:
                        return []
                    p: dict[str, Any] = {f"i{i}": r[0] for i, r in enumerate(rows)}
                    p["lease"] = lease
                    p["tok"] = receipt
                    conn.execute(self.sql.claim_ids(len(rows), lease is None), p)
                break
            except TransactionError:
                # a deadlock between competing SKIP LOCKED consumers: InnoDB rolled
                # this claim back, nobody holds its rows; inside a caller's
                # transaction the whole transaction is gone, so it is theirs to retry
                if b.in_transaction or attempt >= CLAIM_RETRIES:
                    raise
                attempt += 1
                rt.sleep(min(0.05, 0.001 * 2**attempt))
        out = []
        for r in rows:
            m = self._msg(r, q, receipt)
            m.status = "completed" if lease is None else "processing"
            if lease is not None:
                now = _dt_of(r[-1])
                assert now is not None
                m.lease_until = now + _dt.timedelta(seconds=lease)
            out.append(m)
        return out

    def _next_due(self, q: str) -> float | None:
        row = self.backend.fetchone(self.sql.next_due, self._p(q=q))
        if row is None or row[0] is None:
            return None
        return float(row[0])

    def _wait(self, q: str, token: rt.Event, left: float, rounds: int) -> None:
        if self._pg and not self.backend.in_transaction:
            self._listen(q, left)
            return
        rt.wait_event(token, min(left, POLL_MAX, 0.005 * 2**rounds))

    def _listen(self, q: str, left: float) -> None:
        """Wait for a NOTIFY about *q*, a message coming due, or *left* seconds."""
        from ..backends.postgresql import PostgreSQLBackend

        b = self.backend
        assert isinstance(b, PostgreSQLBackend)
        try:
            with b.listening("sk_queue") as listener:
                # anything pushed between the last look and LISTEN shows here
                due = self._next_due(q)
                if due is not None and due <= 0:
                    # due now (rows another consumer is claiming, or a reap to run):
                    # look again after a breath rather than spin
                    rt.sleep(min(left, 0.002))
                    return
                listener.wait(q, min(left, LISTEN_MAX, due if due is not None else LISTEN_MAX))
        except DatabaseConnectionError:
            # the listener was cut: poll once; the next wait opens a new one
            rt.sleep(min(left, POLL_MAX))

    # -- settling -----------------------------------------------------------------
    def _settle(self, action: str, msg: Message, sql: str, params: dict[str, Any]) -> None:
        params["id"] = msg.id
        params["tok"] = msg.receipt
        n = self.backend.execute(sql, self._p(**params))
        if n != 1:
            row = self.backend.fetchone(self.sql.status_of, {"id": msg.id})
            raise lease_error(action, msg, row[0] if row else None)

    def _ack(self, msg: Message) -> None:
        self._settle("ack", msg, self.sql.ack, {})

    def _nack(
        self, msg: Message, status: str, error: str | None, details: str | None, delay: float
    ) -> None:
        self._settle(
            "nack", msg, self.sql.nack, {"st": status, "err": error, "det": details, "delay": delay}
        )

    def _extend(self, msg: Message, seconds: float) -> _dt.datetime:
        self._settle("extend the lease of", msg, self.sql.extend, {"secs": seconds})
        return _dt.datetime.now(_UTC) + _dt.timedelta(seconds=seconds)

    # -- inspecting and repairing -----------------------------------------------------
    def _dead_letters(self, q: str | None, limit: int) -> list[Message]:
        b = self.backend
        if q is None:
            rows = b.fetchall(self.sql.dead_all, {"n": limit})
        else:
            rows = b.fetchall(self.sql.dead_queue, {"q": q, "n": limit})
        return [self._msg(r, r[11]) for r in rows]

    def _replay_ids(self, ids: list[str]) -> int:
        if self._pg:
            ids = [i for i in ids if _is_uuid(i)]  # nothing else can match a UUID column
            if not ids:
                return 0
        p = self._p(**{f"i{i}": v for i, v in enumerate(ids)})
        sql = self.sql.replay_ids(len(ids))
        if self._mysql:
            return self.backend.execute(sql, p)
        rows = self.backend.fetchall(sql, p)
        for q in {r[0] for r in rows}:
            self._announce(q)
        return len(rows)

    def _replay_queue(self, q: str, status: str) -> int:
        n = self.backend.execute(self.sql.replay_queue, self._p(q=q, st=status))
        if n:
            self._announce(q)
        return n

    def _announce(self, q: str) -> None:
        """Wake consumers of *q* (after the caller's commit, when inside a transaction)."""
        if self._pg:
            self.backend.execute("SELECT pg_notify('sk_queue', %s)", (q,))
        else:
            self.backend.after_commit(lambda: self._notify(q))

    def _purge(self, q: str, status: str | None) -> int:
        if status is None:
            return self.backend.execute(self.sql.purge_all, {"q": q})
        return self.backend.execute(self.sql.purge_status, {"q": q, "st": status})

    def _length(self, q: str, status: str | None) -> int:
        if status is None:
            row = self.backend.fetchone(self.sql.length_all, {"q": q})
        else:
            row = self.backend.fetchone(self.sql.length_status, {"q": q, "st": status})
        return int(row[0]) if row else 0

    def _stats(self, q: str) -> QueueStats:
        rows = self.backend.fetchall(self.sql.stats, {"q": q})
        counts = dict.fromkeys(STATUSES, 0)
        age = None
        for status, count, oldest in rows:
            counts[status] = int(count)
            if status == "pending" and oldest is not None:
                created = _dt_of(oldest)
                assert created is not None
                age = max(0.0, (_dt.datetime.now(_UTC) - created).total_seconds())
        return QueueStats(queue=q, oldest_pending_age=age, **counts)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
