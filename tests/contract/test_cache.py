"""The cache contract (SPEC §6), run on every backend (memory, SQL, Redis), sync and async.

``qk.key(name)`` makes a key under the test's own prefix, which teardown clears.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

import pytest
from conftest import (
    JSON_SAMPLES,
    SERVER_URLS,
    LoopRunner,
    StoreHandle,
    need,
    raw_redis,
    with_query,
)

from storekeeper import SerializationError, ValidationError

VALUES: list[Any] = [v for v in JSON_SAMPLES if v is not None]  # None reads as "missing"


def _ph(qk: Any) -> str:
    return "?" if qk.kind == "sqlite" else "%s"


def _rows(qk: Any) -> int:
    """This test's rows in sk_cache, counted through the backend (SQL stores only)."""
    row = qk.store.backend.fetchone(
        f"SELECT COUNT(*) FROM sk_cache WHERE cache_key LIKE {_ph(qk)}", (f"%{qk.prefix}:%",)
    )
    assert row is not None
    return int(row[0])


def test_set_get_overwrite_delete_exists(qk: Any) -> None:
    C = qk.cache
    k = qk.key("a")
    assert C.get(k) is None and C.exists(k) is False
    C.set(k, {"rows": 3})
    assert C.get(k) == {"rows": 3}
    assert C.exists(k) is True
    C.set(k, [1, 2])
    assert C.get(k) == [1, 2]
    assert C.delete(k) is True
    assert C.delete(k) is False
    assert C.get(k) is None and C.exists(k) is False
    C.set(k, None)  # a JSON null is a value
    assert C.exists(k) is True and C.get(k) is None
    assert C.ttl(k) == math.inf


def test_values_round_trip_exactly(qk: Any) -> None:
    C = qk.cache
    for i, v in enumerate(VALUES):
        C.set(qk.key(f"v{i}"), v)
    for i, v in enumerate(VALUES):
        got = C.get(qk.key(f"v{i}"))
        assert got == v and type(got) is type(v), (v, got)
    many = C.get_many([qk.key(f"v{i}") for i in range(len(VALUES))])
    assert many == {qk.key(f"v{i}"): v for i, v in enumerate(VALUES)}


def test_keys_are_exact_strings(qk: Any) -> None:
    C = qk.cache
    pairs = {
        qk.key("Case"): 1,
        qk.key("case"): 2,
        qk.key("pad"): 3,
        qk.key("pad "): 4,
        qk.key("é"): 5,
        qk.key("e"): 6,
        qk.key("with space/and:colon*?[x]"): 7,
    }
    C.set_many(pairs)
    for k, v in pairs.items():
        assert C.get(k) == v, k
    longest = qk.key("")
    longest += "🚀" * (512 - len(longest))
    assert len(longest) == 512
    C.set(longest, "fits")
    assert C.get(longest) == "fits"
    assert C.get_many([longest]) == {longest: "fits"}


def test_ttl_expiry(qk: Any) -> None:
    C = qk.cache
    k, k2, many = qk.key("short"), qk.key("counter"), [qk.key("m1"), qk.key("m2")]
    C.set(k, {"v": 1}, ttl=0.3)
    C.set(k2, 5, ttl=0.3)
    C.set_many({many[0]: 1, many[1]: 2}, ttl=0.3)
    t = C.ttl(k)
    assert isinstance(t, float) and 0 < t <= 0.3
    assert C.get(k) == {"v": 1} and C.exists(k) is True
    assert C.get_many(many) == {many[0]: 1, many[1]: 2}
    time.sleep(0.45)
    assert C.get(k) is None
    assert C.exists(k) is False
    assert C.ttl(k) is None
    assert C.delete(k) is False  # an expired key does not count as deleted
    assert C.get_many([k, *many]) == {}
    assert C.incr(k2, 2) == 2  # an expired key counts as missing
    assert C.get(k2) == 2
    assert C.ttl(k2) == math.inf


def test_ttl_reports_the_time_left(qk: Any) -> None:
    C = qk.cache
    a, b, c = qk.key("a"), qk.key("b"), qk.key("c")
    C.set(a, 1, ttl=100)
    C.set(b, 1)
    C.set(c, 1, ttl=2.5)
    ta = C.ttl(a)
    assert isinstance(ta, float) and 99.0 <= ta <= 100.0
    assert C.ttl(b) == math.inf
    tc = C.ttl(c)
    assert isinstance(tc, float) and 2.0 < tc <= 2.5
    assert C.ttl(qk.key("missing")) is None
    C.set(a, 2)  # a set without ttl drops the expiry
    assert C.ttl(a) == math.inf
    C.set(b, 2, ttl=50)
    assert 49.0 <= C.ttl(b) <= 50.0


def test_incr(qk: Any) -> None:
    C = qk.cache
    k = qk.key("n")
    assert C.incr(k) == 1
    assert C.incr(k) == 2
    assert C.incr(k, 10) == 12
    assert C.incr(k, -15) == -3
    assert C.get(k) == -3 and type(C.get(k)) is int
    assert C.incr(qk.key("other"), 5) == 5
    assert C.ttl(k) == math.inf
    big = qk.key("big")
    C.set(big, 2**53)
    assert C.incr(big) == 2**53 + 1
    for bad in (1.5, "1", True, None):
        with pytest.raises(ValidationError):
            C.incr(k, bad)
    assert C.get(k) == -3


def test_incr_keeps_the_ttl(qk: Any) -> None:
    C = qk.cache
    k = qk.key("n")
    C.set(k, 10, ttl=100)
    assert C.incr(k, 5) == 15
    t = C.ttl(k)
    assert t is not None and 98.0 <= t <= 100.0
    assert C.get(k) == 15


def test_incr_on_a_non_integer_changes_nothing(qk: Any) -> None:
    C = qk.cache
    for i, value in enumerate(["x", "12", 1.5, {"a": 1}, [1], True, None]):
        k = qk.key(f"v{i}")
        C.set(k, value, ttl=100)
        with pytest.raises(ValidationError):
            C.incr(k)
        got = C.get(k)
        assert got == value and type(got) is type(value)
        assert C.exists(k)
        t = C.ttl(k)
        assert t is not None and 98 <= t <= 100


def test_get_many_and_set_many(qk: Any) -> None:
    C = qk.cache
    a, b, missing = qk.key("a"), qk.key("b"), qk.key("missing")
    C.set_many({a: 1, b: {"x": [1]}})
    assert C.get_many([a, b, missing]) == {a: 1, b: {"x": [1]}}
    assert C.get_many([missing]) == {}
    assert C.get_many([]) == {}
    assert C.get_many([a, a]) == {a: 1}
    C.set_many({})
    C.set_many({a: 2, missing: None}, ttl=100)
    assert C.get_many([a, missing]) == {a: 2, missing: None}
    assert 98 <= C.ttl(a) <= 100
    assert C.ttl(b) == math.inf


def test_clear_deletes_exactly_one_prefix(qk: Any) -> None:
    C = qk.cache
    p = qk.key("")
    keys = {
        f"{p}p1:a": 1,
        f"{p}p1:b": 2,
        f"{p}p1": 3,  # shorter than the prefix
        f"{p}P1:a": 4,  # another case
        f"{p}p2:a": 5,
        f"{p}a_b:1": 6,
        f"{p}axb:1": 7,  # '_' is no wildcard
        f"{p}50%:1": 8,
        f"{p}50x:1": 9,  # '%' neither
        f"{p}st*r:1": 10,
        f"{p}star:1": 11,  # nor '*'
        f"{p}q?:1": 12,
        f"{p}qq:1": 13,  # nor '?'
        f"{p}[ab]:1": 14,
        f"{p}a:1": 15,  # nor '[…]'
        f"{p}é:1": 16,
        f"{p}e:1": 17,
    }
    C.set_many(keys)
    assert C.clear(f"{p}p1:") == 2
    assert C.clear(f"{p}a_b:") == 1
    assert C.clear(f"{p}50%:") == 1
    assert C.clear(f"{p}st*r:") == 1
    assert C.clear(f"{p}q?:") == 1
    assert C.clear(f"{p}[ab]:") == 1
    assert C.clear(f"{p}é:") == 1
    assert C.clear(f"{p}nothing:") == 0
    gone = {f"{p}p1:a", f"{p}p1:b", f"{p}a_b:1", f"{p}50%:1", f"{p}st*r:1", f"{p}q?:1", f"{p}[ab]:1", f"{p}é:1"}
    left = {k: v for k, v in keys.items() if k not in gone}
    assert C.get_many(list(keys)) == left
    assert C.clear(p) == len(left)
    assert C.get_many(list(keys)) == {}


def test_non_json_values_write_nothing(qk: Any) -> None:
    C = qk.cache
    k, kept = qk.key("new"), qk.key("kept")
    C.set(kept, "original", ttl=100)
    for bad in (object(), {1, 2}, float("nan"), float("inf"), {"a": object()}, [1, {2}], "nul\x00"):
        with pytest.raises(SerializationError):
            C.set(k, bad)
        with pytest.raises(SerializationError):
            C.set(kept, bad)
        with pytest.raises(SerializationError):
            C.set_many({qk.key("m1"): 1, qk.key("m2"): bad})
    assert C.exists(k) is False
    assert C.get_many([qk.key("m1"), qk.key("m2")]) == {}
    assert C.get(kept) == "original"
    assert 98 <= C.ttl(kept) <= 100


def test_bad_keys_are_refused(qk: Any) -> None:
    C = qk.cache
    good = qk.key("good")
    for bad in ("", "x" * 513, "a\x00b", None, 12, b"key"):
        for method, args in (
            ("set", (bad, 1)),
            ("get", (bad,)),
            ("delete", (bad,)),
            ("exists", (bad,)),
            ("incr", (bad,)),
            ("ttl", (bad,)),
            ("get_many", ([good, bad],)),
            ("set_many", ({good: 1, bad: 2},)),
        ):
            with pytest.raises(ValidationError):
                getattr(C, method)(*args)
                pytest.fail(f"{method}{args!r} was accepted")
    with pytest.raises(ValidationError):
        C.get_many(good)  # one string, not a list of keys
    with pytest.raises(ValidationError):
        C.set_many([(good, 1)])
    with pytest.raises(ValidationError):
        C.clear(5)
    assert C.exists(good) is False  # no half-written set_many


def test_bad_ttls_are_refused(qk: Any) -> None:
    C = qk.cache
    k, kept = qk.key("k"), qk.key("kept")
    C.set(kept, 1)
    for bad in (-1, -0.5, float("nan"), float("inf"), 1e12, "10", True):
        with pytest.raises(ValidationError):
            C.set(k, 1, ttl=bad)
        with pytest.raises(ValidationError):
            C.set(kept, 2, ttl=bad)
        with pytest.raises(ValidationError):
            C.set_many({k: 1}, ttl=bad)
    assert C.exists(k) is False
    assert C.get(kept) == 1 and C.ttl(kept) == math.inf


def test_purge_expired_reclaims_expired_entries(qk: Any) -> None:
    C = qk.cache
    expired = [qk.key(f"e{i}") for i in range(3)]
    live = qk.key("live")
    C.set_many(dict.fromkeys(expired, "old"), ttl=0.2)
    C.set(live, "new", ttl=100)
    sql = qk.kind in ("sqlite", "postgresql", "mysql")
    if sql:
        assert _rows(qk) == 4
    time.sleep(0.3)
    n = C.purge_expired()
    assert isinstance(n, int) and not isinstance(n, bool) and n >= 0
    if sql:
        assert n >= 3
        assert _rows(qk) == 1  # the storage is reclaimed
    for k in expired:
        assert C.get(k) is None and C.exists(k) is False and C.ttl(k) is None
    assert C.get(live) == "new"
    more = [qk.key(f"f{i}") for i in range(3)]
    C.set_many(dict.fromkeys(more, 1), ttl=0.2)
    time.sleep(0.3)
    first = C.purge_expired(limit=1)
    assert isinstance(first, int) and 0 <= first <= 1
    if sql:
        assert first == 1 and _rows(qk) == 3
    C.purge_expired(limit=1000)
    if sql:
        assert _rows(qk) == 1
    assert C.get_many(more) == {}
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ValidationError):
            C.purge_expired(bad)


@pytest.mark.parametrize("api_kind", ["sync", "async"])
def test_memory_cache_evicts_the_least_recently_used(api_kind: str) -> None:
    runner = LoopRunner() if api_kind == "async" else None
    h = StoreHandle("memory", api_kind, "memory://?max_entries=3", runner)
    try:
        C = h.store.cache
        C.set("a", 1)
        C.set("b", 2)
        C.set("c", 3)
        assert C.get("a") == 1  # a is now the most recently used
        C.set("d", 4)  # evicts b
        assert C.exists("b") is False
        assert C.get_many(["a", "c", "d"]) == {"a": 1, "c": 3, "d": 4}
        C.set("d", 40)
        C.get("c")
        C.get("a")
        C.set("e", 5)  # evicts d, the least recently used
        assert C.get_many(["a", "b", "c", "d", "e"]) == {"a": 1, "c": 3, "e": 5}
        for i in range(10):
            C.set(f"x{i}", i)
        assert C.get_many([f"x{i}" for i in range(10)]) == {"x7": 7, "x8": 8, "x9": 9}
    finally:
        h.close()
        if runner is not None:
            runner.close()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_redis_connection_closed_while_idle_is_replaced(api: str, monkeypatch: Any) -> None:
    """A pooled connection the server dropped is noticed before use, not failed on."""
    need("redis")
    from storekeeper._async.backends import redis as async_backend
    from storekeeper._sync.backends import redis as sync_backend

    # check every idle connection, not only those idle for seconds
    monkeypatch.setattr(async_backend, "_IDLE_CHECK_S", 0.0)
    monkeypatch.setattr(sync_backend, "_IDLE_CHECK_S", 0.0)
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    url = with_query(SERVER_URLS["redis"], prefix=prefix)
    runner = LoopRunner() if api == "async" else None
    h = StoreHandle("redis", api, "memory://", runner, cache_url=url)
    raw = raw_redis()
    try:
        cache = h.store.cache
        cache.set("k", {"v": 1})
        backend = h.store.cache.backend
        client_id = int(backend.execute("CLIENT", "ID"))
        assert raw.client_kill_filter(_id=client_id) == 1
        time.sleep(0.05)
        assert cache.get("k") == {"v": 1}
        assert cache.exists("k")
    finally:
        for key in raw.scan_iter(match=f"{prefix}*"):
            raw.delete(key)
        raw.close()
        h.close()
        if runner is not None:
            runner.close()
