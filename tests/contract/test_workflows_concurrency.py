"""Task states under real concurrency: lost updates and deadlocks.

Four processes (SQLite file, PostgreSQL, MySQL) or threads and tasks
(memory) each do 250 read-modify-write increments of one task's output
counter through ``get_state_for_update`` inside ``ds.transaction()``: the
counter must end at exactly 1,000. Workers upserting one parent and its
children at once must never surface a deadlock.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import threading
import uuid
from typing import Any

import pytest
from conftest import StoreHandle

from storekeeper import (
    AsyncDataStore,
    DataStore,
    Status,
    TaskState,
    TransactionError,
    WorkflowExecution,
)

CTX = mp.get_context("fork")
WORKERS = 4
INCREMENTS = 250


def _setup(ds: Any) -> tuple[WorkflowExecution, TaskState]:
    ex = ds.workflows.upsert_execution(WorkflowExecution(workflow_id=f"wf-{uuid.uuid4().hex[:12]}"))
    st = ds.tasks.upsert_state(
        TaskState(task_id="counter", workflow_exec_id=ex.exec_id, workflow_id=ex.workflow_id,
                  status=Status.RUNNING, output={"n": 0})
    )
    return ex, st


def _increment(ds: DataStore, task_exec_id: str) -> int:
    """One locked read-modify-write; returns how many times it had to run again."""
    retries = 0
    while True:
        try:
            with ds.transaction():
                st = ds.tasks.get_state_for_update(task_exec_id)
                st.output = {"n": st.output["n"] + 1}
                ds.tasks.upsert_state(st)
            return retries
        except TransactionError:
            # rolled back as a whole (a lock wait that timed out): nothing was written
            retries += 1
            if retries > 20:
                raise


def _worker(url: str, task_exec_id: str, start: Any, out: Any) -> None:
    try:
        with DataStore(url) as ds:
            ds.tasks.get_state(task_exec_id)  # connected before the race starts
            start.wait(60)
            retries = sum(_increment(ds, task_exec_id) for _ in range(INCREMENTS))
        out.put(("ok", retries))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put((f"{type(exc).__name__}: {exc}", 0))


def test_no_lost_updates_across_processes(sql_sync: StoreHandle) -> None:
    ds = sql_sync.store
    ex, st = _setup(ds)
    try:
        start = CTX.Barrier(WORKERS)
        out = CTX.Queue()
        procs = [
            CTX.Process(target=_worker, args=(sql_sync.url, st.task_exec_id, start, out))
            for _ in range(WORKERS)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(60)
        assert [r[0] for r in results] == ["ok"] * WORKERS
        assert ds.tasks.get_state(st.task_exec_id).output == {"n": WORKERS * INCREMENTS}
    finally:
        ds.workflows.delete_execution(ex.exec_id)


def test_no_lost_updates_across_threads_on_memory(make_store: Any) -> None:
    ds = make_store("memory").store
    _, st = _setup(ds)
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def work() -> None:
        try:
            start.wait(30)
            for _ in range(INCREMENTS):
                _increment(ds, st.task_exec_id)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert ds.tasks.get_state(st.task_exec_id).output == {"n": WORKERS * INCREMENTS}


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql", "mysql"])
def test_no_lost_updates_across_async_tasks(kind: str, tmp_path: Any) -> None:
    from conftest import url_for

    url = url_for(kind, tmp_path)

    async def main() -> int:
        async with AsyncDataStore(url) as ds:
            ex = await ds.workflows.upsert_execution(WorkflowExecution(workflow_id=f"wf-{uuid.uuid4().hex[:8]}"))
            st = await ds.tasks.upsert_state(
                TaskState(task_id="counter", workflow_exec_id=ex.exec_id, workflow_id=ex.workflow_id,
                          output={"n": 0})
            )

            async def task() -> None:
                for _ in range(50):
                    async with ds.transaction():
                        s = await ds.tasks.get_state_for_update(st.task_exec_id)
                        await asyncio.sleep(0)  # let the other tasks try to read in between
                        s.output = {"n": s.output["n"] + 1}
                        await ds.tasks.upsert_state(s)

            await asyncio.gather(*(task() for _ in range(WORKERS)))
            final = await ds.tasks.get_state(st.task_exec_id)
            await ds.workflows.delete_execution(ex.exec_id)
            assert final is not None
            n: int = final.output["n"]
            return n

    assert asyncio.run(main()) == WORKERS * 50


# --- parents and children from several workers -------------------------------------------

ROUNDS = 25
CHILDREN = 4


def _family_worker(url: str, ex_id: str, wf_id: str, parent: str, w: int, start: Any, out: Any) -> None:
    try:
        with DataStore(url) as ds:
            T = ds.tasks
            T.get_state(parent)
            start.wait(60)
            for r in range(ROUNDS):
                # every worker rewrites the shared parent and fans out children under it
                T.upsert_state(TaskState(task_exec_id=parent, task_id="parent", workflow_exec_id=ex_id,
                                         workflow_id=wf_id, status=Status.RUNNING, output={"w": w, "r": r},
                                         execution_type="parallel"))
                kids = T.create_child_states(parent, [
                    TaskState(task_id=f"w{w}-r{r}-c{c}", workflow_exec_id=ex_id, workflow_id=wf_id)
                    for c in range(CHILDREN)
                ])
                for k in kids:
                    k.status = Status.SUCCESS
                    T.upsert_state(k)
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")


def test_parent_and_children_from_several_workers_never_deadlock(sql_sync: StoreHandle) -> None:
    ds = sql_sync.store
    ex = ds.workflows.upsert_execution(WorkflowExecution(workflow_id=f"wf-{uuid.uuid4().hex[:12]}"))
    try:
        parent = ds.tasks.upsert_state(
            TaskState(task_id="parent", workflow_exec_id=ex.exec_id, workflow_id=ex.workflow_id)
        )
        start = CTX.Barrier(WORKERS)
        out = CTX.Queue()
        procs = [
            CTX.Process(
                target=_family_worker,
                args=(sql_sync.url, ex.exec_id, ex.workflow_id, parent.task_exec_id, w, start, out),
            )
            for w in range(WORKERS)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(60)
        assert results == ["ok"] * WORKERS
        progress = ds.tasks.get_progress_info(parent.task_exec_id)
        assert progress.total_children == WORKERS * ROUNDS * CHILDREN
        assert progress.success_count == progress.total_children
        assert progress.overall_status("wait_all") is Status.SUCCESS
    finally:
        ds.workflows.delete_execution(ex.exec_id)
