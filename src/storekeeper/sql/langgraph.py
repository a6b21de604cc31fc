"""The LangGraph checkpointer's statements, rendered for one dialect.

The statements are the named ones of ``queries/langgraph.sql``. The ones
every checkpoint and every read sends (``put``, ``get_one``, ``get_latest``)
are rendered positional, the cheapest binding, in the order :data:`_ORDER`
gives (checked when they are rendered); the rest take named parameters, bound
from mappings. The multi-row write inserts are rendered positional once per
row count, and ``list`` once per combination of filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..errors import StorageError
from . import dialect_of
from .dialect import Dialect, load_queries

__all__ = ["LangGraphSQL", "langgraph_sql"]

_Q = "langgraph"
#: the optional filters of ``list``, in the order they are written
_LIST_FILTERS = (
    ("t", "thread_id = :t"),
    ("ns", "checkpoint_ns = :ns"),
    ("id", "checkpoint_id = :id"),
    ("before", "checkpoint_id < :before"),
)


#: the positional statements and the parameters their callers pass, in order
_ORDER = {
    "put": ("t", "ns", "id", "parent", "run", "dt", "d", "mt", "m"),
    "get_one": ("t", "ns", "id"),
    "get_latest": ("t", "ns"),
}


def _r(dialect: Dialect, name: str, **slots: str) -> str:
    return load_queries(_Q).render(dialect, name, slots=slots)


@dataclass(frozen=True)
class LangGraphSQL:
    dialect: Dialect
    put: str
    get_one: str
    get_latest: str
    delete_thread_writes: str
    delete_thread_checkpoints: str
    copy_checkpoints: str
    copy_writes: str
    latest_per_ns: str
    prune_ns_writes: str
    prune_ns_checkpoints: str
    _sized: dict[Any, str] = field(default_factory=dict, compare=False)

    def writes(self, n: int, replace: bool) -> str:
        """Insert *n* writes positionally (9 parameters each); *replace*: upsert."""
        key = ("w", n, replace)
        sql = self._sized.get(key)
        if sql is None:
            q = load_queries(_Q)
            row = q.template("write_row", self.dialect.name)
            sql = q.render(
                self.dialect, "upsert_writes" if replace else "insert_writes",
                positional=True, slots={"rows": ", ".join([row] * n)},
            )
            self._sized[key] = sql
        return sql

    def writes_of(self, n: int) -> str:
        """The pending writes of *n* checkpoints, positional: (thread, namespace, id) each."""
        key = ("o", n)
        sql = self._sized.get(key)
        if sql is None:
            q = load_queries(_Q)
            one = q.template("writes_key", self.dialect.name)
            sql = self._sized[key] = q.render(
                self.dialect, "writes_of", positional=True, slots={"keys": " OR ".join([one] * n)}
            )
        return sql

    def list(self, given: tuple[str, ...], limited: bool) -> str:
        """Checkpoints matching the filters *given*, newest first (``:n`` of them if *limited*)."""
        key = ("l", given, limited)
        sql = self._sized.get(key)
        if sql is None:
            parts = [cond for k, cond in _LIST_FILTERS if k in given]
            sql = self._sized[key] = _r(
                self.dialect, "list",
                where=("WHERE " + " AND ".join(parts)) if parts else "",
                limit="LIMIT :n" if limited else "",
            )
        return sql

    def delete_runs(self, n: int) -> tuple[str, str]:
        """Delete the writes, then the checkpoints, of runs ``:r0`` … ``:r{n-1}``."""
        key = ("r", n)
        found = self._sized.get(key)
        ids = ", ".join(f":r{i}" for i in range(n))
        if found is None:
            found = self._sized[key] = "\x00".join(
                (_r(self.dialect, "delete_run_writes", ids=ids),
                 _r(self.dialect, "delete_run_checkpoints", ids=ids))
            )
        writes, checkpoints = found.split("\x00")
        return writes, checkpoints


@cache
def langgraph_sql(dialect: str) -> LangGraphSQL:
    d = dialect_of(dialect)
    names = [
        "delete_thread_writes", "delete_thread_checkpoints", "copy_checkpoints", "copy_writes",
        "latest_per_ns", "prune_ns_writes", "prune_ns_checkpoints",
    ]
    rendered: dict[str, Any] = {n: _r(d, n) for n in names}
    q = load_queries(_Q)
    for name, order in _ORDER.items():
        sql, params = q.render_with_params(d, name, positional=True)
        if params != order:  # the call sites bind these positionally
            raise StorageError(f"langgraph.sql: {name} takes {params}, callers pass {order}")
        rendered[name] = sql
    return LangGraphSQL(dialect=d, **rendered)
