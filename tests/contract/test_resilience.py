"""Connections that heal: what a caller sees when the server ends the store's sessions.

Every test cuts only its own store's sessions, found by an application name
unique to the test: ``pg_terminate_backend`` on PostgreSQL (matched by
``application_name``), ``CLIENT KILL`` on Redis (matched by the name set with
``CLIENT SETNAME``), ``KILL`` on MariaDB (the ids of the store's own
connections, which performance_schema-less servers cannot match by connect
attribute). Other runs sharing the servers are never touched.

Wanted, sync and async: reads, pings and waits see no error; a write in
flight or a transaction raises one :class:`DatabaseConnectionError` and
nothing is written twice; the next call works.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import psycopg
import pymysql
import pytest
from conftest import (
    SERVER_URLS,
    LoopRunner,
    StoreHandle,
    need,
    raw_redis,
    sql_backend,
    with_query,
)

from storekeeper import DatabaseConnectionError, DataStore

NETWORKED = ["postgresql", "mysql", "redis"]
SQL_SERVERS = ["postgresql", "mysql"]


# --- killing the store's own sessions ---------------------------------------------------


def _pg_admin() -> Any:
    return psycopg.connect(SERVER_URLS["postgresql"], autocommit=True, connect_timeout=5)


def _my_admin() -> Any:
    cfg = SERVER_URLS["mysql"].split("://", 1)[1]
    auth, rest = cfg.split("@", 1)
    user, _, password = auth.partition(":")
    hostport, _, db = rest.partition("/")
    host, _, port = hostport.partition(":")
    return pymysql.connect(
        host=host, port=int(port or 3306), user=user, password=password,
        database=db.split("?", 1)[0], autocommit=True, connect_timeout=5,
    )


def kill_pg(app: str) -> int:
    """Terminate every session named *app* (waiting until each is gone); return how many."""
    with _pg_admin() as c:
        rows = c.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (app,),
        ).fetchall()
    return len(rows)


def kill_mysql(ids: set[int]) -> int:
    """KILL the MariaDB sessions *ids* (the store's own) and wait until they are gone."""
    if not ids:
        return 0
    with _my_admin() as c, c.cursor() as cur:
        for i in ids:
            try:
                cur.execute(f"KILL {int(i)}")
            except pymysql.MySQLError:
                pass  # gone already
        marks = ", ".join(["%s"] * len(ids))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            cur.execute(
                f"SELECT COUNT(*) FROM information_schema.processlist WHERE id IN ({marks})",
                tuple(ids),
            )
            row = cur.fetchone()
            if not row or not row[0]:
                break
            time.sleep(0.01)
    return len(ids)


def kill_redis(app: str) -> int:
    client = raw_redis()
    try:
        ids = [c["id"] for c in client.client_list() if c.get("name") == app]
        for i in ids:
            client.client_kill_filter(_id=i)
    finally:
        client.close()
    return len(ids)


class Resilient:
    """A store (sync or async) whose sessions carry a name unique to the test."""

    def __init__(self, kind: str, api: str) -> None:
        need(kind)
        self.kind = kind
        self.api = api
        self.app = f"sk_t_{uuid.uuid4().hex[:12]}"
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.queues: list[str] = []
        self.runner = LoopRunner() if api == "async" else None
        side: str | None = None
        if kind == "redis":
            side = with_query(
                SERVER_URLS["redis"], prefix=f"{self.prefix}:", application_name=self.app
            )
            url = "memory://"
        else:
            url = with_query(SERVER_URLS[kind], application_name=self.app)
        self.url = url
        self.side = side
        self.h = StoreHandle(kind, api, url, self.runner, queue_url=side, cache_url=side)
        self.store = self.h.store
        self._mysql_ids: set[int] = set()

    def repo(self, **kw: Any) -> Any:
        return self.h.repo(dict, **kw)

    def qname(self) -> str:
        name = f"q_{self.prefix}_{len(self.queues)}"
        self.queues.append(name)
        return name

    def other_store(self) -> DataStore:
        """A sync store on the same database whose sessions are not this test's."""
        if self.kind == "redis":
            assert self.side is not None
            return DataStore("memory://", queue_url=self.side.replace(self.app, "sk_t_other"),
                             cache_url=self.side.replace(self.app, "sk_t_other"))
        return DataStore(SERVER_URLS[self.kind])

    def note_current_session(self) -> None:
        """MariaDB: remember the id of the connection the caller's transaction runs on."""
        row = cast(Any, self.store.backend).fetchone("SELECT CONNECTION_ID()")
        self._mysql_ids.add(int(row[0]))

    def session_ids(self) -> set[int]:
        """MariaDB: the ids of the store's idle pooled connections (plus any noted)."""
        backend = self.h.raw.backend
        ids = set(self._mysql_ids)
        for conn in list(backend._slots):
            if conn is not None and not conn.broken:
                ids.add(int(conn.raw.server_thread_id[0]))
        return ids

    def kill(self) -> int:
        """End every server session of this store; return how many were ended."""
        if self.kind == "postgresql":
            return kill_pg(self.app)
        if self.kind == "redis":
            return kill_redis(self.app)
        ids = self.session_ids()
        self._mysql_ids.clear()
        return kill_mysql(ids)

    def close(self) -> None:
        try:
            for q in self.queues:
                self.store.queue.purge(q)
            if self.kind == "redis":
                client = raw_redis()
                try:
                    keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
                    if keys:
                        client.delete(*keys)
                finally:
                    client.close()
        finally:
            self.h.close()
            if self.runner is not None:
                self.runner.close()


@pytest.fixture(params=NETWORKED)
def res(request: pytest.FixtureRequest, api: str) -> Iterator[Resilient]:
    r = Resilient(str(request.param), api)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(params=SQL_SERVERS)
def sql_res(request: pytest.FixtureRequest, api: str) -> Iterator[Resilient]:
    r = Resilient(str(request.param), api)
    try:
        yield r
    finally:
        r.close()


# --- between calls ----------------------------------------------------------------------


def test_sessions_carry_the_configured_application_name(res: Resilient) -> None:
    res.store.queue.length(res.qname())
    if res.kind == "mysql":
        assert res.session_ids()  # the store's connections, asked by their own id
        # the connect attribute the server records (performance_schema shows it where on)
        conns = [c for c in list(res.h.raw.backend._slots) if c is not None]
        assert conns and all(c.raw._connect_attrs["program_name"] == res.app for c in conns)
        return
    assert res.kill() >= 1  # found by name: the name reached the server


def test_default_application_name_is_storekeeper() -> None:
    need("postgresql")
    with DataStore(SERVER_URLS["postgresql"]) as ds:
        row = sql_backend(ds).fetchone("SELECT current_setting('application_name')")
        assert row == ("storekeeper",)
    need("redis")
    client = raw_redis()
    try:
        with DataStore("memory://", cache_url=SERVER_URLS["redis"]) as ds:
            ds.cache.exists("sk_probe_name")
            assert client.client_list() and any(
                c.get("name") == "storekeeper" for c in client.client_list()
            )
    finally:
        client.close()


def test_sql_calls_after_the_sessions_were_killed(sql_res: Resilient) -> None:
    r = sql_res
    repo = r.repo()
    doc = repo.create({"a": 1})
    assert r.kill() >= 1
    assert repo.get(doc["id"])["a"] == 1  # a read: no error
    assert r.kill() >= 1
    assert r.store.ping() is True  # a ping: no error
    assert r.kill() >= 1
    repo.create({"a": 2})  # a write on a dead idle connection: replaced before it is sent
    assert r.kill() >= 1
    doc["a"] = 3
    updated = repo.update(doc)
    assert updated["version"] == 2
    assert r.kill() >= 1
    assert repo.count() == 2
    assert repo.get(doc["id"])["version"] == 2  # written once


def test_queue_and_cache_calls_after_the_sessions_were_killed(res: Resilient) -> None:
    q = res.qname()
    key = f"{res.prefix}:k"
    res.store.queue.push(q, {"n": 1})
    res.store.cache.set(key, {"v": 1})
    assert res.kill() >= 1
    assert res.store.cache.get(key) == {"v": 1}
    assert res.kill() >= 1
    assert res.store.queue.length(q) == 1
    assert res.kill() >= 1
    res.store.queue.push(q, {"n": 2})
    assert res.kill() >= 1
    res.store.cache.set(key, {"v": 2})
    assert res.kill() >= 1
    assert res.store.ping() is True
    assert res.store.queue.pop(q) == {"n": 1}
    assert res.kill() >= 1
    assert res.store.queue.pop(q) == {"n": 2}
    assert res.store.queue.pop(q) is None  # nothing pushed twice
    assert res.store.cache.get(key) == {"v": 2}


# --- during a wait ----------------------------------------------------------------------


def _in_background(fn: Any) -> threading.Thread:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.errors = errors  # type: ignore[attr-defined]
    t.start()
    return t


def test_a_waiting_pop_outlives_killed_sessions(res: Resilient) -> None:
    q = res.qname()
    res.store.queue.length(q)  # connected
    pusher = res.other_store()

    def cut_then_push() -> None:
        for _ in range(3):
            time.sleep(0.3)
            res.kill()
        time.sleep(0.3)
        pusher.queue.push(q, {"late": True})

    t = _in_background(cut_then_push)
    try:
        started = time.monotonic()
        got = res.store.queue.pop(q, timeout=8)
        elapsed = time.monotonic() - started
    finally:
        t.join(15)
        pusher.close()
    assert not t.errors, t.errors  # type: ignore[attr-defined]
    assert got == {"late": True}
    assert 1.0 < elapsed < 7


def test_a_wait_with_nothing_coming_lasts_until_its_deadline(res: Resilient) -> None:
    q = res.qname()
    res.store.queue.length(q)

    def cut() -> None:
        for _ in range(2):
            time.sleep(0.3)
            res.kill()

    t = _in_background(cut)
    started = time.monotonic()
    got = res.store.queue.receive(q, timeout=1.5)
    elapsed = time.monotonic() - started
    t.join(10)
    assert got is None
    assert elapsed >= 1.45


# --- inside a transaction -----------------------------------------------------------------


def test_a_transaction_whose_connection_died_raises_once_and_rolls_back(
    sql_res: Resilient,
) -> None:
    r = sql_res
    repo = r.repo()
    repo.count()
    raised = 0
    try:
        with r.store.transaction():
            repo.create({"k": 1})
            if r.kind == "mysql":
                r.note_current_session()
            assert r.kill() >= 1
            repo.create({"k": 2})
    except DatabaseConnectionError as exc:
        raised += 1
        assert exc.transient is True
    assert raised == 1
    assert repo.count() == 0  # rolled back whole
    repo.create({"k": 3})
    assert repo.count() == 1


def test_a_commit_after_the_connection_died_raises_once(sql_res: Resilient) -> None:
    r = sql_res
    repo = r.repo()
    repo.count()
    with pytest.raises(DatabaseConnectionError):
        with r.store.transaction():
            repo.create({"k": 1})
            if r.kind == "mysql":
                r.note_current_session()
            r.kill()
    assert repo.count() == 0
    assert r.store.ping() is True


# --- a write in flight --------------------------------------------------------------------


def test_a_write_in_flight_raises_once_and_is_not_sent_again(sql_res: Resilient) -> None:
    r = sql_res
    repo = r.repo()
    doc = repo.create({"a": 1})
    table = f"c_{repo.collection}"
    admin = _pg_admin() if r.kind == "postgresql" else _my_admin()
    try:
        # hold the row: the store's update waits on the lock, in flight, when it is cut
        if r.kind == "postgresql":
            admin.autocommit = False
            admin.execute(f'SELECT id FROM "{table}" WHERE id = %s FOR UPDATE', (doc["id"],))
        else:
            admin.autocommit(False)
            with admin.cursor() as cur:
                cur.execute(f"SELECT id FROM `{table}` WHERE id = %s FOR UPDATE", (doc["id"],))

        def cut_the_waiting_writer() -> None:
            time.sleep(0.5)
            if r.kind == "postgresql":
                kill_pg(r.app)
                return
            with _my_admin() as c, c.cursor() as cur:
                cur.execute(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE info LIKE %s AND id <> CONNECTION_ID()",
                    (f"%{table}%",),
                )
                kill_mysql({int(x[0]) for x in cur.fetchall()})

        t = _in_background(cut_the_waiting_writer)
        doc["a"] = 2
        raised = 0
        try:
            repo.update(doc)
        except DatabaseConnectionError:
            raised += 1
        t.join(10)
        assert not t.errors, t.errors  # type: ignore[attr-defined]
        assert raised == 1
    finally:
        admin.rollback()
        admin.close()
    again = repo.get(doc["id"])
    assert again["a"] == 1 and again["version"] == 1  # not applied, not sent twice
    doc["version"] = 1
    assert repo.update(doc)["version"] == 2
    assert repo.count() == 1


# --- permanent errors are not connection errors ---------------------------------------------


def _permanent_urls(tmp_path: Any) -> list[tuple[str, str]]:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    not_db = tmp_path / "not_a_db.db"
    not_db.write_bytes(b"this is no SQLite database " * 100)
    need("postgresql")
    need("mysql")
    need("redis")
    pg = SERVER_URLS["postgresql"]
    my = SERVER_URLS["mysql"]
    pg_host = pg.split("@", 1)[1].split("/", 1)[0]
    my_host = my.split("@", 1)[1].split("/", 1)[0]
    return [
        (f"postgresql://sk_no_such_role_{uuid.uuid4().hex[:6]}@{pg_host}/postgres", "unknown_user"),
        (f"postgresql://postgres@{pg_host}/sk_no_such_db_{uuid.uuid4().hex[:6]}",
         "unknown_database"),
        (f"mysql://root:sk-wrong-password@{my_host}/{my.rsplit('/', 1)[1]}", "authentication"),
        (f"mysql://root@{my_host}/sk_no_such_db_{uuid.uuid4().hex[:6]}", "unknown_database"),
        (f"sqlite:///{blocker}/sub/store.db", "unwritable_path"),
        (f"sqlite:///{not_db}", "not_a_database"),
        (with_query(SERVER_URLS["redis"].replace("redis://", "redis://:sk-wrong@"), x="1"),
         "authentication"),
    ]


def test_permanent_connect_errors_fail_at_once_and_say_which(
    api: str, runner: LoopRunner, tmp_path: Any
) -> None:
    for url, reason in _permanent_urls(tmp_path):
        redis_side = url.startswith("redis")
        started = time.monotonic()
        with pytest.raises(DatabaseConnectionError) as info:
            if api == "sync":
                with DataStore(
                    "memory://" if redis_side else url, cache_url=url if redis_side else None
                ) as ds:
                    ds.cache.exists("k") if redis_side else ds.ping()
            else:
                from storekeeper import AsyncDataStore

                async def go(url: str, redis_side: bool) -> None:
                    async with AsyncDataStore(
                        "memory://" if redis_side else url, cache_url=url if redis_side else None
                    ) as ads:
                        await (ads.cache.exists("k") if redis_side else ads.ping())

                runner.run(go(url, redis_side))
        elapsed = time.monotonic() - started
        err = info.value
        assert elapsed < 1.0, (url, elapsed)
        assert err.transient is False, url
        assert err.reason == reason, (url, err.reason, str(err))
        assert "attempt" not in str(err)
        assert "sk-wrong" not in str(err)  # the password never shows


def test_a_connection_refused_is_still_retried(api: str, runner: LoopRunner) -> None:
    url = "postgresql://postgres@127.0.0.1:1/x?max_retries=1&retry_delay_ms=20"
    with pytest.raises(DatabaseConnectionError) as info:
        if api == "sync":
            with DataStore(url) as ds:
                ds.ping()
        else:
            from storekeeper import AsyncDataStore

            async def go() -> None:
                async with AsyncDataStore(url) as ads:
                    await ads.ping()

            runner.run(go())
    assert info.value.transient is True
    assert info.value.reason is None
    assert "after 2 attempt(s)" in str(info.value)


def test_an_in_filter_of_100k_values_works_on_every_backend(sk: Any) -> None:
    from storekeeper import QueryFilter

    repo = sk.repo(dict, indexes=["n"])
    repo.bulk_create([{"n": i, "s": f"v{i}", "f": i + 0.5} for i in range(40)])
    many = list(range(100_000))
    assert repo.count(filters=[QueryFilter("n", "in", many)]) == 40
    assert repo.count(filters=[QueryFilter("s", "in", [f"v{i}" for i in many])]) == 40
    assert len(repo.list(filters=[QueryFilter("f", "in", [i + 0.5 for i in many])])) == 40
    assert repo.count(filters=[QueryFilter("n", "not_in", many[::2])]) == 20
    assert repo.count(filters=[QueryFilter("n", "in", [*many[50:], "x", None])]) == 0
    assert sk.store.ping() is True  # the pool is intact


def test_mariadb_refuses_a_statement_over_max_allowed_packet_and_keeps_its_pool(
    api: str, runner: LoopRunner
) -> None:
    from storekeeper import ValidationError

    r = Resilient("mysql", api)
    try:
        repo = r.repo()
        repo.create({"small": 1})
        huge = "x" * (17 * 1024 * 1024)
        with pytest.raises(ValidationError, match="max_allowed_packet") as info:
            repo.create({"big": huge})
        assert info.value.transient is False
        with pytest.raises(ValidationError, match="max_allowed_packet"):
            r.store.queue.push(r.qname(), huge)
        assert repo.count() == 1  # nothing written, and the store goes on
        assert r.store.ping() is True
        repo.create({"small": 2})
        assert repo.count() == 2
    finally:
        r.close()


def _nested(levels: int) -> dict[str, Any]:
    """A document whose containers nest *levels* deep (the document itself is level 1)."""
    doc: dict[str, Any] = {}
    inner = doc
    for _ in range(levels - 1):
        inner["a"] = {}
        inner = inner["a"]
    return doc


def test_json_nesting_limit_is_named_on_mariadb(sk: Any) -> None:
    from storekeeper import ValidationError

    repo = sk.repo(dict)
    ok = repo.create(_nested(31))
    assert repo.get(ok["id"]) is not None
    if sk.kind == "mysql":
        with pytest.raises(ValidationError, match="31 levels"):
            repo.create(_nested(32))
        assert repo.count() == 1
    else:
        deep = repo.create(_nested(200))
        got = repo.get(deep["id"])
        depth = 0
        while isinstance(got, dict) and got:
            got = got.get("a")
            depth += 1
        assert depth >= 199


_POOL_SCRIPT = """
import sys, psycopg
from storekeeper import DataStore
url, admin, app = sys.argv[1:4]
with DataStore(url) as ds:
    repo = ds.repository(dict, "sk_pool_probe_" + app[-12:])
    repo.count()
    for _ in range(3):
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE application_name = %s", (app,))
        repo.count()
    ds.backend.execute('DROP TABLE IF EXISTS "c_sk_pool_probe_' + app[-12:] + '"')
    ds.backend.execute("DELETE FROM sk_collections WHERE name = %s", ("sk_pool_probe_" + app[-12:],))
print("done")
"""


def test_psycopg_pool_messages_go_to_logging_not_stderr() -> None:
    """No logging configured (a plain script): the pool's discards must not reach stderr."""
    import os
    import subprocess
    import sys

    need("postgresql")
    app = f"sk_t_{uuid.uuid4().hex[:12]}"
    url = with_query(SERVER_URLS["postgresql"], application_name=app)
    out = subprocess.run(
        [sys.executable, "-c", _POOL_SCRIPT, url, SERVER_URLS["postgresql"], app],
        capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    assert out.stderr == ""


# --- in flight, at the backend: a read is sent again, a write is not -------------------------


def test_a_read_cut_mid_flight_is_sent_again(sql_res: Resilient) -> None:
    r = sql_res
    r.store.ping()
    marker = f"sk-marker-{uuid.uuid4().hex[:12]}"
    slow = (
        "SELECT pg_sleep(0.8), %s" if r.kind == "postgresql" else "SELECT SLEEP(0.8), %s"
    )

    def cut_the_reader() -> None:
        time.sleep(0.3)
        if r.kind == "postgresql":
            kill_pg(r.app)
            return
        with _my_admin() as c, c.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE info LIKE %s AND id <> CONNECTION_ID()",
                (f"%{marker}%",),
            )
            kill_mysql({int(x[0]) for x in cur.fetchall()})

    t = _in_background(cut_the_reader)
    started = time.monotonic()
    row = cast(Any, r.store.backend).fetchone(slow, (marker,))
    elapsed = time.monotonic() - started
    t.join(10)
    assert not t.errors, t.errors  # type: ignore[attr-defined]
    assert row is not None and row[-1] == marker
    assert elapsed > 1.0  # it ran twice: cut once, then whole on a fresh connection


def test_a_redis_write_cut_mid_flight_raises_once_and_is_not_sent_again(api: str) -> None:
    r = Resilient("redis", api)
    src, dst = f"{r.prefix}:src", f"{r.prefix}:dst"
    client = raw_redis()
    try:
        r.store.cache.exists(f"{r.prefix}:k")  # connected
        backend = r.store.cache.backend

        def cut_then_feed() -> None:
            time.sleep(0.4)
            kill_redis(r.app)
            time.sleep(0.2)
            client.rpush(src, "one")

        t = _in_background(cut_then_feed)
        raised = 0
        try:
            # a write that waits on the server: moves an item once one comes
            backend.execute("BLMOVE", src, dst, "LEFT", "RIGHT", 3)
        except DatabaseConnectionError:
            raised += 1
        t.join(10)
        assert raised == 1
        time.sleep(0.2)
        assert client.lrange(src, 0, -1) == [b"one"]  # not moved by a second send
        assert client.llen(dst) == 0
        assert r.store.ping() is True
    finally:
        client.close()
        r.close()


def test_application_name_is_set_from_a_config_mapping() -> None:
    need("postgresql")
    app = f"sk_t_{uuid.uuid4().hex[:12]}"
    from storekeeper import DatabaseConfig

    cfg = DatabaseConfig.from_dict({"url": SERVER_URLS["postgresql"], "application_name": app})
    with DataStore(cfg) as ds:
        row = sql_backend(ds).fetchone("SELECT current_setting('application_name')")
        assert row == (app,)
