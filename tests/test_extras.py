"""The server drivers are extras: without one, its backend says which extra to install.

``pip install storekeeper`` brings SQLite and the memory store only; PostgreSQL,
MySQL/MariaDB and Redis need ``storekeeper[postgresql]``, ``[mysql]`` and
``[redis]`` (or ``[all]``). Each case runs in a fresh interpreter whose
``sys.modules`` blocks the extra's driver modules (``sys.modules[name] = None``
makes ``import name`` raise ImportError), as if the extra were not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

#: extra -> the modules its packages provide (all blocked at once)
EXTRA_MODULES: dict[str, list[str]] = {
    "postgresql": ["psycopg", "psycopg_pool", "psycopg_binary"],
    "mysql": ["pymysql", "aiomysql"],
    "redis": ["redis", "hiredis"],
}
#: unreachable servers: nothing may connect, and if something tries it fails at once
URLS = {
    "postgresql": "postgresql://app:pw@127.0.0.1:1/app?max_retries=0&connect_timeout=1",
    "mysql": "mysql://app:pw@127.0.0.1:1/app?max_retries=0&connect_timeout=1",
    "redis": "redis://127.0.0.1:1/0?max_retries=0&connect_timeout=1",
}

_PRELUDE = """
import json, sys
for _name in json.loads(sys.argv[1]):
    sys.modules[_name] = None
"""

#: open a store of URL sys.argv[2] with the sync and the async API; print what each raised
_OPEN_STORE = _PRELUDE + """
import asyncio
import storekeeper
from storekeeper import AsyncDataStore, DataStore

url = sys.argv[2]


def describe(exc):
    if exc is None:
        return None
    return {
        "type": type(exc).__name__,
        "unsupported": isinstance(exc, storekeeper.UnsupportedOperation),
        "message": str(exc),
        "backend": getattr(exc, "backend", "<no backend attribute>"),
    }


def sync_open():
    try:
        ds = DataStore(url)
        try:
            ds.open()
        finally:
            ds.close()
    except Exception as exc:
        return exc
    return None


async def async_open():
    try:
        ads = AsyncDataStore(url)
        try:
            await ads.open()
        finally:
            await ads.close()
    except Exception as exc:
        return exc
    return None


print(json.dumps({"sync": describe(sync_open()), "async": describe(asyncio.run(async_open()))}))
"""

#: with every server driver blocked, the package and its embedded stores work
_EMBEDDED = _PRELUDE + """
import asyncio
import storekeeper
from storekeeper import AsyncDataStore, DataStore

path = sys.argv[2]
out = {}
for url in ("sqlite:///" + path, "memory://"):
    with DataStore(url) as ds:
        repo = ds.repository(dict, "docs", indexes=["n"])
        doc = repo.create({"n": 1})
        ds.queue.push("jobs", {"n": 2})
        ds.cache.set("k", {"n": 3})
        out[url.split(":")[0] + " sync"] = [
            repo.get(doc["id"])["n"], ds.queue.pop("jobs")["n"], ds.cache.get("k")["n"],
        ]


async def main():
    async with AsyncDataStore("sqlite:///" + path) as ads:
        repo = ads.repository(dict, "docs")
        doc = await repo.create({"n": 4})
        await ads.queue.push("jobs", {"n": 5})
        await ads.cache.set("k", {"n": 6})
        return [
            (await repo.get(doc["id"]))["n"],
            (await ads.queue.pop("jobs"))["n"],
            (await ads.cache.get("k"))["n"],
        ]


out["sqlite async"] = asyncio.run(main())
out["blocked still blocked"] = all(sys.modules.get(m, 0) is None for m in json.loads(sys.argv[1]))
print(json.dumps(out))
"""


def _run(code: str, blocked: list[str], arg: str, cwd: Path) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(blocked), arg],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("extra", sorted(EXTRA_MODULES))
def test_a_backend_without_its_driver_names_the_extra(extra: str, tmp_path: Path) -> None:
    got = _run(_OPEN_STORE, EXTRA_MODULES[extra], URLS[extra], tmp_path)
    for api in ("sync", "async"):
        err = got[api]
        assert err is not None, f"{api}: opening {extra} without its driver raised nothing"
        assert err["unsupported"], f"{api}: {err['type']}: {err['message']}"
        assert f"pip install 'storekeeper[{extra}]'" in err["message"], err["message"]
        assert err["backend"] == extra


def test_sqlite_and_memory_need_no_server_driver(tmp_path: Path) -> None:
    blocked = [m for modules in EXTRA_MODULES.values() for m in modules]
    got = _run(_EMBEDDED, blocked, str(tmp_path / "plain.db"), tmp_path)
    assert got == {
        "sqlite sync": [1, 2, 3],
        "memory sync": [1, 2, 3],
        "sqlite async": [4, 5, 6],
        "blocked still blocked": True,
    }
