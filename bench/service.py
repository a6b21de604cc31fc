#!/usr/bin/env python
"""W10: the Store component and the HTTP service.

In process (async API, one event loop):

- ``mem``   ``process_item`` create + get on a memory ``Store`` (operations/s:
  each ``process_item`` is one operation); target: 100x the seed's 1,000/s.
- ``sqlite`` ``process_item`` create + get on an SQLite ``Store`` beside the
  repository calls it makes (``repo.create`` + ``repo.get`` on a collection
  of the same kind of store), interleaved call by call; target 0.8x.
- ``mon``   the performance monitor's own cost: the same component with its
  monitor and with a monitor that records nothing, interleaved; target < 5 %.

Over HTTP (a load generator in another process, one keep-alive connection,
requests one after another):

- ``http`` ``GET /tasks/{id}`` and ``POST /tasks`` on ``storekeeper serve``
  over SQLite, beside a minimal FastAPI app on uvicorn running the same
  sqlite3 statements (storekeeper's own, from ``CollectionSQL``) with
  storekeeper's pragmas and answering the same shape; target 0.8x. The two
  servers take turns; each figure is the median of ``--rounds`` rounds.

Run: ``python bench/service.py [--quick] [--rounds 3]``. Nothing is timed in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from harness import RESULTS, write_report

import storekeeper
from storekeeper import AsyncDataStore
from storekeeper.component import Store

SRC = str(Path(storekeeper.__file__).resolve().parent.parent)
SEED_RATE = 1_000.0
TARGETS = {"mem": 100.0, "sqlite": 0.8, "mon": 0.05, "http": 0.8}


class NullMonitor:
    """A performance monitor that records nothing (the baseline of ``mon``)."""

    def record(self, action: str, seconds: float, ok: bool) -> None:
        pass


async def mem_rate(n: int, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        async with Store("bench", {"storage_type": "memory"}) as s:
            pi = s.process_item
            t0 = time.perf_counter()
            for i in range(n):
                made = await pi({"action": "create", "data": {"title": "task", "n": i}})
                await pi({"action": "get", "id": made["id"]})
            best = max(best, 2 * n / (time.perf_counter() - t0))
    return best


async def sqlite_pair(tmp: str, n: int, repeats: int) -> tuple[float, float]:
    """(process_item ops/s, repository calls/s), interleaved pair by pair."""
    best_sk = best_repo = 0.0
    for r in range(repeats):
        async with Store("bench", {"storage_type": "database", "database_url": f"sqlite:///{tmp}/sk{r}.db",
                                   "table_name": "tasks"}) as s, \
                AsyncDataStore(f"sqlite:///{tmp}/repo{r}.db") as ds:
            repo = ds.repository(dict, "tasks")
            await repo.count()
            pi = s.process_item
            clock = time.perf_counter
            t_sk = t_repo = 0.0
            for i in range(n):
                if i % 2:
                    t0 = clock()
                    made = await pi({"action": "create", "data": {"title": "task", "n": i}})
                    await pi({"action": "get", "id": made["id"]})
                    t1 = clock()
                    doc = await repo.create({"title": "task", "n": i})
                    await repo.get(doc["id"])
                    t2 = clock()
                    t_sk += t1 - t0
                    t_repo += t2 - t1
                else:
                    t0 = clock()
                    doc = await repo.create({"title": "task", "n": i})
                    await repo.get(doc["id"])
                    t1 = clock()
                    made = await pi({"action": "create", "data": {"title": "task", "n": i}})
                    await pi({"action": "get", "id": made["id"]})
                    t2 = clock()
                    t_repo += t1 - t0
                    t_sk += t2 - t1
            best_sk = max(best_sk, 2 * n / t_sk)
            best_repo = max(best_repo, 2 * n / t_repo)
    return best_sk, best_repo


async def monitor_pair(n: int, repeats: int, url: str) -> tuple[float, float]:
    """(with monitor, without) process_item ops/s, interleaved."""
    best_on = best_off = 0.0
    for _ in range(repeats):
        cfg: dict[str, Any] = ({"storage_type": "memory"} if url == "memory://"
                               else {"storage_type": "database", "database_url": url})
        async with Store("on", cfg) as on, Store("off", {**cfg, "table_name": "off"}) as off:
            off.performance_monitor = NullMonitor()  # type: ignore[assignment]
            clock = time.perf_counter
            t_on = t_off = 0.0
            for i in range(n):
                first, second = (on, off) if i % 2 else (off, on)
                t0 = clock()
                m = await first.process_item({"action": "create", "data": {"n": i}})
                await first.process_item({"action": "get", "id": m["id"]})
                t1 = clock()
                m = await second.process_item({"action": "create", "data": {"n": i}})
                await second.process_item({"action": "get", "id": m["id"]})
                t2 = clock()
                if first is on:
                    t_on += t1 - t0
                    t_off += t2 - t1
                else:
                    t_off += t1 - t0
                    t_on += t2 - t1
            best_on = max(best_on, 2 * n / t_on)
            best_off = max(best_off, 2 * n / t_off)
    return best_on, best_off


def record_cost(n: int = 1_000_000) -> float:
    """Seconds one ``performance_monitor.record`` call takes (best of 3 loops of *n*)."""
    from storekeeper.component import PerformanceMonitor

    best = float("inf")
    for _ in range(3):
        m = PerformanceMonitor()
        rec = m.record
        t0 = time.perf_counter()
        for _ in range(n):
            rec("get", 0.000003, True)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


# -- HTTP --------------------------------------------------------------------------------

MINIMAL_APP = textwrap.dedent('''
    """The simplest FastAPI app doing what POST /tasks and GET /tasks/{id} do, on raw sqlite3."""
    import sqlite3, sys
    from typing import Any
    import orjson, uvicorn
    from fastapi import Body, FastAPI
    from fastapi.responses import Response
    from storekeeper.core.entities import new_id
    from storekeeper.sql import dialect_of
    from storekeeper.sql.collection import CollectionSQL
    from storekeeper.sql.sqlite import PRAGMAS

    port, path = int(sys.argv[1]), sys.argv[2]
    d = dialect_of("sqlite")
    sql = CollectionSQL(d, "c_tasks")
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for k, v in PRAGMAS.items():
        con.execute(f"PRAGMA {k} = {v}")
    for stmt in d.collection_ddl("c_tasks"):
        con.execute(stmt)
    app = FastAPI()

    def out(body: Any, status: int = 200) -> Response:
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    @app.post("/tasks", status_code=201)
    async def create(data: dict[str, Any] = Body(...)) -> Response:
        doc = {**data, "id": new_id(), "version": 1}
        con.execute(sql.insert, (doc["id"], 1, orjson.dumps(doc).decode()))
        return out({"status": "success", "id": doc["id"], "data": doc}, 201)

    @app.get("/tasks/{task_id}")
    async def get(task_id: str) -> Response:
        row = con.execute(sql.get, (task_id,)).fetchone()
        if row is None:
            return out({"status": "not_found", "action": "get", "id": task_id}, 404)
        return out({"status": "success", "data": orjson.loads(row[0])})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
''')

LOAD = textwrap.dedent('''
    """Load generator: N requests one after another on one keep-alive connection; prints ops/s."""
    import sys, time
    import httpx
    base, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with httpx.Client(base_url=base, timeout=30) as h:
        tid = h.post("/tasks", json={"title": "seed"}).json()["id"]
        for _ in range(200):  # warm up
            h.get(f"/tasks/{tid}")
        body = {"title": "New Task", "completed": False}
        t0 = time.perf_counter()
        if mode == "get":
            for _ in range(n):
                r = h.get(f"/tasks/{tid}")
                assert r.status_code == 200
        else:
            for _ in range(n):
                r = h.post("/tasks", json=body)
                assert r.status_code == 201
        print(n / (time.perf_counter() - t0))
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    return e


def wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/tasks/none", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


def http_bench(tmp: str, n: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    app_file = Path(tmp) / "minimal_app.py"
    app_file.write_text(MINIMAL_APP)
    load_file = Path(tmp) / "load.py"
    load_file.write_text(LOAD)
    sk_port, raw_port = free_port(), free_port()
    sk = subprocess.Popen([sys.executable, "-m", "storekeeper", "--url", f"sqlite:///{tmp}/svc.db", "serve",
                           "--port", str(sk_port), "--log-level", "warning"], env=env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = subprocess.Popen([sys.executable, str(app_file), str(raw_port), f"{tmp}/raw.db"], env=env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rates: dict[str, dict[str, list[float]]] = {"storekeeper": {"get": [], "post": []},
                                                "minimal": {"get": [], "post": []}}
    try:
        wait_up(sk_port, sk)
        wait_up(raw_port, raw)
        servers = [("storekeeper", sk_port), ("minimal", raw_port)]
        for r in range(rounds):
            order = servers if r % 2 == 0 else servers[::-1]
            for mode in ("get", "post"):
                for name, port in order:
                    out = subprocess.run([sys.executable, str(load_file), f"http://127.0.0.1:{port}", mode, str(n)],
                                         env=env(), capture_output=True, text=True, check=True)
                    rates[name][mode].append(float(out.stdout.strip()))
    finally:
        for p in (sk, raw):
            p.terminate()
            p.wait(15)
    return rates


def verdict(ratio: float, target: float, lower_is_better: bool = False) -> str:
    ok = ratio <= target if lower_is_better else ratio >= target
    return "pass" if ok else "MISS"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer operations (a smoke run)")
    ap.add_argument("--rounds", type=int, default=3, help="HTTP rounds (the median is reported)")
    ap.add_argument("--output", default=str(RESULTS / "w10.md"))
    args = ap.parse_args()
    n = 2_000 if args.quick else 20_000
    nh = 300 if args.quick else 2_000
    reps = 2 if args.quick else 3
    lines = ["# W10: Store component and HTTP service", "",
             f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; {n:,} create+get pairs in process "
             f"(best of {reps}), {nh:,} requests per HTTP figure (median of {args.rounds} rounds)", "",
             "| measurement | storekeeper | baseline | ratio | target | |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="skb_w10_") as tmp:
        mem = asyncio.run(mem_rate(n, reps))
        lines.append(f"| memory `process_item` create+get (ops/s) | {mem:,.0f} | seed 1,000 | "
                     f"{mem / SEED_RATE:,.0f}x | >= 100x | {verdict(mem / SEED_RATE, TARGETS['mem'])} |")
        sk, repo = asyncio.run(sqlite_pair(tmp, n // 2, reps))
        lines.append(f"| SQLite `process_item` create+get vs the repository calls (ops/s) | {sk:,.0f} | "
                     f"{repo:,.0f} | {sk / repo:.2f} | >= 0.8 | {verdict(sk / repo, TARGETS['sqlite'])} |")
        rec = record_cost(200_000 if args.quick else 1_000_000)
        for label, url, rate in (("memory", "memory://", mem), ("SQLite", f"sqlite:///{tmp}/mon.db", sk)):
            on, off = asyncio.run(monitor_pair(n // 2, reps, url))
            cost = 1 - on / off  # negative: within the noise
            lines.append(f"| performance monitor's cost, {label}, A/B (ops/s with / without) | {on:,.0f} | {off:,.0f} | "
                         f"{cost:.1%} | < 5% | {verdict(cost, TARGETS['mon'], lower_is_better=True)} |")
            direct = rec * rate  # seconds of record() per second of process_item
            lines.append(f"| performance monitor's cost, {label}, direct (one `record` / one operation) | "
                         f"{rec * 1e9:.0f} ns | {1e6 / rate:.1f} µs | {direct:.1%} | < 5% | "
                         f"{verdict(direct, TARGETS['mon'], lower_is_better=True)} |")
        rates = http_bench(tmp, nh, args.rounds)
        for mode, what in (("get", "GET /tasks/{id}"), ("post", "POST /tasks")):
            a = statistics.median(rates["storekeeper"][mode])
            b = statistics.median(rates["minimal"][mode])
            lines.append(f"| HTTP {what} over SQLite vs minimal FastAPI + sqlite3 (req/s) | {a:,.0f} | {b:,.0f} | "
                         f"{a / b:.2f} | >= 0.8 | {verdict(a / b, TARGETS['http'])} |")
    write_report("\n".join(lines) + "\n", Path(args.output))


if __name__ == "__main__":
    main()
