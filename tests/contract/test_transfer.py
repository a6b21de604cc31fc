"""Copy between backends, export/import, retention and storage stats.

Every test works on empty stores of its own: memory, SQLite files under
tmp_path, and scratch databases ``<test database>_<hex>`` on the PostgreSQL
and MySQL servers, dropped afterwards. A store is filled with every kind of
record through the public API and read back through it (:func:`snapshot`),
so a copy is checked the way a user would see it.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import multiprocessing as mp
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SERVER_URLS, AsyncAsSync, LoopRunner, need
from test_schema_upgrade import Scratch

import storekeeper
from storekeeper import (
    AsyncDataStore,
    DataStore,
    Status,
    StorageError,
    TaskState,
    UnsupportedOperation,
    ValidationError,
    WorkflowExecution,
)

CTX = mp.get_context("fork")
KINDS = ["memory", "sqlite", "postgresql", "mysql"]
PAIRS = [(a, b) for a in KINDS for b in KINDS if a != b]


class Stores:
    """Empty stores of any kind, closed (and their databases dropped) at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.scratch: dict[str, Scratch] = {}
        self.opened: list[Any] = []

    def url(self, kind: str) -> str:
        if kind == "memory":
            return "memory://"
        if kind != "sqlite":
            need(kind)
        s = self.scratch.get(kind)
        if s is None:
            s = self.scratch[kind] = Scratch(kind, self.tmp_path)
            base = SERVER_URLS[kind].split("?")[0].rsplit("/", 1)[1] if kind != "sqlite" else "sk"
            s.tag = f"{base}_{uuid.uuid4().hex[:8]}"
        return s.new()

    def open(self, kind: str, url: str | None = None) -> DataStore:
        ds = DataStore(url or self.url(kind))
        self.opened.append(ds)
        return ds

    def close(self) -> None:
        for ds in self.opened:
            ds.close()
        for s in self.scratch.values():
            s.drop_all()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    s = Stores(tmp_path)
    try:
        yield s
    finally:
        s.close()


T0 = _dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=_dt.UTC)


def fill(ds: Any, n: int = 7) -> None:
    """Records of every kind, through the public API."""
    docs = ds.repository(dict, "docs", indexes=["status"], search_fields=["title"])
    docs.bulk_create([{"id": f"d{i:04d}", "title": f"doc {i} ünï", "status": "a" if i % 2 else "b",
                       "nested": {"n": i, "l": [1, None, "x"]}} for i in range(n)])
    ds.repository(dict, "empty_coll")
    for w in range(2):
        ex = ds.workflows.upsert_execution(
            WorkflowExecution(exec_id=f"ex{w}", workflow_id="wf", input={"w": w}, status=Status.RUNNING)
        )
        root = ds.tasks.upsert_state(TaskState(
            task_exec_id=f"ex{w}-root", task_id="root", workflow_exec_id=ex.exec_id,
            workflow_id="wf", output={"ok": True},
        ))
        # children whose ids sort before their parent: a copy must still link them
        ds.tasks.create_child_states(root.task_exec_id, [
            TaskState(task_exec_id=f"a{w}-child{i}", task_id=f"c{i}", workflow_exec_id=ex.exec_id,
                      workflow_id="wf") for i in range(3)
        ])
    for v in range(3):
        ds.states.save("reader", "Source", {"offset": v})
    ds.states.save("writer", "Sink", [1, 2, 3])
    for v in range(4):
        ds.checkpoints.save("offsets", "reader", {"v": v}, metadata={"m": v})
    ds.checkpoints.save("short", "reader", {"gone": True}, ttl=3600)
    for i in range(n):
        ds.metrics.record("reader", "rows", float(i), unit="n", timestamp=T0 + _dt.timedelta(seconds=i))
    ds.metrics.record_port("in", messages_sent=5, messages_received=4, avg_send_duration_ms=1.5)
    ds.health.heartbeat("reader", "healthy", {"lag": 0})
    ds.health.heartbeat("writer", "degraded")
    ds.sinks.write_many("out", [{"row": i} for i in range(n)], data_type="row")
    ds.cache.set("k:forever", {"v": 1})
    ds.cache.set("k:hour", [1, 2], ttl=3600)


def snapshot(ds: Any) -> dict[str, Any]:
    """Everything :func:`fill` wrote, read back through the public API."""

    def dump(x: Any) -> Any:
        return x.model_dump() if hasattr(x, "model_dump") else x

    docs = ds.repository(dict, "docs", indexes=["status"], search_fields=["title"])
    return {
        "docs": sorted((d["id"], json.dumps(d, sort_keys=True)) for d in docs.list(limit=1000)),
        "docs_search": sorted(d["id"] for d in docs.search("doc")),
        "empty": ds.repository(dict, "empty_coll").count(),
        "executions": [dump(e) for e in ds.workflows.list_executions(limit=100)],
        "states": [dump(s) for s in ds.tasks.list_states()],
        "tree": [(s.task_exec_id, s.depth) for s in ds.tasks.get_task_tree("ex0-root")],
        "component": [(s.version, s.state, s.component_type, s.created_at, s.id)
                      for s in ds.states.history("reader")]
        + [(s.version, s.state) for s in ds.states.history("writer")],
        "checkpoints": [(c.version, c.data, c.metadata, c.is_latest, c.created_at, c.id)
                        for c in ds.checkpoints.list("offsets")],
        "short": ds.checkpoints.latest("short").data,
        "metrics": [(m.metric_name, m.value, m.unit, m.timestamp, m.id)
                    for m in ds.metrics.query(limit=1000)],
        "ports": [(p.port_name, p.messages_sent, p.messages_received, p.avg_send_duration_ms, p.id)
                  for p in ds.metrics.query_port()],
        "health": [(h.component_name, h.status, h.details, h.last_heartbeat) for h in ds.health.all()],
        "sinks": sorted((r.id, json.dumps(r.data), r.data_type, r.created_at)
                        for r in ds.sinks.read("out", limit=1000)),
        "cache": (ds.cache.get("k:forever"), ds.cache.get("k:hour")),
    }


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_copy_moves_every_kind_of_record(stores: Stores, a: str, b: str) -> None:
    src, dst = stores.open(a), stores.open(b)
    fill(src)
    seen: list[tuple[str, int, int]] = []
    stats = storekeeper.copy(src, dst, batch_size=3, progress=lambda k, d, t: seen.append((k, d, t)))
    assert snapshot(dst) == snapshot(src)
    assert stats["collections"].read == 7 and stats["collections"].written == 7
    assert stats["tasks"].read == 8 and stats["metrics"].read == 7
    assert stats["cache"].read == 2 and stats.skipped == 0
    assert all(s.seconds >= 0 for s in stats.kinds.values())
    assert ("tasks", 8, 8) in seen and ("collections", 0, 7) in seen
    # a second run finds everything there: nothing written twice
    again = storekeeper.copy(src, dst, batch_size=4)
    assert again.written == 0 and again.skipped == again.read == stats.read
    assert snapshot(dst) == snapshot(src)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_async_copy_from_urls(stores: Stores, kind: str) -> None:
    src_url, dst_url = stores.url("sqlite"), stores.url(kind)
    with DataStore(src_url) as src:
        fill(src)
    runner = LoopRunner()
    try:
        stats = runner.run(storekeeper.async_copy(src_url, dst_url, include=["collections", "states"]))
    finally:
        runner.close()
    assert set(stats.kinds) == {"collections", "states"}
    with DataStore(src_url) as src, DataStore(dst_url) as dst:
        docs = dst.repository(dict, "docs", indexes=["status"], search_fields=["title"])
        assert docs.list(limit=100) == src.repository(dict, "docs").list(limit=100)
        assert dst.states.history("writer")[0].state == [1, 2, 3]
        assert dst.checkpoints.latest("offsets") is None


def test_async_copy_between_async_stores(stores: Stores) -> None:
    runner = LoopRunner()
    try:
        a = AsyncDataStore("memory://")
        b = AsyncDataStore(stores.url("sqlite"))
        fill(AsyncAsSync(a, runner))
        stats = runner.run(storekeeper.async_copy(a, b))
        assert snapshot(AsyncAsSync(b, runner)) == snapshot(AsyncAsSync(a, runner))
        assert stats.read == stats.written > 0
        runner.run(a.close())
        runner.run(b.close())
    finally:
        runner.close()


def _copy_slowly(src: str, dst: str) -> None:
    # small batches with a pause each, so the copy is cut off half-way
    storekeeper.copy(src, dst, batch_size=20, progress=lambda k, d, t: time.sleep(0.02))


@pytest.mark.parametrize(("a", "b"), [("sqlite", "postgresql"), ("postgresql", "mysql"),
                                      ("mysql", "sqlite")])
def test_a_copy_killed_half_way_completes_when_run_again(stores: Stores, a: str, b: str) -> None:
    src_url, dst_url = stores.url(a), stores.url(b)
    with DataStore(src_url) as src:
        fill(src, n=600)
    p = CTX.Process(target=_copy_slowly, args=(src_url, dst_url))
    p.start()
    deadline = time.monotonic() + 60
    with DataStore(dst_url) as dst:
        while time.monotonic() < deadline:
            try:
                if dst.repository(dict, "docs").count() >= 100:
                    break
            except StorageError:
                pass
            time.sleep(0.02)
        os.kill(p.pid or 0, signal.SIGKILL)
        p.join(10)
        assert p.exitcode == -signal.SIGKILL
        partial = dst.repository(dict, "docs").count()
        assert 0 < partial < 600
    stats = storekeeper.copy(src_url, dst_url, batch_size=100)
    assert stats["collections"].skipped >= partial
    with DataStore(src_url) as src, DataStore(dst_url) as dst:
        assert snapshot(dst) == snapshot(src)
        assert dst.repository(dict, "docs").count() == 600


def test_copy_refuses_bad_input(stores: Stores, tmp_path: Path) -> None:
    url = stores.url("sqlite")
    src = stores.open("sqlite", url)
    fill(src)
    with pytest.raises(ValidationError, match="same store"):
        storekeeper.copy(src, src)
    with pytest.raises(ValidationError, match="same store"):
        storekeeper.copy(url, url)
    with pytest.raises(ValidationError, match="include"):
        storekeeper.copy(src, "memory://", include=["nope"])
    with pytest.raises(ValidationError, match="batch_size"):
        storekeeper.copy(src, "memory://", batch_size=0)
    with pytest.raises(UnsupportedOperation, match="does not offer"):
        storekeeper.copy(src, "redis://127.0.0.1:1/0")
    assert snapshot(src)["docs"]


@pytest.mark.parametrize(("a", "b"), [("memory", "sqlite"), ("sqlite", "postgresql"),
                                      ("postgresql", "mysql"), ("mysql", "memory")])
@pytest.mark.parametrize("name", ["backup.jsonl", "backup.jsonl.gz"])
def test_export_then_import_into_another_backend(stores: Stores, tmp_path: Path, a: str, b: str,
                                                 name: str) -> None:
    src, dst = stores.open(a), stores.open(b)
    fill(src)
    path = tmp_path / name
    counts = src.export(path)
    assert counts["collections"] == 7 and counts["tasks"] == 8
    assert not (tmp_path / (name + ".partial")).exists()
    opener: Callable[..., Any] = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        header = json.loads(fh.readline())
    assert header["format"] == "storekeeper-export" and header["format_version"] == 1
    assert header["schema_version"] >= 6
    assert dst.import_(path) == counts
    assert snapshot(dst) == snapshot(src)
    # importing again changes nothing
    dst.import_(path)
    assert snapshot(dst) == snapshot(src)


def test_import_refuses_bad_files_and_writes_nothing(stores: Stores, tmp_path: Path) -> None:
    src = stores.open("memory")
    fill(src)
    good = tmp_path / "good.jsonl"
    src.export(good)
    lines = good.read_text(encoding="utf-8").splitlines()
    dst = stores.open("sqlite")

    def bad(name: str, text: str, match: str) -> None:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        with pytest.raises(ValidationError, match=match):
            dst.import_(p)
        assert dst.repository(dict, "docs").count() == 0
        assert dst.states.history("reader") == []

    damaged = [*lines]
    damaged[5] = damaged[5][:-7]
    bad("damaged.jsonl", "\n".join(damaged) + "\n", "line 6 is not valid JSON")
    bad("cut.jsonl", "\n".join(lines[:-3]) + "\n", "cut short")
    newer = json.loads(lines[0])
    newer["format_version"] = 99
    bad("newer.jsonl", "\n".join([json.dumps(newer), *lines[1:]]) + "\n", "newer than this storekeeper")
    bad("csv.jsonl", "id,title\n1,x\n", "line 1 is not valid JSON")
    bad("other.jsonl", '{"hello": 1}\n', "not a storekeeper export")
    bad("empty.jsonl", "", "empty")
    with pytest.raises(ValidationError, match="cannot read"):
        dst.import_(tmp_path / "missing.jsonl")


def test_export_to_a_path_that_cannot_be_written(stores: Stores, tmp_path: Path) -> None:
    src = stores.open("sqlite")
    fill(src)
    with pytest.raises(StorageError, match="cannot write the export file"):
        src.export(tmp_path / "no" / "such" / "dir" / "x.jsonl")
    assert snapshot(src)["docs"]


@pytest.mark.parametrize("kind", KINDS)
def test_cleanup_counts_and_dry_run(stores: Stores, kind: str, api: str) -> None:
    url = stores.url(kind)
    runner = LoopRunner() if api == "async" else None
    ds: Any = AsyncAsSync(AsyncDataStore(url), runner) if runner else DataStore(url)
    try:
        old = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=40)
        for i in range(25):
            ds.metrics.record("c", "m", float(i), timestamp=old + _dt.timedelta(seconds=i))
        ds.metrics.record("c", "m", 99.0)
        ds.metrics.record_port("p", messages_sent=1, timestamp=old)
        for v in range(15):
            ds.checkpoints.save("cp", "c", {"v": v})
        ds.checkpoints.save("other", "c", {"v": 0})
        ds.cache.set("gone", 1, ttl=0.05)
        ds.cache.set("kept", 2)
        ds.health.heartbeat("h", "healthy")
        time.sleep(0.1)
        expect = {"metrics": 26, "checkpoints": 5, "cache": 1, "health": 0}
        dry = ds.cleanup(dry_run=True, health_days=1, batch_size=7)
        assert {k: dry[k] for k in expect} == expect
        assert len(ds.metrics.query(limit=1000)) == 26 and ds.checkpoints.get("cp", 1) is not None
        done = ds.cleanup(health_days=1, batch_size=7)
        assert {k: done[k] for k in expect} == expect
        assert [m.value for m in ds.metrics.query(limit=1000)] == [99.0]
        assert ds.metrics.query_port() == []
        assert [c.version for c in ds.checkpoints.list("cp")] == list(range(15, 5, -1))
        assert ds.checkpoints.latest("other") is not None
        assert ds.cache.get("kept") == 2
        assert {k: v for k, v in ds.cleanup(dry_run=True).items() if v} == {}
        assert ds.cleanup(health_days=0)["health"] == 1
        with pytest.raises(ValidationError, match="metrics_days"):
            ds.cleanup(metrics_days=-1)
    finally:
        ds.close()
        if runner:
            runner.close()


@pytest.mark.parametrize("kind", KINDS)
def test_stats_show_rows_and_bytes_per_table(stores: Stores, kind: str) -> None:
    ds = stores.open(kind)
    fill(ds)
    stats = ds.stats()
    if kind == "memory":
        assert stats["collection:docs"]["rows"] == 7 and stats["tasks"]["rows"] == 8
        assert stats["metrics"]["rows"] == 7
    else:
        assert stats["c_docs"]["rows"] == 7 and stats["task_states"]["rows"] == 8
        assert stats["component_metrics"]["rows"] == 7 and stats["migration_history"]["rows"] == 0
        assert stats["c_docs"]["bytes"] > 0 and stats["component_metrics"]["bytes"] > 0
