# Generated from src/storekeeper/_async/workflows/base.py by tools/gen_sync.py: do not edit.

"""What every workflow and task backend shares: the public API and its checks.

``ds.workflows`` records workflow executions, ``ds.tasks`` the state of each
task of them, with parents and children (SPEC §3, seed 002). Every argument
is checked here (sans-IO checks of :mod:`storekeeper.core.workflows`) before a
backend runs, so bad input fails the same way on every backend and writes
nothing. A backend family implements the primitives (``_upsert_state``,
``_tree`` …).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ...core.paging import Page, decode_cursor, encode_cursor
from ...core.workflows import (
    MAX_TREE_DEPTH,
    ExecutionFilter,
    ProgressInfo,
    StateFilter,
    Status,
    TaskState,
    WorkflowExecution,
    check_filter,
    check_ident,
    check_limit,
    check_status,
    new_execution,
    new_state,
)
from ...errors import ValidationError

__all__ = ["Tasks", "Workflows", "Conditions", "JSONFields"]

#: input, output and error of a record, encoded (None: SQL NULL)
JSONFields = tuple[str | None, ...]
#: a validated filter: ``(column, op, value)``, op ``=``, ``>=`` or ``<``
Conditions = list[tuple[str, str, Any]]

_ORDERS = ("desc", "asc")


def _signature(order: str) -> str:
    return f"workflows:created_at:{order}"


class Workflows(ABC):
    """Workflow executions: ``ds.workflows``.

    ::

        ex = ds.workflows.upsert_execution(
            WorkflowExecution(workflow_id="etl-pipeline", status="running", input={"env": "prod"})
        )
        again = ds.workflows.get_execution(ex.exec_id, include_tasks=True)
        page = ds.workflows.list_executions(ExecutionFilter(status="failed"), limit=50)
    """

    name = "workflows"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def upsert_execution(self, execution: WorkflowExecution | Mapping[str, Any]) -> WorkflowExecution:
        """Insert *execution*, or replace the stored one with the same ``exec_id``.

        A missing ``exec_id`` gets a UUIDv7. Returns the record written (its
        timestamps are the store's: read it back to see them). ``input``,
        ``output`` and ``error`` must be JSON (:class:`SerializationError`).
        """
        ex, js = new_execution(execution)
        self._upsert_execution(ex, js)
        return ex

    def get_execution(
        self, exec_id: str, *, include_tasks: bool = False
    ) -> WorkflowExecution | None:
        """The execution (None when missing); with *include_tasks*, its ``tasks`` too.

        ``tasks`` maps task_id to :class:`TaskState`; it costs one statement more.
        """
        eid = check_ident(exec_id, "exec_id")
        if include_tasks:
            return self._get_with_tasks(eid)
        return self._get_execution(eid)

    def list_executions(
        self,
        filter: ExecutionFilter | Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        after: str | None = None,
        order: Literal["desc", "asc"] = "desc",
    ) -> Page[WorkflowExecution]:
        """Executions matching *filter*, newest first (``order="asc"``: oldest first).

        A page of at most *limit*; pass its ``next_cursor`` as *after* for the
        next one (keyset paging: stable while executions are added).
        """
        f = check_filter(ExecutionFilter, filter)
        n = check_limit(limit)
        if order not in _ORDERS:
            raise ValidationError(f"order must be 'desc' or 'asc', got {order!r}")
        key: tuple[Any, ...] | None = None
        if after is not None:
            key = decode_cursor(after, _signature(order), 2)
            if not all(isinstance(k, str) for k in key):
                raise ValidationError("invalid cursor: malformed sort key")
            check_ident(key[1], "cursor")
        items = self._list_executions(f.conditions(), key, order == "desc", n + 1)
        nxt = None
        if len(items) > n:
            items = items[:n]
            last = items[-1]
            assert last.created_at is not None
            nxt = encode_cursor(
                _signature(order),
                (last.created_at.isoformat(timespec="microseconds"), last.exec_id),
            )
        return Page(items, nxt)

    def delete_execution(self, exec_id: str) -> bool:
        """Delete the execution and every task state of it; False when it did not exist."""
        return self._delete_execution(check_ident(exec_id, "exec_id"))

    # -- primitives ---------------------------------------------------------------------
    @abstractmethod
    def _upsert_execution(self, ex: WorkflowExecution, js: JSONFields) -> None: ...

    @abstractmethod
    def _get_execution(self, exec_id: str) -> WorkflowExecution | None: ...

    @abstractmethod
    def _get_with_tasks(self, exec_id: str) -> WorkflowExecution | None:
        """The execution and its tasks, in at most two statements."""

    @abstractmethod
    def _list_executions(
        self, conds: Conditions, key: tuple[Any, ...] | None, descending: bool, limit: int
    ) -> list[WorkflowExecution]:
        """Up to *limit* executions by ``(created_at, exec_id)``, after *key* (ISO text, id)."""

    @abstractmethod
    def _delete_execution(self, exec_id: str) -> bool: ...


class Tasks(ABC):
    """Task states with their hierarchy: ``ds.tasks`` (seed 002 ``TaskRepo``).

    ::

        ds.tasks.upsert_state(TaskState(task_id="extract", workflow_exec_id=ex.exec_id,
                                              workflow_id="etl-pipeline", status="running"))
        with ds.transaction():
            st = ds.tasks.get_state_for_update(task_exec_id)   # row locked
            st.output = {"n": st.output["n"] + 1}
            ds.tasks.upsert_state(st)
        tree = ds.tasks.get_task_tree(root_id)                  # one statement
        progress = ds.tasks.get_progress_info(parent_id)        # one statement
    """

    name = "tasks"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def upsert_state(self, state: TaskState | Mapping[str, Any]) -> TaskState:
        """Insert *state*, or replace the stored one with the same ``task_exec_id``.

        Its workflow execution (and its parent state, if it names one) must
        exist: :class:`NotFoundError` otherwise, and nothing is written.
        Returns the record written (timestamps are the store's).
        """
        st, js = new_state(state)
        self._upsert_state(st, js)
        return st

    def get_state(self, task_exec_id: str) -> TaskState | None:
        """The state (None when missing)."""
        return self._get_state(check_ident(task_exec_id, "task_exec_id"))

    def get_state_for_update(self, task_exec_id: str) -> TaskState:
        """The state, locked until the caller's ``ds.transaction()`` ends.

        Two callers locking one state serialize: the second waits until the
        first commits or rolls back, then reads what it wrote. Outside a
        transaction: :class:`TransactionError`. Missing: :class:`NotFoundError`.
        """
        return self._get_state_for_update(check_ident(task_exec_id, "task_exec_id"))

    def list_states(
        self, filter: StateFilter | Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> list[TaskState]:
        """States matching every field *filter* sets (all states without one), by id."""
        f = check_filter(StateFilter, filter)
        n = None if limit is None else check_limit(limit)
        return self._list_states(f.conditions(), n)

    def list_tasks_in_workflow(self, workflow_exec_id: str) -> dict[str, TaskState]:
        """Every state of the execution, by task_id."""
        states = self._by_workflow(check_ident(workflow_exec_id, "workflow_exec_id"))
        return {s.task_id: s for s in states}

    def list_tasks_by_status(self, workflow_exec_id: str, status: Status | str) -> list[TaskState]:
        """The execution's states in *status*."""
        return self._by_status(
            check_ident(workflow_exec_id, "workflow_exec_id"), check_status(status)
        )

    def list_tasks_by_agent(self, workflow_exec_id: str, agent_id: str) -> list[TaskState]:
        """The execution's states run by agent *agent_id*."""
        return self._by_column(
            "agent_id", check_ident(workflow_exec_id, "workflow_exec_id"), check_ident(agent_id, "agent_id")
        )

    def list_tasks_by_tool(self, workflow_exec_id: str, tool_id: str) -> list[TaskState]:
        """The execution's states run by tool *tool_id*."""
        return self._by_column(
            "tool_id", check_ident(workflow_exec_id, "workflow_exec_id"), check_ident(tool_id, "tool_id")
        )

    def list_children(self, parent_state_id: str) -> list[TaskState]:
        """The direct children of a state."""
        return self._children(check_ident(parent_state_id, "parent_state_id"))

    def list_children_outputs(self, parent_state_id: str) -> dict[str, Any]:
        """task_id -> output of every direct child (None where it has none yet)."""
        return self._children_outputs(check_ident(parent_state_id, "parent_state_id"))

    def get_child_by_task_id(self, parent_state_id: str, task_id: str) -> TaskState | None:
        """The child of a state running *task_id* (None when there is none)."""
        return self._child(
            check_ident(parent_state_id, "parent_state_id"), check_ident(task_id, "task_id")
        )

    def get_task_tree(self, root_state_id: str) -> list[TaskState]:
        """The root and every descendant, by depth (``depth`` 0 is the root), in one statement.

        Within a depth, states come by id. Empty when the root does not exist.
        Levels deeper than :data:`~storekeeper.core.workflows.MAX_TREE_DEPTH`
        are not followed.
        """
        return self._tree(check_ident(root_state_id, "root_state_id"), MAX_TREE_DEPTH)

    def get_progress_info(self, parent_state_id: str) -> ProgressInfo:
        """Counts per status of a state's children and the rates of them, in one statement.

        A state without children (or a missing one) has ``total_children == 0``.
        """
        return self._progress(check_ident(parent_state_id, "parent_state_id"))

    def create_child_states(
        self, parent_state_id: str, children: Iterable[TaskState | Mapping[str, Any]]
    ) -> list[TaskState]:
        """Insert *children* under a parent, all or nothing; return them as written.

        Every child gets ``parent_state_id = parent_state_id`` and must belong
        to the parent's workflow execution. A missing parent is a
        :class:`NotFoundError`; a child whose id exists already a
        :class:`DuplicateError`; a bad child a :class:`ValidationError` or
        :class:`SerializationError`: in each case no child is written.
        """
        pid = check_ident(parent_state_id, "parent_state_id")
        if isinstance(children, str | bytes | Mapping | TaskState) or not isinstance(children, Iterable):
            raise ValidationError("children must be a list of task states")
        rows: list[tuple[TaskState, JSONFields]] = []
        seen: set[str] = set()
        for child in children:
            if isinstance(child, TaskState):
                child = child.model_copy(update={"parent_state_id": pid})
            elif isinstance(child, Mapping):
                child = {**child, "parent_state_id": pid}
            st, js = new_state(child)
            if st.task_exec_id in seen:
                raise ValidationError(f"task_exec_id {st.task_exec_id!r} appears twice among the children")
            seen.add(st.task_exec_id)
            rows.append((st, js))
        if rows:
            self._create_children(pid, rows)
        return [st for st, _ in rows]

    #: seed 002's name
    create_child_states_in_transaction = create_child_states

    # -- primitives ---------------------------------------------------------------------
    @abstractmethod
    def _upsert_state(self, st: TaskState, js: JSONFields) -> None: ...

    @abstractmethod
    def _get_state(self, task_exec_id: str) -> TaskState | None: ...

    @abstractmethod
    def _get_state_for_update(self, task_exec_id: str) -> TaskState: ...

    @abstractmethod
    def _list_states(self, conds: Conditions, limit: int | None) -> list[TaskState]: ...

    @abstractmethod
    def _by_workflow(self, workflow_exec_id: str) -> list[TaskState]: ...

    @abstractmethod
    def _by_status(self, workflow_exec_id: str, status: Status) -> list[TaskState]: ...

    @abstractmethod
    def _by_column(self, column: str, workflow_exec_id: str, value: str) -> list[TaskState]:
        """States of the execution whose *column* (agent_id or tool_id) is *value*."""

    @abstractmethod
    def _children(self, parent: str) -> list[TaskState]: ...

    @abstractmethod
    def _children_outputs(self, parent: str) -> dict[str, Any]: ...

    @abstractmethod
    def _child(self, parent: str, task_id: str) -> TaskState | None: ...

    @abstractmethod
    def _tree(self, root: str, max_depth: int) -> list[TaskState]: ...

    @abstractmethod
    def _progress(self, parent: str) -> ProgressInfo: ...

    @abstractmethod
    def _create_children(self, parent: str, rows: list[tuple[TaskState, JSONFields]]) -> None:
        """Insert the children atomically, after checking the parent exists."""
