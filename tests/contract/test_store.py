"""Opening stores: schema versioning, failures, the factory and configuration."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SERVER_URLS, need, sql_backend

from storekeeper import (
    AsyncDataStore,
    ConfigError,
    DatabaseConnectionError,
    DataStore,
    StorageFactory,
    UnsupportedOperation,
)
from storekeeper.sql.schema import store_schema

CTX = mp.get_context("fork")

OWN_TABLES = {
    "schema_version", "sk_collections", "component_state", "port_messages", "checkpoints",
    "component_metrics", "port_metrics", "system_health", "sink_storage",
}


def _tables(sk: Any) -> set[str]:
    b = sk.raw.backend
    if sk.kind == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    elif sk.kind == "postgresql":
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
    rows = b.fetchall(sql) if sk.api == "sync" else sk.runner.run(b.fetchall(sql))
    return {r[0] for r in rows}


def test_store_schema_is_applied_and_versioned(sql_sk: Any) -> None:
    sql_sk.store.open()
    assert OWN_TABLES <= _tables(sql_sk)
    b = sql_sk.raw.backend
    sql = "SELECT version, description FROM schema_version ORDER BY version"
    rows = b.fetchall(sql) if sql_sk.api == "sync" else sql_sk.runner.run(b.fetchall(sql))
    expected = [(s.version, s.description) for s in store_schema(b.dialect.name)]
    assert [(int(v), d) for v, d in rows] == expected


def _open(url: str, start: Any, out: Any) -> None:
    start.wait(30)
    try:
        with DataStore(url) as ds:
            ds.open()
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")


def _open_at_once(url: str, n: int = 3) -> list[str]:
    """Open *url* from *n* processes released at the same moment; their outcomes."""
    start, out = CTX.Barrier(n), CTX.Queue()
    procs = [CTX.Process(target=_open, args=(url, start, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    return results


def test_two_processes_open_a_fresh_sqlite_database_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    assert _open_at_once(url) == ["ok"] * 3
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
    assert versions == [s.version for s in store_schema("sqlite")]


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_two_processes_open_a_fresh_server_database_at_once(kind: str) -> None:
    need(kind)
    base = SERVER_URLS[kind]
    name = f"sk_fresh_{int(time.time() * 1000) % 10**9}"
    with DataStore(base) as admin:
        backend = sql_backend(admin)
        backend.execute(f"CREATE DATABASE {name}")
        url = base.rsplit("/", 1)[0] + f"/{name}"
        try:
            assert _open_at_once(url) == ["ok"] * 3
            with DataStore(url) as ds:
                rows = sql_backend(ds).fetchall(
                    "SELECT version FROM schema_version ORDER BY version"
                )
            assert [int(r[0]) for r in rows] == [s.version for s in store_schema(kind)]
        finally:
            if kind == "postgresql":
                backend.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                backend.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:secret-pw@127.0.0.1:1/app?max_retries=2&retry_delay_ms=5&connect_timeout=2",
        "mysql://app:secret-pw@127.0.0.1:1/app?max_retries=2&retry_delay_ms=5&connect_timeout=2",
    ],
)
@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_database_that_is_down(url: str, api: str, caplog: Any) -> None:
    info: pytest.ExceptionInfo[BaseException]
    if api == "sync":
        ds = DataStore(url)
        assert "secret-pw" not in repr(ds)
        repo = ds.repository(dict, "docs")
        with pytest.raises(DatabaseConnectionError) as info:
            repo.create({"a": 1})
        with pytest.raises(DatabaseConnectionError):
            ds.ping()
        ds.close()
    else:

        async def main() -> BaseException:
            ads = AsyncDataStore(url)
            assert "secret-pw" not in repr(ads)
            with pytest.raises(DatabaseConnectionError) as info:
                await ads.repository(dict, "docs").create({"a": 1})
            await ads.close()
            return info.value

        err = asyncio.run(main())
        info = pytest.ExceptionInfo.from_exception(err)
    text = str(info.value)
    assert "secret-pw" not in text and "127.0.0.1" in text
    assert "3 attempt" in text
    assert "secret-pw" not in caplog.text


def test_an_unopenable_sqlite_path() -> None:
    with pytest.raises(DatabaseConnectionError):
        DataStore("sqlite:////proc/no/such/dir/x.db?max_retries=0").ping()


def test_backends_without_repositories_say_so() -> None:
    # a Redis store serves queue and cache (seed 003); nothing connects to build it
    ds = DataStore("redis://127.0.0.1:1/0")
    with pytest.raises(UnsupportedOperation, match="redis does not offer repositories"):
        ds.repository(dict, "docs")
    with pytest.raises(UnsupportedOperation, match="redis does not offer transactions"):
        with ds.transaction():
            pass
    ds.close()
    with pytest.raises(UnsupportedOperation, match="mongodb"):
        DataStore("mongodb://127.0.0.1/db")
    with pytest.raises(UnsupportedOperation, match="mongodb does not offer the queue"):
        _ = DataStore("memory://", queue_url="mongodb://127.0.0.1/db").queue
    with pytest.raises(ConfigError):
        DataStore("oracle://x/y")


def test_default_url_is_the_embedded_sqlite_file(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOREKEEPER_URL", raising=False)
    with DataStore() as ds:
        ds.repository(dict, "docs").create({"a": 1})
    assert (tmp_path / "data" / "storekeeper.db").exists()


def test_storage_factory_short_road(tmp_path: Path) -> None:
    repo = StorageFactory.create_repository(
        backend="sqlite", entity_class=dict, collection_name="documents",
        database_path=str(tmp_path / "f.db"),
    )
    d = repo.create({"title": "x"})
    got = repo.get(d["id"])
    assert got is not None and got["title"] == "x"
    repo.store.close()
    repo2 = StorageFactory.create_from_config(
        config_dict={"backend": "sqlite", "database": str(tmp_path / "f.db")},
        entity_class=dict, collection_name="documents",
    )
    assert repo2.count() == 1
    repo2.store.close()


def test_store_from_environment_file(tmp_path: Path, monkeypatch: Any) -> None:
    cfg = tmp_path / "database.yaml"
    cfg.write_text(
        "development:\n  database_type: sqlite\n  database_name: ${DB_FILE:-" + str(tmp_path / "dev.db") + "}\n"
        "production:\n  database_type: postgresql\n  host: ${DB_HOST}\n  database_name: app\n"
    )
    with DataStore.from_config(cfg, environment="development") as ds:
        ds.repository(dict, "docs").create({"a": 1})
    assert (tmp_path / "dev.db").exists()
    monkeypatch.delenv("DB_HOST", raising=False)
    with pytest.raises(ConfigError, match="DB_HOST"):
        DataStore.from_config(cfg, environment="production")


def test_async_sqlite_waits_for_a_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/locked.db"
    with DataStore(url) as ds:
        ds.repository(dict, "docs").count()
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock

    async def main() -> tuple[int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        async def release_later() -> None:
            await asyncio.sleep(0.3)
            holder.execute("COMMIT")

        async with AsyncDataStore(url) as ads:
            repo = ads.repository(dict, "docs")
            t = asyncio.create_task(ticker())
            r = asyncio.create_task(release_later())
            await repo.create({"waited": True})
            await r
            t.cancel()
            return ticks, await repo.count()

    ticks, count = asyncio.run(main())
    holder.close()
    assert count == 1
    assert ticks > 50  # the loop kept running while the write waited for the lock
