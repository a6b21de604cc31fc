"""LangGraph checkpoints in ``sk_lg_checkpoints`` / ``sk_lg_writes`` (store schema step 004)."""

from __future__ import annotations

import builtins
from typing import Any

from ...sql.langgraph import langgraph_sql
from ..backends.base import AsyncSQLBackend
from .base import AsyncGraphCheckpoints, GraphKey, GraphRow, GraphWrite, NewWrite

__all__ = ["AsyncSQLGraphCheckpoints"]

#: writes per insert statement (9 parameters each)
WRITE_CHUNK = 500
#: checkpoints whose writes one statement reads (3 parameters each)
KEYS_CHUNK = 100


def _row(r: tuple[Any, ...]) -> GraphRow:
    return (r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], bytes(r[7]))


class AsyncSQLGraphCheckpoints(AsyncGraphCheckpoints):
    """The LangGraph checkpointer's storage on a SQL store."""

    def __init__(self, backend: AsyncSQLBackend) -> None:
        self.backend = backend
        self.sql = langgraph_sql(backend.dialect.name)
        self._blob = backend.dialect.blob_param

    async def put(
        self, thread: str, ns: str, cid: str, parent: str | None, run_id: str | None,
        data_type: str, data: bytes, meta_type: str, meta: bytes,
    ) -> None:
        await self.backend.execute(self.sql.put, (
            thread, ns, cid, parent, run_id, data_type, self._blob(data), meta_type, self._blob(meta)
        ))

    async def put_writes(
        self, thread: str, ns: str, cid: str, writes: builtins.list[NewWrite], replace: bool
    ) -> None:
        b = self.backend
        if len(writes) > WRITE_CHUNK:
            async with b.transaction():
                for start in range(0, len(writes), WRITE_CHUNK):
                    await self.put_writes(thread, ns, cid, writes[start : start + WRITE_CHUNK], replace)
            return
        params: list[Any] = []
        for task, idx, path, channel, dt, d in writes:
            params += (thread, ns, cid, task, idx, path, channel, dt, self._blob(d))
        await b.execute(self.sql.writes(len(writes), replace), params)

    async def get(
        self, thread: str, ns: str, cid: str | None
    ) -> tuple[GraphRow, builtins.list[GraphWrite]] | None:
        if cid is None:
            rows = await self.backend.fetchall(self.sql.get_latest, (thread, ns))
        else:
            rows = await self.backend.fetchall(self.sql.get_one, (thread, ns, cid))
        if not rows:
            return None
        writes = [
            (r[8], r[9], r[10], bytes(r[11]), r[12], int(r[13])) for r in rows if r[8] is not None
        ]
        return _row(rows[0]), writes

    async def writes_of(self, keys: builtins.list[GraphKey]) -> dict[GraphKey, builtins.list[GraphWrite]]:
        out: dict[GraphKey, builtins.list[GraphWrite]] = {}
        for start in range(0, len(keys), KEYS_CHUNK):
            chunk = keys[start : start + KEYS_CHUNK]
            params = [v for key in chunk for v in key]
            for r in await self.backend.fetchall(self.sql.writes_of(len(chunk)), params):
                out.setdefault((r[0], r[1], r[2]), []).append(
                    (r[3], r[4], r[5], bytes(r[6]), r[7], int(r[8]))
                )
        return out

    async def list(
        self, thread: str | None, ns: str | None, cid: str | None, before: str | None,
        limit: int | None,
    ) -> builtins.list[GraphRow]:
        p: dict[str, Any] = {}
        for k, v in (("t", thread), ("ns", ns), ("id", cid), ("before", before)):
            if v is not None:
                p[k] = v
        given = tuple(p)
        if limit is not None:
            p["n"] = limit
        rows = await self.backend.fetchall(self.sql.list(given, limit is not None), p)
        return [_row(r) for r in rows]

    async def delete_thread(self, thread: str) -> None:
        async with self.backend.transaction():
            await self.backend.execute(self.sql.delete_thread_writes, {"t": thread})
            await self.backend.execute(self.sql.delete_thread_checkpoints, {"t": thread})

    async def delete_runs(self, run_ids: builtins.list[str]) -> None:
        if not run_ids:
            return
        writes, checkpoints = self.sql.delete_runs(len(run_ids))
        p = {f"r{i}": r for i, r in enumerate(run_ids)}
        async with self.backend.transaction():
            await self.backend.execute(writes, p)
            await self.backend.execute(checkpoints, p)

    async def copy_thread(self, source: str, target: str) -> None:
        p = {"src": source, "dst": target}
        async with self.backend.transaction():
            await self.backend.execute(self.sql.delete_thread_writes, {"t": target})
            await self.backend.execute(self.sql.delete_thread_checkpoints, {"t": target})
            await self.backend.execute(self.sql.copy_checkpoints, p)
            await self.backend.execute(self.sql.copy_writes, p)

    async def prune(self, threads: builtins.list[str], keep_latest: bool) -> None:
        b = self.backend
        async with b.transaction():
            for thread in threads:
                if not keep_latest:
                    await b.execute(self.sql.delete_thread_writes, {"t": thread})
                    await b.execute(self.sql.delete_thread_checkpoints, {"t": thread})
                    continue
                for ns, top in await b.fetchall(self.sql.latest_per_ns, {"t": thread}):
                    p = {"t": thread, "ns": ns, "top": top}
                    await b.execute(self.sql.prune_ns_writes, p)
                    await b.execute(self.sql.prune_ns_checkpoints, p)
