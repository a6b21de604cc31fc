# Generated from src/storekeeper/_async/langgraph/memory.py by tools/gen_sync.py: do not edit.

"""LangGraph checkpoints held in this process (shared by every saver of one memory store)."""

from __future__ import annotations

import builtins
import weakref
from typing import Any

from ...errors import StorageError
from ..backends.memory import MemoryBackend
from .base import GraphCheckpoints, GraphKey, GraphRow, GraphWrite, NewWrite

__all__ = ["MemoryGraphCheckpoints"]

#: (thread, ns, id) -> (row, run id)
_Checkpoints = dict[tuple[str, str, str], tuple[GraphRow, str | None]]
#: (thread, ns, id) -> (task id, idx) -> write
_Writes = dict[tuple[str, str, str], dict[tuple[str, int], GraphWrite]]

_DATA: weakref.WeakKeyDictionary[Any, tuple[_Checkpoints, _Writes]] = weakref.WeakKeyDictionary()


class MemoryGraphCheckpoints(GraphCheckpoints):
    """The LangGraph checkpointer's storage on ``memory://``."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self._cps, self._writes = _DATA.setdefault(backend, ({}, {}))

    def _check(self) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")

    def put(
        self, thread: str, ns: str, cid: str, parent: str | None, run_id: str | None,
        data_type: str, data: bytes, meta_type: str, meta: bytes,
    ) -> None:
        self._check()
        with self.backend.lock:
            self._cps[(thread, ns, cid)] = (
                (thread, ns, cid, parent, data_type, data, meta_type, meta), run_id
            )

    def put_writes(
        self, thread: str, ns: str, cid: str, writes: builtins.list[NewWrite], replace: bool
    ) -> None:
        self._check()
        with self.backend.lock:
            stored = self._writes.setdefault((thread, ns, cid), {})
            for task, idx, path, channel, dt, d in writes:
                if replace or (task, idx) not in stored:
                    stored[(task, idx)] = (task, channel, dt, d, path, idx)

    def get(
        self, thread: str, ns: str, cid: str | None
    ) -> tuple[GraphRow, builtins.list[GraphWrite]] | None:
        self._check()
        with self.backend.lock:
            if cid is None:
                ids = [k[2] for k in self._cps if k[0] == thread and k[1] == ns]
                if not ids:
                    return None
                cid = max(ids)
            found = self._cps.get((thread, ns, cid))
            if found is None:
                return None
            return found[0], list(self._writes.get((thread, ns, cid), {}).values())

    def writes_of(self, keys: builtins.list[GraphKey]) -> dict[GraphKey, builtins.list[GraphWrite]]:
        self._check()
        with self.backend.lock:
            return {k: list(self._writes[k].values()) for k in keys if self._writes.get(k)}

    def list(
        self, thread: str | None, ns: str | None, cid: str | None, before: str | None,
        limit: int | None,
    ) -> builtins.list[GraphRow]:
        self._check()
        with self.backend.lock:
            rows = [
                row for (t, n, i), (row, _) in self._cps.items()
                if (thread is None or t == thread) and (ns is None or n == ns)
                and (cid is None or i == cid) and (before is None or i < before)
            ]
        rows.sort(key=lambda r: r[2], reverse=True)
        return rows if limit is None else rows[:limit]

    def delete_thread(self, thread: str) -> None:
        self._check()
        with self.backend.lock:
            for d in (self._cps, self._writes):
                for k in [k for k in d if k[0] == thread]:
                    del d[k]

    def delete_runs(self, run_ids: builtins.list[str]) -> None:
        self._check()
        runs = set(run_ids)
        with self.backend.lock:
            for k in [k for k, (_, run) in self._cps.items() if run in runs]:
                del self._cps[k]
                self._writes.pop(k, None)

    def copy_thread(self, source: str, target: str) -> None:
        self._check()
        with self.backend.lock:
            self.delete_thread(target)
            for (t, n, i), (row, run) in list(self._cps.items()):
                if t == source:
                    self._cps[(target, n, i)] = ((target, *row[1:]), run)  # type: ignore[assignment]
            for (t, n, i), w in list(self._writes.items()):
                if t == source:
                    self._writes[(target, n, i)] = dict(w)

    def prune(self, threads: builtins.list[str], keep_latest: bool) -> None:
        self._check()
        with self.backend.lock:
            for thread in threads:
                if not keep_latest:
                    self.delete_thread(thread)
                    continue
                top: dict[str, str] = {}
                for t, n, i in self._cps:
                    if t == thread and i > top.get(n, ""):
                        top[n] = i
                for d in (self._cps, self._writes):
                    for k in [k for k in d if k[0] == thread and k[2] < top.get(k[1], "")]:
                        del d[k]
