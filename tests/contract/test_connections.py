"""Connections: a bounded pool, and recovery from connections the server dropped."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from conftest import SERVER_URLS, need, sql_backend

from storekeeper import AsyncDataStore, DatabaseConnectionError, DataStore
from storekeeper.sql.dialect import split_statements


def test_pool_is_bounded_and_waits_for_a_free_connection(sql_sync: Any) -> None:
    url = sql_sync.url + ("&" if "?" in sql_sync.url else "?") + "max_connections=2&min_connections=1"
    repo_name = sql_sync.repo(dict).collection
    with DataStore(url) as ds:
        repo = ds.repository(dict, repo_name)
        repo.count()
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                with ds.transaction():
                    repo.create({"i": i})
                    time.sleep(0.05)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert repo.count() == 6


def test_an_exhausted_pool_says_so(sql_sync: Any) -> None:
    url = sql_sync.url + ("&" if "?" in sql_sync.url else "?")
    url += "max_connections=1&min_connections=1&connect_timeout=0.3"
    name = sql_sync.repo(dict).collection
    with DataStore(url) as ds:
        repo = ds.repository(dict, name)
        repo.count()
        held = threading.Event()
        done = threading.Event()

        def hold() -> None:
            with ds.transaction():
                repo.create({"x": 1})
                held.set()
                done.wait(10)

        t = threading.Thread(target=hold)
        t.start()
        held.wait(10)
        try:
            with pytest.raises(DatabaseConnectionError, match="busy"):
                repo.count()
        finally:
            done.set()
            t.join(10)
        assert repo.count() == 1


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_reads_survive_connections_the_server_dropped(kind: str, make_store: Any) -> None:
    from test_resilience import Resilient

    r = Resilient(kind, "sync")  # sessions named for this test: only they are cut
    try:
        repo = r.repo()
        d = repo.create({"a": 1})
        assert r.kill() >= 1
        assert repo.get(d["id"])["a"] == 1  # a dropped idle connection is replaced
        repo.create({"a": 2})
        assert repo.count() == 2
    finally:
        r.close()


def test_split_statements_handles_bodies() -> None:
    script = """
-- a comment
CREATE TABLE a (x INT);
CREATE OR REPLACE FUNCTION f() RETURNS trigger AS $$
BEGIN
    NEW.x = 1;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER t1 BEFORE UPDATE ON a
FOR EACH ROW EXECUTE FUNCTION f();
CREATE TRIGGER t2 AFTER INSERT ON a BEGIN
    UPDATE a SET x = 2;
END;
CREATE INDEX i ON a (x);
"""
    parts = split_statements(script)
    assert [p.split()[0:3] for p in parts] == [
        ["CREATE", "TABLE", "a"],
        ["CREATE", "OR", "REPLACE"],
        ["CREATE", "TRIGGER", "t1"],
        ["CREATE", "TRIGGER", "t2"],
        ["CREATE", "INDEX", "i"],
    ]
    assert "RETURN NEW;" in parts[1] and parts[3].endswith("END")


def test_mysql_binds_bytes_parameters_sync_and_async() -> None:
    """aiomysql 0.3 cannot escape bytes with PyMySQL >= 1.2; the backend's connections can."""
    need("mysql")
    url = SERVER_URLS["mysql"]
    value = bytes(range(256))
    expected = (value.hex().upper(),)
    with DataStore(url) as ds:
        assert sql_backend(ds).fetchone("SELECT HEX(%s)", (value,)) == expected

    async def fetch() -> Any:
        async with AsyncDataStore(url) as ads:
            backend: Any = ads.backend
            return await backend.fetchone("SELECT HEX(%(v)s), %(s)s", {"v": value, "s": "it's"})

    assert asyncio.run(fetch()) == (*expected, "it's")
