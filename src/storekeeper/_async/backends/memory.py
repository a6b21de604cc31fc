"""The in-process backend: plain dicts, the reference semantics of every capability."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ...config import DatabaseConfig
from ...errors import StorageError

__all__ = ["AsyncMemoryBackend"]

#: a stored document: the parsed JSON (for filters) and its encoding (returned fresh)
Entry = tuple[dict[str, Any], bytes]
#: how to undo one write: restore a document, or call a function
Undo = tuple[str, str, Entry | None] | Callable[[], None]


class AsyncMemoryBackend:
    """Collections held in this process; transactions undo on failure.

    Writes are atomic and transactions roll back on exceptions, but a
    transaction does not hide its writes from other tasks before it ends.
    """

    name = "memory"

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.collections: dict[str, dict[str, Entry]] = {}
        self.lock = threading.RLock()
        self._undo: contextvars.ContextVar[list[Undo] | None] = (
            contextvars.ContextVar(f"storekeeper_mem_txn_{id(self)}", default=None)
        )
        #: callbacks run when an outermost transaction ends (by id of its undo log)
        self._ends: dict[int, list[Callable[[], None]]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} memory://>"

    def table(self, name: str) -> dict[str, Entry]:
        if self._closed:
            raise StorageError("the memory store was closed")
        t = self.collections.get(name)
        if t is None:
            t = self.collections.setdefault(name, {})
        return t

    def put(self, coll: str, eid: str, entry: Entry | None) -> None:
        """Write (or with None, delete) one document, remembering how to undo it."""
        table = self.table(coll)
        log = self._undo.get()
        if log is not None:
            log.append((coll, eid, table.get(eid)))
        if entry is None:
            table.pop(eid, None)
        else:
            table[eid] = entry

    def on_rollback(self, fn: Callable[[], None]) -> None:
        """Call *fn* if the caller's transaction rolls back (nothing outside one)."""
        log = self._undo.get()
        if log is not None:
            log.append(fn)

    def _rollback(self, log: list[Undo], mark: int) -> None:
        with self.lock:
            while len(log) > mark:
                undo = log.pop()
                if callable(undo):
                    undo()
                    continue
                coll, eid, old = undo
                table = self.table(coll)
                if old is None:
                    table.pop(eid, None)
                else:
                    table[eid] = old

    @property
    def in_transaction(self) -> bool:
        return self._undo.get() is not None

    def current_transaction(self) -> object | None:
        """A token of the caller's outermost transaction (None outside one)."""
        return self._undo.get()

    def on_end(self, fn: Callable[[], None]) -> None:
        """Call *fn* when the caller's outermost transaction ends, committed or not (now, outside one)."""
        log = self._undo.get()
        if log is None:
            fn()
        else:
            self._ends.setdefault(id(log), []).append(fn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """All-or-nothing: on an exception every write inside is undone."""
        log = self._undo.get()
        if log is not None:
            mark = len(log)
            try:
                yield
            except BaseException:
                self._rollback(log, mark)
                raise
            return
        new_log: list[Undo] = []
        token = self._undo.set(new_log)
        try:
            yield
        except BaseException:
            self._rollback(new_log, 0)
            raise
        finally:
            self._undo.reset(token)
            for fn in self._ends.pop(id(new_log), ()):
                fn()

    async def open(self) -> None:
        if self._closed:
            raise StorageError("the memory store was closed")

    async def ping(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
