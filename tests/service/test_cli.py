"""The ``storekeeper`` command driven as a user would: exit codes, output, --json."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from conftest import SERVER_URLS, need, sql_backend
from serving import cli, cli_env

from storekeeper import DataStore


def uid() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def test_copy_sqlite_to_postgresql_with_progress(tmp_path: Any) -> None:
    need("postgresql")
    pg = SERVER_URLS["postgresql"]
    src = f"sqlite:///{tmp_path}/src.db"
    coll, comp = uid(), uid()
    with DataStore(src) as ds:
        ds.repository(dict, coll).bulk_create([{"n": i} for i in range(2500)])
        ds.states.save(comp, "Source", {"offset": 7})
    try:
        r = cli("--json", "copy", src, pg, "--include", "collections", "--include", "states",
                "--batch-size", "500")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["kinds"]["collections"]["read"] == 2500
        assert out["kinds"]["collections"]["written"] == 2500
        assert out["kinds"]["states"]["written"] == 1
        with DataStore(pg) as ds:
            assert ds.repository(dict, coll).count() == 2500
            st = ds.states.load(comp)
            assert st is not None and st.state == {"offset": 7}
        again = cli("--json", "copy", src, pg, "--include", "collections", "--include", "states")
        assert again.returncode == 0
        assert json.loads(again.stdout)["kinds"]["collections"]["skipped"] == 2500
        table = cli("copy", src, pg, "--include", "states")
        assert table.returncode == 0 and "states" in table.stdout
    finally:
        with DataStore(pg) as ds:
            b = sql_backend(ds)
            b.execute(f'DROP TABLE IF EXISTS "c_{coll}"')
            b.execute("DELETE FROM sk_collections WHERE name = %s", (coll,))
            ds.states.delete(comp)
    bad = cli("copy", src, "postgresql://u:hunter2pw@127.0.0.1:1/x?max_retries=0&connect_timeout=1")
    assert bad.returncode == 1 and "hunter2pw" not in bad.stdout + bad.stderr
    assert bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    same = cli("copy", src, src)
    assert same.returncode == 1 and "same" in same.stderr


def test_migrate_and_check(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_orders.sql").write_text("-- UP\nCREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);\n-- DOWN\nDROP TABLE orders;\n")
    (folder / "002_items.sql").write_text("-- UP\nCREATE TABLE order_items (id INTEGER PRIMARY KEY);\n-- DOWN\nDROP TABLE order_items;\n")
    env = cli_env(STOREKEEPER_URL=url)

    def run(*args: str) -> Any:
        return cli(*args, env=env)

    st = json.loads(run("--json", "migrate", "status", str(folder)).stdout)
    assert st["pending"] == ["001", "002"] and st["applied"] == []
    dry = run("migrate", "up", str(folder), "--dry-run")
    assert dry.returncode == 0 and "would apply: 001, 002" in dry.stdout
    assert run("--json", "check", "-t", "orders").returncode == 1  # not applied yet
    up = run("--json", "migrate", "up", str(folder), "--target", "1")
    assert up.returncode == 0 and json.loads(up.stdout)["applied"] == ["001"]
    assert json.loads(run("--json", "migrate", "up", str(folder)).stdout)["applied"] == ["002"]
    hist = json.loads(run("--json", "migrate", "history").stdout)
    assert [h["version"] for h in hist] == ["001", "002"]
    ok = run("--json", "check", "-t", "orders", "-t", "order_items")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    down = run("migrate", "down", str(folder), "--target", "1")
    assert down.returncode == 0 and "rolled back: 002" in down.stdout
    missing = run("check", "-t", "order_items")
    assert missing.returncode == 1 and "order_items" in missing.stderr
    # an applied migration edited afterwards: status says so and exits 1
    (folder / "001_orders.sql").write_text("-- UP\nCREATE TABLE orders (id INTEGER PRIMARY KEY);\n-- DOWN\nDROP TABLE orders;\n")
    changed = run("migrate", "status", str(folder))
    assert changed.returncode == 1 and "001" in changed.stderr
    refused = run("migrate", "up", str(folder))
    assert refused.returncode == 1 and refused.stderr.startswith("error: ")
    # seed 000's migrations list, from a YAML file
    y = tmp_path / "schema.yaml"
    y.write_text('migrations:\n  - version: "001"\n    description: "Initial schema"\n'
                 '    sql: "CREATE TABLE tasks (id SERIAL PRIMARY KEY, data JSONB);"\n')
    other = cli_env(STOREKEEPER_URL=f"sqlite:///{tmp_path}/y.db")
    assert json.loads(cli("--json", "migrate", "up", str(y), env=other).stdout)["applied"] == ["001"]
    assert cli("migrate", "up", str(tmp_path / "nowhere"), env=other).returncode == 1


def test_queues_replay_and_friends(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    q = uid()
    with DataStore(url) as ds:
        for i in range(3):
            ds.queue.push(q, {"n": i}, max_retries=0)
        for _ in range(2):
            m = ds.queue.receive(q)
            assert m is not None
            ds.queue.nack(m, error="boom")
    env = cli_env(STOREKEEPER_URL=url)
    listed = json.loads(cli("--json", "queues", "list", env=env).stdout)
    assert [(r["queue"], r["dead_letter"], r["pending"]) for r in listed] == [(q, 2, 1)]
    st = json.loads(cli("--json", "queues", "stats", q, env=env).stdout)
    assert st[0]["dead_letter"] == 2 and st[0]["pending"] == 1
    dead = json.loads(cli("--json", "queues", "dead-letters", q, env=env).stdout)
    assert len(dead) == 2 and dead[0]["error"] == "boom"
    r = cli("queues", "replay", q, env=env)
    assert r.returncode == 0 and "2 message(s)" in r.stdout
    assert json.loads(cli("--json", "queues", "stats", q, env=env).stdout)[0]["pending"] == 3
    assert json.loads(cli("--json", "queues", "purge", q, "--yes", env=env).stdout)["purged"] == 3
    bad = cli("queues", "stats", "bad;name", env=env)
    assert bad.returncode == 1 and "invalid queue name" in bad.stderr
    usage = cli("queues", "replay", env=env)
    assert usage.returncode == 2


def test_cleanup_dry_run_export_import_stats_health(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    with DataStore(url) as ds:
        for v in range(5):
            ds.checkpoints.save("cp", "reader", {"v": v})
        ds.metrics.record("reader", "lag", 3.0)
        ds.health.heartbeat("reader", "healthy")
        ds.repository(dict, "docs").create({"a": 1})
    env = cli_env(STOREKEEPER_URL=url)
    dry = cli("--json", "cleanup", "--dry-run", "--keep-checkpoints", "2", "--metrics-days", "0", env=env)
    assert dry.returncode == 0
    out = json.loads(dry.stdout)
    assert out["dry_run"] is True and out["deleted"]["checkpoints"] == 3 and out["deleted"]["metrics"] == 1
    with DataStore(url) as ds:
        assert len(ds.checkpoints.list("cp", limit=10)) == 5  # nothing deleted
    real = json.loads(cli("--json", "cleanup", "--keep-checkpoints", "2", env=env).stdout)
    assert real["deleted"]["checkpoints"] == 3
    with DataStore(url) as ds:
        assert len(ds.checkpoints.list("cp", limit=10)) == 2
    path = tmp_path / "backup.jsonl.gz"
    exp = cli("--json", "export", str(path), env=env)
    assert exp.returncode == 0 and json.loads(exp.stdout)["records"]["collections"] == 1
    other = cli_env(STOREKEEPER_URL=f"sqlite:///{tmp_path}/restored.db")
    imp = cli("--json", "import", str(path), env=other)
    assert imp.returncode == 0 and json.loads(imp.stdout)["records"]["checkpoints"] == 2
    with DataStore(f"sqlite:///{tmp_path}/restored.db") as ds:
        assert ds.repository(dict, "docs").count() == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    assert cli("import", str(broken), env=other).returncode == 1
    stats = json.loads(cli("--json", "stats", env=env).stdout)
    assert stats["c_docs"]["rows"] == 1
    h = cli("--json", "health", env=env)
    assert h.returncode == 0
    body = json.loads(h.stdout)
    assert body["store_connected"] is True and body["components"][0]["component"] == "reader"
    (tmp_path / "notadb.db").write_bytes(b"this is not an SQLite database" * 100)
    assert cli("--url", f"sqlite:///{tmp_path}/notadb.db", "health").returncode == 1


def test_help_and_usage_errors(tmp_path: Path) -> None:
    r = cli("--help")
    assert r.returncode == 0
    for cmd in ("serve", "migrate", "check", "copy", "export", "import", "cleanup", "stats", "queues", "health"):
        assert cmd in r.stdout
    assert cli("nosuchcommand").returncode == 2
