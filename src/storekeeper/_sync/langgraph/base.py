# Generated from src/storekeeper/_async/langgraph/base.py by tools/gen_sync.py: do not edit.

"""The storage primitives under the LangGraph checkpointer.

Nothing here imports LangGraph: the saver in
:mod:`storekeeper.integrations.langgraph` serializes checkpoints, metadata and
writes into ``(type tag, bytes)`` pairs and stores them through these
primitives, so one implementation per backend family serves the sync and the
async saver.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod

__all__ = ["GraphCheckpoints", "GraphKey", "GraphRow", "GraphWrite", "NewWrite"]

#: a checkpoint's key: (thread, namespace, id)
GraphKey = tuple[str, str, str]
#: a stored checkpoint: (thread, namespace, id, parent id, type, bytes, metadata type, metadata)
GraphRow = tuple[str, str, str, str | None, str, bytes, str, bytes]
#: a stored write: (task id, channel, type, bytes, task path, idx)
GraphWrite = tuple[str, str, str, bytes, str, int]
#: a write to store: (task id, idx, task path, channel, type, bytes)
NewWrite = tuple[str, int, str, str, str, bytes]


class GraphCheckpoints(ABC):
    """Checkpoints and pending writes of LangGraph threads."""

    name = "langgraph"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @abstractmethod
    def put(
        self, thread: str, ns: str, cid: str, parent: str | None, run_id: str | None,
        data_type: str, data: bytes, meta_type: str, meta: bytes,
    ) -> None:
        """Store a checkpoint (replacing one with the same id)."""

    @abstractmethod
    def put_writes(
        self, thread: str, ns: str, cid: str, writes: builtins.list[NewWrite], replace: bool
    ) -> None:
        """Store writes of checkpoint *cid*: kept as first written, or replaced (*replace*)."""

    @abstractmethod
    def get(
        self, thread: str, ns: str, cid: str | None
    ) -> tuple[GraphRow, builtins.list[GraphWrite]] | None:
        """Checkpoint *cid* (the newest of the thread and namespace when None) and its
        pending writes, in one round trip."""

    @abstractmethod
    def writes_of(self, keys: builtins.list[GraphKey]) -> dict[GraphKey, builtins.list[GraphWrite]]:
        """The pending writes of each checkpoint of *keys* (in no particular order; a
        checkpoint without any is left out), in one round trip."""

    @abstractmethod
    def list(
        self, thread: str | None, ns: str | None, cid: str | None, before: str | None,
        limit: int | None,
    ) -> builtins.list[GraphRow]:
        """Checkpoints matching every filter given, newest first."""

    @abstractmethod
    def delete_thread(self, thread: str) -> None: ...

    @abstractmethod
    def delete_runs(self, run_ids: builtins.list[str]) -> None:
        """Delete the checkpoints made by these runs, and their writes."""

    @abstractmethod
    def copy_thread(self, source: str, target: str) -> None:
        """Make *target* a copy of *source* (checkpoints and writes; *target*'s are replaced)."""

    @abstractmethod
    def prune(self, threads: builtins.list[str], keep_latest: bool) -> None:
        """Keep only the newest checkpoint per namespace of each thread (or none)."""
