"""Component state, checkpoints, metrics, health and sinks (SPEC §4, seed 004).

Every behaviour runs on memory, SQLite, PostgreSQL and MySQL, sync and async
(the ``sk`` fixture); concurrency runs real processes on the SQL backends.
The seed tables are shared with other runs on the servers: every test uses
names of its own (``_n()``) and cleans what it wrote.
"""

from __future__ import annotations

import datetime as _dt
import math
import multiprocessing as mp
import time
import uuid
from typing import Any

import pytest
from conftest import StoreHandle

from storekeeper import (
    Checkpoint,
    ComponentState,
    DataStore,
    HealthStatus,
    MetricBucket,
    Page,
    QueryFilter,
    SerializationError,
    StorageError,
    ValidationError,
)

CTX = mp.get_context("fork")
UTC = _dt.UTC

#: names that look like an attack on the SQL or the storage layout
BAD_NAMES: list[Any] = [
    "x'; DROP TABLE component_state; --",
    'a"b',
    "a b",
    "",
    "x" * 256,
    "a\x00b",
    "../etc",
    "%",
    None,
    42,
]


def _n(hint: str = "c") -> str:
    return f"{hint}_{uuid.uuid4().hex[:12]}"


class NotJSON:
    pass


# --- states -----------------------------------------------------------------------------


def test_states_save_load_history_delete(sk: StoreHandle) -> None:
    S = sk.store.states
    name = _n()
    assert S.load(name) is None and S.history(name) == []
    assert S.save(name, "Source", {"offset": 1}) == 1
    assert S.save(name, "Source", {"offset": 2, "list": [1, None, "x"]}) == 2
    assert S.save(name, "Source", 3) == 3
    latest = S.load(name)
    assert isinstance(latest, ComponentState)
    assert (latest.component_name, latest.component_type, latest.state, latest.version) == (
        name, "Source", 3, 3,
    )
    assert latest.created_at is not None and latest.created_at.tzinfo is not None
    assert S.load(name, version=2).state == {"offset": 2, "list": [1, None, "x"]}
    assert S.load(name, version=9) is None
    hist = S.history(name, limit=2)
    assert [h.version for h in hist] == [3, 2]
    assert [h.version for h in S.history(name)] == [3, 2, 1]
    other = _n()
    assert S.save(other, "Merger", {}) == 1  # versions are per component
    assert S.delete(name) == 3
    assert S.load(name) is None and S.delete(name) == 0
    assert S.load(other).version == 1
    S.delete(other)


@pytest.mark.parametrize("kind", ["Source", "Sink", "Transformer", "Splitter", "Merger"])
def test_states_accept_every_seed_component_type(kind: str) -> None:
    with DataStore("memory://") as ds:
        assert ds.states.save("c", kind, {}) == 1


def test_states_bad_input_writes_nothing(sk: StoreHandle) -> None:
    S = sk.store.states
    name = _n()
    for kind in ("source", "Database", "", None, 1):
        with pytest.raises(ValidationError, match="component_type"):
            S.save(name, kind, {})
    for value in ({"x": NotJSON()}, {1, 2}, {"x": math.nan}, [math.inf], "a\x00b"):
        with pytest.raises(SerializationError):
            S.save(name, "Source", value)
    for bad in BAD_NAMES:
        with pytest.raises(ValidationError, match="component name"):
            S.save(bad, "Source", {})
        with pytest.raises(ValidationError):
            S.load(bad)
    for version in (0, -1, "1", True):
        with pytest.raises(ValidationError):
            S.load(name, version=version)
    for limit in (0, -1, 10_001, "5"):
        with pytest.raises(ValidationError):
            S.history(name, limit=limit)
    assert S.history(name) == []
    # nothing half-written: the next save is version 1
    assert S.save(name, "Sink", {"ok": True}) == 1
    S.delete(name)


def test_states_roll_back_with_the_store_transaction(sk: StoreHandle) -> None:
    ds = sk.store
    name = _n()
    ds.states.save(name, "Source", {"v": 1})
    with pytest.raises(RuntimeError):
        with ds.transaction():
            ds.states.save(name, "Source", {"v": 2})
            ds.checkpoints.save(name, name, {"v": 2})
            raise RuntimeError("boom")
    assert ds.states.load(name).version == 1
    assert ds.checkpoints.latest(name) is None
    assert ds.states.save(name, "Source", {"v": 3}) == 2
    ds.states.delete(name)


# --- checkpoints -------------------------------------------------------------------------


def test_checkpoints_save_latest_get_list(sk: StoreHandle) -> None:
    C = sk.store.checkpoints
    name, comp = _n("cp"), _n("comp")
    assert C.latest(name) is None
    first = C.save(name, comp, {"offset": 10}, metadata={"host": "a"})
    assert isinstance(first, Checkpoint)
    assert (first.version, first.is_latest, first.metadata, first.expires_at) == (1, True, {"host": "a"}, None)
    for i in range(2, 6):
        assert C.save(name, comp, {"offset": i * 10}).version == i
    latest = C.latest(name)
    assert latest.version == 5 and latest.data == {"offset": 50} and latest.is_latest
    got = C.get(name, 1)
    assert got.data == {"offset": 10} and got.metadata == {"host": "a"} and not got.is_latest
    assert C.get(name, 6) is None
    listed = C.list(name)
    assert [c.version for c in listed] == [5, 4, 3, 2, 1]
    assert [c.is_latest for c in listed] == [True, False, False, False, False]
    assert [c.version for c in C.list(name, before_version=4, limit=2)] == [3, 2]
    other = _n("cp")
    C.save(other, comp, [1])
    by_comp = C.list(component_name=comp)
    assert {(c.checkpoint_name, c.version) for c in by_comp} == {
        *((name, v) for v in range(1, 6)), (other, 1),
    }
    assert by_comp[0].checkpoint_name == other  # newest first
    with pytest.raises(ValidationError):
        C.list()
    with pytest.raises(ValidationError):
        C.list(name, component_name=comp)
    assert C.delete(name) == 5 and C.delete(other) == 1
    assert C.latest(name) is None and C.list(component_name=comp) == []


def test_checkpoints_expire(sk: StoreHandle) -> None:
    C = sk.store.checkpoints
    name, comp = _n("cp"), _n("comp")
    C.save(name, comp, {"v": 1})
    short = C.save(name, comp, {"v": 2}, ttl=0.4)
    assert short.expires_at is not None
    assert C.save(name, comp, {"v": 3}, ttl=_dt.timedelta(hours=1)).version == 3
    C.save(name, comp, {"v": 4}, ttl=0.4)
    assert C.latest(name).version == 4
    time.sleep(0.6)
    # 2 and 4 are gone from every read; the newest unexpired one is the latest
    assert C.latest(name).version == 3
    assert C.get(name, 4) is None and C.get(name, 2) is None
    assert [c.version for c in C.list(name)] == [3, 1]
    assert [c.version for c in C.list(component_name=comp)] == [3, 1]
    # a prune reclaims the expired one below the newest version; 4 is the newest: kept
    assert C.prune(name, keep_last=10) == 1
    assert [c.version for c in C.list(name)] == [3, 1]
    assert C.save(name, comp, {"v": 5}).version == 5  # versions never go back
    C.save(name, comp, {"v": 6}, ttl=0.1)
    C.save(name, comp, {"v": 7})
    time.sleep(0.2)
    assert C.purge_expired() >= 2  # 4 and 6 (and whatever expired in other tests)
    assert C.prune(name, keep_last=10) == 0
    assert [c.version for c in C.list(name)] == [7, 5, 3, 1]
    C.delete(name)


def test_checkpoints_prune(sk: StoreHandle) -> None:
    C = sk.store.checkpoints
    comp = _n("comp")
    a, b = _n("cp"), _n("cp")
    for i in range(6):
        C.save(a, comp, i)
    for i in range(3):
        C.save(b, comp, i)
    assert C.prune(a, keep_last=2) == 4
    assert [c.version for c in C.list(a)] == [6, 5]
    assert C.prune(a, keep_last=2) == 0
    assert C.prune(a, keep_last=0) == 1  # never the latest
    assert [c.version for c in C.list(a)] == [6]
    C.save(a, comp, 7)
    assert C.prune(component_name=comp, keep_last=1) == 1 + 2
    assert [c.version for c in C.list(a)] == [7]
    assert [c.version for c in C.list(b)] == [3]
    assert C.prune(_n("cp"), keep_last=1) == 0
    for keep in (-1, "2", 1.5, None):
        with pytest.raises(ValidationError, match="keep_last"):
            C.prune(a, keep_last=keep)
    with pytest.raises(ValidationError):
        C.prune()
    C.delete(a)
    C.delete(b)


def test_checkpoints_bad_input_writes_nothing(sk: StoreHandle) -> None:
    C = sk.store.checkpoints
    name, comp = _n("cp"), _n("comp")
    for ttl in (-1, 0, math.nan, "10", 1e12, _dt.timedelta(seconds=-5)):
        with pytest.raises(ValidationError, match="ttl"):
            C.save(name, comp, {}, ttl=ttl)
    for data in ({"x": NotJSON()}, {"x": math.inf}, b"bytes"):
        with pytest.raises(SerializationError):
            C.save(name, comp, data)
    with pytest.raises(SerializationError):
        C.save(name, comp, {}, metadata={"x": NotJSON()})
    with pytest.raises(ValidationError):
        C.save(name, comp, {}, metadata=["not", "a", "mapping"])
    for bad in BAD_NAMES:
        with pytest.raises(ValidationError):
            C.save(bad, comp, {})
        with pytest.raises(ValidationError):
            C.save(name, bad, {})
        with pytest.raises(ValidationError):
            C.latest(bad)
    assert C.latest(name) is None and C.list(component_name=comp) == []
    assert C.save(name, comp, {}).version == 1
    C.delete(name)


# --- several processes at once -----------------------------------------------------------


def _save_many(url: str, what: str, name: str, n: int, barrier: Any, errors: Any) -> None:
    try:
        with DataStore(url) as ds:
            ds.open()
            barrier.wait(60)
            for i in range(n):
                if what == "states":
                    ds.states.save(name, "Transformer", {"i": i})
                else:
                    ds.checkpoints.save(name, "comp", {"i": i})
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("what", ["states", "checkpoints"])
def test_four_processes_save_400_versions_without_gap_or_duplicate(
    sql_sync: StoreHandle, what: str
) -> None:
    name = _n(what)
    barrier = CTX.Barrier(4)
    errors = CTX.Queue()
    procs = [
        CTX.Process(target=_save_many, args=(sql_sync.url, what, name, 100, barrier, errors))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    problems = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert problems == []
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    ds = sql_sync.store
    if what == "states":
        versions = [s.version for s in ds.states.history(name, limit=1000)]
        assert sorted(versions) == list(range(1, 401))
        assert sorted(s.state["i"] for s in ds.states.history(name, limit=1000)) == sorted(
            list(range(100)) * 4
        )
        ds.states.delete(name)
    else:
        cps = ds.checkpoints.list(name, limit=1000)
        assert sorted(c.version for c in cps) == list(range(1, 401))
        assert [c.version for c in cps if c.is_latest] == [400]
        assert ds.checkpoints.latest(name).version == 400
        ds.checkpoints.delete(name)


# --- metrics -----------------------------------------------------------------------------


def test_metrics_record_and_query(sk: StoreHandle) -> None:
    M = sk.store.metrics
    comp = _n("comp")
    t0 = _dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    mid = M.record(comp, "rows", 10, unit="rows/s", metadata={"host": "a"}, timestamp=t0)
    assert isinstance(mid, str)
    assert M.record_many([
        {"component_name": comp, "metric_name": "rows", "value": 20.5, "timestamp": t0 + _dt.timedelta(seconds=1)},
        {"component_name": comp, "metric_name": "lag", "value": -3, "timestamp": t0.timestamp() + 2},
        {"component_name": comp, "metric_name": "rows", "value": 30, "timestamp": _dt.datetime(2026, 3, 1, 12, 0, 3)},
    ]) == 3
    rows = M.query(component_name=comp, metric_name="rows")
    assert [r.value for r in rows] == [30.0, 20.5, 10.0]  # newest first
    first = rows[-1]
    assert (first.unit, first.metadata, first.timestamp, first.id) == ("rows/s", {"host": "a"}, t0, mid)
    assert [r.metric_name for r in M.query(component_name=comp)] == ["rows", "lag", "rows", "rows"]
    window = M.query(component_name=comp, since=t0 + _dt.timedelta(seconds=1), until=t0 + _dt.timedelta(seconds=3))
    assert [r.value for r in window] == [-3.0, 20.5]
    assert [r.value for r in M.query(component_name=comp, limit=1)] == [30.0]
    assert M.query(component_name=comp, metric_name="none") == []
    now = M.record(comp, "now", 1)
    assert M.query(component_name=comp, metric_name="now")[0].id == now
    assert M.record_many([]) == 0


def test_metrics_bad_input_writes_nothing(sk: StoreHandle) -> None:
    M = sk.store.metrics
    comp = _n("comp")
    for value in (math.nan, math.inf, -math.inf, "1", None, True):
        with pytest.raises(ValidationError, match="metric value"):
            M.record(comp, "m", value)
    with pytest.raises(ValidationError):
        M.record_many([
            {"component_name": comp, "metric_name": "m", "value": 1},
            {"component_name": comp, "metric_name": "m", "value": math.nan},
        ])
    with pytest.raises(ValidationError):
        M.record_many([{"component_name": comp, "metric_name": "m"}])
    with pytest.raises(ValidationError):
        M.record_many([{"component_name": comp, "metric_name": "m", "value": 1, "colour": "red"}])
    with pytest.raises(ValidationError):
        M.record_many({"component_name": comp, "metric_name": "m", "value": 1})
    with pytest.raises(SerializationError):
        M.record(comp, "m", 1, metadata={"x": NotJSON()})
    for bad in BAD_NAMES:
        with pytest.raises(ValidationError):
            M.record(bad, "m", 1)
        with pytest.raises(ValidationError):
            M.record(comp, bad, 1)
    for ts in ("yesterday", math.nan, _dt.date(2026, 1, 1)):
        with pytest.raises(ValidationError, match="timestamp"):
            M.record(comp, "m", 1, timestamp=ts)
    with pytest.raises(ValidationError):
        M.query(since=_dt.datetime(2026, 1, 2), until=_dt.datetime(2026, 1, 1))
    for bucket in ("2m", "1w", 0, -60, 1.5, "", None, True):
        with pytest.raises(ValidationError, match="bucket"):
            M.aggregate("m", component_name=comp, bucket=bucket)
    with pytest.raises(ValidationError):
        M.record_port(comp, messages_sent=-1)
    with pytest.raises(ValidationError):
        M.record_port(comp, buffer_utilization=math.nan)
    assert M.query(component_name=comp) == [] and M.query_port(comp) == []


#: values around bucket boundaries: (timestamp, value)
BOUNDARY_DATA = [
    (_dt.datetime(2026, 1, 1, 0, 0, 0, 0, tzinfo=UTC), 1.0),
    (_dt.datetime(2026, 1, 1, 0, 0, 59, 999999, tzinfo=UTC), 2.0),
    (_dt.datetime(2026, 1, 1, 0, 1, 0, 0, tzinfo=UTC), 4.0),
    (_dt.datetime(2026, 1, 1, 0, 4, 59, 999999, tzinfo=UTC), 8.0),
    (_dt.datetime(2026, 1, 1, 0, 5, 0, 1, tzinfo=UTC), 16.0),
    (_dt.datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 32.0),
    (_dt.datetime(2026, 1, 1, 23, 59, 59, 500000, tzinfo=UTC), -64.5),
    (_dt.datetime(2026, 1, 2, 0, 0, 0, 0, tzinfo=UTC), 128.25),
]


def _expected(width: int) -> list[tuple[_dt.datetime, int, float, float, float]]:
    groups: dict[int, list[float]] = {}
    for ts, v in BOUNDARY_DATA:
        start = int(ts.timestamp() // 1) // width * width
        groups.setdefault(start, []).append(v)
    return [
        (_dt.datetime.fromtimestamp(k, UTC), len(vs), sum(vs), min(vs), max(vs))
        for k, vs in sorted(groups.items())
    ]


def _buckets(out: list[MetricBucket]) -> list[tuple[_dt.datetime, int, float, float, float]]:
    for b in out:
        assert math.isclose(b.avg, b.sum / b.count)
    return [(b.start, b.count, b.sum, b.min, b.max) for b in out]


def test_metrics_aggregate_buckets_are_utc_and_epoch_aligned(sk: StoreHandle) -> None:
    M = sk.store.metrics
    comp = _n("comp")
    M.record_many(
        [{"component_name": comp, "metric_name": "lat", "value": v, "timestamp": ts} for ts, v in BOUNDARY_DATA]
    )
    M.record(comp, "other", 1000.0, timestamp=BOUNDARY_DATA[0][0])
    M.record(_n("comp"), "lat", 1000.0, timestamp=BOUNDARY_DATA[0][0])
    for bucket, width in (("1m", 60), ("5m", 300), ("1h", 3600), ("1d", 86400), (7, 7), (_dt.timedelta(minutes=2), 120)):
        got = _buckets(M.aggregate("lat", component_name=comp, bucket=bucket))
        assert got == _expected(width), bucket
    minute = M.aggregate("lat", component_name=comp, bucket="1m")
    assert minute[1].start == _dt.datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert (minute[1].count, minute[1].sum) == (2, 3.0)
    window = M.aggregate(
        "lat", component_name=comp, bucket="1d",
        since=_dt.datetime(2026, 1, 1, tzinfo=UTC), until=_dt.datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert [(b.start.day, b.count) for b in window] == [(1, 6)]
    assert M.aggregate("lat", component_name=_n("nobody")) == []


def test_aggregate_buckets_are_identical_on_every_backend(make_store: Any) -> None:
    from conftest import ALL_BACKENDS

    comp = _n("comp")
    results = {}
    for kind in ALL_BACKENDS:
        ds = make_store(kind).store
        ds.metrics.record_many(
            [{"component_name": comp, "metric_name": "lat", "value": v, "timestamp": ts} for ts, v in BOUNDARY_DATA]
        )
        results[kind] = [
            _buckets(ds.metrics.aggregate("lat", component_name=comp, bucket=b))
            for b in ("1m", "5m", "1h", "1d", 13)
        ]
    first = results["memory"]
    assert all(r == first for r in results.values()), results


def test_port_metrics(sk: StoreHandle) -> None:
    M = sk.store.metrics
    port = _n("queue")
    t0 = _dt.datetime(2026, 5, 5, 5, 5, 5, 5, tzinfo=UTC)
    M.record_port(port, messages_sent=10, messages_received=8, avg_send_duration_ms=1.5,
                  avg_receive_duration_ms=2.5, avg_message_age_ms=30.0, buffer_utilization=0.25,
                  timestamp=t0)
    M.record_port(port, messages_sent=20, timestamp=t0 + _dt.timedelta(minutes=1))
    got = M.query_port(port)
    assert [p.messages_sent for p in got] == [20, 10]
    p = got[1]
    assert (p.port_name, p.messages_received, p.avg_send_duration_ms, p.avg_receive_duration_ms,
            p.avg_message_age_ms, p.buffer_utilization, p.timestamp) == (
        port, 8, 1.5, 2.5, 30.0, 0.25, t0)
    assert got[0].avg_send_duration_ms is None
    assert [x.messages_sent for x in M.query_port(port, since=t0 + _dt.timedelta(seconds=1))] == [20]
    assert M.query_port(_n("queue")) == []


# --- health ------------------------------------------------------------------------------


def test_health_heartbeats(sk: StoreHandle) -> None:
    H = sk.store.health
    a, b = _n("comp"), _n("comp")
    assert H.get(a) is None
    H.heartbeat(a, "healthy", {"lag": 3})
    H.heartbeat(b, "degraded")
    got = H.get(a)
    assert isinstance(got, HealthStatus)
    assert (got.status, got.reported_status, got.details, got.stale) == ("healthy", "healthy", {"lag": 3}, False)
    H.heartbeat(a, "unhealthy", {"error": "disk"})  # replaces the row
    assert H.get(a).status == "unhealthy" and H.get(a).details == {"error": "disk"}
    mine = [s for s in H.all() if s.component_name in (a, b)]
    assert [(s.component_name, s.status) for s in mine] == sorted([(a, "unhealthy"), (b, "degraded")])
    assert H.delete(a) is True and H.delete(a) is False and H.get(a) is None
    H.delete(b)


def test_stale_heartbeats_read_unknown(sk: StoreHandle) -> None:
    H = sk.store.health
    a = _n("comp")
    H.heartbeat(a, "healthy")
    assert H.get(a).status == "healthy"
    time.sleep(0.3)
    stale = H.get(a, stale_after=0.1)
    assert (stale.status, stale.reported_status, stale.stale) == ("unknown", "healthy", True)
    assert stale.age >= 0.3
    assert H.get(a).status == "healthy"  # the default limit is 60 s
    H.stale_after = 0.1  # this store's limit
    try:
        assert H.get(a).status == "unknown"
        assert [s.status for s in H.all() if s.component_name == a] == ["unknown"]
        assert H.get(a, stale_after=3600).status == "healthy"
        # a new heartbeat is fresh again under the store's limit (5 s here: a 100 ms
        # window between the write and the read is too tight for a loaded server)
        H.stale_after = 5.0
        H.heartbeat(a, "degraded")
        assert H.get(a).status == "degraded"
    finally:
        H.stale_after = 60.0
    for bad in (0, -1, math.nan, "1"):
        with pytest.raises(ValidationError, match="stale_after"):
            H.get(a, stale_after=bad)
    H.delete(a)


def test_health_summary(sk: StoreHandle) -> None:
    H = sk.store.health
    names = {s: _n(s) for s in ("healthy", "degraded", "unhealthy")}
    shared = sk.kind in ("postgresql", "mysql")  # other runs' components are there too
    if not shared:
        assert H.summary().status == "unknown" and H.summary().total == 0
    H.heartbeat(names["healthy"], "healthy")
    if not shared:
        assert H.summary().status == "healthy"
    H.heartbeat(names["degraded"], "degraded")
    if not shared:
        assert H.summary().status == "degraded"
    H.heartbeat(names["unhealthy"], "unhealthy")
    s = H.summary()
    assert s.status == "unhealthy"
    assert all(s.counts[k] >= 1 for k in names)
    if not shared:
        assert s.counts == {"healthy": 1, "degraded": 1, "unhealthy": 0 + 1, "unknown": 0}
        assert s.total == 3
        H.delete(names["unhealthy"])
        time.sleep(0.15)
        # a silent component is worse than a degraded one
        H.heartbeat(names["degraded"], "degraded")
        assert H.summary(stale_after=0.1).status == "unknown"
    for n in names.values():
        H.delete(n)


def test_health_bad_input_writes_nothing(sk: StoreHandle) -> None:
    H = sk.store.health
    a = _n("comp")
    for status in ("ok", "HEALTHY", "", None, 1):
        with pytest.raises(ValidationError, match="health status"):
            H.heartbeat(a, status)
    with pytest.raises(SerializationError):
        H.heartbeat(a, "healthy", {"x": NotJSON()})
    with pytest.raises(ValidationError):
        H.heartbeat(a, "healthy", ["not", "a", "mapping"])
    for bad in BAD_NAMES:
        with pytest.raises(ValidationError):
            H.heartbeat(bad, "healthy")
    assert H.get(a) is None


# --- sinks -------------------------------------------------------------------------------


def test_sinks_write_read_count_delete(sk: StoreHandle) -> None:
    K = sk.store.sinks
    sink = _n("sink")
    one = K.write(sink, {"order": 1, "total": 5.0, "tags": ["a"]}, data_type="order", metadata={"src": "x"})
    ids = K.write_many(sink, [{"order": i, "total": i * 2.5, "tags": ["b"] if i % 2 else []} for i in range(2, 8)])
    assert len(ids) == 6 and len(set(ids)) == 6
    K.write(sink, ["not", "an", "object"])
    K.write(_n("sink"), {"order": 1})
    assert K.count(sink) == 8
    page = K.read(sink)
    assert isinstance(page, Page) and page.next_cursor is None
    assert [r.id for r in page][:2] == [one, ids[0]]  # write order
    first = page.items[0]
    assert (first.sink_name, first.data, first.data_type, first.metadata) == (
        sink, {"order": 1, "total": 5.0, "tags": ["a"]}, "order", {"src": "x"},
    )
    assert first.created_at is not None
    big = [QueryFilter("total", "gte", 10)]
    assert K.count(sink, big) == 4
    assert [r.data["order"] for r in K.read(sink, filters=big)] == [4, 5, 6, 7]
    assert [r.data["order"] for r in K.read(sink, filters=[QueryFilter("tags", "contains", "b")])] == [3, 5, 7]
    desc = K.read(sink, filters=[QueryFilter("order", "gt", 1)], sort_by="total", sort_order="desc", limit=4)
    assert [r.data["order"] for r in desc] == [7, 6, 5, 4] and desc.next_cursor
    rest = K.read(sink, filters=[QueryFilter("order", "gt", 1)], sort_by="total", sort_order="desc",
                  limit=4, after=desc.next_cursor)
    assert [r.data["order"] for r in rest] == [3, 2] and rest.next_cursor is None
    with pytest.raises(ValidationError, match="cursor"):
        K.read(sink, sort_by="order", after=desc.next_cursor)
    # keyset pages by write order cover everything once
    seen: list[str] = []
    cursor = None
    while True:
        p = K.read(sink, limit=3, after=cursor)
        seen += [r.id for r in p]
        cursor = p.next_cursor
        if cursor is None:
            break
    assert len(seen) == 8 and len(set(seen)) == 8
    assert K.delete(sink, [ids[0], ids[1], "no-such-id", str(uuid.uuid4())]) == 2
    assert K.count(sink) == 6
    assert K.delete(sink) == 6 and K.count(sink) == 0 and K.read(sink).items == []


def test_sinks_bad_input_writes_nothing(sk: StoreHandle) -> None:
    K = sk.store.sinks
    sink = _n("sink")
    for data in ({"x": NotJSON()}, {"x": math.nan}):
        with pytest.raises(SerializationError):
            K.write(sink, data)
    with pytest.raises(SerializationError):
        K.write_many(sink, [{"ok": 1}, {"bad": NotJSON()}])
    with pytest.raises(SerializationError):
        K.write(sink, {}, metadata={"x": NotJSON()})
    for kind in ("", 5, "x" * 101):
        with pytest.raises(ValidationError, match="data_type"):
            K.write(sink, {}, data_type=kind)
    for bad in BAD_NAMES:
        with pytest.raises(ValidationError, match="sink name"):
            K.write(bad, {})
        with pytest.raises(ValidationError):
            K.read(bad)
    with pytest.raises(ValidationError):
        K.read(sink, filters=[QueryFilter("x; DROP TABLE sink_storage", "eq", 1)])
    with pytest.raises(ValidationError):
        K.read(sink, filters=[QueryFilter("x", "like", 1)])
    with pytest.raises(ValidationError):
        K.read(sink, limit=0)
    with pytest.raises(ValidationError):
        K.delete(sink, "one-id")
    assert K.count(sink) == 0


def test_a_redis_store_offers_none_of_them() -> None:
    ds = DataStore("redis://127.0.0.1:1/0")
    for what in ("states", "checkpoints", "metrics", "health", "sinks"):
        with pytest.raises(StorageError, match=f"redis does not offer {what}"):
            getattr(ds, what)
    ds.close()
