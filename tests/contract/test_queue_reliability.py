"""Queue guarantees under real concurrency and failure, with real processes.

On every backend other processes can reach (SQLite file, PostgreSQL, MySQL,
Redis): competing consumers, a consumer killed while holding a message,
connections cut under a consumer, and pushes rolled back.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import os
import signal
import time
import uuid
from typing import Any

import pytest
from conftest import SQL_BACKENDS, with_query

from storekeeper import DatabaseConnectionError, DataStore, LeaseError

CTX = mp.get_context("fork")

Urls = tuple[str, str | None, str | None]


def _urls(h: Any) -> Urls:
    return (h.url, h.queue_url, h.cache_url)


def _open(urls: Urls) -> DataStore:
    return DataStore(urls[0], queue_url=urls[1], cache_url=urls[2])


def _results(out: Any, n: int, timeout: float) -> list[Any]:
    """Read *n* results before joining (a child blocks until its big result is read)."""
    return [out.get(timeout=timeout) for _ in range(n)]


# --- competing consumers ------------------------------------------------------------


def _drain(urls: Urls, q: str, start: Any, out: Any) -> None:
    acked: list[str] = []
    lease_errors = 0
    problem = None
    try:
        with _open(urls) as ds:
            Q = ds.queue
            Q.length(q)
            start.wait(60)
            while True:
                m = Q.receive(q, lease=30, timeout=1)
                if m is None:
                    break
                try:
                    Q.ack(m)
                    acked.append(m.id)
                except LeaseError:
                    lease_errors += 1
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        problem = f"{type(exc).__name__}: {exc}"
    out.put((os.getpid(), acked, lease_errors, problem))


def test_four_consumers_drain_ten_thousand_messages_exactly_once(shared_qk: Any) -> None:
    Q, q = shared_qk.queue, shared_qk.qname()
    n, consumers = 10_000, 4
    t0 = time.monotonic()
    ids = Q.push_many(q, range(n))
    pushed = time.monotonic() - t0
    assert len(set(ids)) == n and Q.length(q) == n
    start, out = CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=_drain, args=(_urls(shared_qk), q, start, out)) for _ in range(consumers)]
    for p in procs:
        p.start()
    t1 = time.monotonic()
    start.set()
    try:
        results = _results(out, consumers, timeout=180)
    finally:
        for p in procs:
            p.join(30)
    drained = time.monotonic() - t1
    print(f"\n[{shared_qk.kind}] push_many {n}: {pushed:.2f} s; {consumers} consumers drained in {drained:.2f} s")
    assert [r[3] for r in results] == [None] * consumers
    assert all(p.exitcode == 0 for p in procs)
    assert sum(r[2] for r in results) == 0, "LeaseError without any lease running out"
    counts = collections.Counter(i for r in results for i in r[1])
    assert set(counts) == set(ids), f"{len(set(ids) - set(counts))} messages never acked"
    twice = [i for i, c in counts.items() if c > 1]
    assert twice == [], f"{len(twice)} messages acked more than once"
    s = Q.stats(q)
    assert s.counts == {"pending": 0, "processing": 0, "completed": n, "failed": 0, "dead_letter": 0}
    assert drained < 120, f"draining {n} messages took {drained:.1f} s"


# --- a consumer dies holding a message ---------------------------------------------------


def _hold_and_hang(urls: Urls, q: str, out: Any) -> None:
    try:
        ds = _open(urls)
        m = ds.queue.receive(q, lease=1, timeout=10)
        out.put(("got", m.id if m else None, m.retry_count if m else None))
        time.sleep(60)  # killed before this ends
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}", None))


def test_a_message_held_by_a_killed_consumer_is_delivered_again(shared_qk: Any) -> None:
    Q, q = shared_qk.queue, shared_qk.qname()
    mid = Q.push(q, {"job": "survives"})
    out = CTX.Queue()
    p = CTX.Process(target=_hold_and_hang, args=(_urls(shared_qk), q, out))
    p.start()
    assert p.pid is not None
    try:
        what, got, retry = out.get(timeout=30)
        t_received = time.monotonic()
        assert (what, got, retry) == ("got", mid, 0)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
    assert p.exitcode == -signal.SIGKILL
    assert Q.receive(q) is None  # its lease (1 s) still runs
    m = Q.receive(q, lease=5, timeout=5)
    assert m is not None, "the dead consumer's message never came back"
    assert time.monotonic() - t_received >= 0.8
    assert m.id == mid and m.retry_count == 1 and m.data == {"job": "survives"}
    Q.ack(m)
    s = Q.stats(q)
    assert (s.completed, s.pending, s.processing) == (1, 0, 0)


# --- PostgreSQL: connections cut under a running consumer -------------------------------


def _resilient_consumer(urls: Urls, q: str, stop: Any, progress: Any, out: Any) -> None:
    """A consumer written the way a user would: retry what a dropped connection broke."""
    events: list[tuple[str, str, int]] = []
    conn_errors = 0
    problem = None
    try:
        with _open(urls) as ds:
            Q = ds.queue
            while not stop.is_set():
                try:
                    m = Q.receive(q, lease=3, timeout=0.5)
                except DatabaseConnectionError:
                    conn_errors += 1
                    time.sleep(0.05)
                    continue
                if m is None:
                    continue
                events.append(("recv", m.id, m.retry_count))
                try:
                    Q.ack(m)
                except DatabaseConnectionError:
                    conn_errors += 1
                    events.append(("ack_lost", m.id, m.retry_count))
                    continue
                except LeaseError:
                    events.append(("lease", m.id, m.retry_count))
                    continue
                events.append(("ack", m.id, m.retry_count))
                with progress.get_lock():
                    progress.value += 1
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        problem = f"{type(exc).__name__}: {exc}"
    out.put((events, conn_errors, problem))


def _terminate_sessions_named(app: str) -> int:
    """End the sessions of the consumer under test only (matched by its application_name)."""
    from test_resilience import kill_pg

    return kill_pg(app)


def _stats_retrying(Q: Any, q: str) -> Any:
    for _ in range(5):
        try:
            return Q.stats(q)
        except DatabaseConnectionError:
            time.sleep(0.1)
    return Q.stats(q)


def test_a_consumer_survives_its_connections_being_cut(make_qk: Any) -> None:
    h = make_qk("postgresql")
    Q, q = h.queue, h.qname()
    n = 2000
    ids = Q.push_many(q, range(n), max_retries=10)
    stop, progress, out = CTX.Event(), CTX.Value("i", 0), CTX.Queue()
    # the consumer's sessions carry a name of their own: only they are cut
    app = f"sk_t_{uuid.uuid4().hex[:12]}"
    urls = (with_query(h.url, application_name=app), h.queue_url, h.cache_url)
    p = CTX.Process(target=_resilient_consumer, args=(urls, q, stop, progress, out))
    p.start()
    killed: list[int] = []
    try:
        for mark in (200, 500, 800, 1100, 1400):
            deadline = time.monotonic() + 60
            while progress.value < mark and time.monotonic() < deadline and p.is_alive():
                time.sleep(0.005)
            assert progress.value >= mark, f"the consumer stalled at {progress.value} acks"
            killed.append(_terminate_sessions_named(app))
        deadline = time.monotonic() + 60
        s = _stats_retrying(Q, q)
        while s.completed < n and time.monotonic() < deadline and p.is_alive():
            time.sleep(0.2)
            s = _stats_retrying(Q, q)
        stop.set()
        events, conn_errors, problem = out.get(timeout=30)
    finally:
        stop.set()
        p.join(30)
    redelivered = sum(1 for e in events if e[0] == "recv" and e[2] > 0)
    print(
        f"\n[postgresql] sessions terminated {killed}; the consumer saw {conn_errors} connection "
        f"errors and {redelivered} redeliveries"
    )
    assert problem is None, problem
    assert all(k >= 1 for k in killed), "nothing was terminated: the test proved nothing"
    assert s.counts == {"pending": 0, "processing": 0, "completed": n, "failed": 0, "dead_letter": 0}
    acked: collections.Counter[str] = collections.Counter()
    unsure: set[str] = set()
    for what, mid, _retry in events:
        if what == "recv":
            assert acked[mid] == 0, f"message {mid} was delivered again after its ack"
        elif what == "ack":
            acked[mid] += 1
        elif what == "ack_lost":
            unsure.add(mid)
    assert max(acked.values()) == 1
    lost = set(ids) - set(acked) - unsure
    assert lost == set(), f"{len(lost)} messages never acked"
    # an id acked through a lost reply is complete (stats said so): it must not come back
    assert set(acked) | unsure == set(ids)


# --- a rolled-back push is never delivered -----------------------------------------------


def _watch(urls: Urls, q: str, ready: Any, out: Any) -> None:
    got: list[Any] = []
    problem = None
    try:
        with _open(urls) as ds:
            Q = ds.queue
            Q.length(q)
            ready.set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                m = Q.receive(q, lease=30, timeout=0.2)
                if m is not None:
                    got.append(m.data)
                    Q.ack(m)
                    if m.data == "committed":
                        deadline = min(deadline, time.monotonic() + 0.5)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        problem = f"{type(exc).__name__}: {exc}"
    out.put((got, problem))


@pytest.mark.parametrize("kind", SQL_BACKENDS)
def test_a_rolled_back_push_never_reaches_a_consumer_in_another_process(kind: str, make_qk: Any) -> None:
    h = make_qk(kind)
    Q, q = h.queue, h.qname()
    Q.length(q)
    ready, out = CTX.Event(), CTX.Queue()
    p = CTX.Process(target=_watch, args=(_urls(h), q, ready, out))
    p.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RuntimeError):
            with h.store.transaction():
                Q.push(q, "rolled back")
                Q.push_many(q, ["rolled back too", "and this"])
                time.sleep(0.5)  # the consumer keeps looking meanwhile
                raise RuntimeError("boom")
        time.sleep(0.5)
        Q.push(q, "committed")
        got, problem = out.get(timeout=30)
    finally:
        p.join(30)
    assert problem is None, problem
    assert got == ["committed"]
    assert Q.length(q, None) == 1
