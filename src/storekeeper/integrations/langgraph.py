"""A LangGraph checkpointer over any storekeeper store (``pip install 'storekeeper[langgraph]'``).

::

    from storekeeper.integrations.langgraph import StorekeeperSaver

    graph = builder.compile(checkpointer=StorekeeperSaver("sqlite:///graph.db"))

:class:`StorekeeperSaver` (sync, over a :class:`~storekeeper.DataStore`) and
:class:`AsyncStorekeeperSaver` (async, over an :class:`~storekeeper.AsyncDataStore`)
come as a pair, like LangGraph's ``PostgresSaver`` / ``AsyncPostgresSaver``, and
work on memory, SQLite, PostgreSQL and MySQL. Besides ``put``, ``put_writes``,
``get_tuple``, ``list`` and ``delete_thread`` they implement ``delete_for_runs``,
``copy_thread`` and ``prune``. Their tables (``sk_lg_checkpoints``,
``sk_lg_writes``) are created by the store's schema versioning.

A store opens at its first use. ``setup()`` (as LangGraph's own savers have
it; ``await saver.setup()`` on the async one), or entering the saver's
``with`` / ``async with`` block, opens it at once: the connection is made and
the tables brought up to date there, so the first checkpoint of a graph does
not pay for it, and an unreachable database fails there.

Each checkpoint is stored whole, as LangGraph's serializer encodes it, in one
row: ``put`` is one statement, and ``get_tuple`` reads the checkpoint with its
pending writes in one statement.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

try:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import (
        WRITES_IDX_MAP,
        BaseCheckpointSaver,
        ChannelVersions,
        Checkpoint,
        CheckpointMetadata,
        CheckpointTuple,
        get_checkpoint_id,
        get_checkpoint_metadata,
        writes_sort_key,
    )
    from langgraph.checkpoint.serde.base import SerializerProtocol
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        f"storekeeper.integrations.langgraph needs LangGraph ({exc.name} is missing): "
        "pip install 'storekeeper[langgraph]'"
    ) from exc

from .._async.langgraph.base import AsyncGraphCheckpoints, GraphRow, GraphWrite, NewWrite
from .._async.registry import resolve as resolve_async
from .._async.store import AsyncDataStore
from .._sync.langgraph.base import GraphCheckpoints
from .._sync.registry import resolve as resolve_sync
from .._sync.store import DataStore
from ..config import BackendType
from ..core.capabilities import backend_entry
from ..errors import UnsupportedOperation

__all__ = ["AsyncStorekeeperSaver", "StorekeeperSaver"]

#: checkpoints listed per page: the pending writes of a page are read in one statement
LIST_PAGE = 100

#: backend family -> the storage primitives serving the saver
_IMPLEMENTATIONS = {
    "memory": "langgraph.memory:MemoryGraphCheckpoints",
    "sql": "langgraph.sql:SQLGraphCheckpoints",
}


def _impl(backend: Any) -> tuple[str, BackendType]:
    kind = BackendType(backend.config.database_type)
    ref = _IMPLEMENTATIONS.get(backend_entry(kind).family)
    if ref is None:
        raise UnsupportedOperation(
            f"{kind.value} cannot hold LangGraph checkpoints; memory, sqlite, postgresql "
            "and mysql can", backend=kind.value, capability="langgraph",
        )
    return ref, kind


class _Mapping:
    """What both savers share: configs, serialization, rows to tuples."""

    serde: SerializerProtocol

    @staticmethod
    def _where(config: RunnableConfig) -> tuple[str, str, str | None]:
        c = config["configurable"]
        return str(c["thread_id"]), str(c.get("checkpoint_ns", "")), get_checkpoint_id(config)

    def _put_args(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> tuple[Any, ...]:
        thread, ns, parent = self._where(config)
        meta = get_checkpoint_metadata(config, metadata)
        run = meta.get("run_id")
        dt, d = self.serde.dumps_typed(checkpoint)
        mt, m = self.serde.dumps_typed(meta)
        return (thread, ns, checkpoint["id"], parent, None if run is None else str(run), dt, d, mt, m)

    @staticmethod
    def _stored(thread: str, ns: str, cid: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread, "checkpoint_ns": ns, "checkpoint_id": cid}}

    def _writes_args(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> tuple[str, str, str, list[NewWrite], bool]:
        thread, ns, cid = self._where(config)
        if cid is None:
            raise ValueError("put_writes needs a config with a checkpoint_id")
        rows: list[NewWrite] = []
        for idx, (channel, value) in enumerate(writes):
            dt, d = self.serde.dumps_typed(value)
            rows.append((task_id, WRITES_IDX_MAP.get(channel, idx), task_path, channel, dt, d))
        # special writes (errors, interrupts …) replace the last ones; regular ones are kept
        replace = all(w[0] in WRITES_IDX_MAP for w in writes)
        return thread, ns, cid, rows, replace

    def _tuple(self, row: GraphRow, writes: list[GraphWrite]) -> CheckpointTuple:
        thread, ns, cid, parent, dt, d, mt, m = row
        ordered = sorted(writes, key=lambda w: writes_sort_key(w[4], w[0], w[5]))
        return CheckpointTuple(
            config=self._stored(thread, ns, cid),
            checkpoint=self.serde.loads_typed((dt, d)),
            metadata=self.serde.loads_typed((mt, m)),
            parent_config=self._stored(thread, ns, parent) if parent else None,
            pending_writes=[(w[0], w[1], self.serde.loads_typed((w[2], w[3]))) for w in ordered],
        )

    @staticmethod
    def _list_args(
        config: RunnableConfig | None, filter: dict[str, Any] | None,
        before: RunnableConfig | None, limit: int | None,
    ) -> tuple[str | None, str | None, str | None, str | None, int | None]:
        c = config["configurable"] if config else {}
        thread = str(c["thread_id"]) if c.get("thread_id") is not None else None
        ns = c.get("checkpoint_ns")
        cid = get_checkpoint_id(config) if config else None
        b = get_checkpoint_id(before) if before else None
        # a metadata filter is applied here, so the database cannot stop at the limit
        return thread, ns, cid, b, (limit if not filter else None)

    def _pages(
        self, rows: list[GraphRow], filter: dict[str, Any] | None, limit: int | None
    ) -> Iterator[list[GraphRow]]:
        """The rows whose metadata matches *filter* (at most *limit*), in pages of
        :data:`LIST_PAGE`: the pending writes of a page are read in one round trip."""
        page: list[GraphRow] = []
        n = 0
        for row in rows:
            if filter:
                meta = self.serde.loads_typed((row[6], row[7]))
                if not all(meta.get(k) == v for k, v in filter.items()):
                    continue
            page.append(row)
            n += 1
            if n == limit:
                break
            if len(page) == LIST_PAGE:
                yield page
                page = []
        if page:
            yield page

    def get_next_version(self, current: str | None, channel: None) -> str:
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"


class StorekeeperSaver(_Mapping, BaseCheckpointSaver[str]):
    """LangGraph checkpointer over a sync :class:`~storekeeper.DataStore` (or a URL).

    The ``a*`` methods run the sync ones in a worker thread; in async code
    prefer :class:`AsyncStorekeeperSaver`.
    """

    def __init__(self, store: DataStore | str, *, serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde)
        self._owned = isinstance(store, str)
        self.store = DataStore(store) if isinstance(store, str) else store
        backend = self.store.backend
        ref, kind = _impl(backend)
        self.storage: GraphCheckpoints = resolve_sync(ref, kind)(backend)

    def setup(self) -> None:
        """Open the store now: connect and bring its tables up to date (again: nothing)."""
        self.store.open()

    def close(self) -> None:
        """Close the store if this saver opened it from a URL."""
        if self._owned:
            self.store.close()

    def __enter__(self) -> StorekeeperSaver:
        self.setup()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- sync --
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread, ns, cid = self._where(config)
        found = self.storage.get(thread, ns, cid)
        return None if found is None else self._tuple(*found)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        if limit is not None and limit <= 0:
            return
        rows = self.storage.list(*self._list_args(config, filter, before, limit))
        for page in self._pages(rows, filter, limit):
            writes = self.storage.writes_of([r[:3] for r in page])
            for row in page:
                yield self._tuple(row, writes.get(row[:3], []))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        args = self._put_args(config, checkpoint, metadata)
        self.storage.put(*args)
        return self._stored(args[0], args[1], args[2])

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str = "",
    ) -> None:
        thread, ns, cid, rows, replace = self._writes_args(config, writes, task_id, task_path)
        if rows:
            self.storage.put_writes(thread, ns, cid, rows, replace)

    def delete_thread(self, thread_id: str) -> None:
        self.storage.delete_thread(str(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.storage.delete_runs([str(r) for r in run_ids])

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.storage.copy_thread(str(source_thread_id), str(target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
        self.storage.prune([str(t) for t in thread_ids], strategy == "keep_latest")

    # -- async: the sync methods in a worker thread --
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items = await asyncio.to_thread(
            lambda: [*self.list(config, filter=filter, before=before, limit=limit)]
        )
        for item in items:
            yield item

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)


class AsyncStorekeeperSaver(_Mapping, BaseCheckpointSaver[str]):
    """LangGraph checkpointer over an :class:`~storekeeper.AsyncDataStore` (or a URL).

    The sync methods work from threads other than the event loop's (LangGraph
    runs sync graph code there); called on the loop itself they raise.
    """

    def __init__(
        self, store: AsyncDataStore | str, *, serde: SerializerProtocol | None = None
    ) -> None:
        super().__init__(serde=serde)
        self._owned = isinstance(store, str)
        self.store = AsyncDataStore(store) if isinstance(store, str) else store
        backend = self.store.backend
        ref, kind = _impl(backend)
        self.storage: AsyncGraphCheckpoints = resolve_async(ref, kind)(backend)
        self.loop: asyncio.AbstractEventLoop | None = None

    async def setup(self) -> None:
        """Open the store now: connect and bring its tables up to date (again: nothing)."""
        self._seen()
        await self.store.open()

    async def aclose(self) -> None:
        """Close the store if this saver opened it from a URL."""
        if self._owned:
            await self.store.close()

    async def __aenter__(self) -> AsyncStorekeeperSaver:
        await self.setup()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def _seen(self) -> None:
        self.loop = asyncio.get_running_loop()

    # -- async --
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        self._seen()
        thread, ns, cid = self._where(config)
        found = await self.storage.get(thread, ns, cid)
        return None if found is None else self._tuple(*found)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        self._seen()
        if limit is not None and limit <= 0:
            return
        rows = await self.storage.list(*self._list_args(config, filter, before, limit))
        for page in self._pages(rows, filter, limit):
            writes = await self.storage.writes_of([r[:3] for r in page])
            for row in page:
                yield self._tuple(row, writes.get(row[:3], []))

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._seen()
        args = self._put_args(config, checkpoint, metadata)
        await self.storage.put(*args)
        return self._stored(args[0], args[1], args[2])

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str = "",
    ) -> None:
        self._seen()
        thread, ns, cid, rows, replace = self._writes_args(config, writes, task_id, task_path)
        if rows:
            await self.storage.put_writes(thread, ns, cid, rows, replace)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.storage.delete_thread(str(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self.storage.delete_runs([str(r) for r in run_ids])

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self.storage.copy_thread(str(source_thread_id), str(target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
        await self.storage.prune([str(t) for t in thread_ids], strategy == "keep_latest")

    # -- sync: on the event loop the saver was used from, from another thread --
    def _run(self, coro: Any) -> Any:
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            coro.close()
            raise asyncio.InvalidStateError(
                "AsyncStorekeeperSaver's sync methods run on its event loop from another "
                "thread; from async code use the a* methods, or use StorekeeperSaver"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        result: CheckpointTuple | None = self._run(self.aget_tuple(config))
        return result

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        async def collect() -> list[CheckpointTuple]:
            return [t async for t in self.alist(config, filter=filter, before=before, limit=limit)]

        yield from self._run(collect())

    def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        result: RunnableConfig = self._run(self.aput(config, checkpoint, metadata, new_versions))
        return result

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str = "",
    ) -> None:
        self._run(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self.adelete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self.adelete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self.acopy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self.aprune(thread_ids, strategy=strategy))
