#!/usr/bin/env python
"""W5 queue and W6 cache: storekeeper against the raw drivers and peers, same process run.

::

    python bench/queues.py [--backends sqlite,postgresql,mysql,redis,memory] [--quick] [--workloads W5,W6]

- **W5 queue**: push N small dict messages (one ``push`` each), then receive
  and ack them all with one consumer; and push N, then drain them with 4
  consumer *processes* (each with its own store or connection).
- **W6 cache**: N ``cache.set(key, value, ttl=60)``, then N ``cache.get(key)``.

Prints a Markdown report (throughput and ratios, ``pass``/``MISS`` beside each
target) and writes it to ``bench/results/queues.md``. ``bench/README.md``
describes the variants, the method and the targets.

The raw-driver variants run the statements storekeeper runs: they are taken
from storekeeper's own SQL modules (``storekeeper.sql.queue.queue_sql``,
``storekeeper.sql.cache.cache_sql``), and the run records, once per backend,
what storekeeper sends to its driver and what the raw loops send, and compares
them ("Same-SQL check" in the report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from harness import (
    RESULTS,
    BenchContext,
    Cell,
    RecordingCursor,
    Run,
    Target,
    add_common_options,
    amysql_connect,
    apostgresql_connect,
    capture_storekeeper,
    cell_text,
    compare,
    deadline_of,
    describe,
    maybe_await,
    mysql_connect,
    parse_selection,
    perf_counter,
    postgresql_connect,
    progress,
    ratio_text,
    raw_connect,
    redis_client,
    report_header,
    rotated,
    server_version,
    write_report,
)

from storekeeper import AsyncDataStore, DataStore, new_id
from storekeeper.core.entities import utcnow_iso

DEFAULT_OUTPUT = RESULTS / "queues.md"

WORKLOADS = ("W5", "W6")
BACKENDS = ("sqlite", "postgresql", "mysql", "redis", "memory")
#: consumer processes of the W5 "4 consumers" column
CONSUMERS = 4
#: the lease every receive asks for (storekeeper's default)
LEASE = 30.0
#: the cache TTL of W6
TTL = 60.0
#: storekeeper's SQL queue reclaims expired leases at most this often (queue/sql.py
#: REAP_INTERVAL); the raw loops run the same probe on the same schedule
REAP_INTERVAL = 0.25
#: storekeeper's SQL cache purges expired rows every this many writes (cache/sql.py)
PURGE_EVERY = 1024
PURGE_AUTO_LIMIT = 256
#: messages per call of the batched variants (push_many, receive(max_messages=…), ack_many)
BATCH = 100


# --- sizes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    n: int  # messages pushed / consumed, cache keys set / read
    warm: int  # warm-up operations on the same queue or cache before the clock starts
    cap_s: float  # one timed loop stops after this long (slow peers); rate over what was done
    repeats: int  # runs per variant (best kept)


FULL = Sizes(n=20_000, warm=1_000, cap_s=60.0, repeats=1)
QUICK = Sizes(n=2_000, warm=200, cap_s=5.0, repeats=2)


# --- data --------------------------------------------------------------------------------

NODES = tuple(f"node_{i}" for i in range(16))


def make_payloads(n: int) -> list[dict[str, Any]]:
    """Small dict messages (about 90 bytes of JSON)."""
    return [
        {"task": "resize", "n": i, "node": NODES[i % 16], "attempt": 0, "tags": ["img", "fast"]}
        for i in range(n)
    ]


def make_values(n: int) -> list[dict[str, Any]]:
    """Small dict cache values (about 60 bytes of JSON)."""
    return [{"rows": i, "node": NODES[i % 16], "ok": True, "ms": 12.5} for i in range(n)]


# --- measurements ------------------------------------------------------------------------


def end_to_end(push: Run, consume: Run) -> Run:
    """Push plus consume, per message: ``1 / (push s/msg + consume s/msg)``."""
    per_msg = push.seconds / max(push.ops, 1) + consume.seconds / max(consume.ops, 1)
    return Run(consume.ops, per_msg * consume.ops, push.capped or consume.capped)


# --- raw loops: storekeeper's statements and parameters, written inline ----------------------
#
# Each loop takes a cursor (sqlite3 / psycopg / PyMySQL) and the statements of
# storekeeper.sql.queue / storekeeper.sql.cache, and binds the parameters
# storekeeper binds (named on the queue, positional on the cache). The
# same-SQL check runs them once with a recording cursor.


def raw_push_sqlite(cur: Any, sql: str, q: str, payloads: Sequence[Any], deadline: float) -> int:
    ex, nid, dumps, clock, iso = cur.execute, new_id, orjson.dumps, time.time, utcnow_iso
    n = 0
    for p in payloads:
        ex(sql, {
            "q": q, "src": "", "tgt": "", "mr": 3, "delay": 0.0, "now": clock(), "ts": iso(),
            "id0": nid(), "d0": dumps(p).decode(), "m0": None,
        })
        n += 1
        if not n & 15 and perf_counter() > deadline:
            break
    return n


def raw_push_server(cur: Any, sql: str, q: str, payloads: Sequence[Any], deadline: float) -> int:
    """PostgreSQL and MySQL: the server reads its own clock."""
    ex, nid, dumps = cur.execute, new_id, orjson.dumps
    n = 0
    for p in payloads:
        ex(sql, {
            "q": q, "src": "", "tgt": "", "mr": 3, "delay": 0.0,
            "id0": nid(), "d0": dumps(p).decode(), "m0": None,
        })
        n += 1
        if not n & 15 and perf_counter() > deadline:
            break
    return n


def raw_consume_sqlite(cur: Any, qs: Any, q: str, limit: int, deadline: float) -> tuple[int, float]:
    """Receive + ack until *limit* messages or the queue is empty; ``(count, time of last ack)``."""
    ex, fetchone, fetchall = cur.execute, cur.fetchone, cur.fetchall
    nid, loads, clock, iso, mono = new_id, orjson.loads, time.time, utcnow_iso, time.monotonic
    claim, ack, probe, reap = qs.claim_lease_one, qs.ack, qs.reap_probe, qs.reap
    # where claims take expired leases themselves (schema step 008) there is no reaping pass
    reap_at = float("inf") if qs.given_up_sql else 0.0
    n = 0
    last = perf_counter()
    while n < limit:
        if mono() >= reap_at:
            reap_at = mono() + REAP_INTERVAL
            ex(probe, {"q": q, "now": clock(), "ts": iso()})
            if fetchone() is not None:
                for stmt in reap:
                    ex(stmt, {"q": q, "now": clock(), "ts": iso()})
        tok = nid()
        ex(claim, {"q": q, "n": 1, "lease": LEASE, "tok": tok, "now": clock(), "ts": iso()})
        rows = fetchall()
        if not rows:
            break
        row = rows[0]
        loads(row[1])
        ex(ack, {"id": row[0], "tok": tok, "now": clock(), "ts": iso()})
        if cur.rowcount != 1:
            raise RuntimeError(f"ack of {row[0]} matched {cur.rowcount} rows")
        n += 1
        last = perf_counter()
        if not n & 15 and last > deadline:
            break
    return n, last


def raw_consume_postgresql(cur: Any, qs: Any, q: str, limit: int, deadline: float) -> tuple[int, float]:
    ex, fetchone, fetchall = cur.execute, cur.fetchone, cur.fetchall
    nid, loads, mono = new_id, orjson.loads, time.monotonic
    claim, ack, probe, reap = qs.claim_lease_one, qs.ack, qs.reap_probe, qs.reap
    reap_at = 0.0
    n = 0
    last = perf_counter()
    while n < limit:
        if mono() >= reap_at:
            reap_at = mono() + REAP_INTERVAL
            ex(probe, {"q": q})
            if fetchone() is not None:
                for stmt in reap:
                    ex(stmt, {"q": q})
        tok = nid()
        ex(claim, {"q": q, "n": 1, "lease": LEASE, "tok": tok})
        rows = fetchall()
        if not rows:
            break
        row = rows[0]
        loads(row[1])
        ex(ack, {"id": row[0], "tok": tok})
        if cur.rowcount != 1:
            raise RuntimeError(f"ack of {row[0]} matched {cur.rowcount} rows")
        n += 1
        last = perf_counter()
        if not n & 15 and last > deadline:
            break
    return n, last


#: InnoDB errors a raw MySQL user retries (storekeeper retries them too): deadlock, lock wait timeout
MYSQL_RETRY = (1213, 1205)


def raw_consume_mysql(
    conn: Any, cur: Any, qs: Any, q: str, limit: int, deadline: float
) -> tuple[int, float]:
    """SELECT … FOR UPDATE SKIP LOCKED + UPDATE in one transaction, then the ack.

    Competing consumers deadlock now and then (InnoDB rolls the victim back):
    the claim, or the ack, is retried after a short back-off, as storekeeper does.
    """
    from pymysql.err import OperationalError

    ex, fetchone, fetchall = cur.execute, cur.fetchone, cur.fetchall
    begin, commit, rollback = conn.begin, conn.commit, conn.rollback
    nid, loads, mono = new_id, orjson.loads, time.monotonic
    select, update, ack = qs.select_claim, qs.claim_ids(1, False), qs.ack
    probe, reap = qs.reap_probe, qs.reap
    reap_at = 0.0
    n = 0
    last = perf_counter()
    while n < limit:
        if mono() >= reap_at:
            reap_at = mono() + REAP_INTERVAL
            ex(probe, {"q": q})
            if fetchone() is not None:
                for stmt in reap:
                    ex(stmt, {"q": q})
        tok = nid()
        attempt = 0
        while True:
            try:
                begin()
                ex(select, {"q": q, "n": 1})
                rows = fetchall()
                if rows:
                    ex(update, {"i0": rows[0][0], "lease": LEASE, "tok": tok})
                commit()
                break
            except OperationalError as exc:
                if exc.args[0] not in MYSQL_RETRY or attempt >= 20:
                    raise
                rollback()
                attempt += 1
                time.sleep(min(0.05, 0.001 * 2**attempt))
        if not rows:
            break
        row = rows[0]
        loads(row[1])
        attempt = 0
        while True:
            try:
                matched = ex(ack, {"id": row[0], "tok": tok})
                break
            except OperationalError as exc:
                if exc.args[0] not in MYSQL_RETRY or attempt >= 20:
                    raise
                attempt += 1
                time.sleep(min(0.05, 0.001 * 2**attempt))
        if matched != 1:
            raise RuntimeError(f"ack of {row[0]} matched no row")
        n += 1
        last = perf_counter()
        if not n & 15 and last > deadline:
            break
    return n, last


def raw_cache_set(cur: Any, cs: Any, keys: Sequence[str], values: Sequence[Any], deadline: float) -> int:
    """storekeeper's single-row upsert; every PURGE_EVERY writes its bounded purge."""
    ex, dumps, clock = cur.execute, orjson.dumps, time.time
    upsert, purge = cs.upsert(1), cs.purge_expired
    writes = 0
    n = 0
    for key, value in zip(keys, values, strict=True):
        ex(upsert, (key, dumps(value).decode(), clock() + TTL))
        writes += 1
        if writes >= PURGE_EVERY:
            writes = 0
            ex(purge, (clock(), PURGE_AUTO_LIMIT))
        n += 1
        if not n & 15 and perf_counter() > deadline:
            break
    return n


def raw_cache_get(cur: Any, cs: Any, keys: Sequence[str], deadline: float) -> int:
    ex, fetchone, loads, clock = cur.execute, cur.fetchone, orjson.loads, time.time
    sql = cs.get
    n = 0
    for key in keys:
        ex(sql, (key,))
        row = fetchone()
        if row is None or (row[1] is not None and row[1] <= clock()):
            raise RuntimeError(f"cache key {key!r} missing")
        loads(row[0])
        n += 1
        if not n & 15 and perf_counter() > deadline:
            break
    return n


# --- the minimal durable queue: the physical limit -------------------------------------------
#
# The smallest correct durable queue a user could write on the raw driver: one
# table per queue with an integer key, a payload column and a status column, one
# (partial where the database has them) index on ready rows; claim = one
# UPDATE … WHERE id = (SELECT … ORDER BY id [FOR UPDATE SKIP LOCKED] LIMIT 1)
# RETURNING (MariaDB, without UPDATE … RETURNING: SELECT … FOR UPDATE SKIP LOCKED
# then UPDATE, in one transaction); ack = DELETE. On Redis, the reliable list
# loop: LPUSH, BLMOVE to a processing list, LREM on ack. No leases, no retries,
# no dead letters, no history: what storekeeper does above that is its design's cost.

MIN_DDL = {
    "sqlite": (
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, "
        "status INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX {t}_ready ON {t} (id) WHERE status = 0",
    ),
    "postgresql": (
        "CREATE TABLE {t} (id BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL, "
        "status SMALLINT NOT NULL DEFAULT 0)",
        "CREATE INDEX {t}_ready ON {t} (id) WHERE status = 0",
    ),
    "mysql": (
        "CREATE TABLE {t} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, payload JSON NOT NULL, "
        "status TINYINT NOT NULL DEFAULT 0, INDEX {t}_ready (status, id)) ENGINE=InnoDB",
    ),
}


#: the minimal queue given what SPEC §5 asks every queue to store: each message under
#: its string id (a UUIDv7 from ``new_id``, unique, looked up by replay and dead-letter
#: paging), and acked messages kept as history (completed ones can be replayed; retention
#: removes them), so the ack marks the row instead of deleting it. No leases, retries,
#: dead letters or timestamps: the floor of what the contract's storage costs.
MIN_KEPT_DDL = {
    "sqlite": (
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, mid TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, "
        "status INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX {t}_ready ON {t} (id) WHERE status = 0",
    ),
    "postgresql": (
        "CREATE TABLE {t} (id BIGSERIAL PRIMARY KEY, mid TEXT NOT NULL UNIQUE, payload JSONB NOT NULL, "
        "status SMALLINT NOT NULL DEFAULT 0)",
        "CREATE INDEX {t}_ready ON {t} (id) WHERE status = 0",
    ),
    "mysql": (
        "CREATE TABLE {t} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, mid VARCHAR(36) NOT NULL UNIQUE, "
        "payload JSON NOT NULL, status TINYINT NOT NULL DEFAULT 0, INDEX {t}_ready (status, id)) ENGINE=InnoDB",
    ),
}


@dataclass(frozen=True)
class MinSQL:
    """The minimal queue's statements on table *t* of *dialect*."""

    push: str
    claim: str  # one statement (SQLite, PostgreSQL); MariaDB: the locked select
    update: str  # MariaDB: the claim's update by id; else empty
    ack: str
    claim_n: str  # up to :n at once (batched variants)
    ack_n: str  # DELETE … WHERE id IN (…) built per call
    any_ready: str = ""  # MariaDB: is anything ready at all (no lock)

    @staticmethod
    def of(dialect: str, t: str) -> MinSQL:
        if dialect == "sqlite":
            return MinSQL(
                f"INSERT INTO {t} (payload) VALUES (?)",
                f"UPDATE {t} SET status = 1 WHERE id = (SELECT id FROM {t} WHERE status = 0 "
                f"ORDER BY id LIMIT 1) RETURNING id, payload",
                "",
                f"DELETE FROM {t} WHERE id = ?",
                f"UPDATE {t} SET status = 1 WHERE id IN (SELECT id FROM {t} WHERE status = 0 "
                f"ORDER BY id LIMIT ?) RETURNING id, payload",
                f"DELETE FROM {t} WHERE id IN ",
            )
        if dialect == "postgresql":
            return MinSQL(
                f"INSERT INTO {t} (payload) VALUES (%s::jsonb)",
                f"UPDATE {t} SET status = 1 WHERE id = (SELECT id FROM {t} WHERE status = 0 "
                f"ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, payload::text",
                "",
                f"DELETE FROM {t} WHERE id = %s",
                f"UPDATE {t} SET status = 1 WHERE id = ANY(ARRAY(SELECT id FROM {t} WHERE status = 0 "
                f"ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)) RETURNING id, payload::text",
                f"DELETE FROM {t} WHERE id = ANY(%s)",
            )
        return MinSQL(
            f"INSERT INTO {t} (payload) VALUES (%s)",
            f"SELECT id, payload FROM {t} WHERE status = 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            f"UPDATE {t} SET status = 1 WHERE id = %s",
            f"DELETE FROM {t} WHERE id = %s",
            f"SELECT id, payload FROM {t} WHERE status = 0 ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            f"DELETE FROM {t} WHERE id IN ",
            f"SELECT 1 FROM {t} WHERE status = 0 LIMIT 1",
        )


    @staticmethod
    def kept(dialect: str, t: str) -> MinSQL:
        """The statements of the minimal queue keeping ids and history (:data:`MIN_KEPT_DDL`)."""
        ms = MinSQL.of(dialect, t)
        ph = "?" if dialect == "sqlite" else "%s"
        js = "%s::jsonb" if dialect == "postgresql" else ph
        return replace(
            ms,
            push=f"INSERT INTO {t} (mid, payload) VALUES ({ph}, {js})",
            ack=f"UPDATE {t} SET status = 2 WHERE id = {ph}",
        )


def min_create(cur: Any, dialect: str, t: str, ddl: dict[str, tuple[str, ...]] = MIN_DDL) -> None:
    for stmt in ddl[dialect]:
        cur.execute(stmt.format(t=t))


def min_drop(cur: Any, t: str) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {t}")


def min_fill(cur: Any, dialect: str, t: str, payloads: Sequence[Any]) -> None:
    """Untimed: every payload, 1,000 a statement."""
    ph = "?" if dialect == "sqlite" else ("%s::jsonb" if dialect == "postgresql" else "%s")
    dumps = orjson.dumps
    for i in range(0, len(payloads), 1000):
        chunk = payloads[i : i + 1000]
        cur.execute(
            f"INSERT INTO {t} (payload) VALUES " + ", ".join(f"({ph})" for _ in chunk),
            [dumps(p).decode() for p in chunk],
        )


def min_push(cur: Any, ms: MinSQL, payloads: Sequence[Any], deadline: float) -> int:
    ex, dumps = cur.execute, orjson.dumps
    sql = ms.push
    n = 0
    for p in payloads:
        ex(sql, (dumps(p).decode(),))
        n += 1
        if not n & 15 and perf_counter() > deadline:
            break
    return n


def min_push_kept(cur: Any, ms: MinSQL, payloads: Sequence[Any], deadline: float) -> int:
    """:func:`min_push` with each message's string id."""
    ex, dumps, nid = cur.execute, orjson.dumps, new_id
    sql = ms.push
    n = 0
    for p in payloads:
        ex(sql, (nid(), dumps(p).decode()))
        n += 1
        if not n & 15 and perf_counter() > deadline:
            break
    return n


def min_consume(conn: Any, cur: Any, dialect: str, ms: MinSQL, limit: int, deadline: float) -> tuple[int, float]:
    """Claim + ack until *limit* messages or the queue is empty; ``(count, time of last ack)``."""
    ex, fetchone, loads = cur.execute, cur.fetchone, orjson.loads
    claim, update, ack = ms.claim, ms.update, ms.ack
    n = 0
    last = perf_counter()
    if dialect == "mysql":
        from pymysql.err import OperationalError

        begin, commit, rollback = conn.begin, conn.commit, conn.rollback
        while n < limit:
            attempt = 0
            while True:
                try:
                    begin()
                    ex(claim)
                    row = fetchone()
                    if row is not None:
                        ex(update, (row[0],))
                    commit()
                    break
                except OperationalError as exc:
                    if exc.args[0] not in MYSQL_RETRY or attempt >= 20:
                        raise
                    rollback()
                    attempt += 1
                    time.sleep(min(0.05, 0.001 * 2**attempt))
            if row is None:
                # InnoDB's SKIP LOCKED can pass over rows another transaction only just
                # released: the queue is empty when a plain read finds nothing ready
                ex(ms.any_ready)
                if fetchone() is None:
                    break
                continue
            loads(row[1])
            ex(ack, (row[0],))
            n += 1
            last = perf_counter()
            if not n & 15 and last > deadline:
                break
        return n, last
    while n < limit:
        ex(claim)
        row = fetchone()
        if row is None:
            break
        loads(row[1])
        ex(ack, (row[0],))
        n += 1
        last = perf_counter()
        if not n & 15 and last > deadline:
            break
    return n, last


def min_consume_batch(
    conn: Any, cur: Any, dialect: str, ms: MinSQL, batch: int, limit: int, deadline: float
) -> int:
    """Claim up to *batch* at once, delete them in one statement."""
    ex, fetchall, loads = cur.execute, cur.fetchall, orjson.loads
    n = 0
    while n < limit:
        if dialect == "mysql":
            conn.begin()
            ex(ms.claim_n, (batch,))
            rows = fetchall()
            if rows:
                ids = [r[0] for r in rows]
                ex(f"UPDATE {ms.update.split()[1]} SET status = 1 WHERE id IN ({', '.join(['%s'] * len(ids))})", ids)
            conn.commit()
        else:
            ex(ms.claim_n, (batch,))
            rows = fetchall()
        if not rows:
            break
        for r in rows:
            loads(r[1])
        ids = [r[0] for r in rows]
        if dialect == "postgresql":
            ex(ms.ack_n, (ids,))
        else:
            ph = "?" if dialect == "sqlite" else "%s"
            ex(ms.ack_n + "(" + ", ".join([ph] * len(ids)) + ")", ids)
        n += len(rows)
        if perf_counter() > deadline:
            break
    return n


async def amin_connect(dialect: str, target: str) -> Any:
    if dialect == "postgresql":
        return await apostgresql_connect(target)
    return await amysql_connect(target)


async def amin_push(conn: Any, dialect: str, ms: MinSQL, payloads: Sequence[Any], deadline: float) -> int:
    dumps = orjson.dumps
    sql = ms.push
    n = 0
    if dialect == "postgresql":
        ex = conn.execute
        for p in payloads:
            await ex(sql, (dumps(p).decode(),))
            n += 1
            if not n & 15 and perf_counter() > deadline:
                break
        return n
    async with conn.cursor() as cur:
        ex = cur.execute
        for p in payloads:
            await ex(sql, (dumps(p).decode(),))
            n += 1
            if not n & 15 and perf_counter() > deadline:
                break
    return n


async def amin_consume(conn: Any, dialect: str, ms: MinSQL, limit: int, deadline: float) -> int:
    loads = orjson.loads
    claim, update, ack = ms.claim, ms.update, ms.ack
    n = 0
    if dialect == "postgresql":
        cur = conn.cursor()
        ex, fetchone = cur.execute, cur.fetchone
        while n < limit:
            await ex(claim)
            row = await fetchone()
            if row is None:
                break
            loads(row[1])
            await ex(ack, (row[0],))
            n += 1
            if not n & 15 and perf_counter() > deadline:
                break
        return n
    from pymysql.err import OperationalError

    async with conn.cursor() as cur:
        ex, fetchone = cur.execute, cur.fetchone
        while n < limit:
            attempt = 0
            while True:
                try:
                    await conn.begin()
                    await ex(claim)
                    row = await fetchone()
                    if row is not None:
                        await ex(update, (row[0],))
                    await conn.commit()
                    break
                except OperationalError as exc:
                    if exc.args[0] not in MYSQL_RETRY or attempt >= 20:
                        raise
                    await conn.rollback()
                    attempt += 1
                    await asyncio.sleep(min(0.05, 0.001 * 2**attempt))
            if row is None:
                await ex(ms.any_ready)
                if await fetchone() is None:
                    break
                continue
            loads(row[1])
            await ex(ack, (row[0],))
            n += 1
            if not n & 15 and perf_counter() > deadline:
                break
    return n


def redis_min_consume(r: Any, q: str, proc: str, limit: int, deadline: float, wait: float) -> tuple[int, float]:
    """BLMOVE to this consumer's processing list, then LREM: the reliable list loop."""
    blmove, lrem, loads = r.blmove, r.lrem, orjson.loads
    n = 0
    last = perf_counter()
    while n < limit:
        got = blmove(q, proc, wait, "RIGHT", "LEFT")
        if got is None:
            break
        loads(got)
        lrem(proc, 1, got)
        n += 1
        last = perf_counter()
        if not n & 15 and last > deadline:
            break
    return n, last


# --- the 4-consumer processes ----------------------------------------------------------------


def _drain_storekeeper(cfg: dict[str, Any], q: str) -> Callable[[float], tuple[int, float]]:
    ds = DataStore(cfg["url"], **cfg.get("kwargs", {}))
    queue = ds.queue
    queue.length(q)  # connect (and check the schema) before the clock starts

    def drain(deadline: float) -> tuple[int, float]:
        receive, ack = queue.receive, queue.ack
        n = 0
        last = perf_counter()
        while True:
            msg = receive(q)
            if msg is None:
                break
            ack(msg)
            n += 1
            last = perf_counter()
            if not n & 15 and last > deadline:
                break
        ds.close()
        return n, last

    return drain


def _drain_raw_sql(cfg: dict[str, Any], q: str) -> Callable[[float], tuple[int, float]]:
    from storekeeper.sql.queue import queue_sql

    dialect = cfg["dialect"]
    conn, cur = raw_connect(dialect, cfg["target"])
    qs = queue_sql(dialect)
    cur.execute("SELECT 1")
    cur.fetchall()

    def drain(deadline: float) -> tuple[int, float]:
        if dialect == "mysql":
            out = raw_consume_mysql(conn, cur, qs, q, 1 << 62, deadline)
        elif dialect == "postgresql":
            out = raw_consume_postgresql(cur, qs, q, 1 << 62, deadline)
        else:
            out = raw_consume_sqlite(cur, qs, q, 1 << 62, deadline)
        conn.close()
        return out

    return drain


def _drain_raw_redis(cfg: dict[str, Any], q: str) -> Callable[[float], tuple[int, float]]:
    r = redis_client(cfg["url"])
    r.ping()

    def drain(deadline: float) -> tuple[int, float]:
        brpop, loads = r.brpop, orjson.loads
        n = 0
        last = perf_counter()
        while True:
            got = brpop([q], timeout=0.05)
            if got is None:
                break
            loads(got[1])
            n += 1
            last = perf_counter()
            if not n & 15 and last > deadline:
                break
        r.close()
        return n, last

    return drain


def _drain_min_sql(cfg: dict[str, Any], t: str) -> Callable[[float], tuple[int, float]]:
    dialect = cfg["dialect"]
    conn, cur = raw_connect(dialect, cfg["target"])
    ms = MinSQL.of(dialect, t)
    cur.execute("SELECT 1")
    cur.fetchall()

    def drain(deadline: float) -> tuple[int, float]:
        out = min_consume(conn, cur, dialect, ms, 1 << 62, deadline)
        conn.close()
        return out

    return drain


def _drain_min_redis(cfg: dict[str, Any], q: str) -> Callable[[float], tuple[int, float]]:
    r = redis_client(cfg["url"])
    r.ping()

    def drain(deadline: float) -> tuple[int, float]:
        out = redis_min_consume(r, q, f"{q}:processing:{os.getpid()}", 1 << 62, deadline, 0.05)
        r.close()
        return out

    return drain


DRAINERS: dict[str, Callable[[dict[str, Any], str], Callable[[float], tuple[int, float]]]] = {
    "storekeeper": _drain_storekeeper,
    "raw_sql": _drain_raw_sql,
    "raw_redis": _drain_raw_redis,
    "min_sql": _drain_min_sql,
    "min_redis": _drain_min_redis,
}


def consumer_process(kind: str, cfg: dict[str, Any], q: str, barrier: Any, out: Any) -> None:
    """One consumer process: connect, wait for the others, drain (until empty or the cap), report."""
    try:
        drain = DRAINERS[kind](cfg, q)
        barrier.wait(timeout=120)
        t0 = perf_counter()
        deadline = t0 + cfg["cap_s"]
        n, last = drain(deadline)
        out.put((n, t0, last, None, last > deadline))
    except BaseException as exc:  # reported to the parent, which marks the run failed
        with contextlib.suppress(Exception):
            barrier.abort()
        out.put((0, 0.0, 0.0, describe(exc) + "\n" + traceback.format_exc(), False))


def run_consumers(
    kind: str, cfg: dict[str, Any], q: str, fill: Callable[[], None], expected: int, cap_s: float
) -> Run:
    """Start CONSUMERS processes, *fill* the queue meanwhile, release them together.

    Clock: from the earliest start to the last ack of any process (the system
    monotonic clock, shared by the processes).
    """
    cfg = {**cfg, "cap_s": cap_s}
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(CONSUMERS + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=consumer_process, args=(kind, cfg, q, barrier, out), daemon=True)
        for _ in range(CONSUMERS)
    ]
    for p in procs:
        p.start()
    try:
        fill()
        gc.collect()
        barrier.wait(timeout=120)
        results = [out.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    errors = [r[3] for r in results if r[3]]
    if errors:
        raise RuntimeError("consumer process failed: " + errors[0])
    total = sum(r[0] for r in results)
    t0 = min(r[1] for r in results)
    t1 = max(r[2] for r in results)
    capped = any(r[4] for r in results)
    if total > expected or (not capped and total != expected):
        raise RuntimeError(f"{CONSUMERS} consumers took {total} messages of {expected}")
    return Run(total, t1 - t0, capped)


# --- one backend's run --------------------------------------------------------------------


class Ctx(BenchContext):
    """What the variants of one backend share; removes what it created."""

    def __init__(self, name: str, sizes: Sizes, args: argparse.Namespace) -> None:
        super().__init__()
        self.name = name
        self.sizes = sizes
        self.tmp = tempfile.mkdtemp(prefix="storekeeper-qbench-")
        self.payloads = make_payloads(sizes.n)
        self.warm_payloads = make_payloads(sizes.warm)
        self.values = make_values(sizes.n)
        self.warm_values = make_values(sizes.warm)
        self.redis_url = args.redis_url
        self.kwargs: dict[str, Any] = {}
        self.dialect: str | None = None  # SQL dialect of the store
        self.in_place = bool(args.in_place)
        self.server_url = ""
        self.own_db = False
        if name == "sqlite":
            self.path = os.path.join(self.tmp, "bench.db")
            self.url = f"sqlite:///{self.path}"
            self.dialect = "sqlite"
            self.raw_target = self.path
        elif name == "postgresql":
            self.server_url = args.postgresql_url
            self.url = args.postgresql_url if args.in_place else with_database(args.postgresql_url, BENCH_DB)
            self.dialect = "postgresql"
            self.raw_target = self.url
        elif name == "mysql":
            self.server_url = args.mysql_url
            self.url = args.mysql_url if args.in_place else with_database(args.mysql_url, BENCH_DB)
            self.dialect = "mysql"
            self.raw_target = self.url
        elif name == "redis":
            self.url = "memory://"
            self.kwargs = {"queue_url": args.redis_url, "cache_url": args.redis_url}
            self.raw_target = args.redis_url
        else:
            self.url = "memory://"
            self.raw_target = ""
        self.ds: DataStore | None = None
        self.ads: AsyncDataStore | None = None
        self.admin: Any = None
        self.admin_cur: Any = None
        self.version = ""

    # -- opening and closing --
    def _own_database(self, create: bool) -> None:
        """(Re)create, or drop, the database of the run on the PostgreSQL / MySQL server."""
        if self.dialect == "postgresql":
            with postgresql_connect(self.server_url) as c:
                c.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
                if create:
                    c.execute(f"CREATE DATABASE {BENCH_DB}")
        else:
            c = mysql_connect(self.server_url)
            try:
                with c.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
                    if create:
                        cur.execute(f"CREATE DATABASE {BENCH_DB} CHARACTER SET utf8mb4")
            finally:
                c.close()
        self.own_db = create

    def open(self) -> None:
        if self.dialect in ("postgresql", "mysql") and not self.in_place:
            self._own_database(create=True)
        self.ds = DataStore(self.url, **self.kwargs)
        self.ds.open()
        if self.name == "redis":
            r = redis_client(self.redis_url)
            try:
                self.version = f"Redis {r.info('server')['redis_version']} at {self.redis_url}"
            finally:
                r.close()
            self.ds.queue.length("skb_probe")
        elif self.dialect is not None:
            self.admin, self.admin_cur = raw_connect(self.dialect, self.raw_target)
            self.version = server_version(self.dialect, self.admin_cur, self.url)
        else:
            self.version = "in-process memory store"
        self.ads = AsyncDataStore(self.url, **self.kwargs)
        self.call(self.ads.open)

    def ensure_admin(self) -> None:
        """Reconnect the set-up connection if the server dropped it (other processes kill sessions)."""
        if self.admin is None:
            return
        try:
            self.admin_cur.execute("SELECT 1")
            self.admin_cur.fetchall()
            return
        except Exception:
            pass
        with contextlib.suppress(Exception):
            self.admin.close()
        self.admin, self.admin_cur = raw_connect(self.dialect or "", self.raw_target)

    def settle(self, table: str = "port_messages") -> None:
        """The same state before every timed section.

        SQLite: the WAL checkpointed. PostgreSQL and MySQL: *table*'s statistics
        brought up to date (``ANALYZE``), as autovacuum / InnoDB's automatic
        statistics would have them on a table in steady use. Without it the
        planner may still believe the queue table empty after the previous
        measurement's purge (see bench/README.md).
        """
        cur = self.admin_cur
        if self.dialect == "sqlite":
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cur.fetchall()
        elif self.dialect == "postgresql":
            cur.execute(f"ANALYZE {table}")
        elif self.dialect == "mysql":
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()

    def fill(self, q: str) -> None:
        """Untimed: the messages the 4 consumers drain (``push_many``, 1,000 a call), then settle."""
        assert self.ds is not None
        for i in range(0, len(self.payloads), 1000):
            self.ds.queue.push_many(q, self.payloads[i : i + 1000])
        self.settle()

    def purge(self, q: str) -> None:
        """Delete a measurement's queue (and let PostgreSQL reclaim its rows)."""
        assert self.ds is not None
        if self.name == "redis" and q.startswith(f"skb{self.token}_raw"):
            r = redis_client(self.redis_url)
            try:
                r.delete(q)
            finally:
                r.close()
            return
        self.ds.queue.purge(q)
        if self.dialect == "postgresql":
            self.admin_cur.execute("VACUUM port_messages")

    def clear_cache(self, prefix: str) -> None:
        """Delete a measurement's cache keys.

        Redis: left to their TTL (60 s) and to the FLUSHDB at the end of the
        run, so a slow or broken ``clear`` cannot stall the benchmark.
        """
        assert self.ds is not None
        if self.name != "redis":
            self.ds.cache.clear(prefix)

    def leftovers(self) -> list[str]:
        """Rows of this run still stored (should be none)."""
        if self.dialect is None:
            return []
        cur, like = self.admin_cur, f"skb{self.token}%"
        ph = "?" if self.dialect == "sqlite" else "%s"
        out = []
        cur.execute(f"SELECT COUNT(*) FROM port_messages WHERE port_name LIKE {ph}", (like,))
        if (n := cur.fetchone()[0]):
            out.append(f"{n} port_messages rows")
        cur.execute(f"SELECT COUNT(*) FROM sk_cache WHERE cache_key LIKE {ph}", (like,))
        if (n := cur.fetchone()[0]):
            out.append(f"{n} sk_cache rows")
        return out

    def cleanup_rows(self) -> None:
        if self.dialect is None:
            return
        cur, like = self.admin_cur, f"skb{self.token}%"
        ph = "?" if self.dialect == "sqlite" else "%s"
        cur.execute(f"DELETE FROM port_messages WHERE port_name LIKE {ph}", (like,))
        cur.execute(f"DELETE FROM sk_cache WHERE cache_key LIKE {ph}", (like,))

    def close(self) -> list[str]:
        left: list[str] = []
        try:
            if self.admin is not None:
                self.cleanup_rows()
                left = self.leftovers()
            if self.name == "redis":
                r = redis_client(self.redis_url)
                try:
                    r.flushdb()
                finally:
                    r.close()
        finally:
            with contextlib.suppress(Exception):
                if self.ads is not None:
                    self.call(self.ads.close)
            with contextlib.suppress(Exception):
                self.runner.close()
            with contextlib.suppress(Exception):
                if self.ds is not None:
                    self.ds.close()
            with contextlib.suppress(Exception):
                if self.admin is not None:
                    self.admin.close()
            if self.own_db:
                try:
                    self._own_database(create=False)
                except Exception as exc:
                    left.append(f"database {BENCH_DB} not dropped: {describe(exc)}")
            shutil.rmtree(self.tmp, ignore_errors=True)
        return left


#: the database W5/W6 run in on PostgreSQL and MySQL (created, then dropped; see --in-place)
BENCH_DB = "skbench_queues"


def with_database(url: str, name: str) -> str:
    """*url* pointing at database *name* on the same server."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


# --- variants ---------------------------------------------------------------------------------


class Variant(ABC):
    """One way of doing a workload; ``run`` returns ``{metric: Run}`` (or a coroutine of it)."""

    #: the table row its numbers go to
    row = ""
    label = ""
    workloads: tuple[str, ...] = WORKLOADS

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.s = ctx.sizes

    @property
    def key(self) -> str:
        return f"{self.row}:{type(self).__name__}"

    @abstractmethod
    def run(self, w: str) -> Any: ...

    def label_for(self, w: str) -> str:
        return self.label

    def recover(self) -> None:
        """After a failed run: fresh connections of its own, if it has any."""

    def close(self) -> Any:
        return None


# storekeeper ---------------------------------------------------------------------------------


class SKSync(Variant):
    row = "sk_sync"
    label = "storekeeper sync"

    def run(self, w: str) -> dict[str, Run]:
        ctx, s = self.ctx, self.s
        assert ctx.ds is not None
        if w == "W5":
            queue = ctx.ds.queue
            q = ctx.fresh("sks")
            try:
                push, receive, ack = queue.push, queue.receive, queue.ack
                for p in ctx.warm_payloads:
                    push(q, p)
                for _ in ctx.warm_payloads:
                    warm_msg = receive(q)
                    assert warm_msg is not None
                    ack(warm_msg)
                ctx.settle()
                gc.collect()
                n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
                for p in ctx.payloads:
                    push(q, p)
                    n += 1
                    if not n & 15 and perf_counter() > deadline:
                        break
                pushed = Run(n, perf_counter() - t0, n < s.n)
                ctx.settle()
                gc.collect()
                k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
                while k < n:
                    msg = receive(q)
                    if msg is None:
                        break
                    ack(msg)
                    k += 1
                    if not k & 15 and perf_counter() > deadline:
                        break
                consumed = Run(k, perf_counter() - t0, k < n)
                check_completed(queue.length(q, "completed"), s.warm + k, q)
            finally:
                ctx.purge(q)
            return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}
        cache = ctx.ds.cache
        prefix = ctx.fresh("cs")
        keys = [f"{prefix}_{i}" for i in range(s.n)]
        warm = [f"{prefix}_w{i}" for i in range(s.warm)]
        try:
            set_, get = cache.set, cache.get
            for key, value in zip(warm, ctx.warm_values, strict=True):
                set_(key, value, ttl=TTL)
            for key in warm:
                get(key)
            ctx.settle("sk_cache")
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key, value in zip(keys, ctx.values, strict=True):
                set_(key, value, ttl=TTL)
                n += 1
                if not n & 15 and perf_counter() > deadline:
                    break
            sets = Run(n, perf_counter() - t0, n < s.n)
            ctx.settle("sk_cache")
            gc.collect()
            k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key in keys[:n]:
                if get(key) is None:
                    raise RuntimeError(f"cache key {key!r} missing")
                k += 1
                if not k & 15 and perf_counter() > deadline:
                    break
            gets = Run(k, perf_counter() - t0, k < n)
        finally:
            ctx.clear_cache(prefix)
        return {"set": sets, "get": gets}


class SKAsync(Variant):
    row = "sk_async"
    label = "storekeeper async"

    async def run(self, w: str) -> dict[str, Run]:
        ctx, s = self.ctx, self.s
        assert ctx.ads is not None
        if w == "W5":
            queue = ctx.ads.queue
            q = ctx.fresh("ska")
            try:
                push, receive, ack = queue.push, queue.receive, queue.ack
                for p in ctx.warm_payloads:
                    await push(q, p)
                for _ in ctx.warm_payloads:
                    warm_msg = await receive(q)
                    assert warm_msg is not None
                    await ack(warm_msg)
                ctx.settle()
                gc.collect()
                n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
                for p in ctx.payloads:
                    await push(q, p)
                    n += 1
                    if not n & 15 and perf_counter() > deadline:
                        break
                pushed = Run(n, perf_counter() - t0, n < s.n)
                ctx.settle()
                gc.collect()
                k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
                while k < n:
                    msg = await receive(q)
                    if msg is None:
                        break
                    await ack(msg)
                    k += 1
                    if not k & 15 and perf_counter() > deadline:
                        break
                consumed = Run(k, perf_counter() - t0, k < n)
                check_completed(await queue.length(q, "completed"), s.warm + k, q)
            finally:
                ctx.purge(q)
            return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}
        cache = ctx.ads.cache
        prefix = ctx.fresh("ca")
        keys = [f"{prefix}_{i}" for i in range(s.n)]
        warm = [f"{prefix}_w{i}" for i in range(s.warm)]
        try:
            set_, get = cache.set, cache.get
            for key, value in zip(warm, ctx.warm_values, strict=True):
                await set_(key, value, ttl=TTL)
            for key in warm:
                await get(key)
            ctx.settle("sk_cache")
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key, value in zip(keys, ctx.values, strict=True):
                await set_(key, value, ttl=TTL)
                n += 1
                if not n & 15 and perf_counter() > deadline:
                    break
            sets = Run(n, perf_counter() - t0, n < s.n)
            ctx.settle("sk_cache")
            gc.collect()
            k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key in keys[:n]:
                if await get(key) is None:
                    raise RuntimeError(f"cache key {key!r} missing")
                k += 1
                if not k & 15 and perf_counter() > deadline:
                    break
            gets = Run(k, perf_counter() - t0, k < n)
        finally:
            ctx.clear_cache(prefix)
        return {"set": sets, "get": gets}


def check_completed(got: int, want: int, q: str) -> None:
    if got != want:
        raise RuntimeError(f"queue {q}: {got} messages completed, expected {want}")




class SKSync4(Variant):
    """4 consumer processes, each its own DataStore, draining one queue."""

    row = "sk_sync"
    label = "storekeeper sync, 4 processes"
    workloads = ("W5",)

    def run(self, w: str) -> dict[str, Run]:
        ctx = self.ctx
        assert ctx.ds is not None
        q = ctx.fresh("sk4")
        ds = ctx.ds
        try:
            run = run_consumers(
                "storekeeper", {"url": ctx.url, "kwargs": ctx.kwargs}, q,
                lambda: ctx.fill(q),
                self.s.n, self.s.cap_s,
            )
            check_completed(ds.queue.length(q, "completed"), run.ops, q)
        finally:
            ctx.purge(q)
        return {"consume4": run}


# raw SQL drivers -------------------------------------------------------------------------------


class RawSQL(Variant):
    """The raw sync driver running storekeeper's statements (see the raw loops above)."""

    row = "raw"

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        from storekeeper.sql.cache import cache_sql
        from storekeeper.sql.queue import queue_sql

        assert ctx.dialect is not None
        self.dialect = ctx.dialect
        self.qs = queue_sql(self.dialect)
        self.cs = cache_sql(self.dialect)
        self.conn, self.cur = raw_connect(self.dialect, ctx.raw_target)
        self.label = f"raw {RAW_LABELS[self.dialect]} (same SQL)"

    def push(self, cur: Any, q: str, payloads: Sequence[Any], deadline: float) -> int:
        sql = self.qs.insert(1)
        if self.dialect == "sqlite":
            return raw_push_sqlite(cur, sql, q, payloads, deadline)
        return raw_push_server(cur, sql, q, payloads, deadline)

    def consume(self, conn: Any, cur: Any, q: str, limit: int, deadline: float) -> int:
        if self.dialect == "sqlite":
            return raw_consume_sqlite(cur, self.qs, q, limit, deadline)[0]
        if self.dialect == "postgresql":
            return raw_consume_postgresql(cur, self.qs, q, limit, deadline)[0]
        return raw_consume_mysql(conn, cur, self.qs, q, limit, deadline)[0]

    def run(self, w: str) -> dict[str, Run]:
        ctx, s = self.ctx, self.s
        assert ctx.ds is not None
        conn, cur = self.conn, self.cur
        if w == "W5":
            q = ctx.fresh("raw")
            try:
                self.push(cur, q, ctx.warm_payloads, float("inf"))
                self.consume(conn, cur, q, s.warm, float("inf"))
                ctx.settle()
                gc.collect()
                t0 = perf_counter()
                n = self.push(cur, q, ctx.payloads, t0 + s.cap_s)
                pushed = Run(n, perf_counter() - t0, n < s.n)
                ctx.settle()
                gc.collect()
                t0 = perf_counter()
                k = self.consume(conn, cur, q, n, t0 + s.cap_s)
                consumed = Run(k, perf_counter() - t0, k < n)
                check_completed(ctx.ds.queue.length(q, "completed"), s.warm + k, q)
            finally:
                ctx.purge(q)
            return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}
        prefix = ctx.fresh("cr")
        keys = [f"{prefix}_{i}" for i in range(s.n)]
        warm = [f"{prefix}_w{i}" for i in range(s.warm)]
        try:
            raw_cache_set(cur, self.cs, warm, ctx.warm_values, float("inf"))
            raw_cache_get(cur, self.cs, warm, float("inf"))
            ctx.settle("sk_cache")
            gc.collect()
            t0 = perf_counter()
            n = raw_cache_set(cur, self.cs, keys, ctx.values, t0 + s.cap_s)
            sets = Run(n, perf_counter() - t0, n < s.n)
            ctx.settle("sk_cache")
            gc.collect()
            t0 = perf_counter()
            k = raw_cache_get(cur, self.cs, keys[:n], t0 + s.cap_s)
            gets = Run(k, perf_counter() - t0, k < n)
        finally:
            ctx.clear_cache(prefix)
        return {"set": sets, "get": gets}

    def recover(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn, self.cur = raw_connect(self.dialect, self.ctx.raw_target)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


RAW_LABELS = {"sqlite": "sqlite3", "postgresql": "psycopg", "mysql": "PyMySQL"}


class RawSQL4(Variant):
    row = "raw"
    label = "raw driver, 4 processes"
    workloads = ("W5",)

    def run(self, w: str) -> dict[str, Run]:
        ctx = self.ctx
        assert ctx.ds is not None
        q = ctx.fresh("raw4")
        ds = ctx.ds
        try:
            run = run_consumers(
                "raw_sql", {"dialect": ctx.dialect, "target": ctx.raw_target}, q,
                lambda: ctx.fill(q),
                self.s.n, self.s.cap_s,
            )
            check_completed(ds.queue.length(q, "completed"), run.ops, q)
        finally:
            ctx.purge(q)
        return {"consume4": run}


# redis-py --------------------------------------------------------------------------------------


class RawRedis(Variant):
    """W5: an LPUSH / BRPOP loop (no lease, no ack); W6: SET … PX / GET."""

    row = "raw"
    label = "raw redis-py"

    def label_for(self, w: str) -> str:
        return "raw redis-py LPUSH/BRPOP" if w == "W5" else "raw redis-py SET PX/GET (same commands)"

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self.r = redis_client(ctx.redis_url)

    def run(self, w: str) -> dict[str, Run]:
        ctx, s, r = self.ctx, self.s, self.r
        dumps, loads = orjson.dumps, orjson.loads
        if w == "W5":
            q = ctx.fresh("raw")
            lpush, brpop = r.lpush, r.brpop
            try:
                for p in ctx.warm_payloads:
                    lpush(q, dumps(p))
                for _ in ctx.warm_payloads:
                    loads(brpop([q], timeout=1)[1])
                gc.collect()
                n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
                for p in ctx.payloads:
                    lpush(q, dumps(p))
                    n += 1
                    if not n & 15 and perf_counter() > deadline:
                        break
                pushed = Run(n, perf_counter() - t0, n < s.n)
                gc.collect()
                k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
                while k < n:
                    got = brpop([q], timeout=1)
                    if got is None:
                        break
                    loads(got[1])
                    k += 1
                    if not k & 15 and perf_counter() > deadline:
                        break
                consumed = Run(k, perf_counter() - t0, k < n)
                if k != n:
                    raise RuntimeError(f"BRPOP took {k} of {n} messages")
            finally:
                r.delete(q)
            return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}
        prefix = ctx.fresh("cr")
        keys = [f"{prefix}_{i}" for i in range(s.n)]
        warm = [f"{prefix}_w{i}" for i in range(s.warm)]
        set_, get, px = r.set, r.get, int(TTL * 1000)
        try:
            for key, value in zip(warm, ctx.warm_values, strict=True):
                set_(key, dumps(value), px=px)
            for key in warm:
                loads(get(key))
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key, value in zip(keys, ctx.values, strict=True):
                set_(key, dumps(value), px=px)
                n += 1
                if not n & 15 and perf_counter() > deadline:
                    break
            sets = Run(n, perf_counter() - t0, n < s.n)
            gc.collect()
            k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key in keys[:n]:
                got = get(key)
                if got is None:
                    raise RuntimeError(f"redis key {key!r} missing")
                loads(got)
                k += 1
                if not k & 15 and perf_counter() > deadline:
                    break
            gets = Run(k, perf_counter() - t0, k < n)
        finally:
            for i in range(0, len(keys), 1000):
                r.delete(*keys[i : i + 1000])
            r.delete(*warm)
        return {"set": sets, "get": gets}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.r.close()


class RawRedis4(Variant):
    row = "raw"
    label = "raw redis-py, 4 processes"
    workloads = ("W5",)

    def run(self, w: str) -> dict[str, Run]:
        ctx = self.ctx
        q = ctx.fresh("raw4")
        r = redis_client(ctx.redis_url)

        def fill() -> None:
            dumps = orjson.dumps
            for i in range(0, len(ctx.payloads), 1000):
                r.lpush(q, *[dumps(p) for p in ctx.payloads[i : i + 1000]])

        try:
            run = run_consumers("raw_redis", {"url": ctx.redis_url}, q, fill, self.s.n, self.s.cap_s)
        finally:
            r.delete(q)
            r.close()
        return {"consume4": run}


# the minimal raw queue -------------------------------------------------------------------------

MIN_LABELS = {
    "sqlite": "minimal queue, sqlite3",
    "postgresql": "minimal queue, psycopg",
    "mysql": "minimal queue, PyMySQL",
    "redis": "reliable list loop, redis-py (LPUSH/BLMOVE/LREM)",
}
AMIN_LABELS = {
    "postgresql": "minimal queue, psycopg async",
    "mysql": "minimal queue, aiomysql",
    "redis": "reliable list loop, redis.asyncio",
}


class MinSync(Variant):
    """The minimal durable queue on the raw sync driver (see MinSQL), one consumer."""

    row = "min"
    workloads = ("W5",)

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self.label = MIN_LABELS[ctx.name]
        if ctx.name == "redis":
            self.r = redis_client(ctx.redis_url)
        else:
            assert ctx.dialect is not None
            self.dialect = ctx.dialect
            self.conn, self.cur = raw_connect(self.dialect, ctx.raw_target)

    def run(self, w: str) -> dict[str, Run]:
        if self.ctx.name == "redis":
            return self.run_redis()
        ctx, s, cur = self.ctx, self.s, self.cur
        t = ctx.fresh("min")
        min_create(cur, self.dialect, t)
        ms = MinSQL.of(self.dialect, t)
        try:
            pushed, consumed = self.push_then_consume(t, ms, min_push)
            min_fill(cur, self.dialect, t, ctx.payloads)
            ctx.settle(t)
            gc.collect()
            t0 = perf_counter()
            b = min_consume_batch(self.conn, cur, self.dialect, ms, BATCH, s.n, t0 + s.cap_s)
            batched = Run(b, perf_counter() - t0, b < s.n)
        finally:
            min_drop(cur, t)
        return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed), "batch": batched}

    def push_then_consume(
        self, t: str, ms: MinSQL, push: Callable[[Any, MinSQL, Sequence[Any], float], int]
    ) -> tuple[Run, Run]:
        """Warm table *t* up, then time *push* of every payload and the consumer draining them."""
        ctx, s, cur = self.ctx, self.s, self.cur
        push(cur, ms, ctx.warm_payloads, float("inf"))
        min_consume(self.conn, cur, self.dialect, ms, s.warm, float("inf"))
        ctx.settle(t)
        gc.collect()
        t0 = perf_counter()
        n = push(cur, ms, ctx.payloads, t0 + s.cap_s)
        pushed = Run(n, perf_counter() - t0, n < s.n)
        ctx.settle(t)
        gc.collect()
        t0 = perf_counter()
        k, _ = min_consume(self.conn, cur, self.dialect, ms, n, t0 + s.cap_s)
        consumed = Run(k, perf_counter() - t0, k < n)
        if k != n:
            raise RuntimeError(f"the minimal queue ({t}) gave {k} of {n} messages")
        return pushed, consumed

    def run_redis(self) -> dict[str, Run]:
        ctx, s, r = self.ctx, self.s, self.r
        q = ctx.fresh("min")
        proc = q + ":processing"
        dumps = orjson.dumps
        lpush = r.lpush
        try:
            for p in ctx.warm_payloads:
                lpush(q, dumps(p))
            redis_min_consume(r, q, proc, s.warm, float("inf"), 1)
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for p in ctx.payloads:
                lpush(q, dumps(p))
                n += 1
                if not n & 15 and perf_counter() > deadline:
                    break
            pushed = Run(n, perf_counter() - t0, n < s.n)
            gc.collect()
            t0 = perf_counter()
            k, _ = redis_min_consume(r, q, proc, n, t0 + s.cap_s, 1)
            consumed = Run(k, perf_counter() - t0, k < n)
            if k != n or r.llen(proc):
                raise RuntimeError(f"the reliable list loop took {k} of {n} messages")
        finally:
            r.delete(q, proc)
        return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}

    def recover(self) -> None:
        if self.ctx.name != "redis":
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn, self.cur = raw_connect(self.dialect, self.ctx.raw_target)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            (self.r if self.ctx.name == "redis" else self.conn).close()


class MinKept(MinSync):
    """The minimal queue keeping message ids and history (:data:`MIN_KEPT_DDL`), one consumer."""

    row = "min_kept"

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self.label = MIN_LABELS[ctx.name] + ", keeping ids and history"

    def run(self, w: str) -> dict[str, Run]:
        t = self.ctx.fresh("mink")
        min_create(self.cur, self.dialect, t, MIN_KEPT_DDL)
        ms = MinSQL.kept(self.dialect, t)
        try:
            pushed, consumed = self.push_then_consume(t, ms, min_push_kept)
        finally:
            min_drop(self.cur, t)
        return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}


class MinAsync(Variant):
    """The minimal durable queue on the raw async driver (psycopg async, aiomysql, redis.asyncio)."""

    row = "min_async"
    workloads = ("W5",)

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self.label = AMIN_LABELS[ctx.name]
        self.dialect = ctx.dialect or ""

    async def run(self, w: str) -> dict[str, Run]:
        ctx, s = self.ctx, self.s
        if ctx.name == "redis":
            return await self.run_redis()
        t = ctx.fresh("amin")
        min_create(ctx.admin_cur, self.dialect, t)
        ms = MinSQL.of(self.dialect, t)
        conn = await amin_connect(self.dialect, ctx.raw_target)
        try:
            await amin_push(conn, self.dialect, ms, ctx.warm_payloads, float("inf"))
            await amin_consume(conn, self.dialect, ms, s.warm, float("inf"))
            ctx.settle(t)
            gc.collect()
            t0 = perf_counter()
            n = await amin_push(conn, self.dialect, ms, ctx.payloads, t0 + s.cap_s)
            pushed = Run(n, perf_counter() - t0, n < s.n)
            ctx.settle(t)
            gc.collect()
            t0 = perf_counter()
            k = await amin_consume(conn, self.dialect, ms, n, t0 + s.cap_s)
            consumed = Run(k, perf_counter() - t0, k < n)
        finally:
            await maybe_await(conn.close())
            min_drop(ctx.admin_cur, t)
        return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}

    async def run_redis(self) -> dict[str, Run]:
        import redis.asyncio as aredis

        ctx, s = self.ctx, self.s
        r = aredis.Redis.from_url(ctx.redis_url)
        q = ctx.fresh("amin")
        proc = q + ":processing"
        dumps, loads = orjson.dumps, orjson.loads
        lpush, blmove, lrem = r.lpush, r.blmove, r.lrem
        try:
            for p in ctx.warm_payloads:
                await lpush(q, dumps(p))
            for _ in ctx.warm_payloads:
                got = await blmove(q, proc, 1, "RIGHT", "LEFT")
                await lrem(proc, 1, got)
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for p in ctx.payloads:
                await lpush(q, dumps(p))
                n += 1
                if not n & 15 and perf_counter() > deadline:
                    break
            pushed = Run(n, perf_counter() - t0, n < s.n)
            gc.collect()
            k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            while k < n:
                got = await blmove(q, proc, 1, "RIGHT", "LEFT")
                if got is None:
                    break
                loads(got)
                await lrem(proc, 1, got)
                k += 1
                if not k & 15 and perf_counter() > deadline:
                    break
            consumed = Run(k, perf_counter() - t0, k < n)
        finally:
            await r.delete(q, proc)
            await r.aclose()
        return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}


class Min4(Variant):
    """The minimal queue drained by 4 consumer processes."""

    row = "min"
    label = "minimal queue, 4 processes"
    workloads = ("W5",)

    def run(self, w: str) -> dict[str, Run]:
        ctx = self.ctx
        if ctx.name == "redis":
            q = ctx.fresh("min4")
            r = redis_client(ctx.redis_url)

            def rfill() -> None:
                dumps = orjson.dumps
                for i in range(0, len(ctx.payloads), 1000):
                    r.lpush(q, *[dumps(p) for p in ctx.payloads[i : i + 1000]])

            try:
                run = run_consumers("min_redis", {"url": ctx.redis_url}, q, rfill, self.s.n, self.s.cap_s)
            finally:
                keys = [q, *r.keys(q + ":processing:*")]
                r.delete(*keys)
                r.close()
            return {"consume4": run}
        assert ctx.dialect is not None
        t = ctx.fresh("min4")
        min_create(ctx.admin_cur, ctx.dialect, t)
        try:

            def fill() -> None:
                min_fill(ctx.admin_cur, ctx.dialect or "", t, ctx.payloads)
                ctx.settle(t)

            run = run_consumers(
                "min_sql", {"dialect": ctx.dialect, "target": ctx.raw_target}, t, fill,
                self.s.n, self.s.cap_s,
            )
        finally:
            min_drop(ctx.admin_cur, t)
        return {"consume4": run}


class SKBatch(Variant):
    """storekeeper sync: ``push_many`` of 100, ``receive(max_messages=100)`` + ``ack_many``."""

    row = "sk_batch"
    label = f"storekeeper sync, batches of {BATCH} (push_many, receive + ack_many)"
    workloads = ("W5",)

    def run(self, w: str) -> dict[str, Run]:
        ctx, s = self.ctx, self.s
        assert ctx.ds is not None
        queue = ctx.ds.queue
        q = ctx.fresh("skb")
        try:
            push_many, receive, ack_many = queue.push_many, queue.receive, queue.ack_many
            for i in range(0, len(ctx.warm_payloads), BATCH):
                push_many(q, ctx.warm_payloads[i : i + BATCH])
            while msgs := receive(q, max_messages=BATCH):
                ack_many(msgs)
            ctx.settle()
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for i in range(0, len(ctx.payloads), BATCH):
                n += len(push_many(q, ctx.payloads[i : i + BATCH]))
                if perf_counter() > deadline:
                    break
            pushed = Run(n, perf_counter() - t0, n < s.n)
            ctx.settle()
            gc.collect()
            k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            while k < n:
                msgs = receive(q, max_messages=BATCH)
                if not msgs:
                    break
                ack_many(msgs)
                k += len(msgs)
                if perf_counter() > deadline:
                    break
            consumed = Run(k, perf_counter() - t0, k < n)
            check_completed(queue.length(q, "completed"), s.warm + k, q)
        finally:
            ctx.purge(q)
        return {"push": pushed, "batch": consumed}


# peers -----------------------------------------------------------------------------------------


class PersistQueue(Variant):
    """persist-queue ``SQLiteAckQueue`` (its defaults: pickle, WAL, auto_commit): put / get / ack."""

    row = "persistqueue"
    label = "persist-queue SQLiteAckQueue"
    workloads = ("W5",)

    def run(self, w: str) -> dict[str, Run]:
        from persistqueue import SQLiteAckQueue

        ctx, s = self.ctx, self.s
        path = os.path.join(ctx.tmp, ctx.fresh("pq"))
        pq = SQLiteAckQueue(path)
        try:
            put, get, ack = pq.put, pq.get, pq.ack
            for p in ctx.warm_payloads:
                put(p)
            for _ in ctx.warm_payloads:
                ack(get(block=False))
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for p in ctx.payloads:
                put(p)
                n += 1
                if not n & 15 and perf_counter() > deadline:
                    break
            pushed = Run(n, perf_counter() - t0, n < s.n)
            gc.collect()
            k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            while k < n:
                item = get(block=False)
                ack(item)
                k += 1
                if not k & 15 and perf_counter() > deadline:
                    break
            consumed = Run(k, perf_counter() - t0, k < n)
            if pq.acked_count() != s.warm + k:
                raise RuntimeError(f"persist-queue: {pq.acked_count()} acked, expected {s.warm + k}")
        finally:
            pq.close()
            shutil.rmtree(path, ignore_errors=True)
        return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}


PROCRASTINATE_DB = "skbench_procrastinate"


class Procrastinate(Variant):
    """procrastinate 3: async App on a PsycopgConnector, its schema in a database of its own.

    push: ``task.defer_async(data=…)`` per message; consume: ``run_worker_async``
    (concurrency 1, ``wait=False``: it stops once the queue is empty) on a
    no-op async task; end to end: both.
    """

    row = "procrastinate"
    label = "procrastinate (defer_async / worker)"
    workloads = ("W5",)

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        import psycopg
        from psycopg.conninfo import make_conninfo

        self.admin = psycopg.connect(ctx.server_url, autocommit=True)
        self.admin.execute(f"DROP DATABASE IF EXISTS {PROCRASTINATE_DB} WITH (FORCE)")
        self.admin.execute(f"CREATE DATABASE {PROCRASTINATE_DB}")
        self.conninfo = make_conninfo(ctx.server_url, dbname=PROCRASTINATE_DB)
        self.count = 0
        self.app = self._app()
        self.app.open()
        try:
            self.app.schema_manager.apply_schema()
        finally:
            self.app.close()
        self.app = self._app()

    def _app(self) -> Any:
        import logging

        import procrastinate

        # it warns that an App made in __main__ cannot be found by workers in other
        # processes; this worker runs in this process, on this App
        logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=self.conninfo))

        @app.task(name="skbench_noop")
        async def noop(data: Any) -> None:
            self.count += 1

        self.task = noop
        return app

    async def _worker(self, expected: int, cap_s: float) -> Run:
        self.count = 0
        gc.collect()
        t0 = perf_counter()
        worker = asyncio.ensure_future(
            self.app.run_worker_async(
                wait=False, concurrency=1, install_signal_handlers=False, listen_notify=False,
            )
        )
        done, _ = await asyncio.wait({worker}, timeout=cap_s)
        capped = not done
        if capped:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        else:
            worker.result()
        elapsed = perf_counter() - t0
        return Run(self.count, elapsed, capped or self.count < expected)

    async def run(self, w: str) -> dict[str, Run]:
        ctx, s = self.ctx, self.s
        try:
            async with self.app.open_async():
                defer = self.task.defer_async
                for p in ctx.warm_payloads:
                    await defer(data=p)
                await self._worker(s.warm, 60.0)
                gc.collect()
                n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
                for p in ctx.payloads:
                    await defer(data=p)
                    n += 1
                    if not n & 15 and perf_counter() > deadline:
                        break
                pushed = Run(n, perf_counter() - t0, n < s.n)
                with contextlib.closing(self._conn()) as c:
                    c.execute("ANALYZE procrastinate_jobs")  # as ctx.settle() does for port_messages
                consumed = await self._worker(n, s.cap_s)
        finally:
            with contextlib.closing(self._conn()) as c:
                c.execute("TRUNCATE procrastinate_jobs RESTART IDENTITY CASCADE")
        return {"push": pushed, "consume": consumed, "e2e": end_to_end(pushed, consumed)}

    def _conn(self) -> Any:
        import psycopg

        return psycopg.connect(self.conninfo, autocommit=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.admin.execute(f"DROP DATABASE IF EXISTS {PROCRASTINATE_DB} WITH (FORCE)")
        with contextlib.suppress(Exception):
            self.admin.close()


class DiskCache(Variant):
    """diskcache ``Cache`` (its defaults) in a temp dir: ``set(key, value, expire=60)`` / ``get``."""

    row = "diskcache"
    label = "diskcache Cache"
    workloads = ("W6",)

    def run(self, w: str) -> dict[str, Run]:
        import diskcache

        ctx, s = self.ctx, self.s
        path = os.path.join(ctx.tmp, ctx.fresh("dc"))
        cache = diskcache.Cache(path)
        keys = [f"k_{i}" for i in range(s.n)]
        warm = [f"w_{i}" for i in range(s.warm)]
        try:
            set_, get = cache.set, cache.get
            for key, value in zip(warm, ctx.warm_values, strict=True):
                set_(key, value, expire=TTL)
            for key in warm:
                get(key)
            gc.collect()
            n, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key, value in zip(keys, ctx.values, strict=True):
                set_(key, value, expire=TTL)
                n += 1
                if not n & 15 and perf_counter() > deadline:
                    break
            sets = Run(n, perf_counter() - t0, n < s.n)
            gc.collect()
            k, t0, deadline = 0, perf_counter(), deadline_of(s.cap_s)
            for key in keys[:n]:
                if get(key) is None:
                    raise RuntimeError(f"diskcache key {key!r} missing")
                k += 1
                if not k & 15 and perf_counter() > deadline:
                    break
            gets = Run(k, perf_counter() - t0, k < n)
        finally:
            cache.close()
            shutil.rmtree(path, ignore_errors=True)
        return {"set": sets, "get": gets}


# --- the same-SQL check -----------------------------------------------------------------------


def check_same_sql(ctx: Ctx, workloads: Sequence[str]) -> list[str]:
    """One push, receive, ack, cache set and get, through storekeeper and through the raw loops."""
    assert ctx.ds is not None and ctx.dialect is not None
    ds, dialect = ctx.ds, ctx.dialect
    raw = RawSQL.__new__(RawSQL)  # the raw variant's statement sources, without a connection
    from storekeeper.sql.cache import cache_sql
    from storekeeper.sql.queue import queue_sql

    raw.dialect, raw.qs, raw.cs = dialect, queue_sql(dialect), cache_sql(dialect)
    conn, cur = raw_connect(dialect, ctx.raw_target)
    out: list[str] = []
    try:
        if "W5" in workloads:
            q = ctx.fresh("chk")
            queue = ds.queue
            with capture_storekeeper(ds.backend) as sk_push:
                queue.push(q, {"n": 1})
            with capture_storekeeper(ds.backend) as sk_recv:
                msg = queue.receive(q)
            assert msg is not None
            with capture_storekeeper(ds.backend) as sk_ack:
                queue.ack(msg)
            rec = RecordingCursor(conn, cur)
            raw.push(rec, q, [{"n": 2}], float("inf"))
            raw_push_sql = rec.seen
            rec = RecordingCursor(conn, cur)
            got = raw.consume(rec, rec, q, 1, float("inf"))
            if got != 1:
                raise RuntimeError("the raw consume loop found no message")
            # the raw loop receives and acks in one go: split after the claim
            ack_sql = raw.qs.ack
            split = len(rec.seen) - 1 if rec.seen and rec.seen[-1] == ack_sql else len(rec.seen)
            out.append(compare("push", sk_push, raw_push_sql))
            out.append(compare("receive", sk_recv, rec.seen[:split]))
            out.append(compare("ack", sk_ack, rec.seen[split:]))
            ctx.purge(q)
        if "W6" in workloads:
            prefix = ctx.fresh("chk")
            cache = ds.cache
            with capture_storekeeper(ds.backend) as sk_set:
                cache.set(f"{prefix}_a", {"v": 1}, ttl=TTL)
            with capture_storekeeper(ds.backend) as sk_get:
                cache.get(f"{prefix}_a")
            rec = RecordingCursor(conn, cur)
            raw_cache_set(rec, raw.cs, [f"{prefix}_b"], [{"v": 2}], float("inf"))
            raw_set_sql = rec.seen
            rec = RecordingCursor(conn, cur)
            raw_cache_get(rec, raw.cs, [f"{prefix}_b"], float("inf"))
            out.append(compare("cache set", sk_set, raw_set_sql))
            out.append(compare("cache get", sk_get, rec.seen))
            ctx.clear_cache(prefix)
    finally:
        conn.close()
    return out


@contextlib.contextmanager
def capture_redis() -> Iterator[list[str]]:
    """Record every command redis-py serializes (any client, pipelines too), by name.

    ``EVALSHA`` is shown with the name of storekeeper's script; ``SET`` with its options.
    """
    import redis.connection as rc

    scripts: dict[str, str] = {}
    for modname in ("storekeeper._sync.queue.redis", "storekeeper._sync.cache.redis"):
        mod = sys.modules.get(modname)
        for obj in vars(mod).values() if mod is not None else ():
            if type(obj).__name__ == "LuaScript":
                scripts[obj.sha] = obj.name
    seen: list[str] = []
    classes = [c for c in (rc.PythonRespSerializer, rc.HiredisRespSerializer) if c is not None]
    saved = {c: c.__dict__["pack"] for c in classes}

    def text(a: Any) -> str:
        return a.decode(errors="replace") if isinstance(a, bytes | bytearray) else str(a)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def pack(self: Any, *args: Any) -> Any:
            name = text(args[0]).upper() if args else "?"
            if name in ("EVALSHA", "EVAL") and len(args) > 1:
                name += " " + scripts.get(text(args[1]), "?")
            elif name == "SET":
                name += "".join(f" {text(a).upper()}" for a in args[3:] if text(a).upper() in ("PX", "EX", "NX", "XX", "KEEPTTL"))
            seen.append(name)
            return fn(self, *args)

        return pack

    method = "pack"
    for c, fn in saved.items():
        setattr(c, method, wrap(fn))
    try:
        yield seen
    finally:
        for c, fn in saved.items():
            setattr(c, method, fn)


def check_redis_commands(ctx: Ctx, workloads: Sequence[str]) -> list[str]:
    """The commands storekeeper sends per call; for the cache, compared with the raw loop's."""
    assert ctx.ds is not None
    out: list[str] = []
    r = redis_client(ctx.redis_url)
    r.ping()  # the connection handshake, before recording
    try:
        if "W5" in workloads:
            q = ctx.fresh("chk")
            queue = ctx.ds.queue
            queue.length(q)  # scripts loaded, connections open
            with capture_redis() as push:
                queue.push(q, {"n": 1})
            with capture_redis() as recv:
                msg = queue.receive(q)
            with capture_redis() as ack:
                if msg is not None:
                    queue.ack(msg)
            out.append(
                f"queue (storekeeper): push {' + '.join(push)}; receive {' + '.join(recv)}; "
                f"ack {' + '.join(ack)} (raw peer: LPUSH; BRPOP)"
            )
            queue.purge(q)
        if "W6" in workloads:
            key = ctx.fresh("chk")
            cache = ctx.ds.cache
            cache.get(key)
            with capture_redis() as sk_set:
                cache.set(key, {"v": 1}, ttl=TTL)
            with capture_redis() as sk_get:
                cache.get(key)
            cache.delete(key)
            with capture_redis() as raw_set:
                r.set(key, b"{}", px=int(TTL * 1000))
            with capture_redis() as raw_get:
                r.get(key)
            r.delete(key)
            out.append(compare("cache set", sk_set, raw_set, "command"))
            out.append(compare("cache get", sk_get, raw_get, "command"))
    finally:
        r.close()
    return out


# --- ratios and targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class RatioCell:
    num: tuple[str, str]  # (row, metric)
    den: tuple[str, str]
    target: Target | None = None
    #: a ratio of ratios: (num / den) / (num2 / den2), e.g. one scaling against another
    num2: tuple[str, str] | None = None
    den2: tuple[str, str] | None = None


@dataclass(frozen=True)
class RatioSpec:
    label: str
    cells: dict[str, RatioCell]  # column metric -> cell


COLUMNS = {
    "W5": ("push", "consume", "e2e", "consume4", "batch"),
    "W6": ("set", "get"),
}
COLUMN_TITLES = {
    "push": "push msg/s",
    "consume": "receive+ack msg/s",
    "e2e": "end to end msg/s",
    "consume4": f"{CONSUMERS} consumer processes msg/s",
    "batch": f"receive+ack in batches of {BATCH} msg/s",
    "set": "set ops/s",
    "get": "get ops/s",
}
TITLES = {"W5": "W5 queue", "W6": "W6 cache"}


def same(num: str, den: str, metrics: Sequence[str], targets: dict[str, Target] | None = None) -> dict[str, RatioCell]:
    t = targets or {}
    return {m: RatioCell((num, m), (den, m), t.get(m)) for m in metrics}


def ratio_specs(backend: str, w: str, labels: dict[str, str]) -> list[RatioSpec]:
    raw = labels.get("raw", "raw")
    out: list[RatioSpec] = []
    if w == "W5":
        q3 = ("push", "consume", "e2e")
        if backend != "memory":
            t8 = Target(0.8)
            mn = labels.get("min", "minimal queue")
            amn = labels.get("min_async", mn)
            out.append(RatioSpec(
                f"storekeeper sync / {mn}", same("sk_sync", "min", (*q3, "consume4"), dict.fromkeys(q3, t8)),
            ))
            if "min_kept" in labels:
                out.append(RatioSpec(
                    f"storekeeper sync / {labels['min_kept']} (what the rest of the design costs)",
                    same("sk_sync", "min_kept", q3),
                ))
                out.append(RatioSpec(
                    f"{labels['min_kept']} / {mn} (what keeping ids and history costs)",
                    same("min_kept", "min", q3),
                ))
            out.append(RatioSpec(
                f"storekeeper async / {amn}",
                same("sk_async", "min_async" if "min_async" in labels else "min", q3, dict.fromkeys(q3, t8)),
            ))
            out.append(RatioSpec(
                "storekeeper async / storekeeper sync",
                same("sk_async", "sk_sync", q3, dict.fromkeys(q3, t8) if backend != "sqlite" else None),
            ))
            if "min_async" in labels:
                out.append(RatioSpec(
                    "the driver alone: minimal queue async / sync (what async costs before storekeeper)",
                    same("min_async", "min", q3),
                ))
            out.append(RatioSpec(
                f"storekeeper batches of {BATCH} / one at a time",
                {"push": RatioCell(("sk_batch", "push"), ("sk_sync", "push")),
                 "batch": RatioCell(("sk_batch", "batch"), ("sk_sync", "consume"),
                                    Target(10.0) if backend == "postgresql" else None)},
            ))
            out.append(RatioSpec(
                f"minimal queue batches of {BATCH} / one at a time",
                {"batch": RatioCell(("min", "batch"), ("min", "consume"))},
            ))
            out.append(RatioSpec(
                f"{CONSUMERS}-process scaling: storekeeper's / the minimal queue's",
                {"consume4": RatioCell(("sk_sync", "consume4"), ("sk_sync", "consume"), Target(1.0),
                                       ("min", "consume4"), ("min", "consume"))},
            ))
        if backend == "postgresql":
            t = Target(0.7)
            out.append(RatioSpec(
                f"storekeeper sync / {raw}",
                same("sk_sync", "raw", (*q3, "consume4"), {"push": t, "consume": t, "e2e": t}),
            ))
            out.append(RatioSpec(f"storekeeper async / {raw}", same("sk_async", "raw", q3)))
            out.append(RatioSpec(
                "storekeeper sync / procrastinate",
                same("sk_sync", "procrastinate", q3, {"e2e": Target(3.0)}),
            ))
            out.append(RatioSpec(
                "storekeeper async / procrastinate", same("sk_async", "procrastinate", q3)
            ))
        elif backend == "sqlite":
            t = Target(5.0)
            out.append(RatioSpec(
                "storekeeper sync / persist-queue",
                same("sk_sync", "persistqueue", q3, {"push": t, "consume": t, "e2e": t}),
            ))
            out.append(RatioSpec("storekeeper async / persist-queue", same("sk_async", "persistqueue", q3)))
            out.append(RatioSpec(f"storekeeper sync / {raw}", same("sk_sync", "raw", (*q3, "consume4"))))
            out.append(RatioSpec(f"storekeeper async / {raw}", same("sk_async", "raw", q3)))
        elif backend == "redis":
            t = Target(0.5)
            out.append(RatioSpec(
                "storekeeper sync / redis-py LPUSH/BRPOP",
                same("sk_sync", "raw", (*q3, "consume4"), {"push": t, "consume": t, "e2e": t}),
            ))
            out.append(RatioSpec("storekeeper async / redis-py LPUSH/BRPOP", same("sk_async", "raw", q3)))
        elif backend == "mysql":
            out.append(RatioSpec(f"storekeeper sync / {raw}", same("sk_sync", "raw", (*q3, "consume4"))))
            out.append(RatioSpec(f"storekeeper async / {raw}", same("sk_async", "raw", q3)))
        if backend != "memory":
            out.append(RatioSpec(
                f"storekeeper sync, {CONSUMERS} processes / 1 consumer",
                {"consume4": RatioCell(
                    ("sk_sync", "consume4"), ("sk_sync", "consume"),
                    Target(2.0) if backend == "postgresql" else None,
                )},
            ))
            out.append(RatioSpec(
                f"raw, {CONSUMERS} processes / 1 consumer",
                {"consume4": RatioCell(("raw", "consume4"), ("raw", "consume"))},
            ))
        return out
    # W6
    if backend in ("postgresql", "mysql", "redis"):
        out.append(RatioSpec(
            "storekeeper async / storekeeper sync",
            same("sk_async", "sk_sync", ("set", "get"), dict.fromkeys(("set", "get"), Target(0.8))),
        ))
    if backend == "redis":
        t = Target(0.9)
        out.append(RatioSpec("storekeeper sync / redis-py SET PX/GET", same("sk_sync", "raw", ("set", "get"), {"set": t, "get": t})))
        out.append(RatioSpec("storekeeper async / redis-py SET PX/GET", same("sk_async", "raw", ("set", "get"))))
    elif backend == "sqlite":
        out.append(RatioSpec(
            "storekeeper sync / diskcache",
            same("sk_sync", "diskcache", ("set", "get"), {"set": Target(2.0), "get": Target(1.0)}),
        ))
        out.append(RatioSpec("storekeeper async / diskcache", same("sk_async", "diskcache", ("set", "get"))))
    if backend in ("sqlite", "postgresql", "mysql"):
        out.append(RatioSpec(f"storekeeper sync / {raw}", same("sk_sync", "raw", ("set", "get"))))
        out.append(RatioSpec(f"storekeeper async / {raw}", same("sk_async", "raw", ("set", "get"))))
    return out


# --- running --------------------------------------------------------------------------------------


@dataclass
class BackendResult:
    name: str
    version: str = ""
    unavailable: str | None = None
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # workload -> row -> label
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)  # (w, row, metric)
    failures: list[str] = field(default_factory=list)
    sql_check: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_backend(name: str, sizes: Sizes, workloads: Sequence[str], args: argparse.Namespace) -> BackendResult:
    result = BackendResult(name)
    t_start = perf_counter()
    ctx = Ctx(name, sizes, args)
    variants: list[Variant] = []
    try:
        try:
            ctx.open()
        except Exception as exc:
            result.unavailable = describe(exc)
            progress(f"[{name}] backend unavailable: {result.unavailable}")
            return result
        result.version = ctx.version
        progress(f"[{name}] {ctx.version}")
        for cls in VARIANT_CLASSES(ctx):
            try:
                variants.append(cls(ctx))
            except Exception as exc:
                result.failures.append(f"{cls.label}: setup failed: {describe(exc)}")
                progress(f"[{name}] {cls.label}: setup failed: {describe(exc)}")
                traceback.print_exc(file=sys.stderr)
        for w in workloads:
            labels = result.labels.setdefault(w, {})
            for v in variants:
                if w in v.workloads and (v.row not in labels or type(v) in MAIN_VARIANTS):
                    labels[v.row] = v.label_for(w)
        try:
            if ctx.dialect is not None:
                result.sql_check = check_same_sql(ctx, workloads)
            elif name == "redis":
                result.sql_check = check_redis_commands(ctx, workloads)
        except Exception as exc:
            result.sql_check = [f"check failed: {describe(exc)}"]
            traceback.print_exc(file=sys.stderr)
        for w in workloads:
            active = [v for v in variants if w in v.workloads]
            errors: dict[str, int] = {}
            for rep in range(sizes.repeats):
                for v in rotated(active, rep):  # rotate the order between repeats
                    if errors.get(v.key, 0) >= 2:
                        continue
                    out = None
                    for _attempt in range(2):  # a session killed by someone else: once more
                        try:
                            ctx.ensure_admin()
                            out = ctx.call(v.run, w)
                            break
                        except Exception as exc:
                            errors[v.key] = errors.get(v.key, 0) + 1
                            result.failures.append(f"{w} {v.label}: {describe(exc)}")
                            progress(f"[{name}] {w} {v.label}: run failed: {describe(exc)}")
                            traceback.print_exc(file=sys.stderr)
                            with contextlib.suppress(Exception):
                                ctx.ensure_admin()
                            with contextlib.suppress(Exception):
                                v.recover()
                            if errors[v.key] >= 2:
                                break
                    if out is None:
                        continue
                    for metric, run in out.items():
                        result.cells.setdefault((w, v.row, metric), Cell()).runs.append(run)
                    shown = "  ".join(
                        f"{m} {r.rate:>9,.0f}/s{'ᶜ' if r.capped else ''}" for m, r in out.items()
                    )
                    progress(f"[{name}] {w} {v.label:<40} run {rep + 1}: {shown}")
        for v in variants:
            with contextlib.suppress(Exception):
                ctx.call(v.close)
    finally:
        try:
            result.leftovers = ctx.close()
        except Exception as exc:
            progress(f"[{name}] cleanup failed: {exc}")
            result.leftovers = [f"cleanup failed: {describe(exc)}"]
        result.seconds = perf_counter() - t_start
    return result


#: the variant whose label a table row takes (the 4-process variants share their row)
MAIN_VARIANTS: tuple[type[Variant], ...] = ()


def VARIANT_CLASSES(ctx: Ctx) -> list[type[Variant]]:  # noqa: N802 - a table, read like one
    out: list[type[Variant]] = [SKSync, SKAsync]
    if ctx.name != "memory":
        out += [MinSync, SKBatch, Min4]
    if ctx.dialect is not None:
        out.append(MinKept)
    if ctx.name in ("postgresql", "mysql", "redis"):
        out.append(MinAsync)
    if ctx.dialect is not None:
        out += [RawSQL, SKSync4, RawSQL4]
    if ctx.name == "redis":
        out += [RawRedis, SKSync4, RawRedis4]
    if ctx.name == "sqlite":
        out += [PersistQueue, DiskCache]
    if ctx.name == "postgresql":
        out.append(Procrastinate)
    return out


# --- report ------------------------------------------------------------------------------------


def ratio_cell(res: BackendResult, w: str, rc: RatioCell) -> tuple[str, bool | None]:
    pairs = [(rc.num, rc.den)]
    if rc.num2 is not None and rc.den2 is not None:
        pairs.append((rc.num2, rc.den2))
    ratios = []
    for num, den in pairs:
        a = res.cells.get((w, *num))
        b = res.cells.get((w, *den))
        if a is None or b is None or a.best is None or b.best is None:
            return "–", None
        ratios.append(a.best.rate / b.best.rate)
    return ratio_text(ratios[0] / ratios[1] if len(ratios) == 2 else ratios[0], rc.target)


def render(results: list[BackendResult], sizes: Sizes, quick: bool, workloads: Sequence[str], total_s: float) -> str:
    out = report_header(
        "storekeeper queue and cache benchmark",
        (
            "storekeeper", "psycopg", "PyMySQL", "redis", "hiredis", "orjson",
            "persist-queue", "procrastinate", "diskcache",
        ),
        quick,
        total_s,
    )
    add = out.append
    add(
        f"Sizes: W5 {sizes.n:,} messages pushed one call each, then received and acked "
        f"(warm-up {sizes.warm:,} on the same queue), and {sizes.n:,} drained by {CONSUMERS} "
        f"consumer processes; W6 {sizes.n:,} `set(…, ttl={TTL:g})` then {sizes.n:,} `get` "
        f"(warm-up {sizes.warm:,}). Best of {sizes.repeats} run(s) per variant; a timed loop "
        f"stops after {sizes.cap_s:g}s (ᶜ = capped, rate over the operations done)."
    )
    add("")
    for res in results:
        add(f"## {res.name}")
        add("")
        if res.unavailable is not None:
            add(f"**backend unavailable**: {res.unavailable}")
            add("")
            continue
        add(f"{res.version} · {res.seconds:.0f}s")
        add("")
        passed = missed = 0
        for w in workloads:
            cols = COLUMNS[w]
            labels = res.labels.get(w, {})
            rows = [r for r in labels if any((w, r, m) in res.cells for m in cols)]
            if not rows:
                continue
            add(f"### {TITLES[w]}")
            add("")
            add("| variant | " + " | ".join(COLUMN_TITLES[m] for m in cols) + " |")
            add("|---|" + "---:|" * len(cols))
            for r in rows:
                add(f"| {labels[r]} | " + " | ".join(cell_text(res.cells.get((w, r, m))) for m in cols) + " |")
            add("")
            specs = [
                s for s in ratio_specs(res.name, w, labels)
                if any(ratio_cell(res, w, c)[0] != "–" for c in s.cells.values())
            ]
            if specs:
                add("| ratio | " + " | ".join(COLUMN_TITLES[m].rsplit(" ", 1)[0] for m in cols) + " |")
                add("|---|" + "---|" * len(cols))
                for spec in specs:
                    texts = []
                    for m in cols:
                        rc = spec.cells.get(m)
                        if rc is None:
                            texts.append("")
                            continue
                        text, ok = ratio_cell(res, w, rc)
                        passed += ok is True
                        missed += ok is False
                        texts.append(text)
                    add(f"| {spec.label} | " + " | ".join(texts) + " |")
                add("")
        if passed or missed:
            add(f"Targets: {passed} pass, {missed} miss.")
            add("")
        if res.failures:
            add("Failures:")
            add("")
            for f in res.failures:
                add(f"- {f[:400]}")
            add("")
        if res.sql_check:
            title = "Same-commands check (what storekeeper sends vs the raw loops)" if res.name == "redis" else (
                "Same-SQL check (raw loops vs what storekeeper sends)"
            )
            add(f"{title}: " + "; ".join(res.sql_check) + ".")
            add("")
        if res.leftovers:
            add(f"Left behind: {', '.join(res.leftovers)}")
            add("")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser, BACKENDS, WORKLOADS, ("postgresql", "mysql", "redis"), DEFAULT_OUTPUT)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.n:,} operations instead of {FULL.n:,}")
    parser.add_argument("--repeats", type=int, default=None, help="runs per variant, best kept (default: 1, --quick 2)")
    parser.add_argument(
        "--in-place", action="store_true",
        help=f"run in the databases of the URLs instead of a database {BENCH_DB} created (and "
        "dropped) on their servers",
    )
    args = parser.parse_args(argv)

    backends, workloads = parse_selection(parser, args, BACKENDS, WORKLOADS)
    sizes = QUICK if args.quick else FULL
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be at least 1")
        sizes = Sizes(sizes.n, sizes.warm, sizes.cap_s, args.repeats)

    t0 = perf_counter()
    results = [run_backend(b, sizes, workloads, args) for b in backends]
    report = render(results, sizes, args.quick, workloads, perf_counter() - t0)
    write_report(report, args.output)
    return 0


MAIN_VARIANTS = (SKSync, SKAsync, RawSQL, RawRedis, MinSync, MinKept, MinAsync, SKBatch)

if __name__ == "__main__":
    sys.exit(main())
