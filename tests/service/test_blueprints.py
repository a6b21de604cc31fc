"""The seed's four blueprint examples, served by ``storekeeper serve FILE`` in a subprocess.

The files in ``examples/blueprints/`` are the seed's, with ``${VAR:-…}`` around
ports and database URLs: the tests set the ports to free ones and the URLs to
the local PostgreSQL test database, create a task through every
FastAPIEndpoint and read it back from the database the blueprint names.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import SERVER_URLS, need, sql_backend
from prometheus_client.parser import text_string_to_metric_families
from serving import Service, cli, cli_env, free_port

from storekeeper import DataStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "blueprints"


def pg() -> str:
    need("postgresql")
    return str(SERVER_URLS["postgresql"])


def drop(url: str, *tables: str, collections: tuple[str, ...] = ()) -> None:
    with DataStore(url) as ds:
        b = sql_backend(ds)
        for t in tables:
            b.execute(f'DROP TABLE IF EXISTS "{t}"')
        for c in collections:
            b.execute(f'DROP TABLE IF EXISTS "c_{c}"')
            b.execute("DELETE FROM sk_collections WHERE name = %s", (c,))


def stored(url: str, collection: str, item_id: str) -> Any:
    with DataStore(url) as ds:
        return ds.repository(dict, collection).get(item_id)


def test_memory_store_blueprint(tmp_path: Any) -> None:
    port = free_port()
    env = cli_env(TASK_API_PORT=str(port))
    with Service(["serve", str(EXAMPLES / "memory_store.yaml"), "--log-level", "warning"], [port],
                 env=env, cwd=str(tmp_path)) as svc:
        r = svc.http.post("/tasks", json={"title": "New Task", "completed": False})
        assert r.status_code == 201 and r.json()["id"] == "1"
        assert svc.http.get("/tasks/1").json()["data"]["title"] == "New Task"
        assert svc.http.get("/tasks/2").json() == {"status": "not_found", "action": "get", "id": "2"}
        h = svc.http.get("/health").json()
        assert h["status"] == "ok" and h["health"]["store_connected"] is True
        assert h["health"]["task_count"] == 1 and h["health"]["next_id"] == 2
        assert svc.http.get("/docs").status_code == 200


def test_database_store_blueprint(tmp_path: Any) -> None:
    url = pg()
    port = free_port()
    env = cli_env(API_SERVER_PORT=str(port), TASKS_DATABASE_URL=url)
    try:
        with Service(["serve", str(EXAMPLES / "database_store.yaml"), "--log-level", "warning"], [port],
                     env=env, cwd=str(tmp_path)) as svc:
            made = svc.http.post("/tasks", json={"title": "persisted"}).json()
            assert made["status"] == "success"
            row = stored(url, "application_data", made["id"])
            assert row is not None and row["title"] == "persisted"
            upd = svc.http.put(f"/tasks/{made['id']}", json={"completed": True}).json()
            assert upd["data"]["completed"] is True
            assert stored(url, "application_data", made["id"])["completed"] is True
    finally:
        drop(url, collections=("application_data",))


def test_production_blueprint_applies_migrations_and_serves_metrics(tmp_path: Any) -> None:
    url = pg()
    api, metrics = free_port(), free_port()
    drop(url, "tasks", "users", "audit_log")
    with DataStore(url) as ds:
        sql_backend(ds).execute("DELETE FROM migration_history WHERE version IN ('001', '002')")
        # schema.tables also names audit_log, which no migration creates: the
        # database the blueprint points at has it
        sql_backend(ds).execute("CREATE TABLE audit_log (id SERIAL PRIMARY KEY)")
    env = cli_env(PRODUCTION_API_PORT=str(api), METRICS_PORT=str(metrics), PRODUCTION_DATABASE_URL=url)
    try:
        with Service(["serve", str(EXAMPLES / "production_store.yaml"), "--log-level", "warning"],
                     [api, metrics], env=env, cwd=str(tmp_path), ready_path="/metrics") as svc:
            made = svc.http.post("/tasks", json={"title": "Important Task"}).json()
            assert made["status"] == "success"
            assert stored(url, "production_store", made["id"])["title"] == "Important Task"
            with DataStore(url) as ds:
                assert {"001", "002"} <= {r.version for r in ds.migrations.history()}
                assert ds.migrations.validate(["tasks", "users"]).ok
            import httpx

            text = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=10).text
            fams = {f.name: f for f in text_string_to_metric_families(text)}
            items = {s.labels["component"]: s.value for s in fams["storekeeper_store_items"].samples}
            assert items["production_store"] >= 1
            lat = fams["storekeeper_operation_duration_seconds"].samples
            assert any(s.labels.get("component") == "production_store" and s.labels.get("action") == "create"
                       for s in lat)
    finally:
        drop(url, "tasks", "users", "audit_log", collections=("production_store",))
        with DataStore(url) as ds:
            sql_backend(ds).execute("DELETE FROM migration_history WHERE version IN ('001', '002')")


def test_multi_store_blueprint(tmp_path: Any) -> None:
    url = pg()
    users, orders = free_port(), free_port()
    # order_store declares tables orders and order_items, and no migration: they exist
    drop(url, "orders", "order_items")
    with DataStore(url) as ds:
        sql_backend(ds).execute("CREATE TABLE orders (id SERIAL PRIMARY KEY)")
        sql_backend(ds).execute("CREATE TABLE order_items (id SERIAL PRIMARY KEY)")
    env = cli_env(USER_API_PORT=str(users), ORDER_API_PORT=str(orders), USERS_DATABASE_URL=url,
                  ORDERS_DATABASE_URL=url)
    try:
        with Service(["serve", str(EXAMPLES / "multi_store.yaml"), "--log-level", "warning"],
                     [users, orders], env=env, cwd=str(tmp_path)) as svc:
            import httpx

            u = svc.http.post("/tasks", json={"email": "a@example.org"}).json()
            assert stored(url, "user_data", u["id"])["email"] == "a@example.org"
            o = httpx.post(f"http://127.0.0.1:{orders}/tasks", json={"total": 12.5}, timeout=10).json()
            assert stored(url, "order_store", o["id"])["total"] == 12.5
            # the user_api's second binding, stream "cache", reaches the memory store
            c = svc.http.post("/streams/cache/tasks", json={"k": "v"}).json()
            assert c["id"] == "1"
            assert svc.http.get("/streams/cache/tasks/1").json()["data"]["k"] == "v"
            assert svc.http.get(f"/tasks/{u['id']}").json()["status"] == "success"
    finally:
        drop(url, "orders", "order_items", collections=("user_data", "order_store"))


def test_a_missing_declared_table_stops_the_blueprint(tmp_path: Any) -> None:
    url = pg()
    drop(url, "orders", "order_items")
    env = cli_env(USER_API_PORT=str(free_port()), ORDER_API_PORT=str(free_port()),
                  USERS_DATABASE_URL=url, ORDERS_DATABASE_URL=url)
    r = cli("serve", str(EXAMPLES / "multi_store.yaml"), env=env, cwd=str(tmp_path))
    assert r.returncode == 1
    assert "multi_store.yaml:20: order_store cannot start" in r.stderr and "orders" in r.stderr
    drop(url, collections=("user_data", "order_store"))


BAD = {
    "unknown_type": ("""system:
  name: s
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: PORT}
    - name: store
      type: Stroe
      config: {storage_type: memory}
""", 8, "unknown component type 'Stroe'"),
    "missing_binding_target": ("""system:
  name: s
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: PORT}
  bindings:
    - from_component: api
      to_component: task_store
      stream_name: input
""", 9, "to_component 'task_store' is not a component"),
    "bad_store_config": ("""system:
  name: s
  components:
    - name: store
      type: Store
      config:
        storage_type: database
""", 6, "database_url"),
    "port_in_use": ("""system:
  name: s
  components:
    - name: first
      type: FastAPIEndpoint
      config: {port: FREE}
    - name: second
      type: FastAPIEndpoint
      config:
        port: PORT
""", 10, "is in use"),
    "not_a_blueprint": ("""- just a list
""", None, "'system' mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_blueprints_are_refused_with_the_line(case: str, tmp_path: Any) -> None:
    text, line, message = BAD[case]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    free = free_port()
    try:
        path = tmp_path / f"{case}.yaml"
        path.write_text(text.replace("PORT", str(busy.getsockname()[1])).replace("FREE", str(free)))
        r = cli("serve", str(path), cwd=str(tmp_path))
        assert r.returncode == 1, r.stdout + r.stderr
        where = f"{path}:{line}:" if line else f"{path}:"
        assert where in r.stderr and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        # nothing started: the free port of an earlier endpoint is not served
        probe = socket.socket()
        try:
            assert probe.connect_ex(("127.0.0.1", free)) != 0
        finally:
            probe.close()
    finally:
        busy.close()


def test_refused_blueprint_touches_no_database(tmp_path: Any) -> None:
    url = pg()
    coll = f"t{uuid.uuid4().hex[:10]}"
    path = tmp_path / "bp.yaml"
    path.write_text(f"""system:
  name: s
  components:
    - name: store
      type: Store
      config: {{storage_type: database, database_url: "{url}", table_name: {coll}}}
    - name: api
      type: FastAPIEndpoint
      config: {{port: 70000}}
""")
    r = cli("serve", str(path), cwd=str(tmp_path))
    assert r.returncode == 1 and f"{path}:9:" in r.stderr
    with DataStore(url) as ds:
        rows = sql_backend(ds).fetchall("SELECT 1 FROM information_schema.tables WHERE table_name = %s",
                                        (f"c_{coll}",))
    assert rows == []
