"""Moving a store: :func:`async_copy` between backends, ``export`` / ``import_`` to JSON Lines.

Both drive the capabilities' own export and import primitives (portable rows,
see :mod:`storekeeper.core.transfer`), never a table: every kind of record is
read in keyset-ordered batches of ``batch_size`` rows and written with
inserts that leave rows already there alone, so memory stays flat however
large the store, and a copy or import interrupted half-way can simply run
again: it ends with the same data and no duplicates.

The export file is JSON Lines (gzip when its name ends in ``.gz``): a header
line ``{"format": "storekeeper-export", "format_version": 1, "schema_version": …}``,
then one line per record ``{"kind": …, "row": {…}}`` (a repository record also
names its ``collection``; a collection is announced by a ``{"collection": …}``
line with its indexes), then a trailer with the counts, so a cut file is
recognized. An import reads the whole file once to check it before writing
anything.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..core.capabilities import Capability
from ..core.transfer import KINDS, CopyStats, Progress, check_include
from ..errors import StorageError, UnsupportedOperation, ValidationError
from ..sql.schema import store_schema
from ..sql.transfer import TABLES
from .backends.base import Meanwhile

if TYPE_CHECKING:
    from .store import AsyncDataStore

__all__ = ["FORMAT", "FORMAT_VERSION", "async_copy", "count_kinds", "export_store", "import_store"]

FORMAT = "storekeeper-export"
#: the version of the export file layout this storekeeper writes and reads
FORMAT_VERSION = 1

#: kind -> the capability holding it
CAPABILITY: dict[str, Capability] = {
    "collections": Capability.REPOSITORIES,
    "workflows": Capability.WORKFLOWS,
    "tasks": Capability.TASKS,
    "states": Capability.STATES,
    "checkpoints": Capability.CHECKPOINTS,
    "metrics": Capability.METRICS,
    "port_metrics": Capability.METRICS,
    "health": Capability.HEALTH,
    "sinks": Capability.SINKS,
    "cache": Capability.CACHE,
    "queue": Capability.QUEUE,
}


def _key(kind: str) -> str:
    if kind in TABLES:
        return TABLES[kind].key
    return "seq" if kind == "queue" else "id"


def _schema_version() -> int:
    return max(s.version for s in store_schema("sqlite"))


# --- the two sides of a transfer ---------------------------------------------------------


class _StoreSide:
    """A store read or written through its capabilities."""

    def __init__(self, ds: AsyncDataStore) -> None:
        self.ds = ds
        self.offered = set(ds.capabilities())

    def holds(self, kind: str) -> bool:
        return CAPABILITY[kind].value in self.offered

    def check_movable(self, kind: str) -> None:
        """:class:`UnsupportedOperation` when the backend serving *kind* cannot move it."""
        if kind == "collections":
            return
        cap = self._cap(kind)
        if not hasattr(cap, "_export_rows") and not hasattr(cap, "_export_pages"):
            backend = self.ds._routes[CAPABILITY[kind]].database_type.value
            raise UnsupportedOperation(
                f"copy, export and import of {kind} records are not available on {backend}; "
                "leave them out with include=",
                backend=backend, capability=CAPABILITY[kind].value,
            )

    def _cap(self, kind: str) -> Any:
        cap = CAPABILITY[kind]
        if cap is Capability.QUEUE:
            return self.ds.queue
        if cap is Capability.CACHE:
            return self.ds.cache
        return self.ds._component(cap)

    async def collections(self) -> list[tuple[str, list[str], list[str]]]:
        from .registry import capability_class

        cls: Any = capability_class(Capability.REPOSITORIES, self.ds.backend)
        declared: list[tuple[str, list[str], list[str]]] = await cls._declared(self.ds.backend)
        return declared

    def _repo(self, coll: tuple[str, list[str], list[str]]) -> Any:
        return self.ds.repository(None, coll[0], indexes=coll[1], search_fields=coll[2])

    async def count(self, kind: str, coll: tuple[str, list[str], list[str]] | None) -> int:
        if coll is not None:
            n: int = await self._repo(coll)._count_rows()
            return n
        n = await self._cap(kind)._count_rows(kind)
        return n

    async def batches(
        self, kind: str, coll: tuple[str, list[str], list[str]] | None, size: int
    ) -> AsyncIterator[Sequence[dict[str, Any]]]:
        key = "id" if coll is not None else _key(kind)
        target = self._repo(coll) if coll is not None else self._cap(kind)
        if coll is None and hasattr(target, "_export_pages"):
            # a backend without key order (Redis) walks its keys with a cursor
            async for rows in target._export_pages(kind, size):
                yield rows
            return
        after: Any = None
        while True:
            if coll is not None:
                rows = await target._export_rows(after, size)
            else:
                rows = await target._export_rows(kind, after, size)
            if not rows:
                return
            yield rows
            if len(rows) < size:
                return
            after = rows[-1][key]

    async def write(
        self, kind: str, coll: tuple[str, list[str], list[str]] | None,
        rows: Sequence[dict[str, Any]], meanwhile: Meanwhile,
    ) -> int:
        if coll is not None:
            n: int = await self._repo(coll)._import_rows(rows, meanwhile)
            return n
        n = await self._cap(kind)._import_rows(kind, rows, meanwhile)
        return n

    async def link(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        cap = self._cap(kind)
        link = getattr(cap, "_link_rows", None)
        if link is not None:
            await link(kind, rows)


def _same_store(a: AsyncDataStore, b: AsyncDataStore) -> bool:
    if a is b:
        return True
    for cap in Capability:
        ca, cb = a._routes[cap], b._routes[cap]
        if ca.database_type.value == "memory" or cb.database_type.value == "memory":
            continue
        if ca.to_url() == cb.to_url() and cap.value in a.capabilities() and cap.value in b.capabilities():
            return True
    return a._backend is b._backend


async def _open(store: AsyncDataStore | str) -> tuple[AsyncDataStore, bool]:
    from .store import AsyncDataStore

    if isinstance(store, AsyncDataStore):
        return store, False
    if isinstance(store, str):
        return AsyncDataStore(store), True
    raise ValidationError(
        f"copy takes stores or URLs, got {type(store).__name__} (a sync DataStore goes to "
        "storekeeper.copy, an AsyncDataStore to storekeeper.async_copy)"
    )


class _ReadAhead:
    """The batches of a source, read one ahead: :meth:`fetch` reads the next batch
    (once) while the target still takes in the current one (``meanwhile`` of the
    target's write), :meth:`take` hands it over (reading it now if it was not)."""

    def __init__(self, batches: AsyncIterator[Sequence[dict[str, Any]]]) -> None:
        self._batches = batches
        self._next: Sequence[dict[str, Any]] | None = None
        self._fetched = False

    async def fetch(self) -> bool:
        """Read the next batch (once); whether there is one."""
        if not self._fetched:
            self._next = await anext(self._batches, None)
            self._fetched = True
        return self._next is not None

    async def take(self) -> Sequence[dict[str, Any]] | None:
        await self.fetch()
        self._fetched = False
        return self._next


async def _move(
    src: Any, dst: Any, kinds: Sequence[str], batch_size: int, progress: Progress | None,
    stats: CopyStats, *, verify: bool,
) -> None:
    """Move every kind of *kinds* from side *src* to side *dst*."""
    for kind in kinds:
        started = time.perf_counter()
        ks = stats.kind(kind)
        colls: list[tuple[str, list[str], list[str]] | None]
        colls = list(await src.collections()) if kind == "collections" else [None]
        total = 0
        for coll in colls:
            total += await src.count(kind, coll)
        if progress is not None:
            progress(kind, 0, total)
        for coll in colls:
            if coll is not None and hasattr(dst, "announce"):
                dst.announce(coll)
            ahead = _ReadAhead(src.batches(kind, coll, batch_size))
            while (rows := await ahead.take()) is not None:
                n = await dst.write(kind, coll, rows, ahead.fetch)
                ks.read += len(rows)
                ks.written += n
                ks.skipped += len(rows) - n
                if progress is not None:
                    progress(kind, ks.read, max(total, ks.read))
            if verify and coll is not None:
                await _verify(src, dst, kind, coll)
        if kind == "tasks" and ks.read and hasattr(dst, "link"):
            # parents may come after their children in key order: link them now
            # (a file keeps the parent ids as they are: nothing to link)
            async for rows in src.batches(kind, None, batch_size):
                await dst.link(kind, rows)
        if verify and kind not in ("collections", "cache"):
            # (cache entries may expire between the read and the count: not compared)
            await _verify(src, dst, kind, None)
        ks.seconds = time.perf_counter() - started


async def _verify(src: Any, dst: Any, kind: str, coll: Any) -> None:
    have, want = await dst.count(kind, coll), await src.count(kind, coll)
    if have < want:
        what = f"collection {coll[0]!r}" if coll is not None else kind
        raise StorageError(
            f"copy verification failed: the source holds {want} record(s) of {what}, the "
            f"target only {have}; run the copy again"
        )


def _check_batch(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 100_000:
        raise ValidationError(f"batch_size must be an integer from 1 to 100000, got {batch_size!r}")
    return batch_size


async def async_copy(
    source: AsyncDataStore | str,
    target: AsyncDataStore | str,
    *,
    include: Iterable[str] | str | None = None,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> CopyStats:
    """Copy every record of *source* into *target* (seed 001 ``BackendMigrator.migrate_data``).

    Repository collections (with their declared indexes), workflow
    executions, task states, component states, checkpoints, metrics, port
    metrics, heartbeats, sink rows, unexpired cache entries and pending and
    dead-letter queue messages, between any two of memory, SQLite,
    PostgreSQL and MySQL (queue and cache also Redis). Streams keyset-ordered
    batches of *batch_size* rows, so memory stays flat; rows the target holds
    already are left alone (``skipped``), so a copy interrupted half-way can
    run again and ends complete, with no duplicates. Counts are verified at
    the end (:class:`StorageError` if the target holds fewer).

    :param source: a store or a URL (a URL is opened and closed here).
    :param target: a store or a URL; never the store *source* reads.
    :param include: the kinds to copy (default all of
        :data:`storekeeper.core.transfer.KINDS`).
    :param progress: called ``progress(kind, done, total)`` after each batch.
    :returns: :class:`CopyStats`: per kind read, written, skipped, seconds.
    """
    kinds = check_include(include)
    size = _check_batch(batch_size)
    src, own_src = await _open(source)
    try:
        dst, own_dst = await _open(target)
        try:
            if _same_store(src, dst):
                raise ValidationError(
                    "copy: source and target are the same store; copy into another database"
                )
            a, b = _StoreSide(src), _StoreSide(dst)
            moving = [k for k in kinds if a.holds(k)]
            for k in moving:
                if not b.holds(k):
                    held = (
                        bool(await a.collections()) if k == "collections"
                        else await a.count(k, None) > 0
                    )
                    if held:
                        raise unsupported_kind(dst, k)
            moving = [k for k in moving if b.holds(k)]
            for k in moving:
                a.check_movable(k)
                b.check_movable(k)
            stats = CopyStats()
            started = time.perf_counter()
            await _move(a, b, moving, size, progress, stats, verify=True)
            stats.seconds = time.perf_counter() - started
            return stats
        finally:
            if own_dst:
                await dst.close()
    finally:
        if own_src:
            await src.close()


def unsupported_kind(ds: AsyncDataStore, kind: str) -> UnsupportedOperation:
    cap = CAPABILITY[kind]
    return UnsupportedOperation(
        f"copy: the target ({ds.config.redacted_url}) does not offer {cap.label}, and the "
        f"source holds {kind} records; leave them out with include=",
        capability=cap.value,
    )


async def count_kinds(ds: AsyncDataStore) -> dict[str, dict[str, int]]:
    """Rows per kind of record (``ds.stats()`` where there are no tables to measure)."""
    side = _StoreSide(ds)
    out: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        if not side.holds(kind):
            continue
        if kind == "collections":
            for coll in await side.collections():
                out[f"collection:{coll[0]}"] = {"rows": await side.count(kind, coll), "bytes": 0}
        else:
            out[kind] = {"rows": await side.count(kind, None), "bytes": 0}
    return out


# --- export and import ----------------------------------------------------------------------


def _open_text(path: Path, mode: str, gz: bool | None = None) -> IO[str]:
    if path.name.endswith(".gz") if gz is None else gz:
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")  # noqa: SIM115


class _FileWriter:
    """The target side of an export: lines appended to a file."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.counts: dict[str, int] = {}

    def announce(self, coll: tuple[str, list[str], list[str]]) -> None:
        self.fh.write(json.dumps(
            {"collection": coll[0], "indexes": coll[1], "search_fields": coll[2]}
        ) + "\n")

    async def write(
        self, kind: str, coll: Any, rows: Sequence[dict[str, Any]], meanwhile: Meanwhile
    ) -> int:
        fh = self.fh
        for r in rows:
            line: dict[str, Any] = {"kind": kind, "row": r}
            if coll is not None:
                line["collection"] = coll[0]
            fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.counts[kind] = self.counts.get(kind, 0) + len(rows)
        return len(rows)



async def export_store(
    ds: AsyncDataStore, path: str | os.PathLike[str], include: Iterable[str] | str | None,
    batch_size: int,
) -> dict[str, int]:
    """See :meth:`AsyncDataStore.export`."""
    kinds = check_include(include)
    size = _check_batch(batch_size)
    dest = Path(path)
    partial = dest.with_name(dest.name + ".partial")
    src = _StoreSide(ds)
    moving = [k for k in kinds if src.holds(k)]
    try:
        fh = _open_text(partial, "w", gz=dest.name.endswith(".gz"))
    except OSError as exc:
        raise StorageError(f"cannot write the export file {dest}: {exc.strerror or exc}") from None
    stats = CopyStats()
    try:
        for k in moving:
            src.check_movable(k)
        with fh:
            fh.write(json.dumps({
                "format": FORMAT, "format_version": FORMAT_VERSION,
                "schema_version": _schema_version(), "backend": ds.backend_name,
                "kinds": moving,
            }) + "\n")
            writer = _FileWriter(fh)
            await _move(src, writer, moving, size, None, stats, verify=False)
            fh.write(json.dumps({"end": True, "counts": stats.counts()}) + "\n")
        os.replace(partial, dest)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(f"cannot write the export file {dest}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return stats.counts()


class _FileReader:
    """The source side of an import: the records of a checked export file, kind by kind."""

    def __init__(self, path: Path, header: Mapping[str, Any], counts: Mapping[str, int],
                 colls: list[tuple[str, list[str], list[str]]]) -> None:
        self.path = path
        self.header = header
        self._counts = counts
        self._colls = colls
        self._coll_counts: dict[str, int] = {}

    async def collections(self) -> list[tuple[str, list[str], list[str]]]:
        return self._colls

    async def count(self, kind: str, coll: Any) -> int:
        if coll is not None:
            return self._coll_counts.get(coll[0], 0)
        return int(self._counts.get(kind, 0))

    async def batches(self, kind: str, coll: Any, size: int) -> AsyncIterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        with _open_text(self.path, "r") as fh:
            next(fh)
            for text in fh:
                line = json.loads(text)
                if line.get("kind") != kind:
                    continue
                if coll is not None and line.get("collection") != coll[0]:
                    continue
                batch.append(line["row"])
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch


def _check_file(path: Path) -> tuple[dict[str, Any], dict[str, int], list[tuple[str, list[str], list[str]]], dict[str, int]]:
    """Read the whole export file once; raise :class:`ValidationError` naming the first bad line."""
    try:
        fh = _open_text(path, "r")
    except OSError as exc:
        raise ValidationError(f"cannot read the import file {path}: {exc.strerror or exc}") from None
    counts: dict[str, int] = {}
    coll_counts: dict[str, int] = {}
    colls: list[tuple[str, list[str], list[str]]] = []
    header: dict[str, Any] | None = None
    ended = False
    lineno = 0
    try:
        with fh:
            for lineno, text in enumerate(fh, 1):  # noqa: B007 - reported after the loop
                try:
                    line = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValidationError(
                        f"{path}: line {lineno} is not valid JSON ({exc.msg}); nothing was imported"
                    ) from None
                if not isinstance(line, dict):
                    raise ValidationError(f"{path}: line {lineno} is not a JSON object; nothing was imported")
                if header is None:
                    if line.get("format") != FORMAT:
                        raise ValidationError(
                            f"{path} is not a storekeeper export (line 1 has no "
                            f'"format": "{FORMAT}"); nothing was imported'
                        )
                    version = line.get("format_version")
                    if not isinstance(version, int) or version > FORMAT_VERSION:
                        raise ValidationError(
                            f"{path} was written in export format {version!r}, newer than this "
                            f"storekeeper reads ({FORMAT_VERSION}): import it with a newer "
                            "storekeeper; nothing was imported"
                        )
                    header = line
                    continue
                if ended:
                    raise ValidationError(f"{path}: line {lineno} follows the end marker; nothing was imported")
                if line.get("end") is True:
                    ended = True
                    continue
                if "collection" in line and "kind" not in line:
                    colls.append((str(line["collection"]), list(line.get("indexes", [])),
                                  list(line.get("search_fields", []))))
                    continue
                kind = line.get("kind")
                row = line.get("row")
                if kind not in KINDS or not isinstance(row, dict) or _key(kind) not in row and kind != "collections":
                    raise ValidationError(
                        f"{path}: line {lineno} is not a record of a known kind; nothing was imported"
                    )
                if kind == "collections":
                    if "id" not in row or line.get("collection") not in {c[0] for c in colls}:
                        raise ValidationError(
                            f"{path}: line {lineno} is a record of an unannounced collection; "
                            "nothing was imported"
                        )
                    name = str(line["collection"])
                    coll_counts[name] = coll_counts.get(name, 0) + 1
                counts[kind] = counts.get(kind, 0) + 1
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{path}: unreadable after line {lineno} ({exc}); nothing was imported"
        ) from None
    if header is None:
        raise ValidationError(f"{path} is empty: not a storekeeper export; nothing was imported")
    if not ended:
        raise ValidationError(
            f"{path} ends without its end marker (line {lineno + 1}): the file was cut short; "
            "nothing was imported"
        )
    return header, counts, colls, coll_counts


async def import_store(
    ds: AsyncDataStore, path: str | os.PathLike[str], batch_size: int
) -> dict[str, int]:
    """See :meth:`AsyncDataStore.import_`."""
    size = _check_batch(batch_size)
    src_path = Path(path)
    header, counts, colls, coll_counts = _check_file(src_path)
    reader = _FileReader(src_path, header, counts, colls)
    reader._coll_counts = coll_counts
    dst = _StoreSide(ds)
    kinds = [k for k in KINDS if counts.get(k)]
    for k in kinds:
        if not dst.holds(k):
            raise unsupported_kind(ds, k)
        dst.check_movable(k)
    stats = CopyStats()
    await _move(reader, dst, kinds, size, None, stats, verify=True)
    return stats.counts()
