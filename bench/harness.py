"""What the benchmark scripts share: measurements, targets, server URLs, raw
driver connections, the same-SQL recording and the report's frame.

``bench/run.py`` (repositories, W1–W4) and ``bench/queues.py`` (queue and
cache, W5–W6) import it as ``harness``: they are run as ``python bench/….py``,
which puts ``bench/`` on ``sys.path``. Nothing here is called per operation
inside a timed loop: the loops are written out in the scripts, which take
their deadline from :func:`deadline_of` before a loop starts and check it
against :data:`perf_counter` inline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import inspect
import os
import platform
import re
import secrets
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from storekeeper.sql.sqlite import PRAGMAS

perf_counter = time.perf_counter

HERE = Path(__file__).resolve().parent
#: where the reports go (git-ignored)
RESULTS = HERE / "results"

T = TypeVar("T")


# --- measurements ----------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One timed loop: *ops* operations in *seconds*; *capped* when its time cap cut it short."""

    ops: int
    seconds: float
    capped: bool = False

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Cell:
    """The runs of one variant on one measurement; the best one is reported."""

    runs: list[Run] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: set when the variant gave up on this measurement
    error: str | None = None

    @property
    def best(self) -> Run | None:
        return max(self.runs, key=lambda r: r.rate) if self.runs else None

    @property
    def spent(self) -> float:
        return sum(r.seconds for r in self.runs)


def deadline_of(cap_s: float) -> float:
    """The :data:`perf_counter` reading after which a loop started now stops."""
    return perf_counter() + cap_s


def rotated(items: Sequence[T], rep: int) -> list[T]:
    """*items* rotated by *rep*: variants take turns at going first between repeats."""
    if not items:
        return []
    k = rep % len(items)
    return [*items[k:], *items[:k]]


class BenchContext:
    """What one backend's measurements share: one event loop, and fresh names.

    Names are ``skb<token>_<what>_<n>``: unique to the run, so what it left
    behind can be found (``LIKE 'skb<token>%'``) and removed.
    """

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self.seq = 0
        self.runner = asyncio.Runner()

    def fresh(self, what: str) -> str:
        self.seq += 1
        return f"skb{self.token}_{what}_{self.seq}"

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call *fn*; run it to completion in this backend's one event loop if async."""
        out = fn(*args)
        if inspect.iscoroutine(out):
            out = self.runner.run(out)
        return out


async def maybe_await(value: Any) -> Any:
    """*value*, awaited if it is awaitable (aiosqlite and aiomysql differ from psycopg)."""
    if inspect.isawaitable(value):
        return await value
    return value


# --- ratios and targets -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    minimum: float
    strict: bool = False  # "ahead of": more than, not at least

    def met(self, ratio: float) -> bool:
        return ratio > self.minimum if self.strict else ratio >= self.minimum

    def __str__(self) -> str:
        return f">{self.minimum:g}x" if self.strict else f"≥{self.minimum:g}x"


def ratio_text(ratio: float, target: Target | None, veto: str | None = None) -> tuple[str, bool | None]:
    """The ratio as a report cell, and whether it met its target (None without one).

    ``1.23x`` without a target, else ``1.23x pass (≥1x)`` or ``0.698x MISS (≥0.7x)``:
    a third digit where two would round a miss up to the target. *veto* (e.g.
    ``"index not used"``) fails the ratio whatever its value, and says why.
    """
    if target is None:
        return f"{ratio:.2f}x", None
    ok = target.met(ratio)
    shown = f"{ratio:.2f}"
    if target.met(float(shown)) != ok:  # 0.698 is a miss, not "0.70x MISS"
        shown = f"{ratio:.3f}"
    extra = ""
    if veto is not None:
        ok = False
        extra = f", {veto}"
    return f"{shown}x {'pass' if ok else 'MISS'} ({target}{extra})", ok


# --- report ----------------------------------------------------------------------------


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"


def cell_text(cell: Cell | None, mark_single: bool = False) -> str:
    """The best rate of *cell*; ᶜ when that run was capped, ¹ (*mark_single*) when it was the only one."""
    if cell is None:
        return "–"
    if cell.error is not None:
        return "error"
    best = cell.best
    if best is None:
        return "–"
    marks = ""
    if mark_single and len(cell.runs) == 1:
        marks += "¹"
    if best.capped:
        marks += "ᶜ"
    return fmt_rate(best.rate) + marks


def report_header(title: str, dists: Sequence[str], quick: bool, total_s: float) -> list[str]:
    """The report's title, the machine and the run, and the versions of *dists*."""
    versions = []
    for dist in dists:
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} (not installed)")
    return [
        f"# {title}",
        "",
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} · Python {platform.python_version()} · "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs · "
        f"{'quick' if quick else 'full'} run, {total_s:.0f}s",
        "",
        "Versions: " + ", ".join(versions) + ".",
        "",
    ]


def write_report(report: str, path: Path) -> None:
    """Print the Markdown *report* and write it to *path*."""
    print(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report, encoding="utf-8")
    progress(f"written to {path}")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


# --- command line and server URLs --------------------------------------------------------

DEFAULT_URLS = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
    "redis": "redis://127.0.0.1:6379/14",
}
#: ``--NAME-url`` defaults to ``$STOREKEEPER_BENCH_NAME_URL``, then to DEFAULT_URLS
URL_HELP = {
    "redis": "a database the run may FLUSHDB at the end (default db 14)",
}


def add_common_options(
    parser: argparse.ArgumentParser,
    backends: Sequence[str],
    workloads: Sequence[str],
    servers: Sequence[str],
    output: Path,
) -> None:
    """``--backends``, ``--workloads``, ``--SERVER-url`` for each of *servers*, ``--output``.

    ``--quick`` and ``--repeats`` differ between the scripts: they add their own.
    """
    parser.add_argument("--backends", default=",".join(backends), help="comma-separated: " + ",".join(backends))
    parser.add_argument("--workloads", default=",".join(workloads), help="comma-separated: " + ",".join(workloads))
    for server in servers:
        env = f"STOREKEEPER_BENCH_{server.upper()}_URL"
        parser.add_argument(
            f"--{server}-url", default=os.environ.get(env, DEFAULT_URLS[server]), help=URL_HELP.get(server)
        )
    parser.add_argument("--output", type=Path, default=output, help="Markdown report path")


def parse_selection(
    parser: argparse.ArgumentParser, args: argparse.Namespace,
    backends: Sequence[str], workloads: Sequence[str],
) -> tuple[list[str], list[str]]:
    """The backends asked for (in the order given) and the workloads (in their own order)."""
    chosen = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
    wanted = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for b in chosen:
        if b not in backends:
            parser.error(f"unknown backend {b!r}; choose from {', '.join(backends)}")
    for w in wanted:
        if w not in workloads:
            parser.error(f"unknown workload {w!r}; choose from {', '.join(workloads)}")
    return chosen, [w for w in workloads if w in wanted]


def redact(url: str) -> str:
    """*url* with its password, if any, shown as ``***``."""
    p = urlsplit(url)
    return url.replace(f":{p.password}@", ":***@") if p.password else url


# --- raw driver connections --------------------------------------------------------------


def mysql_kwargs(url: str) -> dict[str, Any]:
    """PyMySQL's (and, with ``db`` for ``database``, aiomysql's) keywords for *url*, autocommit."""
    p = urlsplit(url)
    return {
        "host": p.hostname or "127.0.0.1",
        "port": p.port or 3306,
        "user": unquote(p.username or "root"),
        "password": unquote(p.password or ""),
        "database": p.path.lstrip("/") or "test",
        "charset": "utf8mb4",
        "autocommit": True,
    }


def apply_pragmas(conn: Any) -> None:
    """storekeeper's SQLite pragmas (WAL, ``synchronous=NORMAL``, …) on a sqlite3 connection or cursor."""
    for key, value in PRAGMAS.items():
        conn.execute(f"PRAGMA {key} = {value}")


def sqlite_connect(path: str, timeout: float = 30.0) -> sqlite3.Connection:
    """sqlite3 in autocommit with storekeeper's pragmas; the driver's busy handler waits *timeout* s."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    apply_pragmas(conn)
    return conn


def postgresql_connect(url: str) -> Any:
    """A psycopg 3 connection in autocommit."""
    import psycopg

    return psycopg.connect(url, autocommit=True)


def mysql_connect(url: str) -> Any:
    """A PyMySQL connection in autocommit."""
    import pymysql

    return pymysql.connect(**mysql_kwargs(url))


def raw_connect(dialect: str, target: str, sqlite_timeout: float = 30.0) -> tuple[Any, Any]:
    """``(connection, cursor)`` of the raw sync driver of *dialect*, autocommit.

    *target* is the SQLite file's path, else the server URL.
    """
    if dialect == "sqlite":
        conn: Any = sqlite_connect(target, sqlite_timeout)
    elif dialect == "postgresql":
        conn = postgresql_connect(target)
    else:
        conn = mysql_connect(target)
    return conn, conn.cursor()


async def asqlite_connect(path: str) -> Any:
    """aiosqlite in autocommit with storekeeper's pragmas."""
    import aiosqlite

    conn = await aiosqlite.connect(path, isolation_level=None)
    for key, value in PRAGMAS.items():
        await conn.execute(f"PRAGMA {key} = {value}")
    return conn


async def apostgresql_connect(url: str) -> Any:
    """A psycopg 3 ``AsyncConnection`` in autocommit."""
    import psycopg

    return await psycopg.AsyncConnection.connect(url, autocommit=True)


async def amysql_connect(url: str) -> Any:
    """An aiomysql connection in autocommit."""
    import aiomysql

    kwargs = mysql_kwargs(url)
    kwargs["db"] = kwargs.pop("database")
    return await aiomysql.connect(**kwargs)


def redis_client(url: str) -> Any:
    """A redis-py client (hiredis parser when installed)."""
    import redis

    return redis.Redis.from_url(url)


def server_version(dialect: str, cur: Any, url: str) -> str:
    """What the report says about the database, read through a raw cursor."""
    if dialect == "sqlite":
        return f"SQLite {sqlite3.sqlite_version} (file in a temp dir, WAL, synchronous=NORMAL)"
    if dialect == "postgresql":
        cur.execute("SHOW server_version")
        return f"PostgreSQL {cur.fetchone()[0]} at {redact(url)}"
    cur.execute("SELECT VERSION()")
    version = str(cur.fetchone()[0])
    flavour = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    return f"{flavour} {version} at {redact(url)}"


# --- the same-SQL recording --------------------------------------------------------------

_TXN_RE = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


@contextlib.contextmanager
def capture_storekeeper(backend: Any) -> Iterator[list[str]]:
    """Record every statement a storekeeper sync SQL backend sends, at its connection class.

    ``begin``/``commit``/``rollback`` are recorded as BEGIN/COMMIT/ROLLBACK;
    transaction control sent as SQL text (``BEGIN``, ``SAVEPOINT``, …) is not
    recorded.
    """
    conn = backend.acquire()
    cls = type(conn)
    backend.release(conn)
    seen: list[str] = []
    saved: dict[str, Any] = {}

    def wrap_stmt(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(self: Any, sql: str, params: Any = ()) -> Any:
            if not _TXN_RE.match(sql):
                seen.append(sql)
            return fn(self, sql, params)

        return inner

    def wrap_txn(fn: Callable[..., Any], tag: str) -> Callable[..., Any]:
        def inner(self: Any) -> Any:
            seen.append(tag)
            return fn(self)

        return inner

    for m in ("execute", "executemany", "fetchone", "fetchall"):
        saved[m] = cls.__dict__.get(m)
        setattr(cls, m, wrap_stmt(getattr(cls, m)))
    for m, tag in (("begin", "BEGIN"), ("commit", "COMMIT"), ("rollback", "ROLLBACK")):
        saved[m] = cls.__dict__.get(m)
        setattr(cls, m, wrap_txn(getattr(cls, m), tag))
    try:
        yield seen
    finally:
        for m, fn in saved.items():
            if fn is None:
                delattr(cls, m)
            else:
                setattr(cls, m, fn)


class RecordingCursor:
    """A raw cursor (and, for PyMySQL, its connection's begin/commit) that records statements."""

    def __init__(self, conn: Any, cur: Any) -> None:
        self._conn = conn
        self._cur = cur
        self.seen: list[str] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.seen.append(sql)
        return self._cur.execute(sql, params) if params is not None else self._cur.execute(sql)

    def executemany(self, sql: str, rows: Any) -> Any:
        self.seen.append(sql)
        return self._cur.executemany(sql, rows)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> Any:
        return self._cur.fetchall()

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def begin(self) -> None:
        self.seen.append("BEGIN")
        self._conn.begin()

    def commit(self) -> None:
        self.seen.append("COMMIT")
        self._conn.commit()

    def rollback(self) -> None:
        self.seen.append("ROLLBACK")
        self._conn.rollback()


def compare(what: str, sk: list[str], raw: list[str], noun: str = "statement") -> str:
    """One line of the same-SQL check: *what* storekeeper sent (*sk*) against the raw loop (*raw*)."""
    if sk == raw:
        return f"{what}: identical ({len(sk)} {noun}{'s' if len(sk) != 1 else ''})"
    return f"{what}: DIFFERENT: storekeeper [{' | '.join(sk)}] vs raw [{' | '.join(raw)}]"
