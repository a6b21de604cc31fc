"""Concurrency with real processes, threads and tasks, on every SQL backend."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import threading
from typing import Any

from storekeeper import AsyncDataStore, ConflictError, DataStore, QueryFilter

CTX = mp.get_context("fork")


def _create_many(url: str, collection: str, worker: int, n: int, errors: Any) -> None:
    try:
        with DataStore(url) as ds:
            repo = ds.repository(dict, collection)
            for i in range(n):
                repo.create({"worker": worker, "i": i})
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


def test_four_processes_create_concurrently(sql_sync: Any) -> None:
    sql_sk = sql_sync
    repo = sql_sk.repo(dict)
    repo.count()  # create the table before the workers start
    errors = CTX.Queue()
    procs = [
        CTX.Process(target=_create_many, args=(sql_sk.url, repo.collection, w, 300, errors))
        for w in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    problems = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert problems == []
    assert all(p.exitcode == 0 for p in procs)
    assert repo.count() == 1200
    for w in range(4):
        assert repo.count([QueryFilter("worker", "eq", w)]) == 300


def _racing_update(url: str, collection: str, doc: dict[str, Any], who: int, barrier: Any, out: Any) -> None:
    with DataStore(url) as ds:
        repo = ds.repository(dict, collection)
        repo.count()
        barrier.wait(30)
        try:
            repo.update(dict(doc, winner=who))
            out.put(("ok", who))
        except ConflictError:
            out.put(("conflict", who))
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            out.put((f"{type(exc).__name__}: {exc}", who))


def test_racing_writers_one_wins_the_others_conflict(sql_sync: Any) -> None:
    sql_sk = sql_sync
    repo = sql_sk.repo(dict)
    doc = repo.create({"winner": None})
    barrier = CTX.Barrier(4)
    out = CTX.Queue()
    procs = [
        CTX.Process(target=_racing_update, args=(sql_sk.url, repo.collection, doc, w, barrier, out))
        for w in range(4)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    outcomes = sorted(r[0] for r in results)
    assert outcomes == ["conflict", "conflict", "conflict", "ok"]
    winner = next(who for what, who in results if what == "ok")
    final = repo.get(doc["id"])
    assert final["version"] == 2 and final["winner"] == winner


def test_threads_share_one_sync_store(sql_sync: Any) -> None:
    sql_sk = sql_sync
    repo = sql_sk.repo(dict)
    repo.count()
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(50):
                with sql_sk.store.transaction():
                    d = repo.create({"w": w, "i": i})
                    d["i"] = -i
                    repo.update(d)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert repo.count() == 300
    assert repo.count([QueryFilter("version", "eq", 2)]) == 300


def test_async_tasks_run_transactions_concurrently(sql_async: Any) -> None:
    sql_sk = sql_async

    async def main() -> tuple[int, int]:
        async with AsyncDataStore(sql_sk.url) as ds:
            repo = ds.repository(dict, sql_sk.repo(dict).collection)

            async def task(t: int) -> None:
                for i in range(10):
                    async with ds.transaction():
                        await repo.create({"t": t, "i": i})
                        await asyncio.sleep(0)  # let other tasks interleave inside
                if t % 2:
                    try:
                        async with ds.transaction():
                            await repo.create({"t": t, "i": "rolled back"})
                            await asyncio.sleep(0)
                            raise RuntimeError
                    except RuntimeError:
                        pass

            await asyncio.gather(*(task(t) for t in range(8)))
            return await repo.count(), await repo.count([QueryFilter("i", "eq", "rolled back")])

    total, rolled = asyncio.run(main())
    assert (total, rolled) == (80, 0)
