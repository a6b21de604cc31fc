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
from conftest import SERVER_URLS, AsyncAsSync, LoopRunner, need, raw_redis, with_query
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
    q = ds.queue
    q.push_many("jobs", [{"job": i} for i in range(n)], metadata={"src": "t"}, source="a", target="b")
    q.push("jobs", "later", delay=3600)
    q.push("other", [1, "ü"], max_retries=0)
    bad = q.receive("other", timeout=0)
    q.nack(bad, "broke")  # no retries left: a dead letter
    done = q.receive("jobs", timeout=0)
    q.ack(done)  # completed: history, not copied


def queue_view(ds: Any, ms: bool = False) -> dict[str, Any]:
    """The queues as a consumer sees them (reads only); *ms*: times to the millisecond
    (what Redis keeps)."""
    q = ds.queue
    out: dict[str, Any] = {}
    for name in ("jobs", "other"):
        st = q.stats(name)
        out[name] = (st.pending, st.processing, st.failed, st.dead_letter)
    out["dead"] = [
        (m.id, m.data, m.error, m.retry_count,
         m.created_at.replace(microsecond=m.created_at.microsecond // 1000 * 1000) if ms else m.created_at)
        for m in q.dead_letters("other")
    ]
    return out


def drain(ds: Any, name: str) -> list[Any]:
    """Every visible message of queue *name*, in delivery order (taken)."""
    out: list[Any] = []
    while True:
        m = ds.queue.receive(name, timeout=0)
        if m is None:
            return out
        out.append((m.id, m.data, m.metadata, m.source, m.target))
        ds.queue.ack(m)


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
        "queues": queue_view(ds),
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
    # jobs: 6 pending + 1 delayed (the acked one stays behind); other: 1 dead letter
    assert stats["queue"].read == 8
    assert all(s.seconds >= 0 for s in stats.kinds.values())
    assert ("tasks", 8, 8) in seen and ("collections", 0, 7) in seen
    # a second run finds everything there: nothing written twice
    again = storekeeper.copy(src, dst, batch_size=4)
    assert again.written == 0 and again.skipped == again.read == stats.read
    assert snapshot(dst) == snapshot(src)
    # push order survives: consumers of the target see what those of the source would
    assert drain(dst, "jobs") == drain(src, "jobs")

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
    assert counts["collections"] == 7 and counts["tasks"] == 8 and counts["queue"] == 8
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
    assert drain(dst, "jobs") == drain(src, "jobs")


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
        expect = {"metrics": 26, "checkpoints": 5, "cache": 1, "health": 0, "queue_messages": 0}
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
        ds.queue.push("q", 1)
        ds.queue.push("q", 2)
        ds.queue.ack(ds.queue.receive("q", timeout=0))
        time.sleep(0.01)
        assert ds.cleanup(completed_messages_days=0, dry_run=True)["queue_messages"] == 1
        assert ds.cleanup(completed_messages_days=0)["queue_messages"] == 1
        st = ds.queue.stats("q")
        assert (st.pending, st.completed) == (1, 0)
        with pytest.raises(ValidationError, match="metrics_days"):
            ds.cleanup(metrics_days=-1)
    finally:
        ds.close()
        if runner:
            runner.close()


@pytest.mark.parametrize("kind", [*KINDS, "redis"])
def test_cleanup_removes_old_completed_messages_on_every_queue_backend(
    stores: Stores, kind: str, api: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else stores.url(kind)
    runner = LoopRunner() if api == "async" else None
    ds: Any = AsyncAsSync(AsyncDataStore(url), runner) if runner else DataStore(url)
    try:
        Q = ds.queue
        for i in range(5):
            Q.push("a", i)
        Q.push("b", "x")
        Q.push("b", "dead", max_retries=0)
        Q.ack_many(Q.receive("a", max_messages=3, lease=30))
        assert Q.pop("b") == "x"
        Q.nack(Q.receive("b", lease=30), error="boom")
        time.sleep(0.05)
        # completed ones settled within the period are kept
        assert ds.cleanup(completed_messages_days=1)["queue_messages"] == 0
        assert ds.cleanup(completed_messages_days=0, dry_run=True)["queue_messages"] == 4
        assert (Q.stats("a").completed, Q.stats("b").completed) == (3, 1)
        assert ds.cleanup(completed_messages_days=0, batch_size=3)["queue_messages"] == 4
        a, b = Q.stats("a"), Q.stats("b")
        assert (a.pending, a.completed, b.completed, b.dead_letter) == (2, 0, 0, 1)
        assert [m.error for m in Q.dead_letters("b")] == ["boom"]
        assert [Q.pop("a"), Q.pop("a")] == [3, 4]
        assert ds.cleanup(completed_messages_days=0)["queue_messages"] == 2
        assert Q.names() == ["b"]
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


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL with a key prefix of its own, every key under it deleted afterwards."""
    need("redis")
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    yield with_query(SERVER_URLS["redis"], prefix=prefix)
    client = raw_redis()
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql", "mysql"])
def test_cache_to_and_from_redis(stores: Stores, redis_url: str, kind: str) -> None:
    src = stores.open(kind)
    src.cache.set("a", {"v": 1})
    src.cache.set("b", [1, "ü"], ttl=3600)
    src.cache.set("gone", 1, ttl=0.05)
    time.sleep(0.1)
    side = DataStore("memory://", cache_url=redis_url)
    stores.opened.append(side)
    stats = storekeeper.copy(src, side, include=["cache"], batch_size=1)
    assert (stats["cache"].read, stats["cache"].written) == (2, 2)
    assert side.cache.get("a") == {"v": 1} and side.cache.get("b") == [1, "ü"]
    assert side.cache.get("gone") is None
    assert 3500 < (side.cache.ttl("b") or 0) <= 3600 and side.cache.ttl("a") == float("inf")
    again = storekeeper.copy(src, side, include=["cache"])
    assert (again["cache"].written, again["cache"].skipped) == (0, 2)
    back = stores.open(kind)
    stats = storekeeper.copy(side, back, include=["cache"])
    assert stats["cache"].read == 2
    assert back.cache.get("a") == {"v": 1} and back.cache.get("b") == [1, "ü"]
    assert 3500 < (back.cache.ttl("b") or 0) <= 3600


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql", "mysql"])
def test_queue_to_and_from_redis(stores: Stores, redis_url: str, kind: str) -> None:
    src = stores.open(kind)
    fill(src)
    side = DataStore("memory://", queue_url=redis_url)
    stores.opened.append(side)
    stats = storekeeper.copy(src, side, include=["queue"], batch_size=3)
    assert (stats["queue"].read, stats["queue"].written) == (8, 8)
    assert queue_view(side, ms=True) == queue_view(src, ms=True)
    again = storekeeper.copy(src, side, include=["queue"])
    assert (again["queue"].written, again["queue"].skipped) == (0, 8)
    back = stores.open(kind)
    assert storekeeper.copy(side, back, include=["queue"], batch_size=2)["queue"].read == 8
    assert queue_view(back, ms=True) == queue_view(src, ms=True)
    order = drain(src, "jobs")
    assert drain(side, "jobs") == order and drain(back, "jobs") == order
    assert len(order) == 6


@pytest.mark.parametrize(("a", "b"), [("sqlite", "memory"), ("memory", "postgresql")])
def test_async_export_import_cleanup_and_stats(stores: Stores, tmp_path: Path, a: str, b: str) -> None:
    runner = LoopRunner()
    src: Any = AsyncAsSync(AsyncDataStore(stores.url(a)), runner)
    dst: Any = AsyncAsSync(AsyncDataStore(stores.url(b)), runner)
    try:
        fill(src)
        counts = src.export(tmp_path / "a.jsonl")
        assert dst.import_(tmp_path / "a.jsonl") == counts
        assert snapshot(dst) == snapshot(src)
        assert dst.cleanup(dry_run=True)["metrics"] == 7  # fill() dates them in January
        assert sum(v["rows"] for v in dst.stats().values()) >= sum(counts.values())
    finally:
        src.close()
        dst.close()
        runner.close()


def test_import_skips_cache_entries_that_expired_since_the_export(stores: Stores, tmp_path: Path) -> None:
    src = stores.open("memory")
    src.cache.set("short", 1, ttl=0.2)
    src.cache.set("long", 2, ttl=3600)
    path = tmp_path / "c.jsonl"
    assert src.export(path, include=["cache"]) == {"cache": 2}
    time.sleep(0.3)
    dst = stores.open("sqlite")
    assert dst.import_(path) == {"cache": 2}
    assert dst.cache.get("short") is None and dst.cache.get("long") == 2
