"""The Store component of seed 000: process_item shapes, health, monitor, schema, streams.

Every backend a store can run on: ``Store`` in memory (``storage_type:
memory``) and over SQLite, PostgreSQL and MySQL (``storage_type: database``);
``V5EnhancedStore`` in testing mode and over each SQL server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from conftest import SERVER_URLS, need, sql_backend

from storekeeper import DataStore
from storekeeper.component import DatabaseSchemaValidationError, Store, V5EnhancedStore
from storekeeper.errors import ConfigError, DataValidationError, MigrationError

KINDS = ["memory", "sqlite", "postgresql", "mysql"]


def table() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def url_of(kind: str, tmp_path: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/c.db"
    need(kind)
    return str(SERVER_URLS[kind])


def drop_collection(url: str, name: str) -> None:
    with DataStore(url) as ds:
        b = sql_backend(ds)
        q = '"' if url.startswith("postgresql") else "`"
        b.execute(f"DROP TABLE IF EXISTS {q}c_{name}{q}")
        b.execute(f"DELETE FROM sk_collections WHERE name = {'%s' if 'sql' in url.split(':')[0] else '?'}", (name,))


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    kind = str(request.param)
    name = table()
    url = "memory://" if kind == "memory" else url_of(kind, tmp_path)
    if kind == "memory":
        s = Store("task_store", {"storage_type": "memory", "table_name": name})
    else:
        s = Store("task_store", {"storage_type": "database", "database_type": kind,
                                 "database_url": url, "table_name": name})
    yield s
    if kind in ("postgresql", "mysql"):
        drop_collection(url, name)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_crud_shapes(store: Store) -> None:
    async def go() -> None:
        async with store:
            made = await store.process_item({"action": "create", "data": {"title": "New Task", "completed": False}})
            assert made["status"] == "success" and set(made) == {"status", "id", "data"}
            tid = made["id"]
            assert isinstance(tid, str) and made["data"]["title"] == "New Task"
            if store.storage_type == "memory":
                assert tid == "1"  # the seed's ids in memory
            got = await store.process_item({"action": "get", "id": tid})
            assert got["status"] == "success" and got["data"]["title"] == "New Task"
            upd = await store.process_item({"action": "update", "id": tid, "data": {"completed": True}})
            assert upd["status"] == "success"
            assert upd["data"]["completed"] is True and upd["data"]["title"] == "New Task"
            lst = await store.process_item({"action": "list"})
            assert lst["status"] == "success" and [d["id"] for d in lst["data"]] == [tid]
            assert await store.process_item({"action": "delete", "id": tid}) == {"status": "success"}
            for action in ("get", "update", "delete"):
                item: dict[str, Any] = {"action": action, "id": tid}
                if action == "update":
                    item["data"] = {"x": 1}
                assert await store.process_item(item) == {"status": "not_found", "action": action, "id": tid}

    run(go())


def test_errors_are_answered_never_raised(store: Store) -> None:
    async def go() -> None:
        async with store:
            bad: list[Any] = [
                {"action": "frob"}, {"nothing": 1}, 42, None, "text", [1, 2],
                {"action": "create"}, {"action": "create", "data": [1]},
                {"action": "get"}, {"action": "get", "id": ""}, {"action": "get", "id": True},
                {"action": "update", "id": "1"}, {"action": "list", "filters": "x"},
                {"action": "list", "filters": [{"field": "a;drop", "operator": "eq", "value": 1}]},
                {"action": "list", "limit": 0}, {"action": "list", "sort_order": "up"},
                {"action": "create", "data": {"x": float("nan")}},
                {"action": "create", "data": {"when": object()}},
            ]
            for item in bad:
                out = await store.process_item(item)
                assert out["status"] == "error", item
                assert set(out) == {"status", "message", "error_type"}
                assert out["message"] and out["error_type"]
            assert (await store.process_item({"action": "frob"}))["error_type"] == "unknown_action"
            made = await store.process_item({"action": "create", "data": {"id": "fixed", "n": 1}})
            assert made["id"] == "fixed"
            if store.storage_type == "memory":  # an explicit id the counter meets is skipped
                assert (await store.process_item({"action": "create", "data": {"id": "1"}}))["id"] == "1"
                auto = await store.process_item({"action": "create", "data": {"n": 2}})
                assert auto["status"] == "success" and auto["id"].isdigit() and auto["id"] != "1"
                for key in ("1", auto["id"]):
                    await store.process_item({"action": "delete", "id": key})
            dup = await store.process_item({"action": "create", "data": {"id": "fixed", "n": 2}})
            assert dup["status"] == "error" and dup["error_type"] == "duplicate"
            # nothing the bad items said was written
            assert [d["id"] for d in (await store.process_item({"action": "list"}))["data"]] == ["fixed"]

    run(go())


def test_list_filters_sort_and_cursor_pages(store: Store) -> None:
    async def go() -> None:
        async with store:
            for i in range(7):
                await store.process_item({"action": "create", "data": {"n": i, "odd": i % 2 == 1}})
            page = await store.process_item({"action": "list", "filters": [{"field": "odd", "operator": "eq", "value": True}],
                                             "sort_by": "n", "sort_order": "desc", "limit": 2})
            assert [d["n"] for d in page["data"]] == [5, 3]
            nxt = await store.process_item({"action": "list", "filters": {"odd": True}, "sort_by": "n",
                                            "sort_order": "desc", "limit": 2, "cursor": page["next_cursor"]})
            assert [d["n"] for d in nxt["data"]] == [1] and nxt["next_cursor"] is None
            wrong = await store.process_item({"action": "list", "sort_by": "odd", "limit": 2,
                                              "cursor": page["next_cursor"]})
            assert wrong["status"] == "error"

    run(go())


def test_health_and_performance_summary(store: Store) -> None:
    async def go() -> None:
        h0 = store.get_health_status()
        assert h0["status"] == "unhealthy"  # before setup
        async with store:
            for i in range(5):
                await store.process_item({"action": "create", "data": {"i": i}})
            await store.process_item({"action": "get", "id": "missing"})
            await store.process_item({"action": "nope"})
            h = store.get_health_status()
            assert set(h) == {"status", "items_count", "storage_type", "task_count", "next_id"}
            assert h["status"] == "healthy" and h["items_count"] == 5 and h["task_count"] == 5
            assert h["storage_type"] == ("memory" if store.url == "memory://" else "database")
            assert h["next_id"] == (6 if store.storage_type == "memory" else None)
            fresh = await store.check_health(recount_after=0)
            assert fresh["store_connected"] is True and fresh["items_count"] == 5
            s = store.performance_monitor.get_performance_summary()
            assert s["total_operations"] == 7
            assert s["successful_operations"] == 6 and s["failed_operations"] == 1
            assert s["success_rate"] == pytest.approx(6 / 7)
            assert s["average_duration"] > 0
            c = s["actions"]["create"]
            assert c["count"] == 5 and 0 < c["p50"] <= c["p95"] <= c["p99"]
        assert store.get_health_status()["status"] == "unhealthy"  # after teardown

    run(go())


def test_store_data_with_validation(tmp_path: Any) -> None:
    schema = {"type": "object", "required": ["id", "title"],
              "properties": {"title": {"type": "string", "minLength": 1},
                             "timestamp": {"type": "string"}}}

    async def go() -> None:
        async with Store("s", {"storage_type": "database", "database_url": f"sqlite:///{tmp_path}/v.db",
                               "data_schema": schema}) as s:
            ok = await s.store_data_with_validation(
                {"id": "task_1", "title": "Important Task", "timestamp": "2025-08-03T10:00:00Z"})
            assert ok["status"] == "success" and ok["id"] == "task_1"
            with pytest.raises(DataValidationError, match="title"):
                await s.store_data_with_validation({"id": "task_2", "title": 5})
            with pytest.raises(DataValidationError):
                await s.store_data_with_validation(["not", "a", "mapping"])
            # the schema guards process_item's creates and updates too
            bad = await s.process_item({"action": "create", "data": {"title": "no id"}})
            assert bad["status"] == "error" and bad["error_type"] == "data_validation_error"
            upd = await s.process_item({"action": "update", "id": "task_1", "data": {"title": ""}})
            assert upd["error_type"] == "data_validation_error"
            assert [d["id"] for d in (await s.process_item({"action": "list"}))["data"]] == ["task_1"]

    run(go())


def test_the_component_never_shows_its_password() -> None:
    need("postgresql")
    secret = "pw" + uuid.uuid4().hex[:12]
    # the local server trusts 127.0.0.1: the password is accepted and must still never show
    url = SERVER_URLS["postgresql"].replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    assert secret in url
    name = table()
    s = Store("s", {"storage_type": "database", "database_url": url, "table_name": name})
    try:
        assert secret not in s.url and "postgres:***@" in s.url
        assert secret not in repr(s) and secret not in str(s)

        async def go() -> dict[str, Any]:
            async with s:
                r: dict[str, Any] = await s.process_item({"action": "create", "data": {"a": 1}})
                return r

        assert run(go())["status"] == "success"
    finally:
        drop_collection(SERVER_URLS["postgresql"], name)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="storage_type"):
        Store("s", {"storage_type": "tape"})
    with pytest.raises(ConfigError, match="database_url"):
        Store("s", {"storage_type": "database"})
    with pytest.raises(ConfigError, match="does not match"):
        Store("s", {"storage_type": "database", "database_type": "mysql", "database_url": "postgresql://h/db"})
    with pytest.raises(ConfigError):
        Store("s", {"storage_type": "memory", "table_name": "x; DROP TABLE y"})
    with pytest.raises(ConfigError, match="JSON Schema"):
        Store("s", {"data_schema": {"type": 5}})


def test_testing_mode_runs_on_sqlite_whatever_the_url() -> None:
    cfg = {"database": {"type": "postgresql", "connection_string": "postgresql://app_user:secure_pass@db-cluster:5432/x"},
           "testing_mode": True}

    async def go() -> None:
        async with V5EnhancedStore("enhanced_store", cfg) as s:
            assert s.database_type == "sqlite" and "secure_pass" not in repr(s)
            made = await s.process_item({"action": "create", "data": {"title": "t"}})
            assert (await s.process_item({"action": "get", "id": made["id"]}))["data"]["title"] == "t"

    run(go())


MIGRATIONS = [
    {"version": "001", "description": "Initial application schema",
     "sql": "CREATE TABLE {p}tasks (id INTEGER PRIMARY KEY, title VARCHAR(255) NOT NULL)"},
    {"version": "002", "description": "Add user management",
     "sql": "CREATE TABLE {p}users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL)"},
]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_v5_applies_migrations_and_validates(kind: str, tmp_path: Any) -> None:
    url = url_of(kind, tmp_path)
    p = f"t{uuid.uuid4().hex[:8]}_"
    migs = [{**m, "sql": str(m["sql"]).format(p=p)} for m in MIGRATIONS]
    coll = table()

    def cfg(migrations: list[dict[str, Any]], tables: list[str]) -> dict[str, Any]:
        return {"table_name": coll, "database": {
            "type": kind, "connection_string": url,
            "connection_pool": {"min_size": 1, "max_size": 4, "timeout": 5},
            "schema": {"tables": tables, "migrations": migrations}}}

    async def go() -> None:
        # a declared table no migration creates: setup is refused, naming it
        with pytest.raises(DatabaseSchemaValidationError, match=f"{p}users"):
            await V5EnhancedStore("s", cfg(migs[:1], [f"{p}tasks", f"{p}users"])).setup()
        s = V5EnhancedStore("s", cfg(migs, [f"{p}tasks", f"{p}users"]))
        async with s:
            assert s.ds is not None and s.ds.config.max_connections == 4
            report = await s.validate_schema_integrity()
            assert report.ok and f"{p}users" in report.checked
            again = await s.apply_schema_migrations()
            assert again.applied == []  # each once
            hist = [r.version for r in await s.ds.migrations.history()]
            assert {"001", "002"} <= set(hist)
        # an applied migration whose text changed is refused at setup
        changed = [migs[0], {**migs[1], "sql": str(migs[1]["sql"]).replace("email", "mail")}]
        with pytest.raises(MigrationError):
            await V5EnhancedStore("s", cfg(changed, [])).setup()

    try:
        run(go())
    finally:
        with DataStore(url) as ds:
            b = sql_backend(ds)
            for t in ("tasks", "users"):
                b.execute(f"DROP TABLE IF EXISTS {p}{t}")
            b.execute("DELETE FROM migration_history")
        if kind != "sqlite":
            drop_collection(url, coll)


def test_stream_mode_10000_items_with_malformed_ones(tmp_path: Any) -> None:
    """10,000 items, 1% malformed: every one answered, in order, and the loop still serves."""

    async def go() -> None:
        store = Store("task_store", {"storage_type": "database", "database_url": f"sqlite:///{tmp_path}/s.db"})
        send, recv = anyio.create_memory_object_stream[Any](100)
        out_send, out_recv = anyio.create_memory_object_stream[Any](100)
        store.receive_streams["input"] = recv
        store.send_streams["input"] = out_send
        await store.setup()
        n, bad_every = 10_000, 100
        malformed: list[Any] = [{"action": "explode"}, "not a mapping", {"action": "get"},
                                {"action": "create", "data": "x"}, None]
        answers: list[dict[str, Any]] = []

        async def produce() -> None:
            async with send:
                for i in range(n):
                    if i % bad_every == 7:
                        await send.send(malformed[(i // bad_every) % len(malformed)])
                    else:
                        await send.send({"action": "create", "data": {"i": i}, "request_id": i})

        async def consume() -> None:
            async for out in out_recv:
                answers.append(out)
                if len(answers) == n:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.run)
            tg.start_soon(produce)
            with anyio.fail_after(120):
                await consume()
            # the loop is alive: another sender gets answered too
            store_again = store  # same store, a new stream pair
            s2, r2 = anyio.create_memory_object_stream[Any](1)
            o2, i2 = anyio.create_memory_object_stream[Any](1)
            tg.start_soon(_serve_extra, store_again, r2, o2)
            await s2.send({"action": "list", "limit": 1})
            with anyio.fail_after(10):
                last = await i2.receive()
            assert last["status"] == "success" and len(last["data"]) == 1
            await s2.aclose()
            await i2.aclose()
            await out_recv.aclose()
        await store.teardown()
        errors = [a for a in answers if a["status"] == "error"]
        good = [a for a in answers if a["status"] == "success"]
        assert len(errors) == n // bad_every and len(good) == n - n // bad_every
        assert all(set(e) == {"status", "message", "error_type"} for e in errors)
        assert [g["request_id"] for g in good] == [i for i in range(n) if i % bad_every != 7]
        assert store.performance_monitor.get_performance_summary()["failed_operations"] == n // bad_every

    run(go())


async def _serve_extra(store: Store, recv: Any, reply: Any) -> None:
    extra = Store.__new__(Store)  # the same component answering on another stream pair
    extra.__dict__.update(store.__dict__)
    extra.receive_streams = {"x": recv}
    extra.send_streams = {"x": reply}
    async with reply:
        await extra.run()


def test_memory_ids_skip_ids_taken_explicitly() -> None:
    async def go() -> None:
        async with Store("s", {"storage_type": "memory"}) as s:
            assert (await s.process_item({"action": "create", "data": {"id": "1"}}))["id"] == "1"
            assert (await s.process_item({"action": "create", "data": {"id": "2"}}))["id"] == "2"
            made = await s.process_item({"action": "create", "data": {"n": 1}})
            assert made == {"status": "success", "id": "3", "data": made["data"]}
            assert s.get_health_status()["next_id"] == 4 and s.get_health_status()["items_count"] == 3

    run(go())
