"""The LangGraph checkpointer (storekeeper.integrations.langgraph).

LangGraph's own conformance suite (``langgraph-checkpoint-conformance``, base
and extended capabilities) runs against both savers on memory, SQLite,
PostgreSQL and MySQL; a compiled ``StateGraph`` is interrupted and resumed
from its checkpoint in another process.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import operator
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any, TypedDict

import pytest
from conftest import ALL_BACKENDS, url_for

pytest.importorskip("langgraph.checkpoint.conformance")

from langgraph.checkpoint.conformance import checkpointer_test, validate  # noqa: E402
from langgraph.checkpoint.conformance.capabilities import Capability  # noqa: E402
from langgraph.checkpoint.conformance.report import ProgressCallbacks  # noqa: E402

from storekeeper import AsyncDataStore, DatabaseConnectionError, DataStore  # noqa: E402
from storekeeper.integrations.langgraph import (  # noqa: E402
    AsyncStorekeeperSaver,
    StorekeeperSaver,
)

CTX = mp.get_context("spawn")


async def _conformance(make: Any, name: str) -> dict[str, Any]:
    """Run LangGraph's suite; return what failed, by capability (with tracebacks)."""
    registered = checkpointer_test(name=name)(make)
    tracebacks: list[str] = []
    progress = ProgressCallbacks(
        on_test_result=lambda cap, test, ok, tb: None if ok else tracebacks.append(tb or test)
    )
    report = await validate(registered, progress=progress)
    # every capability, base and extended, must be detected and pass
    assert set(report.results) == {c.value for c in Capability}
    failed = {
        cap: result.failures or ["not detected"]
        for cap, result in report.results.items()
        if not (result.detected and result.passed)
    }
    if failed:
        failed["tracebacks"] = tracebacks[:3]
    return failed


@pytest.mark.parametrize("kind", ALL_BACKENDS)
def test_async_saver_passes_langgraph_conformance(kind: str, tmp_path: Any) -> None:
    url = url_for(kind, tmp_path)

    async def main() -> dict[str, Any]:
        async with AsyncDataStore(url) as ds:

            async def make() -> AsyncGenerator[AsyncStorekeeperSaver, None]:
                yield AsyncStorekeeperSaver(ds)

            return await _conformance(make, f"AsyncStorekeeperSaver[{kind}]")

    assert asyncio.run(main()) == {}


@pytest.mark.parametrize("kind", ALL_BACKENDS)
def test_sync_saver_passes_langgraph_conformance(kind: str, tmp_path: Any) -> None:
    url = url_for(kind, tmp_path)
    with DataStore(url) as ds:

        async def make() -> AsyncGenerator[StorekeeperSaver, None]:
            yield StorekeeperSaver(ds)

        assert asyncio.run(_conformance(make, f"StorekeeperSaver[{kind}]")) == {}


# --- a graph interrupted in one process, resumed in another ------------------------------


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def _graph(url: str) -> Any:
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(State)
    builder.add_node("fetch", lambda s: {"steps": ["fetch"]})
    builder.add_node("approve", lambda s: {"steps": ["approve"]})
    builder.add_node("publish", lambda s: {"steps": ["publish"]})
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", "approve")
    builder.add_edge("approve", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=StorekeeperSaver(url), interrupt_before=["approve"])


def _first_half(url: str, thread: str, out: Any) -> None:
    graph = _graph(url)
    config = {"configurable": {"thread_id": thread}}
    result = graph.invoke({"steps": ["start"]}, config)
    out.put((result["steps"], list(graph.get_state(config).next)))


def _second_half(url: str, thread: str, out: Any) -> None:
    graph = _graph(url)
    config = {"configurable": {"thread_id": thread}}
    before = graph.get_state(config)
    result = graph.invoke(None, config)
    out.put((list(before.next), before.values["steps"], result["steps"]))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_an_interrupted_graph_resumes_in_a_new_process(kind: str, tmp_path: Any) -> None:
    url = url_for(kind, tmp_path)
    thread = f"t-{uuid.uuid4()}"
    out = CTX.Queue()
    for target in (_first_half, _second_half):
        p = CTX.Process(target=target, args=(url, thread, out))
        p.start()
        p.join(120)
        assert p.exitcode == 0
    steps, waiting = out.get(timeout=10)
    assert steps == ["start", "fetch"] and waiting == ["approve"]
    waiting_then, steps_then, final = out.get(timeout=10)
    assert waiting_then == ["approve"] and steps_then == ["start", "fetch"]
    assert final == ["start", "fetch", "approve", "publish"]
    with StorekeeperSaver(url) as saver:
        history = list(saver.list({"configurable": {"thread_id": thread}}))
        assert len(history) >= 4
        saver.delete_thread(thread)
        assert list(saver.list({"configurable": {"thread_id": thread}})) == []


# --- list reads pending writes a page at a time -------------------------------------------


def _checkpoints(n: int) -> list[tuple[Any, Any, list[tuple[str, Any]]]]:
    """*n* checkpoints with their metadata; every third one has two pending writes."""
    from langgraph.checkpoint.base import empty_checkpoint

    out = []
    for i in range(n):
        cp = empty_checkpoint()
        cp["channel_values"] = {"step": i}
        out.append((cp, {"step": i, "even": i % 2 == 0}, [("a", {"i": i}), ("b", [i])] if i % 3 == 0 else []))
    return out


def _put_many(saver: Any, thread: str, n: int) -> None:
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    for cp, meta, writes in _checkpoints(n):
        stored = saver.put(config, cp, meta, {})
        if writes:
            saver.put_writes(stored, writes, task_id=f"task-{meta['step']}")


def _expected_writes(step: int) -> list[tuple[str, str, Any]]:
    return [] if step % 3 else [(f"task-{step}", "a", {"i": step}), (f"task-{step}", "b", [step])]


@pytest.mark.parametrize("kind", ALL_BACKENDS)
def test_list_returns_each_checkpoint_with_its_own_writes(kind: str, tmp_path: Any) -> None:
    thread = f"list-{uuid.uuid4().hex[:8]}"
    with DataStore(url_for(kind, tmp_path)) as ds, StorekeeperSaver(ds) as saver:
        try:
            _put_many(saver, thread, 250)
            config: Any = {"configurable": {"thread_id": thread}}
            listed = list(saver.list(config))
            assert [t.checkpoint["channel_values"]["step"] for t in listed] == list(range(249, -1, -1))
            assert all(t.pending_writes == _expected_writes(t.metadata["step"]) for t in listed)
            evens = list(saver.list(config, filter={"even": True}, limit=120))
            assert [t.metadata["step"] for t in evens] == list(range(248, 8, -2))
            assert all(t.pending_writes == _expected_writes(t.metadata["step"]) for t in evens)

        finally:
            saver.delete_thread(thread)


@pytest.mark.parametrize("kind", ALL_BACKENDS)
def test_async_list_returns_each_checkpoint_with_its_own_writes(kind: str, tmp_path: Any) -> None:
    thread = f"alist-{uuid.uuid4().hex[:8]}"
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}

    async def main() -> None:
        async with AsyncDataStore(url_for(kind, tmp_path)) as ds:
            saver = AsyncStorekeeperSaver(ds)
            try:
                for cp, meta, writes in _checkpoints(250):
                    stored = await saver.aput(config, cp, meta, {})
                    if writes:
                        await saver.aput_writes(stored, writes, task_id=f"task-{meta['step']}")
                got = [t async for t in saver.alist(config, limit=150)]
                assert [t.metadata["step"] for t in got] == list(range(249, 99, -1))
                assert all(t.pending_writes == _expected_writes(t.metadata["step"]) for t in got)
                odds = [t async for t in saver.alist(config, filter={"even": False})]
                assert [t.metadata["step"] for t in odds] == list(range(249, 0, -2))
                assert all(t.pending_writes == _expected_writes(t.metadata["step"]) for t in odds)
            finally:
                await saver.adelete_thread(thread)

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_list_reads_pending_writes_in_one_statement_per_page(kind: str, tmp_path: Any) -> None:
    thread = f"pages-{uuid.uuid4().hex[:8]}"
    with DataStore(url_for(kind, tmp_path)) as ds, StorekeeperSaver(ds) as saver:
        try:
            _put_many(saver, thread, 250)
            backend: Any = ds.backend
            sent: list[str] = []
            backend.statement_hook = sent.append
            try:
                listed = list(saver.list({"configurable": {"thread_id": thread}}))
            finally:
                backend.statement_hook = None
            assert len(listed) == 250
            # the checkpoints, then the writes of pages of 100, 100 and 50
            assert len(sent) == 4
        finally:
            saver.delete_thread(thread)


# --- set-up, and one statement per put and per read --------------------------------------

_UNREACHABLE = "postgresql://app:pw@127.0.0.1:1/app?max_retries=0&connect_timeout=1"


def test_an_unreachable_database_fails_at_setup_not_at_the_first_checkpoint() -> None:
    saver = StorekeeperSaver(_UNREACHABLE)  # constructing connects to nothing
    try:
        with pytest.raises(DatabaseConnectionError):
            saver.setup()
        with pytest.raises(DatabaseConnectionError), StorekeeperSaver(_UNREACHABLE):
            pass
    finally:
        saver.close()

    async def main() -> None:
        asaver = AsyncStorekeeperSaver(_UNREACHABLE)
        try:
            with pytest.raises(DatabaseConnectionError):
                await asaver.setup()
        finally:
            await asaver.aclose()
        with pytest.raises(DatabaseConnectionError):
            async with AsyncStorekeeperSaver(_UNREACHABLE):
                pass

    asyncio.run(main())


@pytest.mark.parametrize("kind", ALL_BACKENDS)
def test_setup_can_be_called_again_and_the_saver_serves_after_it(kind: str, tmp_path: Any) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    thread = f"setup-{uuid.uuid4().hex[:8]}"
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    with DataStore(url_for(kind, tmp_path)) as ds:
        saver = StorekeeperSaver(ds)
        saver.setup()
        saver.setup()
        with saver:
            assert saver.get_tuple(config) is None
            stored = saver.put(config, empty_checkpoint(), {"step": 1}, {})
            got = saver.get_tuple(config)
            assert got is not None and got.config == stored and got.metadata["step"] == 1
            saver.delete_thread(thread)

    async def main() -> None:
        async with AsyncDataStore(url_for(kind, tmp_path)) as ads:
            asaver = AsyncStorekeeperSaver(ads)
            await asaver.setup()
            async with asaver:
                stored = await asaver.aput(config, empty_checkpoint(), {"step": 2}, {})
                got = await asaver.aget_tuple(config)
                assert got is not None and got.config == stored and got.metadata["step"] == 2
                await asaver.adelete_thread(thread)

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_put_and_get_tuple_each_send_one_statement(kind: str, tmp_path: Any) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    thread = f"one-{uuid.uuid4().hex[:8]}"
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    with DataStore(url_for(kind, tmp_path)) as ds, StorekeeperSaver(ds) as saver:
        try:
            backend: Any = ds.backend
            sent: list[str] = []
            backend.statement_hook = sent.append
            try:
                stored = saver.put(config, empty_checkpoint(), {"step": 1}, {})
                assert len(sent) == 1
                saver.put_writes(stored, [("a", 1), ("b", 2)], task_id="t1")
                assert len(sent) == 2
                latest = saver.get_tuple(config)
                assert len(sent) == 3
                by_id = saver.get_tuple(stored)
                assert len(sent) == 4
            finally:
                backend.statement_hook = None
            assert latest is not None and by_id is not None
            assert latest.pending_writes == by_id.pending_writes == [("t1", "a", 1), ("t1", "b", 2)]
        finally:
            saver.delete_thread(thread)
