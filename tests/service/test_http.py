"""The HTTP service, run as ``storekeeper serve`` in a subprocess and used over HTTP.

Every route on SQLite and PostgreSQL; the bearer token, the body cap, hostile
names and the password's absence from every output.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import SERVER_URLS, need, sql_backend
from prometheus_client.parser import text_string_to_metric_families
from serving import Service, cli_env, free_port

from storekeeper import DataStore

KINDS = ["sqlite", "postgresql"]


def uid() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=KINDS)
def served(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Service, str]]:
    kind = str(request.param)
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/svc.db"
    else:
        need(kind)
        url = SERVER_URLS[kind]
    port = free_port()
    svc = Service(["--url", url, "serve", "--port", str(port), "--log-level", "warning"], [port],
                  cwd=str(tmp_path))
    try:
        yield svc, url
    finally:
        svc.stop()
        _drop(url, "tasks")


def test_task_api_shapes(served: tuple[Service, str]) -> None:
    svc, _ = served
    h = svc.http
    tag = uid()
    r = h.post("/tasks", json={"title": "New Task", "completed": False, "tag": tag})
    assert r.status_code == 201
    made = r.json()
    assert made["status"] == "success" and made["data"]["title"] == "New Task"
    tid = made["id"]
    assert h.get(f"/tasks/{tid}").json()["data"]["tag"] == tag
    r = h.put(f"/tasks/{tid}", json={"completed": True})
    assert r.status_code == 200 and r.json()["data"]["completed"] is True
    r = h.patch(f"/tasks/{tid}", json={"note": "x"})
    assert r.json()["data"]["note"] == "x" and r.json()["data"]["completed"] is True
    for i in range(3):
        h.post("/tasks", json={"tag": tag, "n": i})
    r = h.get("/tasks", params={"filter": [f'tag:eq:"{tag}"', "n:gte:1"], "sort_by": "n",
                                "sort_order": "desc", "limit": 1})
    page = r.json()
    assert [d["n"] for d in page["data"]] == [2] and page["next_cursor"]
    r = h.get("/tasks", params={"filter": [f'tag:eq:"{tag}"', "n:gte:1"], "sort_by": "n",
                                "sort_order": "desc", "limit": 1, "cursor": page["next_cursor"]})
    assert [d["n"] for d in r.json()["data"]] == [1]
    assert h.delete(f"/tasks/{tid}").json() == {"status": "success"}
    r = h.get(f"/tasks/{tid}")
    assert r.status_code == 404 and r.json() == {"status": "not_found", "action": "get", "id": tid}
    assert h.delete(f"/tasks/{tid}").status_code == 404
    # bad input: 4xx with the seed's error shape
    r = h.get("/tasks", params={"filter": "nocolons"})
    assert r.status_code == 400 and r.json()["status"] == "error" and r.json()["error_type"]
    r = h.post("/tasks", json=[1, 2])
    assert r.status_code == 422 and r.json()["status"] == "error"
    r = h.post("/tasks", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = h.post("/tasks", json={"id": "dup-" + tag})
    assert r.status_code == 201
    r = h.post("/tasks", json={"id": "dup-" + tag})
    assert r.status_code == 409 and r.json()["error_type"] == "duplicate"


def test_health_docs_and_metrics(served: tuple[Service, str]) -> None:
    svc, url = served
    h = svc.http
    r = h.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["health"]["status"] == "healthy" and body["health"]["store_connected"] is True
    assert isinstance(body["health"]["task_count"], int)
    assert h.get("/docs").status_code == 200
    spec = h.get("/openapi.json").json()
    assert "/tasks/{task_id}" in spec["paths"] and "/queues/{queue}/receive" in spec["paths"]
    q = uid()
    h.post(f"/queues/{q}/messages", json={"data": {"n": 1}})
    h.post(f"/queues/{q}/messages", json={"data": {"n": 2}})
    h.post("/tasks", json={"x": 1})
    h.get("/cache/" + uid())
    h.put("/cache/k" + q, json={"value": 1})
    h.get("/cache/k" + q)
    text = h.get("/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    lat = fams["storekeeper_operation_duration_seconds"]
    assert lat.type == "histogram"
    creates = [s for s in lat.samples if s.name.endswith("_count") and s.labels.get("action") == "create"]
    assert creates and creates[0].value >= 1
    depth = {(s.labels["queue"], s.labels["status"]): s.value for s in fams["storekeeper_queue_messages"].samples}
    assert depth[(q, "pending")] == 2 and depth[(q, "completed")] == 0
    cache = {s.labels["result"]: s.value for s in fams["storekeeper_cache_requests"].samples
             if s.name.endswith("_total")}
    assert cache["hit"] >= 1 and cache["miss"] >= 1
    pool = {s.labels["state"]: s.value for s in fams["storekeeper_pool_connections"].samples}
    assert pool["max"] >= 1 and 0 <= pool["in_use"] <= pool["max"]
    h.post(f"/queues/{q}/purge")


def test_collections(served: tuple[Service, str]) -> None:
    svc, url = served
    h = svc.http
    c = uid()
    try:
        for i in range(5):
            assert h.post(f"/collections/{c}/items", json={"n": i, "kind": "odd" if i % 2 else "even"}).status_code == 201
        r = h.get(f"/collections/{c}/items", params={"filter": 'kind:eq:"even"', "sort_by": "n",
                                                     "sort_order": "desc", "limit": 2})
        page = r.json()
        assert [d["n"] for d in page["items"]] == [4, 2]
        r = h.get(f"/collections/{c}/items", params={"filter": 'kind:eq:"even"', "sort_by": "n",
                                                     "sort_order": "desc", "limit": 2, "cursor": page["next_cursor"]})
        assert [d["n"] for d in r.json()["items"]] == [0] and r.json()["next_cursor"] is None
        assert h.get(f"/collections/{c}/count", params={"filter": "n:lt:3"}).json() == {"count": 3}
        one = h.post(f"/collections/{c}/items", json={"id": "one", "v": 1}).json()
        again = h.post(f"/collections/{c}/items", json={"id": "one", "v": 9})
        assert again.status_code == 409 and again.json()["error_type"] == "duplicate"
        assert h.get(f"/collections/{c}/items/one").json()["v"] == 1
        r = h.put(f"/collections/{c}/items/one", json={**one, "v": 2})
        assert r.status_code == 200 and r.json()["v"] == 2
        stale = h.put(f"/collections/{c}/items/one", json={**one, "v": 3})  # old version
        assert stale.status_code == 409
        assert h.put(f"/collections/{c}/items/missing", json={"v": 1}).status_code == 404
        assert h.delete(f"/collections/{c}/items/one").json() == {"deleted": True}
        assert h.get(f"/collections/{c}/items/one").status_code == 404
        assert h.get(f"/collections/{c}/items", params={"filter": "n:frob:1"}).status_code == 400
        assert h.get(f"/collections/{c}/items", params={"cursor": "garbage"}).status_code == 400
    finally:
        _drop(url, c)


def _drop(url: str, collection: str) -> None:
    if url.startswith("sqlite"):
        return
    with DataStore(url) as ds:
        b = sql_backend(ds)
        b.execute(f'DROP TABLE IF EXISTS "c_{collection}"')
        b.execute("DELETE FROM sk_collections WHERE name = %s", (collection,))


def test_workflows_states_checkpoints(served: tuple[Service, str]) -> None:
    svc, url = served
    h = svc.http
    wf = uid()
    ex = h.put("/workflows/executions", json={"workflow_id": wf, "status": "running", "input": {"env": "t"}}).json()
    eid = ex["exec_id"]
    parent = h.put("/workflows/task-states", json={
        "task_id": "extract", "workflow_exec_id": eid, "workflow_id": wf, "status": "running"}).json()
    for i, st in enumerate(["success", "failed", "running"]):
        r = h.put("/workflows/task-states", json={
            "task_id": f"part-{i}", "workflow_exec_id": eid, "workflow_id": wf, "status": st,
            "parent_state_id": parent["task_exec_id"]})
        assert r.status_code == 200
    tree = h.get(f"/workflows/task-states/{parent['task_exec_id']}/tree").json()["items"]
    assert len(tree) == 4 and tree[0]["task_exec_id"] == parent["task_exec_id"]
    prog = h.get(f"/workflows/task-states/{parent['task_exec_id']}/progress").json()
    assert prog["total_children"] == 3 and prog["success_count"] == 1 and prog["failed_count"] == 1
    assert h.get(f"/workflows/task-states/{parent['task_exec_id']}").json()["task_id"] == "extract"
    got = h.get(f"/workflows/executions/{eid}", params={"include_tasks": True}).json()
    assert got["workflow_id"] == wf and set(got["tasks"]) == {"extract", "part-0", "part-1", "part-2"}
    page = h.get("/workflows/executions", params={"workflow_id": wf}).json()
    assert [e["exec_id"] for e in page["items"]] == [eid]
    assert h.get("/workflows/executions/nope").status_code == 404
    r = h.put("/workflows/task-states", json={"task_id": "orphan", "workflow_exec_id": "missing",
                                              "workflow_id": wf})
    assert r.status_code == 404
    assert h.get("/workflows/task-states/bad id!").status_code == 400
    # component state and checkpoints are written by components, read here
    comp = uid()
    with DataStore(url) as ds:
        ds.states.save(comp, "Source", {"offset": 1})
        ds.states.save(comp, "Source", {"offset": 2})
        ds.checkpoints.save(comp + "-cp", comp, {"offset": 2})
        try:
            assert h.get(f"/states/{comp}").json()["state"] == {"offset": 2}
            assert h.get(f"/states/{comp}", params={"version": 1}).json()["state"] == {"offset": 1}
            assert [s["version"] for s in h.get(f"/states/{comp}/history").json()["items"]] == [2, 1]
            assert h.get(f"/checkpoints/{comp}-cp").json()["data"] == {"offset": 2}
            assert len(h.get(f"/checkpoints/{comp}-cp/versions").json()["items"]) == 1
            assert h.get(f"/states/{uid()}").status_code == 404
        finally:
            ds.states.delete(comp)
            ds.checkpoints.delete(comp + "-cp")
            ds.workflows.delete_execution(eid)


def test_queue_routes(served: tuple[Service, str]) -> None:
    svc, _ = served
    h = svc.http
    q = uid()
    try:
        ids = [h.post(f"/queues/{q}/messages", json={"data": {"n": i}, "max_retries": 0}).json()["id"] for i in range(3)]
        got = h.post(f"/queues/{q}/receive", json={"max_messages": 2, "lease": 30}).json()["messages"]
        assert [m["id"] for m in got] == ids[:2] and all(m["status"] == "processing" for m in got)
        assert h.post(f"/queues/{q}/ack", json={"receipt": got[0]["receipt"]}).json() == {"status": "completed"}
        again = h.post(f"/queues/{q}/ack", json={"receipt": got[0]["receipt"]})
        assert again.status_code == 409
        r = h.post(f"/queues/{q}/nack", json={"receipt": got[1]["receipt"], "error": "boom"})
        assert r.json() == {"status": "dead_letter"}
        dead = h.get(f"/queues/{q}/dead-letters").json()["messages"]
        assert [m["id"] for m in dead] == [ids[1]] and dead[0]["error"] == "boom"
        st = h.get(f"/queues/{q}/stats").json()
        assert (st["pending"], st["completed"], st["dead_letter"]) == (1, 1, 1)
        assert h.post(f"/queues/{q}/replay").json() == {"count": 1}
        assert h.get(f"/queues/{q}/stats").json()["pending"] == 2
        bad = h.post(f"/queues/{q}/ack", json={"receipt": "forged"})
        assert bad.status_code == 400
        other = uid()
        cross = h.post(f"/queues/{other}/ack", json={"receipt": got[1]["receipt"]})
        assert cross.status_code == 400
        assert h.post(f"/queues/{q}/messages", json={"data": None}).status_code == 400
        assert h.post(f"/queues/{q}/purge", params={"status": "completed"}).json() == {"count": 1}
        assert h.post(f"/queues/{q}/purge").json() == {"count": 2}
        # the cache routes
        k = uid()
        assert h.get(f"/cache/{k}").status_code == 404
        assert h.put(f"/cache/{k}", json={"value": {"a": [1]}, "ttl": 60}).status_code == 200
        assert h.get(f"/cache/{k}").json() == {"key": k, "value": {"a": [1]}}
        assert h.delete(f"/cache/{k}").json() == {"deleted": True}
    finally:
        h.post(f"/queues/{q}/purge")


def _tables(path: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(path)
    try:
        return sorted(con.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
    finally:
        con.close()


def test_token_body_cap_and_hostile_names(tmp_path: Any) -> None:
    db = tmp_path / "sec.db"
    port = free_port()
    token = "tok-" + uuid.uuid4().hex
    args = ["--url", f"sqlite:///{db}", "serve", "--port", str(port), "--token", token,
            "--max-body", "2048", "--log-level", "warning"]
    with Service(args, [port], cwd=str(tmp_path), token=token) as svc:
        import httpx

        anon = httpx.Client(base_url=svc.base, timeout=10)
        try:
            assert anon.get("/health").status_code == 200
            spec = svc.http.get("/openapi.json").json()
            for path, ops in spec["paths"].items():
                concrete = path.replace("{", "").replace("}", "")
                for method in ops:
                    r = anon.request(method.upper(), concrete, json={})
                    if path == "/health":
                        assert r.status_code == 200
                    else:
                        assert r.status_code == 401, (method, path)
                        assert r.json()["error_type"] == "unauthorized"
            for extra in ("/docs", "/openapi.json", "/metrics", "/nowhere"):
                assert anon.get(extra).status_code == 401
            assert anon.get("/tasks", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert svc.http.get("/tasks").status_code == 200
            # body cap: declared and streamed bodies alike
            big = {"blob": "x" * 5000}
            r = svc.http.post("/tasks", json=big)
            assert r.status_code == 413 and r.json()["error_type"] == "payload_too_large"

            def chunks() -> Iterator[bytes]:
                yield b'{"blob": "'
                for _ in range(10):
                    yield b"y" * 1000
                yield b'"}'

            r = svc.http.post("/tasks", content=chunks(), headers={"content-type": "application/json"})
            assert r.status_code == 413
            before = _tables(str(db))
            for name in ["x;drop table sk_cache", "a b", "1abc", "x" * 64, "c_--", "tasks'--"]:
                for path in (f"/collections/{name}/items", f"/queues/{name}/stats"):
                    r = svc.http.get(path)
                    assert 400 <= r.status_code < 500, (name, path, r.status_code)
                r = svc.http.post(f"/collections/{name}/items", json={"a": 1})
                assert 400 <= r.status_code < 500
                r = svc.http.post(f"/queues/{name}/messages", json={"data": 1})
                assert 400 <= r.status_code < 500
            assert _tables(str(db)) == before
        finally:
            anon.close()


def test_password_never_shown(tmp_path: Any) -> None:
    need("postgresql")
    secret = "pw" + uuid.uuid4().hex[:12]
    base = SERVER_URLS["postgresql"]
    # the local server trusts 127.0.0.1: the password is accepted and must still never show
    url = base.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    assert secret in url
    port = free_port()
    svc = Service(["--url", url, "serve", "--port", str(port), "--log-level", "debug"], [port],
                  cwd=str(tmp_path))
    bodies = []
    try:
        bodies.append(svc.http.get("/health").text)
        bodies.append(svc.http.get("/collections/bad;name/items").text)
        bodies.append(svc.http.get("/tasks", params={"filter": "x"}).text)
        bodies.append(svc.http.get("/metrics").text)
    finally:
        out = svc.stop()
        _drop(base, "tasks")
    assert "postgresql://postgres:***@" in out  # it says where it serves from
    for text in [out, *bodies]:
        assert secret not in text
    # a server that cannot be reached: the failure names it without the password
    bad = f"postgresql://app:{secret}@127.0.0.1:1/db?max_retries=0&connect_timeout=1"
    from serving import cli

    r = cli("--url", bad, "serve", "--port", str(free_port()), env=cli_env())
    assert r.returncode != 0 and secret not in r.stdout + r.stderr
    r = cli("--url", bad, "health")
    assert r.returncode == 1 and secret not in r.stdout + r.stderr
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


def test_listening_sockets_say_tcp() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose protocol is TCP; without it each answer
    waits for the client's delayed ACK (about 40 ms a request)."""
    import socket

    from storekeeper.service.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_serve_on_a_port_in_use_fails_with_one_line(tmp_path: Any) -> None:
    import socket

    from serving import cli

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        r = cli("--url", f"sqlite:///{tmp_path}/p.db", "serve", "--port", str(port))
        assert r.returncode == 1 and r.stderr == f"error: port {port} on 127.0.0.1 is in use\n"
    finally:
        busy.close()
