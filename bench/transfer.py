"""W9: moving a store. ``storekeeper.copy`` SQLite -> PostgreSQL and PostgreSQL -> SQLite,
beside the raw drivers reading and writing the same rows in the same run, and
``ds.cleanup`` of old metrics.

    python bench/transfer.py                      # 1,000,000 documents + 100,000 messages
    python bench/transfer.py --docs 100000 --messages 10000 --repeats 3

Each copy runs in a child process of its own, which samples its anonymous
resident memory (``RssAnon``: its heap, not the SQLite file pages mapped into
it) every 20 ms; the report gives the peak. The raw baseline reads the rows
with the source's driver and writes them with the target's fastest path
(PostgreSQL: ``COPY``; SQLite: ``executemany`` in one transaction), in a child
process too. Throughput is rows per second; the ratio is storekeeper over raw
(target >= 0.7x). Cleanup deletes 1,000,000 (``--metrics``) metric values
older than 30 days; the longest single delete statement is what a writer
might wait for (target < 1 s).

The PostgreSQL database is ``<database of --postgresql-url>_w9``, created and
dropped here (default server: ``$STOREKEEPER_BENCH_POSTGRESQL_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import harness

import storekeeper
from storekeeper import DataStore

CTX = mp.get_context("fork")


def _rss_anon_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class PeakMemory:
    """Samples this process's anonymous RSS in a thread; ``peak_mb`` when stopped."""

    def __init__(self) -> None:
        self.peak = _rss_anon_kb()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_anon_kb())

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss_anon_kb())
        return self.peak / 1024


def _child_copy(src: str, dst: str, out: Any) -> None:
    mem = PeakMemory()
    t0 = time.perf_counter()
    stats = storekeeper.copy(src, dst, include=["collections", "queue"], batch_size=5000)
    seconds = time.perf_counter() - t0
    out.put({"seconds": seconds, "rows": stats.read, "written": stats.written,
             "peak_mb": mem.stop()})


def _sqlite_path(url: str) -> str:
    return url.split("sqlite:///", 1)[1]


def _lite(v: Any) -> Any:
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


def _child_raw(direction: str, sqlite_path: str, pg_url: str, out: Any) -> None:
    """Read the same rows with the source's driver, write them with the target's fastest path."""
    mem = PeakMemory()
    t0 = time.perf_counter()
    rows = 0
    lite = harness.sqlite_connect(sqlite_path)
    pg = harness.postgresql_connect(pg_url)
    tables = [
        ("c_docs", "id, version, data", "id"),
        ("port_messages", "id, port_name, source_component, target_component, message_data, "
         "message_metadata, status, retry_count, max_retries, created_at, visible_at", None),
    ]
    if direction == "sqlite->postgresql":
        for table, cols, _ in tables:
            src = lite.execute(f"SELECT {cols} FROM {table}")  # noqa: S608 - fixed names
            with pg.cursor() as cur, cur.copy(f"COPY raw_{table} ({cols}) FROM STDIN") as cp:
                while True:
                    batch = src.fetchmany(5000)
                    if not batch:
                        break
                    if table == "port_messages":
                        batch = [(*r[:10], _dt.datetime.fromtimestamp(r[10], _dt.UTC)) for r in batch]
                    for r in batch:
                        cp.write_row(r)
                    rows += len(batch)
    else:
        for table, cols, _ in tables:
            marks = ", ".join("?" * len(cols.split(",")))
            lite.execute("BEGIN IMMEDIATE")
            with pg.cursor(name=f"raw_{table}") as cur:
                cur.itersize = 5000
                pg.autocommit = False
                sel = (cols.replace(" data", " data::text").replace("message_data,", "message_data::text,")
                       .replace("message_metadata,", "message_metadata::text,"))
                cur.execute(f"SELECT {sel} FROM {table}")  # noqa: S608 - fixed names
                while True:
                    batch = cur.fetchmany(5000)
                    if not batch:
                        break
                    fixed = [tuple(_lite(v) for v in r) for r in batch]
                    lite.executemany(f"INSERT INTO raw_{table} ({cols}) VALUES ({marks})", fixed)  # noqa: S608
                    rows += len(batch)
                pg.commit()
                pg.autocommit = True
            lite.execute("COMMIT")
    seconds = time.perf_counter() - t0
    out.put({"seconds": seconds, "rows": rows, "peak_mb": mem.stop()})


def _run_child(target: Any, *args: Any) -> dict[str, Any]:
    q = CTX.Queue()
    p = CTX.Process(target=target, args=(*args, q))
    p.start()
    while True:
        try:
            result: dict[str, Any] = q.get(timeout=1)
            break
        except Exception:  # noqa: BLE001 - queue.Empty: is the child still there?
            if not p.is_alive():
                raise RuntimeError(f"{target.__name__} died (exit code {p.exitcode})") from None
    p.join()
    return result


def _admin(pg_url: str, db: str) -> tuple[Any, str]:
    head, _, _ = pg_url.partition("?")
    base = head.rsplit("/", 1)[0]
    admin = harness.postgresql_connect(base + "/postgres")
    return admin, f"{base}/{db}"


def _fill(url: str, docs: int, messages: int) -> None:
    with DataStore(url) as ds:
        repo = ds.repository(dict, "docs", indexes=["status"])
        chunk = 50_000
        for start in range(0, docs, chunk):
            repo.bulk_create(
                ({"id": f"d{i:08d}", "title": f"document {i}", "status": ("a", "b", "c")[i % 3],
                  "n": i, "tags": ["x", "y"]} for i in range(start, min(docs, start + chunk))),
                returning=False,
            )
        for start in range(0, messages, chunk):
            ds.queue.push_many("jobs", [{"job": i} for i in range(start, min(messages, start + chunk))])


def _raw_tables_pg(pg: Any) -> None:
    """Empty twins of the tables storekeeper wrote: same columns, defaults and indexes."""
    pg.execute("DROP TABLE IF EXISTS raw_c_docs, raw_port_messages")
    pg.execute("CREATE TABLE raw_c_docs (LIKE c_docs INCLUDING ALL)")
    pg.execute("CREATE TABLE raw_port_messages (LIKE port_messages INCLUDING ALL)")


def _raw_tables_sqlite(path: str) -> None:
    """Empty twins of the tables storekeeper wrote: same DDL, same indexes."""
    lite = harness.sqlite_connect(path)
    for table in ("c_docs", "port_messages"):
        lite.execute(f"DROP TABLE IF EXISTS raw_{table}")
        ddl = lite.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('table', 'index') "
            "AND sql IS NOT NULL ORDER BY type DESC", (table,)
        ).fetchall()
        for (sql,) in ddl:
            lite.execute(sql.replace(table, f"raw_{table}"))
    lite.close()


def _drop_pg_data(pg_url: str) -> None:
    with DataStore(pg_url) as ds:
        ds.open()
    pg = harness.postgresql_connect(pg_url)
    pg.execute("DROP TABLE IF EXISTS c_docs")
    pg.execute("DELETE FROM sk_collections")
    pg.execute("DELETE FROM port_messages")
    pg.close()


def _cleanup_bench(url: str, n: int) -> dict[str, float]:
    """Cleanup of *n* old metric values: total time and the longest single delete."""
    with DataStore(url) as ds:
        old = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=40)
        chunk = 20_000
        for start in range(0, n, chunk):
            ds.metrics.record_many(
                [{"component_name": "c", "metric_name": "m", "value": float(i),
                  "timestamp": old + _dt.timedelta(microseconds=i)}
                 for i in range(start, min(n, start + chunk))]
            )
        metrics: Any = ds.metrics
        real = metrics._delete_before_batch
        longest = 0.0

        def timed(before: Any, limit: int) -> int:
            nonlocal longest
            t = time.perf_counter()
            done: int = real(before, limit)
            longest = max(longest, time.perf_counter() - t)
            return done

        metrics._delete_before_batch = timed
        t0 = time.perf_counter()
        counts = ds.cleanup(completed_messages_days=None, keep_checkpoints=None)
        total = time.perf_counter() - t0
        assert counts["metrics"] == n, counts
    return {"seconds": total, "longest": longest}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--metrics", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--postgresql-url", default=os.environ.get(
        "STOREKEEPER_BENCH_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--output", default=str(harness.RESULTS / "transfer.md"))
    args = ap.parse_args()

    dbname = args.postgresql_url.partition("?")[0].rsplit("/", 1)[1] + "_w9"
    admin, pg_url = _admin(args.postgresql_url, dbname)
    admin.execute(f"DROP DATABASE IF EXISTS {dbname}")
    admin.execute(f"CREATE DATABASE {dbname}")
    tmp = Path(tempfile.mkdtemp(prefix="sk_w9_"))
    src_url = f"sqlite:///{tmp}/source.db"
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        harness.progress(f"filling SQLite with {args.docs} documents and {args.messages} messages")
        _fill(src_url, args.docs, args.messages)
        rows = args.docs + args.messages
        with DataStore(pg_url) as ds:
            ds.open()
        for rep in range(args.repeats):
            harness.progress(f"repeat {rep + 1}: sqlite -> postgresql")
            _drop_pg_data(pg_url)
            results.setdefault("sk sqlite->postgresql", []).append(_run_child(_child_copy, src_url, pg_url))
            pg = harness.postgresql_connect(pg_url)
            pg.execute("ANALYZE")
            _raw_tables_pg(pg)
            pg.close()
            results.setdefault("raw sqlite->postgresql", []).append(
                _run_child(_child_raw, "sqlite->postgresql", _sqlite_path(src_url), pg_url))
            harness.progress(f"repeat {rep + 1}: postgresql -> sqlite")
            back = f"sqlite:///{tmp}/back{rep}.db"
            results.setdefault("sk postgresql->sqlite", []).append(_run_child(_child_copy, pg_url, back))
            _raw_tables_sqlite(_sqlite_path(back))
            results.setdefault("raw postgresql->sqlite", []).append(
                _run_child(_child_raw, "postgresql->sqlite", _sqlite_path(back), pg_url))
            os.unlink(_sqlite_path(back))
        harness.progress(f"cleanup of {args.metrics} old metrics")
        lite_clean = _cleanup_bench(f"sqlite:///{tmp}/metrics.db", args.metrics)
        pg_clean = _cleanup_bench(pg_url, args.metrics)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        admin.close()
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    lines = [
        f"# W9: copy {args.docs:,} documents + {args.messages:,} queue messages "
        f"(median of {args.repeats})",
        "",
        "| direction | storekeeper rows/s | raw rows/s | ratio (target >= 0.7x) | "
        "peak heap sk (MB, target < 200) | peak heap raw (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for d in ("sqlite->postgresql", "postgresql->sqlite"):
        sk_rate = rows / med(f"sk {d}", "seconds")
        raw_rate = rows / med(f"raw {d}", "seconds")
        lines.append(
            f"| {d} | {sk_rate:,.0f} | {raw_rate:,.0f} | {sk_rate / raw_rate:.2f}x | "
            f"{med(f'sk {d}', 'peak_mb'):.0f} | {med(f'raw {d}', 'peak_mb'):.0f} |"
        )
    lines += [
        "",
        f"Cleanup of {args.metrics:,} metric values older than 30 days (batches of 5,000):",
        "",
        "| backend | total s | longest single delete s (target < 1) |",
        "|---|---|---|",
        f"| sqlite | {lite_clean['seconds']:.1f} | {lite_clean['longest']:.3f} |",
        f"| postgresql | {pg_clean['seconds']:.1f} | {pg_clean['longest']:.3f} |",
    ]
    report = "\n".join(lines) + "\n"
    harness.write_report(report, Path(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
