#!/usr/bin/env python3
"""Event-loop lag while async SQLite runs long statements (issue 14).

    python bench/loop_lag.py                 # 200,000 documents, 3 runs per variant
    python bench/loop_lag.py --docs 50000 --repeats 1

One SQLite file of N documents (built in bulk, search declared on ``title``).
Each run starts, on one event loop, at once: the three long statements (an
unindexed filter that matches nothing, a count over an unindexed filter, and a
paginated full-text search of a common word: its count and its first page)
one after the other, and 1,000 concurrent gets by id, while a ticker sleeps
1 ms at a time and records how late each wake-up is. Variants:

- storekeeper async: this code (long statements move to the connection's
  worker thread, cheap ones stay inline);
- storekeeper async, all inline: the same code with the inline budget, the
  bulk threshold and the loop-turn slice set to infinity: every statement runs
  on the loop's thread, as before issue 14;
- aiosqlite: the same statements with the same parameters (recorded from
  storekeeper), on two aiosqlite connections (one runs the long statements,
  the other the gets), the thread-per-connection design.

The cyclic GC is run and frozen before each run (``gc.freeze()``) for every
variant: a full collection of this process's heap takes 20-30 ms on its own.
Reported per variant: the long statements' wall time and the gets' (best
run), and the ticker's lag, max (worst run) and p99 (all runs pooled), in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from harness import RESULTS, asqlite_connect, progress, report_header, write_report

from storekeeper import AsyncDataStore, DataStore, Pagination, QueryFilter
from storekeeper._async.backends import sqlite as async_sqlite
from storekeeper._sync.backends import sqlite as sync_sqlite

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
GETS = 1000


def docs(n: int) -> Iterator[dict[str, Any]]:
    rnd = random.Random(14)
    for i in range(n):
        yield {
            "id": f"d{i:07d}",
            "title": " ".join(rnd.choice(WORDS) for _ in range(4)),
            "status": rnd.choice(["active", "done", "draft"]),
            "priority": rnd.randint(0, 9),
            "content": "lorem ipsum " * 16,
        }


FILTER = [QueryFilter("content", "contains", "absent")]
COUNT = [QueryFilter("priority", "gte", 5)]
PAGE = Pagination(page=1, per_page=20)


def record_statements(url: str) -> list[tuple[str, str, Any]]:
    """The long statements (method, SQL, parameters) as storekeeper sends them."""
    seen: list[tuple[str, str, Any]] = []
    cls = sync_sqlite.SQLiteConnection
    saved = {m: cls.__dict__[m] for m in ("fetchone", "fetchall")}

    def wrap(name: str) -> Callable[..., Any]:
        def inner(self: Any, sql: str, params: Any = ()) -> Any:
            seen.append((name, sql, params))
            return saved[name](self, sql, params)

        return inner

    with DataStore(url) as ds:
        repo = ds.repository(dict, "docs", search_fields=["title"])
        repo.get("d0000000")
        for m in saved:
            setattr(cls, m, wrap(m))
        try:
            repo.list(filters=FILTER)
            repo.count(COUNT)
            repo.search("alpha", pagination=PAGE)
        finally:
            for m, fn in saved.items():
                setattr(cls, m, fn)
    return seen


class Ticker:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.stop = False

    async def run(self) -> None:
        last = time.perf_counter()
        while not self.stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.lags.append(now - last - 0.001)
            last = now


async def scenario(
    slow: Callable[[], Awaitable[None]], get: Callable[[str], Awaitable[Any]], ids: list[str]
) -> tuple[float, float, list[float]]:
    """One run: (long statements' seconds, gets' seconds, ticker lags)."""
    gc.collect()
    gc.freeze()
    ticker = Ticker()
    task = asyncio.create_task(ticker.run())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()

    async def timed_slow() -> float:
        await slow()
        return time.perf_counter() - t0

    async def timed_gets() -> float:
        got = await asyncio.gather(*(get(i) for i in ids))
        assert all(g is not None for g in got)
        return time.perf_counter() - t0

    try:
        slow_s, gets_s = await asyncio.gather(timed_slow(), timed_gets())
    finally:
        ticker.stop = True
        await task
        gc.unfreeze()
    return slow_s, gets_s, ticker.lags


async def run_storekeeper(url: str, ids: list[str], repeats: int, inline: bool) -> list[Any]:
    saved = (async_sqlite.INLINE_BUDGET_S, async_sqlite.BULK_PARAMS)
    if inline:
        async_sqlite.INLINE_BUDGET_S = float("inf")
        async_sqlite.BULK_PARAMS = sys.maxsize
    try:
        async with AsyncDataStore(url) as ds:
            if inline:
                ds.backend._turns.slice_s = float("inf")  # type: ignore[attr-defined]
            repo = ds.repository(dict, "docs", search_fields=["title"])
            await repo.get("d0000000")

            async def slow() -> None:
                assert await repo.list(filters=FILTER) == []
                await repo.count(COUNT)
                await repo.search("alpha", pagination=PAGE)

            return [await scenario(slow, repo.get, ids) for _ in range(repeats)]
    finally:
        async_sqlite.INLINE_BUDGET_S, async_sqlite.BULK_PARAMS = saved


async def run_aiosqlite(
    path: str, ids: list[str], repeats: int, statements: list[tuple[str, str, Any]], get_sql: str
) -> list[Any]:
    slow_conn = await asqlite_connect(path)
    get_conn = await asqlite_connect(path)
    try:

        async def slow() -> None:
            for method, sql, params in statements:
                cur = await slow_conn.execute(sql, params)
                await (cur.fetchone() if method == "fetchone" else cur.fetchall())

        async def get(eid: str) -> Any:
            cur = await get_conn.execute(get_sql, (eid,))
            row = await cur.fetchone()
            return orjson.loads(row[0]) if row else None

        return [await scenario(slow, get, ids) for _ in range(repeats)]
    finally:
        await slow_conn.close()
        await get_conn.close()


def summary(runs: list[Any]) -> tuple[float, float, float, float]:
    slow_s = min(r[0] for r in runs)
    gets_s = min(r[1] for r in runs)
    worst = max(max(r[2]) for r in runs)
    pooled = sorted(x for r in runs for x in r[2])
    p99 = pooled[min(len(pooled) - 1, int(len(pooled) * 0.99))]
    return slow_s, gets_s, worst, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "loop_lag.md")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skbench_lag_") as tmp:
        path = f"{tmp}/lag.db"
        url = f"sqlite:///{path}"
        progress(f"building {args.docs:,} documents")
        with DataStore(url) as ds:
            repo = ds.repository(dict, "docs", search_fields=["title"])
            repo.bulk_create(docs(args.docs), returning=False)
            get_sql = repo.sql.get  # type: ignore[attr-defined]
        statements = record_statements(url)
        rnd = random.Random(1)
        ids = [f"d{rnd.randrange(args.docs):07d}" for _ in range(GETS)]
        rows: list[tuple[str, tuple[float, float, float, float]]] = []
        for label, fn in (
            ("storekeeper async", lambda: run_storekeeper(url, ids, args.repeats, inline=False)),
            ("storekeeper async, all inline (as before)",
             lambda: run_storekeeper(url, ids, args.repeats, inline=True)),
            ("aiosqlite, same statements", lambda: run_aiosqlite(path, ids, args.repeats, statements, get_sql)),
        ):
            progress(label)
            rows.append((label, summary(asyncio.run(fn()))))
    lines = report_header("storekeeper async SQLite: event-loop lag", ["aiosqlite"], False,
                          time.perf_counter() - started)
    lines += [
        f"{args.docs:,} documents; long statements: unindexed filter, count over an unindexed "
        f"filter, paginated search (count + page); {GETS:,} concurrent gets by id started with "
        f"them; ticker every 1 ms. Best of {args.repeats} for the times, worst for the max lag, "
        "p99 over all runs.",
        "",
        "| variant | long statements ms | 1,000 gets done after ms | lag max ms | lag p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, (slow_s, gets_s, worst, p99) in rows:
        lines.append(
            f"| {label} | {slow_s * 1e3:,.0f} | {gets_s * 1e3:,.0f} | {worst * 1e3:.1f} | {p99 * 1e3:.1f} |"
        )
    write_report("\n".join(lines) + "\n", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
