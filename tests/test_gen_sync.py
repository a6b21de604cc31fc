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

from gen_sync import NAME_MAP, unasync_source  # noqa: E402

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
        async def __aexit__(self, *exc): await self.close()
    mode = rt_async
    x = aclose, StopAsyncIteration  # no rule: nothing in _async needs one
    """
    expected = """\
    from contextlib import AbstractContextManager, contextmanager
    import pymysql
    class C(AbstractContextManager["C"]):
        def __enter__(self): return self
        def __exit__(self, *exc): self.close()
    mode = rt_sync
    x = aclose, StopAsyncIteration  # no rule: nothing in _async needs one
    """
    assert convert(src) == textwrap.dedent(expected)


def test_import_paths() -> None:
    src = """\
    from .._compat import rt_async as rt
    from ..backends.redis import AsyncRedisBackend
    import storekeeper._compat.rt_async
    from storekeeper.core import asyncish  # not renamed
    """
    expected = """\
    from .._compat import rt_sync as rt
    from ..backends.redis import RedisBackend
    import storekeeper._compat.rt_sync
    from storekeeper.core import asyncish  # not renamed
    """
    assert convert(src) == textwrap.dedent(expected)


def test_docstrings_are_rewritten() -> None:
    src = '''\
    """Module docs for AsyncDataStore.

    Example::

        async with AsyncDataStore.open(url) as ds:
            await ds.put("k", 1)
            async for row in ds.scan():
                ...
        await ds.close()
    """
    class AsyncPool:
        r"""An AsyncPool\\nAsyncX; awaiting asynchronous Async AsyncX_y asyncio await"""
        async def get(self) -> None:
            "Borrow from the AsyncPool " 'with rt_async.'
        def put(self): """AsyncPool again."""; return 1
    async def f():
        ("""Parenthesised: AsyncPool.""")
    def g(x="é"): """Non-ASCII before me: AsyncPool."""
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
    class Pool:
        r"""An Pool\\nX; awaiting asynchronous Async X_y asyncio await"""
        def get(self) -> None:
            "Borrow from the Pool " 'with rt_sync.'
        def put(self): """Pool again."""; return 1
    def f():
        ("""Parenthesised: Pool.""")
    def g(x="é"): """Non-ASCII before me: Pool."""
    '''
    assert convert(src) == textwrap.dedent(expected)


def test_other_string_literals_are_left_alone() -> None:
    src = '''\
    x = 1
    """Not a docstring: a statement after the first, AsyncDataStore."""
    MSG = "AsyncDataStore is closed; see storekeeper._async.store"
    PATH, MOD = "storekeeper._async.queue.redis", "aiomysql"
    F = f"{name}: AsyncPool, async with, await it"
    B = b"AsyncPool"
    class AsyncC:
        NAME = "AsyncC"
        def f(self):
            return "async def f(): await AsyncC"
        def g(self):
            x = 1
            "AsyncC after the first statement"
    def h():
        f"AsyncC: an f-string is no docstring"
    '''
    expected = '''\
    x = 1
    """Not a docstring: a statement after the first, AsyncDataStore."""
    MSG = "AsyncDataStore is closed; see storekeeper._async.store"
    PATH, MOD = "storekeeper._async.queue.redis", "aiomysql"
    F = f"{name}: AsyncPool, async with, await it"
    B = b"AsyncPool"
    class C:
        NAME = "AsyncC"
        def f(self):
            return "async def f(): await AsyncC"
        def g(self):
            x = 1
            "AsyncC after the first statement"
    def h():
        f"AsyncC: an f-string is no docstring"
    '''
    assert convert(src) == textwrap.dedent(expected)


def test_all_entries_are_renamed_as_names() -> None:
    src = """\
    __all__ = ["AsyncDataStore", 'AsyncPool', "Params", "AsyncPool and more", "Async"]
    __all__ += ("AsyncX",)
    def f():
        __all__ = ["AsyncLocal"]  # not the module's
    """
    expected = """\
    __all__ = ["DataStore", 'Pool', "Params", "AsyncPool and more", "Async"]
    __all__ += ("X",)
    def f():
        __all__ = ["AsyncLocal"]  # not the module's
    """
    assert convert(src) == textwrap.dedent(expected)


def test_used_rules_are_reported() -> None:
    used: set[str] = set()
    src = (
        '"""Uses aiomysql."""\n'
        "async def f():\n"
        "    async with rt_async.lock():\n"
        '        return "__aenter__ in a message"\n'
        "    x = asynccontextmanager  # sync: x = None\n"
        "    return AsyncFoo\n"
    )
    unasync_source(src, "mod.py", used)
    # a directive line replaces its renames; a message renames nothing; Async<Upper> is no rule
    assert used == {"aiomysql", "rt_async"}


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
        "from .y import AsyncY\n\n\nasync def f(y: AsyncY) -> None:\n    await y.aclose()\n"
    )
    # every explicit rule must be used somewhere, or the generator refuses to run
    (async_dir / "rules.py").write_text("".join(f"{name} = 0\n" for name in NAME_MAP))
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
        HEADER.format("x.py") + "from .y import Y\n\n\ndef f(y: Y) -> None:\n    y.aclose()\n"
    )
    assert (sync_dir / "rules.py").read_text() == HEADER.format("rules.py") + "".join(
        f"{new} = 0\n" for new in NAME_MAP.values()
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


def test_cli_unused_rule_fails(mini_repo: Path) -> None:
    async_dir = mini_repo / "src" / "storekeeper" / "_async"
    sync_dir = mini_repo / "src" / "storekeeper" / "_sync"
    # the last user of 'aiomysql' goes; a message or a comment naming it does not count
    (async_dir / "rules.py").write_text(
        "".join(f"{name} = 0\n" for name in NAME_MAP if name != "aiomysql")
        + 'MSG = "aiomysql failed"  # aiomysql\n'
    )
    for args in ((), ("--check",)):
        res = _run(mini_repo, *args, cwd=mini_repo)
        assert res.returncode == 2, res
        assert "'aiomysql' -> 'pymysql'" in res.stderr
        assert "__aenter__" not in res.stderr
        assert not sync_dir.exists()  # nothing written

    # a docstring mentioning it keeps the rule alive
    (async_dir / "x.py").write_text('"""Talks to aiomysql."""\n')
    res = _run(mini_repo, cwd=mini_repo)
    assert res.returncode == 0, res.stderr
    assert (sync_dir / "x.py").read_text() == HEADER.format("x.py") + '"""Talks to pymysql."""\n'
