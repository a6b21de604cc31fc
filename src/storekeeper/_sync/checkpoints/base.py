# Generated from src/storekeeper/_async/checkpoints/base.py by tools/gen_sync.py: do not edit.

"""What every checkpoint backend shares: the public API and its checks (SPEC §4).

A save is atomic: afterwards exactly one checkpoint of the name is the
latest (``is_latest``), also under concurrent saves from several processes.
Versions per name are 1, 2, 3 … A checkpoint past its ``expires_at`` is
never returned by any method; :meth:`prune` and :meth:`purge_expired`
reclaim the storage.
"""

from __future__ import annotations

import builtins
import datetime as _dt
from abc import ABC, abstractmethod
from typing import Any

from ...core.components import (
    Checkpoint,
    check_keep_last,
    check_limit,
    check_name,
    check_ttl_seconds,
    check_version,
    encode_json,
    encode_optional,
)
from ...errors import ValidationError

__all__ = ["Checkpoints"]

#: ``before_version`` when none is given: above every version
NO_BOUND = 2**62


class Checkpoints(ABC):
    """Versioned, expiring checkpoints for crash recovery: ``ds.checkpoints``.

    ::

        cp = ds.checkpoints.save("reader-offsets", "reader", {"offset": 42}, ttl=3600)
        (ds.checkpoints.latest("reader-offsets")).data   # -> {"offset": 42}
    """

    name = "checkpoints"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def save(
        self,
        checkpoint_name: str,
        component_name: str,
        data: Any,
        metadata: dict[str, Any] | None = None,
        ttl: float | _dt.timedelta | None = None,
    ) -> Checkpoint:
        """Store *data* as the new latest checkpoint of *checkpoint_name*.

        :param data: a JSON value (:class:`SerializationError` otherwise).
        :param metadata: a JSON object kept beside it, or None.
        :param ttl: seconds (or a timedelta) after which it expires; None: never.
        :returns: the :class:`Checkpoint` written, with its version.
        """
        name = check_name(checkpoint_name, "checkpoint name")
        comp = check_name(component_name)
        text = encode_json(data, "checkpoint data")
        meta = encode_optional(metadata, "checkpoint metadata")
        t = check_ttl_seconds(ttl)
        now = _dt.datetime.now(_dt.UTC)
        expires = now + _dt.timedelta(seconds=t) if t is not None else None
        version, cid = self._save(name, comp, text, meta, now, expires)
        return Checkpoint(
            checkpoint_name=name, component_name=comp, data=data, version=version,
            metadata=dict(metadata) if metadata is not None else None, is_latest=True,
            created_at=now, expires_at=expires, id=cid,
        )

    def latest(self, checkpoint_name: str) -> Checkpoint | None:
        """The newest unexpired checkpoint of *checkpoint_name*, or None."""
        return self._latest(check_name(checkpoint_name, "checkpoint name"))

    def get(self, checkpoint_name: str, version: int) -> Checkpoint | None:
        """Version *version* of *checkpoint_name*, or None (missing or expired)."""
        return self._get(check_name(checkpoint_name, "checkpoint name"), check_version(version))

    def list(
        self,
        name: str | None = None,
        *,
        component_name: str | None = None,
        before_version: int | None = None,
        limit: int = 100,
    ) -> builtins.list[Checkpoint]:
        """Unexpired checkpoints of one name (or of one component), newest first.

        :param before_version: only versions below it (page backwards through a name).
        """
        if (name is None) == (component_name is None):
            raise ValidationError("checkpoints.list takes exactly one of name= or component_name=")
        before = NO_BOUND if before_version is None else check_version(before_version)
        n = check_limit(limit)
        if name is not None:
            return self._list_name(check_name(name, "checkpoint name"), before, n)
        return self._list_component(check_name(component_name), before, n)

    def prune(
        self,
        name: str | None = None,
        *,
        component_name: str | None = None,
        keep_last: int = 10,
    ) -> int:
        """Delete all but the newest *keep_last* checkpoints of one name (or of every name of
        one component), and the expired ones below the newest; never the latest. Return how
        many were deleted."""
        if (name is None) == (component_name is None):
            raise ValidationError("checkpoints.prune takes exactly one of name= or component_name=")
        keep = check_keep_last(keep_last)
        if name is not None:
            return self._prune(check_name(name, "checkpoint name"), keep)
        total = 0
        for each in self._names_of(check_name(component_name)):
            total += self._prune(each, keep)
        return total

    def delete(self, checkpoint_name: str) -> int:
        """Delete every checkpoint of *checkpoint_name*; return how many."""
        return self._delete(check_name(checkpoint_name, "checkpoint name"))

    def purge_expired(self) -> int:
        """Delete every expired checkpoint now (but the newest of each name, which no read
        returns, so that versions never go back); return how many."""
        return self._purge_expired(_dt.datetime.now(_dt.UTC))

    def close(self) -> None:
        """Nothing of its own to release: the store closes the backend."""

    # -- the primitives a backend implements --
    @abstractmethod
    def _save(
        self, name: str, comp: str, data: str, meta: str | None,
        now: _dt.datetime, expires: _dt.datetime | None,
    ) -> tuple[int, str]:
        """Insert the next version as the latest; return ``(version, id)``."""

    @abstractmethod
    def _latest(self, name: str) -> Checkpoint | None: ...

    @abstractmethod
    def _get(self, name: str, version: int) -> Checkpoint | None: ...

    @abstractmethod
    def _list_name(self, name: str, before: int, limit: int) -> builtins.list[Checkpoint]: ...

    @abstractmethod
    def _list_component(self, comp: str, before: int, limit: int) -> builtins.list[Checkpoint]: ...

    @abstractmethod
    def _names_of(self, comp: str) -> builtins.list[str]: ...

    @abstractmethod
    def _prune(self, name: str, keep: int) -> int: ...

    @abstractmethod
    def _delete(self, name: str) -> int: ...

    @abstractmethod
    def _purge_expired(self, now: _dt.datetime) -> int: ...

    @abstractmethod
    def _all_names(self) -> builtins.list[str]:
        """Every checkpoint name (expired ones too)."""

    @abstractmethod
    def _count_prunable(self, name: str, keep: int, now: _dt.datetime) -> int:
        """How many rows ``_prune(name, keep)`` would delete now."""
