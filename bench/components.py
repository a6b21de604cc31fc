"""W7: component state, checkpoints, metrics and the LangGraph saver.

Every storekeeper figure sits beside the raw driver (sqlite3, psycopg, PyMySQL,
autocommit) sending the *same SQL* with the same parameters in the same run:
the statements are taken from ``storekeeper.sql.components``, so the ratio is
the cost of storekeeper's layer alone. The LangGraph saver is measured beside
LangGraph's own ``SqliteSaver`` and ``PostgresSaver`` on the same checkpoints.

Workloads (sync API):

- ``cp``     checkpoints: ``save`` then ``latest`` of one name (pairs/s)
- ``state``  states: ``save`` then ``load`` of one component (pairs/s)
- ``rm``     metrics ``record_many`` in batches of 1,000 (rows/s)
- ``agg``    metrics ``aggregate`` by 1h buckets over ``--agg-rows`` rows (1,000,000; queries/s)
- ``lg``     LangGraph ``put`` + ``get_tuple`` (pairs/s): ours vs LangGraph's own saver

Run: ``python bench/components.py [--quick] [--backends sqlite,postgresql,mysql]``
(URLs from ``--postgresql-url`` / ``--mysql-url`` or ``STOREKEEPER_BENCH_*_URL``).
Rows are written under fresh names and deleted afterwards; LangGraph's
``PostgresSaver`` gets a schema of its own (``skb_lg_<random>``), dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import RESULTS, raw_connect, redact, write_report

from storekeeper import DataStore
from storekeeper.core.entities import dumps, loads, new_id
from storekeeper.sql import dialect_of
from storekeeper.sql.components import components_sql

UTC = _dt.UTC
TARGETS = {"cp": 0.7, "state": 0.7, "rm": 0.8, "agg": 0.7, "lg": 1.5}


def timed(fn: Callable[[int], Any], n: int, repeats: int = 2) -> float:
    """Best rate (ops/s) of *repeats* runs of ``fn(i)`` for i in range(n)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        dt = time.perf_counter() - t0
        best = max(best, n / dt)
    return best


def paired(sk: Callable[[int], Any], raw: Callable[[int], Any], n: int, repeats: int = 3) -> tuple[float, float]:
    """Rates (ops/s) of storekeeper and of the raw driver, interleaved op by op and taking
    turns at going first, so that both meet the same table as it grows; best of *repeats*."""
    best_sk = best_raw = 0.0
    clock = time.perf_counter
    for _ in range(repeats):
        t_sk = t_raw = 0.0
        for i in range(n):
            if i % 2:
                t0 = clock()
                sk(i)
                t1 = clock()
                raw(i)
                t2 = clock()
                t_sk += t1 - t0
                t_raw += t2 - t1
            else:
                t0 = clock()
                raw(i)
                t1 = clock()
                sk(i)
                t2 = clock()
                t_raw += t1 - t0
                t_sk += t2 - t1
        best_sk = max(best_sk, n / t_sk)
        best_raw = max(best_raw, n / t_raw)
    return best_sk, best_raw


class Raw:
    """The raw driver sending storekeeper's statements (named parameters, as storekeeper does)."""

    def __init__(self, dialect: str, target: str) -> None:
        self.d = dialect_of(dialect)
        self.sql = components_sql(dialect)
        self.conn, self.cur = raw_connect(dialect, target)
        if dialect == "mysql":
            self.cur.execute("SET time_zone = '+00:00'")

    def ts(self) -> Any:
        return self.d.ts_param(_dt.datetime.now(UTC))

    def one(self, sql: str, p: Any) -> Any:
        self.cur.execute(sql, p)
        return self.cur.fetchone()

    def state_save(self, name: str, i: int) -> int:
        p = {"id": new_id(), "name": name, "key": name, "type": "Source",
             "data": dumps({"offset": i, "batch": "x" * 64}).decode(), "ts": self.ts()}
        if self.sql.returning:
            return int(self.one(self.sql.state_insert, p)[0])
        self.cur.execute(self.sql.state_insert, p)
        return int(self.one(self.sql.state_version_of, {"id": p["id"]})[0])

    def state_load(self, name: str) -> Any:
        row = self.one(self.sql.state_latest, {"name": name})
        return loads(row[2])

    def cp_save(self, name: str, i: int) -> int:
        now = _dt.datetime.now(UTC)
        p = {"id": new_id(), "name": name, "key": name, "comp": "bench",
             "data": dumps({"offset": i, "batch": "x" * 64}).decode(), "meta": None,
             "ts": self.d.ts_param(now), "exp": self.d.ts_param(now + _dt.timedelta(hours=1))}
        if self.sql.returning and not self.sql.cp_demote:
            return int(self.one(self.sql.cp_insert, p)[0])
        self.cur.execute(self.d.begin)
        self.cur.execute(self.sql.cp_insert, p)
        v = int(self.one(self.sql.cp_version_of, {"id": p["id"]})[0])
        self.cur.execute(self.sql.cp_demote, {"name": name, "v": v})
        self.cur.execute(self.d.commit)
        return v

    def cp_latest(self, name: str) -> Any:
        row = self.one(self.sql.cp_latest, {"name": name, "now": self.ts()})
        return loads(row[3])

    def record_many(self, comp: str, values: list[tuple[float, _dt.datetime]]) -> None:
        params: list[Any] = []
        for v, t in values:
            params += (new_id(), comp, "lat", v, None, None, self.d.ts_param(t))
        self.cur.execute(self.sql.metric_insert(len(values)), params)

    def aggregate(self, comp: str) -> list[Any]:
        self.cur.execute(self.sql.metric_aggregate(("c",)), {"m": "lat", "c": comp, "b": 3600})
        return list(self.cur.fetchall())

    def run(self, sql: str, p: Any) -> None:
        self.cur.execute(sql, p)

    def close(self) -> None:
        self.conn.close()


def _rate(r: float) -> str:
    return f"{r:,.0f}" if r >= 100 else f"{r:.2f}"


def metric_values(n: int, start: _dt.datetime) -> list[tuple[float, _dt.datetime]]:
    return [(float(i % 997), start + _dt.timedelta(seconds=i * 3.7)) for i in range(n)]


def bench_backend(dialect: str, url: str, sqlite_path: str | None, args: Any, out: list[str]) -> None:
    tag = "skb" + secrets.token_hex(4)
    target = sqlite_path or url
    n = 100 if args.quick else 1000
    rows = []
    with DataStore(url) as ds:
        ds.open()
        raw = Raw(dialect, target)
        try:
            # --- checkpoints: save + latest ---
            name_sk, name_raw = f"{tag}_cp_sk", f"{tag}_cp_raw"

            def sk_cp(i: int) -> None:
                ds.checkpoints.save(name_sk, "bench", {"offset": i, "batch": "x" * 64}, ttl=3600)
                ds.checkpoints.latest(name_sk)

            def raw_cp(i: int) -> None:
                raw.cp_save(name_raw, i)
                raw.cp_latest(name_raw)

            r_sk, r_raw = paired(sk_cp, raw_cp, n)
            rows.append(("cp", "checkpoint save + latest (pairs/s)", r_sk, r_raw))
            # --- states: save + load ---
            st_sk, st_raw = f"{tag}_st_sk", f"{tag}_st_raw"

            def sk_st(i: int) -> None:
                ds.states.save(st_sk, "Source", {"offset": i, "batch": "x" * 64})
                ds.states.load(st_sk)

            def raw_st(i: int) -> None:
                raw.state_save(st_raw, i)
                raw.state_load(st_raw)

            r_sk, r_raw = paired(sk_st, raw_st, n)
            rows.append(("state", "state save + load (pairs/s)", r_sk, r_raw))
            # --- metrics record_many ---
            batches = 5 if args.quick else 20
            start = _dt.datetime(2026, 1, 1, tzinfo=UTC)
            vals = metric_values(1000, start)
            comp_sk, comp_raw = f"{tag}_m_sk", f"{tag}_m_raw"
            items = [{"component_name": comp_sk, "metric_name": "lat", "value": v, "timestamp": t}
                     for v, t in vals]
            r_sk, r_raw = paired(
                lambda i: ds.metrics.record_many(items), lambda i: raw.record_many(comp_raw, vals),
                batches,
            )
            r_sk, r_raw = r_sk * 1000, r_raw * 1000
            rows.append(("rm", "metrics record_many (rows/s)", r_sk, r_raw))
            # --- aggregate over agg_rows rows ---
            agg = args.agg_rows // 10 if args.quick else args.agg_rows
            comp_agg = f"{tag}_agg"
            t0 = time.perf_counter()
            big = metric_values(1000, start)
            for k in range(agg // 1000):
                shifted = [(v, t + _dt.timedelta(seconds=k * 3700)) for v, t in big]
                raw.record_many(comp_agg, shifted)
            load_s = time.perf_counter() - t0
            print(f"  {dialect}: loaded {agg:,} metric rows in {load_s:.1f}s", file=sys.stderr)
            q = 3 if args.quick else 5
            r_sk, r_raw = paired(
                lambda i: ds.metrics.aggregate("lat", component_name=comp_agg, bucket="1h"),
                lambda i: raw.aggregate(comp_agg), q, 2,
            )
            assert len(ds.metrics.aggregate("lat", component_name=comp_agg, bucket="1h")) == len(
                raw.aggregate(comp_agg)
            )
            rows.append(("agg", f"metrics aggregate 1h over {agg:,} rows (queries/s)", r_sk, r_raw))
        finally:
            for name in (f"{tag}_cp_sk", f"{tag}_cp_raw"):
                ds.checkpoints.delete(name)
            for name in (f"{tag}_st_sk", f"{tag}_st_raw"):
                ds.states.delete(name)
            for comp in (f"{tag}_m_sk", f"{tag}_m_raw", f"{tag}_agg"):
                raw.run("DELETE FROM component_metrics WHERE component_name = "
                        + ("?" if dialect == "sqlite" else "%s"), (comp,))
            raw.close()
    for key, what, sk, rw in rows:
        ratio = sk / rw
        verdict = "pass" if ratio >= TARGETS[key] else "MISS"
        out.append(f"| {dialect} | {what} | {_rate(sk)} | {_rate(rw)} | {ratio:.2f}x | >= {TARGETS[key]}x {verdict} |")


def lg_checkpoints(n: int) -> list[Any]:
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.base.id import uuid6

    out = []
    for i in range(n):
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=i))
        cp["channel_values"] = {"messages": [{"role": "user", "content": f"msg {i} " + "x" * 200}],
                                "step": i}
        cp["channel_versions"] = {"messages": f"{i + 1:032}.0", "step": f"{i + 1:032}.0"}
        out.append(cp)
    return out


def bench_langgraph(dialect: str, url: str, sqlite_path: str | None, args: Any, out: list[str]) -> None:
    from storekeeper.integrations.langgraph import StorekeeperSaver

    n = 100 if args.quick else 1000
    repeats = 3
    # every put writes a new checkpoint: each repeat takes the next n of them
    cps = lg_checkpoints(n * repeats)

    def loop(saver: Any, thread: str) -> Callable[[int], None]:
        cfg = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        turn = iter(range(n * repeats))

        def step(_: int) -> None:
            i = next(turn)
            cp = cps[i]
            saver.put(cfg, cp, {"source": "loop", "step": i}, dict(cp["channel_versions"]))
            assert saver.get_tuple(cfg) is not None

        return step

    peer_name = ""
    cleanup: list[Callable[[], None]] = []
    if dialect == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        assert sqlite_path is not None
        peer_conn = sqlite3.connect(sqlite_path + ".lg", check_same_thread=False)
        peer: Any = SqliteSaver(peer_conn)
        peer.setup()
        peer_name = "SqliteSaver"
        cleanup.append(peer_conn.close)
    elif dialect == "postgresql":
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        schema = "skb_lg_" + secrets.token_hex(4)
        admin = psycopg.connect(url, autocommit=True)
        admin.execute(f"CREATE SCHEMA {schema}")
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row,
                               options=f"-c search_path={schema}")
        peer = PostgresSaver(conn)
        peer.setup()
        peer_name = "PostgresSaver"

        def drop() -> None:
            conn.close()
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            admin.close()

        cleanup.append(drop)
    else:
        peer = None
    tag = "skb" + secrets.token_hex(4)
    with DataStore(url) as ds, StorekeeperSaver(ds) as ours:
        try:
            if peer is not None:
                r_ours, r_peer = paired(loop(ours, f"{tag}_ours"), loop(peer, f"{tag}_peer"), n, repeats)
            else:
                r_ours, r_peer = timed(loop(ours, f"{tag}_ours"), n, repeats), None
        finally:
            ours.delete_thread(f"{tag}_ours")
            for fn in cleanup:
                fn()
    if r_peer is None:
        out.append(f"| {dialect} | LangGraph put + get_tuple (pairs/s) | {r_ours:,.0f} | (no LangGraph saver for MySQL) | | |")
        return
    ratio = r_ours / r_peer
    verdict = "pass" if ratio >= TARGETS["lg"] else "MISS"
    out.append(f"| {dialect} | LangGraph put + get_tuple (pairs/s), vs {peer_name} | {r_ours:,.0f} | {r_peer:,.0f} | {ratio:.2f}x | >= 1.5x {verdict} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backends", default="sqlite,postgresql,mysql")
    ap.add_argument("--workloads", default="w7,lg", help="w7 (cp, state, rm, agg) and/or lg")
    ap.add_argument("--agg-rows", type=int, default=1_000_000)
    ap.add_argument("--postgresql-url", default=os.environ.get(
        "STOREKEEPER_BENCH_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--mysql-url", default=os.environ.get(
        "STOREKEEPER_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"))
    ap.add_argument("--output", default=str(RESULTS / "components.md"))
    args = ap.parse_args()
    out = [
        "# W7: component state, checkpoints, metrics; LangGraph saver",
        "",
        f"{_dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'quick' if args.quick else 'full'} run, "
        f"sync API, storekeeper and the raw driver interleaved op by op, best of 3 runs (aggregate: 2; LangGraph savers interleaved the same way, best of 3 runs of new checkpoints)",
        "",
        "| backend | operation | storekeeper | raw driver, same SQL / LangGraph saver | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    workloads = set(args.workloads.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        for dialect in args.backends.split(","):
            path = str(Path(tmp) / f"{dialect}.db") if dialect == "sqlite" else None
            url = f"sqlite:///{path}" if path else getattr(args, f"{dialect}_url")
            print(f"W7 on {dialect} ({redact(url)})", file=sys.stderr)
            try:
                if "w7" in workloads:
                    bench_backend(dialect, url, path, args, out)
                if "lg" in workloads:
                    bench_langgraph(dialect, url, path, args, out)
            except Exception as exc:  # noqa: BLE001 - reported in the table, the run goes on
                out.append(f"| {dialect} | failed: {type(exc).__name__}: {exc} | | | | |")
    write_report("\n".join(out) + "\n", Path(args.output))


if __name__ == "__main__":
    main()
