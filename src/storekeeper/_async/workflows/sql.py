"""Workflow executions and task states in ``workflow_states`` / ``task_states``.

One class per capability for every SQL dialect; the statements are in
:mod:`storekeeper.sql.workflows`. Each method is one statement, except
``get_execution(include_tasks=True)`` (two) and ``create_child_states`` (the
parent's row, then one multi-row insert per chunk, in one transaction that
is run again when the database picks it as a deadlock victim).

The database keeps the rules: foreign keys (a state's execution and parent
must exist; deletes cascade) and the status values. Inside
``ds.transaction()`` every write joins the caller's transaction;
``get_state_for_update`` locks the row until it ends (SQLite: the write lock
the transaction took when it began).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Awaitable, Callable  # sync: from collections.abc import Callable
from typing import Any

from ..._compat import rt_async as rt
from ...core.bulk import collector_paused
from ...core.entities import loads, utcnow_iso
from ...core.workflows import (
    STATUS_OF,
    ProgressInfo,
    Status,
    TaskState,
    WorkflowExecution,
    seal_states,
    trusted_execution,
)
from ...errors import (
    DatabaseConnectionError,
    DuplicateError,
    NotFoundError,
    StorageError,
    TransactionError,
    ValidationError,
)
from ...sql.queue import as_utc
from ...sql.workflows import param_name, workflow_sql
from ..backends.base import AsyncSQLBackend
from ..tables import AsyncSQLRows, AsyncSQLTaskRows
from .base import AsyncTasks, AsyncWorkflows, Conditions, JSONFields

__all__ = ["AsyncSQLTasks", "AsyncSQLWorkflows"]

#: children per multi-row insert (16 parameters each, within every dialect's limit)
INSERT_CHUNK = 500
#: create_child_states run again after a deadlock before the error surfaces
TXN_RETRIES = 10

#: rows from which on the cyclic collector is paused while their records are built
_PAUSE_AT = 256
_Rows = list[tuple[Any, ...]] | tuple[tuple[Any, ...], ...]
_UTC = _dt.UTC
_fromiso = _dt.datetime.fromisoformat
#: zoneinfo keys that are UTC at every instant, and the tzinfo objects seen with one
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"})
_UTC_ZONES: set[_dt.tzinfo] = set()


def _text(value: Any) -> Any:
    """A JSON column read back as text (SQL NULL: None)."""
    return loads(value) if value is not None else None


def _ts(value: Any) -> _dt.datetime | None:
    """A timestamp read back: ISO text (SQLite), an aware (PostgreSQL) or naive UTC (MySQL) datetime.

    Thousands of them come back with a tree: the common shapes skip ``astimezone``.
    """
    if value.__class__ is str:
        value = _fromiso(value)
    if value.__class__ is _dt.datetime:
        tz = value.tzinfo
        if tz is _UTC:
            return value  # type: ignore[no-any-return]
        if tz is None:
            return value.replace(tzinfo=_UTC)  # type: ignore[no-any-return]
        if tz in _UTC_ZONES:
            return value  # type: ignore[no-any-return]
        if getattr(tz, "key", None) in _UTC_KEYS:
            # a session in time zone UTC (PostgreSQL answers with zoneinfo's Etc/UTC):
            # already an aware UTC time
            _UTC_ZONES.add(tz)
            return value  # type: ignore[no-any-return]
    return as_utc(value)


def execution_from_row(row: tuple[Any, ...]) -> WorkflowExecution:
    """The execution of a row selected with ``wf_columns``."""
    return trusted_execution(
        {
            "exec_id": row[0],
            "workflow_id": row[1],
            "status": STATUS_OF[row[2]],
            "input": _text(row[3]),
            "output": _text(row[4]),
            "error": _text(row[5]),
            "created_at": _ts(row[6]),
            "updated_at": _ts(row[7]),
            "tasks": None,
        }
    )


def states_from_rows(rows: _Rows) -> list[TaskState]:
    """The states of rows selected with ``task_columns`` (and the depth after them, if any).

    One loop with everything inlined: a tree brings back thousands of rows, and
    a function call per row and field is most of what building them costs. The
    cyclic collector is paused while many records are built (none of them forms
    a cycle; see :mod:`storekeeper.core.bulk`).
    """
    if len(rows) < _PAUSE_AT:
        return _build_states(rows)
    with collector_paused():
        return _build_states(rows)


def _build_states(rows: _Rows) -> list[TaskState]:
    out: list[TaskState] = []
    append = out.append
    new, cls = object.__new__, TaskState
    status_of, fromiso, utc, zones, lo, ts = STATUS_OF, _fromiso, _UTC, _UTC_ZONES, loads, _ts
    deep = len(rows) > 0 and len(rows[0]) > 15  # selected with the depth after the columns
    # the last creation time read: siblings written together by create_child_states
    # share it, and come back next to each other (their ids are in creation order)
    last_c: Any = None
    last_created: Any = None
    for row in rows:
        c, u = row[13], row[14]
        if c == last_c:
            created = last_created
        else:
            created = fromiso(c) if c.__class__ is str else c
            tz = created.tzinfo
            if tz is not utc and tz not in zones:
                created = created.replace(tzinfo=utc) if tz is None else ts(created)
            last_c, last_created = c, created
        if u == c:
            # a state not updated since it was written
            updated = created
        else:
            updated = fromiso(u) if u.__class__ is str else u
            tz = updated.tzinfo
            if tz is not utc and tz not in zones:
                updated = updated.replace(tzinfo=utc) if tz is None else ts(updated)
        i, o, e = row[10], row[11], row[12]
        st = new(cls)
        # the record's own dict, filled in field order: its keys are shared by every
        # record (one values array each, no second dict built and swapped in)
        d = st.__dict__
        d["task_exec_id"] = row[0]
        d["task_id"] = row[1]
        d["workflow_exec_id"] = row[2]
        d["workflow_id"] = row[3]
        d["status"] = status_of[row[4]]
        d["execution_type"] = row[5]
        d["parent_state_id"] = row[6]
        d["agent_id"] = row[7]
        d["tool_id"] = row[8]
        d["action_id"] = row[9]
        d["input"] = lo(i) if i is not None else None
        d["output"] = lo(o) if o is not None else None
        d["error"] = lo(e) if e is not None else None
        d["created_at"] = created
        d["updated_at"] = updated
        d["depth"] = row[15] if deep else None
        append(st)
    seal_states(out)
    return out


def state_from_row(row: tuple[Any, ...]) -> TaskState:
    """The state of one row selected with ``task_columns``."""
    return _build_states((row,))[0]


def _is_foreign_key(exc: StorageError) -> bool:
    return not isinstance(exc, DuplicateError | DatabaseConnectionError) and (
        "foreign key" in str(exc).lower()
    )


class _SQLBase:
    def __init__(self, backend: AsyncSQLBackend) -> None:
        self.backend = backend
        d = backend.dialect
        self.sql = workflow_sql(d.name)
        #: the client supplies the clock (``:ts``) and timestamps are ISO text
        self._clock = d.client_clock
        #: cascades stop a few levels deep: detach states before deleting an execution
        self._shallow_cascades = d.shallow_cascades

    def _p(self, **params: Any) -> dict[str, Any]:
        if self._clock:
            params["ts"] = utcnow_iso()
        return params

    def _time(self, value: _dt.datetime) -> Any:
        """A UTC time as a parameter compared with a timestamp column."""
        value = value.astimezone(_dt.UTC)
        return value.isoformat(timespec="microseconds") if self._clock else value

    def _conditions(self, conds: Conditions, params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        shape = []
        for column, op, value in conds:
            shape.append((column, op))
            if isinstance(value, _dt.datetime):
                value = self._time(value)
            elif isinstance(value, Status):
                value = value.value
            params[param_name(column, op)] = value
        return tuple(shape)

    async def _atomic(self, work: Callable[[], Awaitable[None]]) -> None:  # sync: def _atomic(self, work: Callable[[], None]) -> None:
        """Run *work* in one transaction, again when the database made it a deadlock victim."""
        b = self.backend
        attempt = 0
        while True:
            try:
                async with b.transaction():
                    await work()
                return
            except TransactionError:
                # a deadlock victim (InnoDB, PostgreSQL): nothing of it was kept; inside
                # a caller's transaction the whole transaction is gone, theirs to retry
                if b.in_transaction or attempt >= TXN_RETRIES:
                    raise
                attempt += 1
                await rt.sleep(min(0.05, 0.001 * 2**attempt))

    async def _states(self, sql: str, params: dict[str, Any]) -> list[TaskState]:
        return states_from_rows(await self.backend.fetchall(sql, params))


def _state_params(st: TaskState, js: JSONFields, suffix: str = "") -> dict[str, Any]:
    return {
        f"task_exec_id{suffix}": st.task_exec_id,
        f"task_id{suffix}": st.task_id,
        f"workflow_exec_id{suffix}": st.workflow_exec_id,
        f"workflow_id{suffix}": st.workflow_id,
        f"status{suffix}": st.status.value,
        f"execution_type{suffix}": st.execution_type,
        f"parent_state_id{suffix}": st.parent_state_id,
        f"agent_id{suffix}": st.agent_id,
        f"tool_id{suffix}": st.tool_id,
        f"action_id{suffix}": st.action_id,
        f"input{suffix}": js[0],
        f"output{suffix}": js[1],
        f"error{suffix}": js[2],
    }


class AsyncSQLWorkflows(_SQLBase, AsyncSQLRows, AsyncWorkflows):
    """``ds.workflows`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("workflows",)

    def __init__(self, backend: AsyncSQLBackend) -> None:
        super().__init__(backend)
        self.name = backend.name

    async def _upsert_execution(self, ex: WorkflowExecution, js: JSONFields) -> None:
        await self.backend.execute(
            self.sql.upsert_execution,
            self._p(
                exec_id=ex.exec_id, workflow_id=ex.workflow_id, status=ex.status.value,
                input=js[0], output=js[1], error=js[2],
            ),
        )

    async def _get_execution(self, exec_id: str) -> WorkflowExecution | None:
        row = await self.backend.fetchone(self.sql.get_execution, {"exec_id": exec_id})
        return execution_from_row(row) if row is not None else None

    async def _get_with_tasks(self, exec_id: str) -> WorkflowExecution | None:
        ex = await self._get_execution(exec_id)
        if ex is None:
            return None
        states = await self._states(self.sql.list_tasks_in_workflow, {"wf": exec_id})
        # records read back are valid: skip validate_assignment's pass over every state
        ex.__dict__["tasks"] = {s.task_id: s for s in states}
        return ex

    async def _list_executions(
        self, conds: Conditions, key: tuple[Any, ...] | None, descending: bool, limit: int
    ) -> list[WorkflowExecution]:
        params: dict[str, Any] = {"limit": limit}
        shape = self._conditions(conds, params)
        if key is not None:
            try:
                at = _dt.datetime.fromisoformat(key[0])
            except ValueError:
                raise ValidationError("invalid cursor: malformed sort key") from None
            params["k_created_at"] = self._time(at)
            params["k_exec_id"] = key[1]
        sql = self.sql.list_executions(shape, key is not None, descending)
        return [execution_from_row(r) for r in await self.backend.fetchall(sql, params)]

    async def _delete_execution(self, exec_id: str) -> bool:
        b, p = self.backend, {"exec_id": exec_id}
        if not self._shallow_cascades:
            return await b.execute(self.sql.delete_execution, p) > 0
        deleted = False

        async def detach_and_delete() -> None:
            nonlocal deleted
            await b.execute(self.sql.detach_tasks, p)
            deleted = await b.execute(self.sql.delete_execution, p) > 0

        await self._atomic(detach_and_delete)
        return deleted


class AsyncSQLTasks(_SQLBase, AsyncSQLTaskRows, AsyncTasks):
    """``ds.tasks`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("tasks",)

    def __init__(self, backend: AsyncSQLBackend) -> None:
        super().__init__(backend)
        self.name = backend.name

    async def _upsert_state(self, st: TaskState, js: JSONFields) -> None:
        try:
            await self.backend.execute(self.sql.upsert_state, self._p(**_state_params(st, js)))
        except StorageError as exc:
            if not _is_foreign_key(exc):
                raise
            raise await self._missing_reference(st) from None

    async def _missing_reference(self, st: TaskState) -> NotFoundError:
        """The error for a state whose execution or parent does not exist."""
        b = self.backend
        what = f"workflow execution {st.workflow_exec_id!r}"
        if st.parent_state_id is not None:
            what += f" or parent state {st.parent_state_id!r}"
            if not b.in_transaction:
                # outside a transaction the database can say which one is missing
                row = await b.fetchone(self.sql.parent_of_children, {"id": st.parent_state_id})
                what = (
                    f"parent state {st.parent_state_id!r}" if row is None
                    else f"workflow execution {st.workflow_exec_id!r}"
                )
        return NotFoundError(
            f"task state {st.task_exec_id!r}: {what} does not exist; nothing was written",
            backend=b.name,
        )

    async def _get_state(self, task_exec_id: str) -> TaskState | None:
        row = await self.backend.fetchone(self.sql.get_state, {"id": task_exec_id})
        return state_from_row(row) if row is not None else None

    async def _get_state_for_update(self, task_exec_id: str) -> TaskState:
        b = self.backend
        if not b.in_transaction:
            raise TransactionError(
                "get_state_for_update locks the state until the transaction ends: "
                "call it inside ds.transaction()",
                backend=b.name,
            )
        row = await b.fetchone(self.sql.get_state_for_update, {"id": task_exec_id})
        if row is None:
            raise NotFoundError(f"task state {task_exec_id!r} does not exist", backend=b.name)
        return state_from_row(row)

    async def _list_states(self, conds: Conditions, limit: int | None) -> list[TaskState]:
        params: dict[str, Any] = {}
        shape = self._conditions(conds, params)
        if limit is not None:
            params["limit"] = limit
        return await self._states(self.sql.list_states(shape, limit is not None), params)

    async def _by_workflow(self, workflow_exec_id: str) -> list[TaskState]:
        return await self._states(self.sql.list_tasks_in_workflow, {"wf": workflow_exec_id})

    async def _by_status(self, workflow_exec_id: str, status: Status) -> list[TaskState]:
        return await self._states(
            self.sql.list_tasks_by_status, {"wf": workflow_exec_id, "status": status.value}
        )

    async def _by_column(self, column: str, workflow_exec_id: str, value: str) -> list[TaskState]:
        if column == "agent_id":
            return await self._states(self.sql.list_tasks_by_agent, {"wf": workflow_exec_id, "agent": value})
        return await self._states(self.sql.list_tasks_by_tool, {"wf": workflow_exec_id, "tool": value})

    async def _children(self, parent: str) -> list[TaskState]:
        return await self._states(self.sql.list_children, {"parent": parent})

    async def _children_outputs(self, parent: str) -> dict[str, Any]:
        rows = await self.backend.fetchall(self.sql.list_children_outputs, {"parent": parent})
        return {r[0]: _text(r[1]) for r in rows}

    async def _child(self, parent: str, task_id: str) -> TaskState | None:
        row = await self.backend.fetchone(
            self.sql.get_child_by_task_id, {"parent": parent, "task_id": task_id}
        )
        return state_from_row(row) if row is not None else None

    async def _tree(self, root: str, max_depth: int) -> list[TaskState]:
        return await self._states(self.sql.task_tree, {"root": root, "max_depth": max_depth})

    async def _progress(self, parent: str) -> ProgressInfo:
        rows = await self.backend.fetchall(self.sql.progress, {"parent": parent})
        return ProgressInfo.from_counts((r[0], r[1]) for r in rows)

    async def _create_children(self, parent: str, rows: list[tuple[TaskState, JSONFields]]) -> None:
        async def insert() -> None:
            await self._insert_children(parent, rows)

        await self._atomic(insert)

    async def _insert_children(self, parent: str, rows: list[tuple[TaskState, JSONFields]]) -> None:
        b = self.backend
        row = await b.fetchone(self.sql.parent_of_children, {"id": parent})
        if row is None:
            raise NotFoundError(
                f"parent state {parent!r} does not exist; no child was written", backend=b.name
            )
        for st, _ in rows:
            if st.workflow_exec_id != row[0]:
                raise ValidationError(
                    f"child {st.task_exec_id!r} belongs to workflow execution "
                    f"{st.workflow_exec_id!r}, its parent to {row[0]!r}; no child was written"
                )
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            params = self._p()
            for i, (st, js) in enumerate(chunk):
                params.update(_state_params(st, js, str(i)))
            try:
                await b.execute(self.sql.insert_states(len(chunk)), params)
            except DuplicateError as exc:
                raise DuplicateError(
                    f"a child state exists already; no child was written ({exc})", backend=b.name
                ) from None
