"""The statements of workflow executions and task states, rendered for one dialect.

The statements are the named ones of ``queries/workflows.sql``, rendered with
named parameters (bound from mappings). Built per call shape, and cached: the
filtered lists (which columns a filter sets) and the multi-row insert of
``create_child_states`` (how many rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from . import dialect_of
from .dialect import Dialect, load_queries

__all__ = ["WORKFLOW_FILTER_COLUMNS", "STATE_FILTER_COLUMNS", "WorkflowSQL", "workflow_sql"]

#: the columns an ExecutionFilter may name (a backstop: filters are validated before)
WORKFLOW_FILTER_COLUMNS = frozenset({"workflow_id", "status", "created_at", "updated_at"})
#: the columns a StateFilter may name
STATE_FILTER_COLUMNS = frozenset(
    {
        "task_id", "workflow_exec_id", "workflow_id", "status", "execution_type",
        "parent_state_id", "agent_id", "tool_id", "action_id", "created_at", "updated_at",
    }
)
_OPS = {"=": "eq", ">=": "ge", "<": "lt"}
#: the parameters of state_row that differ per row (the clock :ts is shared)
_ROW_PARAMS = re.compile(
    r"(?<=:)(task_exec_id|task_id|workflow_exec_id|workflow_id|status|execution_type|"
    r"parent_state_id|agent_id|tool_id|action_id|input|output|error)\b"
)

#: a filter's shape: ``(column, op)`` pairs, op one of ``=``, ``>=``, ``<``
Shape = tuple[tuple[str, str], ...]


def param_name(column: str, op: str) -> str:
    """The parameter a filter condition on *column* with *op* binds."""
    return f"f_{column}_{_OPS[op]}"


@dataclass(frozen=True)
class WorkflowSQL:
    """Every fixed statement of ``ds.workflows`` and ``ds.tasks`` in one dialect."""

    dialect: Dialect
    upsert_execution: str
    get_execution: str
    delete_execution: str
    detach_tasks: str
    upsert_state: str
    get_state: str
    get_state_for_update: str
    parent_of_children: str
    list_tasks_in_workflow: str
    list_tasks_by_status: str
    list_tasks_by_agent: str
    list_tasks_by_tool: str
    list_children: str
    list_children_outputs: str
    get_child_by_task_id: str
    task_tree: str
    progress: str

    def list_executions(self, shape: Shape, keyset: bool, descending: bool) -> str:
        """Executions matching *shape*, newest (or oldest) first, after a keyset cursor.

        Parameters: one per condition (:func:`param_name`), ``:limit``, and with
        *keyset* ``:k_created_at`` and ``:k_exec_id``.
        """
        return _list_executions(self.dialect.name, shape, keyset, descending)

    def list_states(self, shape: Shape, limited: bool) -> str:
        """States matching *shape* (``:limit`` when *limited*)."""
        return _list_states(self.dialect.name, shape, limited)

    def insert_states(self, n: int) -> str:
        """Insert *n* states: parameters of state_row numbered per row (``:task_id0`` …)."""
        return _insert_states(self.dialect.name, n)

    def children_of_many(self, n: int) -> str:
        """The children of parents ``:i0`` … ``:i{n-1}`` (the naive walk, for the benchmark)."""
        return _render(self.dialect.name, "children_of_many", ids=", ".join(f":i{i}" for i in range(n)))


def _render(dialect: str, name: str, **slots: str) -> str:
    return load_queries("workflows").render(dialect_of(dialect), name, slots=slots)


def _where(shape: Shape, allowed: frozenset[str]) -> list[str]:
    out = []
    for column, op in shape:
        if column not in allowed or op not in _OPS:
            raise ValueError(f"not a filter condition: {column} {op}")
        out.append(f"{column} {op} :{param_name(column, op)}")
    return out


@cache
def _list_executions(dialect: str, shape: Shape, keyset: bool, descending: bool) -> str:
    conds = _where(shape, WORKFLOW_FILTER_COLUMNS)
    cmp = "<" if descending else ">"
    if keyset:
        conds.append(
            f"(created_at {cmp} :k_created_at OR (created_at = :k_created_at AND exec_id {cmp} :k_exec_id))"
        )
    return _render(
        dialect,
        "list_executions",
        where=" AND ".join(conds) or "1 = 1",
        order="DESC" if descending else "ASC",
    )


@cache
def _list_states(dialect: str, shape: Shape, limited: bool) -> str:
    conds = _where(shape, STATE_FILTER_COLUMNS)
    return _render(
        dialect,
        "list_states",
        where=" AND ".join(conds) or "1 = 1",
        limit="LIMIT :limit" if limited else "",
    )


@cache
def _insert_states(dialect: str, n: int) -> str:
    row = load_queries("workflows").template("state_row", dialect)
    rows = ", ".join(_ROW_PARAMS.sub(rf"\g<1>{i}", row) for i in range(n))
    return _render(dialect, "insert_states", rows=rows)


@cache
def workflow_sql(dialect: str) -> WorkflowSQL:
    """The workflow and task statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""

    def r(name: str) -> str:
        return _render(dialect, name)

    return WorkflowSQL(
        dialect=dialect_of(dialect),
        upsert_execution=r("upsert_execution"),
        get_execution=r("get_execution"),
        delete_execution=r("delete_execution"),
        detach_tasks=r("detach_tasks"),
        upsert_state=r("upsert_state"),
        get_state=r("get_state"),
        get_state_for_update=r("get_state_for_update"),
        parent_of_children=r("parent_of_children"),
        list_tasks_in_workflow=r("list_tasks_in_workflow"),
        list_tasks_by_status=r("list_tasks_by_status"),
        list_tasks_by_agent=r("list_tasks_by_agent"),
        list_tasks_by_tool=r("list_tasks_by_tool"),
        list_children=r("list_children"),
        list_children_outputs=r("list_children_outputs"),
        get_child_by_task_id=r("get_child_by_task_id"),
        task_tree=r("task_tree"),
        progress=r("progress"),
    )
