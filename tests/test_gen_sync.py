"""Tests for tools/gen_sync.py, the generator of the ``_sync`` twin of ``_async``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TOOLS_DIR = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS_DIR))

from gen_sync import unasync_source  # noqa: E402

HEADER = "# Generated from src/storekeeper/_async/{} by tools/gen_sync.py: do not edit.\n\n"


def convert(source: str, relpath: str = "mod.py") -> str:
    """Run the generator on dedented ``source`` and return the body without the header."""
    out = unasync_source(textwrap.dedent(source), relpath)
    header = HEADER.format(relpath)
    assert out.startswith(header)
    return out[len(header) :]


def test_header_and_empty_init() -> None:
    assert unasync_source("", "__init__.py") == HEADER.format("__init__.py")
    out = unasync_source("x = 1\n", "backends/pg.py")
    assert out == HEADER.format("backends/pg.py") + "x = 1\n"
    assert out.splitlines()[0] == (
        "# Generated from src/storekeeper/_async/backends/pg.py by tools/gen_sync.py: do not edit."
    )


def test_async_def_with_for() -> None:
    src = """\
    async def run(self) -> None:
        async with self.lock:
            async for row in self.rows():
                print(row)
        return [x async for x in self.rows()]
    """
    expected = """\
    def run(self) -> None:
        with self.lock:
            for row in self.rows():
                print(row)
        return [x for x in self.rows()]
    """
    assert convert(src) == textwrap.dedent(expected)


def test_await_in_expressions_and_parentheses() -> None:
    src = """\
    async def f(conn):
        await conn.execute("select 1")
        rows = await conn.fetchall()
        n = (await conn.count()).value + len(await conn.keys())
        return await  g(await h(), x=(await k()))
    """
    expected = """\
    def f(conn):
        conn.execute("select 1")
        rows = conn.fetchall()
        n = (conn.count()).value + len(conn.keys())
        return g(h(), x=(k()))
    """
    assert convert(src) == textwrap.dedent(expected)


def test_async_prefix_rename() -> None:
    src = """\
    class AsyncDataStore(AsyncBase):
        pool: AsyncConnectionPool
        def it(self) -> AsyncIterator[int]: ...
    Asyncio = Async_x = AsyncX = Async = asyncio
    """
    expected = """\
    class DataStore(Base):
        pool: ConnectionPool
        def it(self) -> Iterator[int]: ...
    Asyncio = Async_x = X = Async = asyncio
    """
    assert convert(src) == textwrap.dedent(expected)


def test_explicit_name_map() -> None:
    src = """\
    from contextlib import AbstractAsyncContextManager, asynccontextmanager
    import aiomysql
    class C(AbstractAsyncContextManager["C"]):
        async def __aenter__(self): return self
        async def __aexit__(self, *exc): await self.aclose()
        def __aiter__(self): return self
        async def __anext__(self): raise StopAsyncIteration
    x = await anext(aiter(it))
    mode = rt_async
    """
    expected = """\
    from contextlib import AbstractContextManager, contextmanager
    import pymysql
    class C(AbstractContextManager["C"]):
        def __enter__(self): return self
        def __exit__(self, *exc): self.close()
        def __iter__(self): return self
        def __next__(self): raise StopIteration
    x = next(iter(it))
    mode = rt_sync
    """
    assert convert(src) == textwrap.dedent(expected)


def test_import_paths() -> None:
    src = """\
    from storekeeper._async.store import AsyncDataStore
    from storekeeper._async import backends
    from .._async.pool import AsyncPool
    import storekeeper._async.repository as repo
    from storekeeper.core import asyncish  # not renamed
    """
    expected = """\
    from storekeeper._sync.store import DataStore
    from storekeeper._sync import backends
    from .._sync.pool import Pool
    import storekeeper._sync.repository as repo
    from storekeeper.core import asyncish  # not renamed
    """
    assert convert(src) == textwrap.dedent(expected)


def test_strings_and_docstrings() -> None:
    src = '''\
    """Module docs for AsyncDataStore.

    Example::

        async with AsyncDataStore.open(url) as ds:
            await ds.put("k", 1)
            async for row in ds.scan():
                ...
        await ds.aclose()
    """
    MSG = "AsyncDataStore is closed; see storekeeper._async.store"
    RAW = r"\\nAsyncPool"
    F = f"{name}: AsyncPool"
    KEEP = "awaiting asynchronous Async AsyncX_y asyncio await"
    '''
    expected = '''\
    """Module docs for DataStore.

    Example::

        with DataStore.open(url) as ds:
            ds.put("k", 1)
            for row in ds.scan():
                ...
        ds.close()
    """
    MSG = "DataStore is closed; see storekeeper._sync.store"
    RAW = r"\\nPool"
    F = f"{name}: Pool"
    KEEP = "awaiting asynchronous Async X_y asyncio await"
    '''
    assert convert(src) == textwrap.dedent(expected)


def test_sync_directive_replace_and_skip() -> None:
    src = """\
    async def f(self):
        await asyncio.sleep(0.1)  # sync: time.sleep(0.1)
        await self.notify()  # sync: skip
        if True:
            loop = asyncio.get_running_loop()  # sync: loop = None
        return AsyncX  # sync: return AsyncX
    """
    expected = """\
    def f(self):
        time.sleep(0.1)
        if True:
            loop = None
        return AsyncX
    """
    assert convert(src) == textwrap.dedent(expected)


def test_empty_sync_directive_is_an_error() -> None:
    with pytest.raises(ValueError, match="sync:"):
        unasync_source("x = 1  # sync:\n", "mod.py")


def test_comments_and_formatting_preserved() -> None:
    src = """\
    # AsyncDataStore stays in comments: async with, await


    async def  f(a,   b) :  # trailing comment
        x = {  'a' : 1,
               'b' : await  g( ) ,  # inner
            }
        return x ;  \\
            # after continuation
    """
    expected = """\
    # AsyncDataStore stays in comments: async with, await


    def  f(a,   b) :  # trailing comment
        x = {  'a' : 1,
               'b' : g( ) ,  # inner
            }
        return x ;  \\
            # after continuation
    """
    assert convert(src) == textwrap.dedent(expected)


def test_no_trailing_newline_and_crlf() -> None:
    assert convert("async def f(): await g()") == "def f(): g()"
    assert convert("async def f():\r\n    await g()  # sync: h()\r\n") == "def f():\r\n    h()\r\n"


def test_unchanged_source_round_trips() -> None:
    src = "import os\n\n\ndef f(x: int) -> int:  # plain\n    return x + 1\n"
    assert convert(src) == src


# ------------------------------------------------------------------------------------ CLI


def _run(root: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "tools" / "gen_sync.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def mini_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "tools").mkdir(parents=True)
    shutil.copy(TOOLS_DIR / "gen_sync.py", root / "tools" / "gen_sync.py")
    async_dir = root / "src" / "storekeeper" / "_async"
    async_dir.mkdir(parents=True)
    (async_dir / "__init__.py").write_text("")
    (async_dir / "x.py").write_text(
        "from storekeeper._async.y import AsyncY\n\n\nasync def f(y: AsyncY) -> None:\n"
        "    await y.aclose()\n"
    )
    return root


def test_cli_check_and_generate(mini_repo: Path, tmp_path: Path) -> None:
    sync_dir = mini_repo / "src" / "storekeeper" / "_sync"
    # Run from an unrelated cwd: paths must resolve relative to the repo root.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    res = _run(mini_repo, "--check", cwd=elsewhere)
    assert res.returncode == 1
    assert "missing: src/storekeeper/_sync/x.py" in res.stdout
    assert "missing: src/storekeeper/_sync/__init__.py" in res.stdout
    assert not sync_dir.exists()  # --check writes nothing

    res = _run(mini_repo, cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert (sync_dir / "x.py").read_text() == (
        HEADER.format("x.py") + "from storekeeper._sync.y import Y\n\n\ndef f(y: Y) -> None:\n"
        "    y.close()\n"
    )
    assert (sync_dir / "__init__.py").read_text() == HEADER.format("__init__.py")

    res = _run(mini_repo, "--check", cwd=elsewhere)
    assert res.returncode == 0
    assert "sync code is up to date" in res.stdout

    # Stale output and an orphaned extra file are reported, then fixed/removed.
    (sync_dir / "x.py").write_text("edited by hand\n")
    (sync_dir / "gone").mkdir()
    (sync_dir / "gone" / "old.py").write_text("x = 1\n")
    outside = mini_repo / "src" / "storekeeper" / "keep.py"
    outside.write_text("x = 1\n")
    res = _run(mini_repo, "--check", cwd=elsewhere)
    assert res.returncode == 1
    assert "stale: src/storekeeper/_sync/x.py" in res.stdout
    assert "extra: src/storekeeper/_sync/gone/old.py" in res.stdout

    res = _run(mini_repo, cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert not (sync_dir / "gone").exists()
    assert outside.exists()
    assert _run(mini_repo, "--check", cwd=elsewhere).returncode == 0
