# Generated from src/storekeeper/_async/workflows/memory.py by tools/gen_sync.py: do not edit.

"""Workflow executions and task states held in this process: the reference semantics.

Records live in two tables of the memory backend, so ``ds.transaction()``
undoes them on failure. Foreign keys are checked as the SQL tables check
them (a state's execution and parent must exist) and deletes cascade.
``get_state_for_update`` takes a per-state lock owned by the caller's
transaction and released when it ends, standing in for a row lock: threads
(and tasks) locking one state serialize.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..._compat import rt_sync as rt
from ...core.entities import loads
from ...core.transfer import from_iso, iso, page
from ...core.workflows import (
    ProgressInfo,
    Status,
    TaskState,
    WorkflowExecution,
)
from ...errors import DuplicateError, NotFoundError, TransactionError, ValidationError
from ..backends.base import Meanwhile
from ..backends.memory import MemoryBackend
from .base import Tasks, Workflows, Conditions, JSONFields

__all__ = ["MemoryTasks", "MemoryWorkflows"]

_WF = "sk:workflow_states"
_TS = "sk:task_states"
_JSON = ("input", "output", "error")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _doc(record: WorkflowExecution | TaskState, js: JSONFields, created: Any) -> dict[str, Any]:
    doc = record.model_dump(exclude={"tasks", "depth", "input", "output", "error"})
    doc.update(zip(_JSON, js, strict=True))
    now = _now()
    doc["created_at"] = created if created is not None else now
    doc["updated_at"] = now
    return doc


def _load(doc: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for k in _JSON:
        v = out[k]
        out[k] = loads(v) if v is not None else None
    return out


def _execution(doc: dict[str, Any]) -> WorkflowExecution:
    return WorkflowExecution.model_validate(_load(doc))


def _state(doc: dict[str, Any], depth: int | None = None) -> TaskState:
    st = TaskState.model_validate(_load(doc))
    if depth is not None:
        st.depth = depth
    return st


def _matches(doc: dict[str, Any], conds: Conditions) -> bool:
    for column, op, value in conds:
        have = doc[column]
        if op == "=":
            if have != value:
                return False
        elif op == ">=":
            if have < value:
                return False
        elif not have < value:
            return False
    return True


class _Tables:
    """What both capabilities share on one memory backend."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.lock = backend.lock

    @property
    def wf(self) -> dict[str, tuple[dict[str, Any], bytes]]:
        return self.backend.table(_WF)

    @property
    def ts(self) -> dict[str, tuple[dict[str, Any], bytes]]:
        return self.backend.table(_TS)

    def states(self) -> list[dict[str, Any]]:
        return [e[0] for e in self.ts.values()]

    def delete_tasks(self, doomed: set[str]) -> None:
        """Delete states *doomed* and every descendant of them (cascade)."""
        children: dict[str, list[str]] = {}
        for d in self.states():
            p = d["parent_state_id"]
            if p is not None:
                children.setdefault(p, []).append(d["task_exec_id"])
        todo = list(doomed)
        while todo:
            for c in children.get(todo.pop(), ()):
                if c not in doomed:
                    doomed.add(c)
                    todo.append(c)
        for tid in sorted(doomed):
            self.backend.put(_TS, tid, None)


_WF_COLUMNS = ("exec_id", "workflow_id", "status", "input", "output", "error")
_TS_COLUMNS = (
    "task_exec_id", "task_id", "workflow_exec_id", "workflow_id", "status", "execution_type",
    "parent_state_id", "agent_id", "tool_id", "action_id", "input", "output", "error",
)


class _MemoryRows:
    """Export and import of the records of one memory table (portable rows, see core.transfer)."""

    t: _Tables
    _table_name: str
    _columns: tuple[str, ...]
    _key: str

    def _docs(self) -> dict[str, tuple[dict[str, Any], bytes]]:
        return self.t.backend.table(self._table_name)

    def _export_rows(self, kind: str, after: Any, limit: int) -> list[dict[str, Any]]:
        with self.t.lock:
            rows = [
                {
                    **{c: (str(d[c]) if c == "status" else d[c]) for c in self._columns},
                    "created_at": iso(d["created_at"]), "updated_at": iso(d["updated_at"]),
                }
                for d, _ in self._docs().values()
            ]
        return page(rows, self._key, after, limit)

    def _count_rows(self, kind: str) -> int:
        with self.t.lock:
            return len(self._docs())

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        n = 0
        with self.t.lock:
            docs = self._docs()
            for p in rows:
                if p[self._key] in docs:
                    continue
                doc = {c: p.get(c) for c in self._columns}
                doc["status"] = Status(str(p["status"]))
                now = _now()
                doc["created_at"] = from_iso(p.get("created_at")) or now
                doc["updated_at"] = from_iso(p.get("updated_at")) or now
                self.t.backend.put(self._table_name, p[self._key], (doc, b""))
                n += 1
        return n


def _tables(backend: MemoryBackend) -> _Tables:
    t: _Tables | None = getattr(backend, "_sk_workflow_tables", None)
    if t is None:
        t = _Tables(backend)
        backend._sk_workflow_tables = t  # type: ignore[attr-defined]
    return t


class MemoryWorkflows(_MemoryRows, Workflows):
    """``ds.workflows`` on ``memory://``."""

    _transfer_kinds = ("workflows",)
    _table_name, _columns, _key = _WF, _WF_COLUMNS, "exec_id"

    def __init__(self, backend: MemoryBackend) -> None:
        self.t = _tables(backend)

    def _upsert_execution(self, ex: WorkflowExecution, js: JSONFields) -> None:
        t = self.t
        with t.lock:
            old = t.wf.get(ex.exec_id)
            doc = _doc(ex, js, old[0]["created_at"] if old else None)
            t.backend.put(_WF, ex.exec_id, (doc, b""))

    def _get_execution(self, exec_id: str) -> WorkflowExecution | None:
        with self.t.lock:
            e = self.t.wf.get(exec_id)
        return _execution(e[0]) if e is not None else None

    def _get_with_tasks(self, exec_id: str) -> WorkflowExecution | None:
        ex = self._get_execution(exec_id)
        if ex is None:
            return None
        with self.t.lock:
            docs = [d for d in self.t.states() if d["workflow_exec_id"] == exec_id]
        docs.sort(key=lambda d: d["task_exec_id"])
        ex.tasks = {d["task_id"]: _state(d) for d in docs}
        return ex

    def _list_executions(
        self, conds: Conditions, key: tuple[Any, ...] | None, descending: bool, limit: int
    ) -> list[WorkflowExecution]:
        with self.t.lock:
            docs = [e[0] for e in self.t.wf.values() if _matches(e[0], conds)]
        docs.sort(key=lambda d: (d["created_at"], d["exec_id"]), reverse=descending)
        if key is not None:
            k = (_dt.datetime.fromisoformat(key[0]), key[1])
            if descending:
                docs = [d for d in docs if (d["created_at"], d["exec_id"]) < k]
            else:
                docs = [d for d in docs if (d["created_at"], d["exec_id"]) > k]
        return [_execution(d) for d in docs[:limit]]

    def _delete_execution(self, exec_id: str) -> bool:
        t = self.t
        with t.lock:
            if exec_id not in t.wf:
                return False
            t.delete_tasks({d["task_exec_id"] for d in t.states() if d["workflow_exec_id"] == exec_id})
            t.backend.put(_WF, exec_id, None)
        return True


class MemoryTasks(_MemoryRows, Tasks):
    """``ds.tasks`` on ``memory://``."""

    _transfer_kinds = ("tasks",)
    _table_name, _columns, _key = _TS, _TS_COLUMNS, "task_exec_id"

    def _link_rows(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Parents are imported with their states here: nothing is left to link."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.t = _tables(backend)
        #: task_exec_id -> the transaction holding its lock
        self._locks: dict[str, object] = {}

    def _check_refs(self, st: TaskState) -> None:
        t = self.t
        if st.workflow_exec_id not in t.wf:
            raise NotFoundError(
                f"task state {st.task_exec_id!r}: workflow execution {st.workflow_exec_id!r} "
                "does not exist"
            )
        if st.parent_state_id is not None and st.parent_state_id not in t.ts:
            raise NotFoundError(
                f"task state {st.task_exec_id!r}: parent state {st.parent_state_id!r} does not exist"
            )

    def _upsert_state(self, st: TaskState, js: JSONFields) -> None:
        t = self.t
        with t.lock:
            self._check_refs(st)
            old = t.ts.get(st.task_exec_id)
            doc = _doc(st, js, old[0]["created_at"] if old else None)
            t.backend.put(_TS, st.task_exec_id, (doc, b""))

    def _get_state(self, task_exec_id: str) -> TaskState | None:
        with self.t.lock:
            e = self.t.ts.get(task_exec_id)
        return _state(e[0]) if e is not None else None

    def _get_state_for_update(self, task_exec_id: str) -> TaskState:
        b = self.backend
        owner = b.current_transaction()
        if owner is None:
            raise TransactionError(
                "get_state_for_update locks the state until the transaction ends: "
                "call it inside ds.transaction()"
            )
        deadline = time.monotonic() + b.config.lock_timeout / 1000.0
        delay = 0.0002
        while True:
            with self.t.lock:
                holder = self._locks.get(task_exec_id)
                if holder is None:
                    self._locks[task_exec_id] = owner
                    b.on_end(lambda: self._release(task_exec_id, owner))
                    break
                if holder is owner:
                    break
            if time.monotonic() > deadline:
                raise TransactionError(
                    f"task state {task_exec_id!r} stayed locked by another transaction for "
                    f"more than {b.config.lock_timeout} ms (lock_timeout)"
                )
            rt.sleep(delay)
            delay = min(delay * 2, 0.005)
        st = self._get_state(task_exec_id)
        if st is None:
            raise NotFoundError(f"task state {task_exec_id!r} does not exist")
        return st

    def _release(self, task_exec_id: str, owner: object) -> None:
        with self.t.lock:
            if self._locks.get(task_exec_id) is owner:
                del self._locks[task_exec_id]

    def _select(self, pred: Any) -> list[TaskState]:
        with self.t.lock:
            docs = [d for d in self.t.states() if pred(d)]
        docs.sort(key=lambda d: d["task_exec_id"])
        return [_state(d) for d in docs]

    def _list_states(self, conds: Conditions, limit: int | None) -> list[TaskState]:
        out = self._select(lambda d: _matches(d, conds))
        return out if limit is None else out[:limit]

    def _by_workflow(self, workflow_exec_id: str) -> list[TaskState]:
        return self._select(lambda d: d["workflow_exec_id"] == workflow_exec_id)

    def _by_status(self, workflow_exec_id: str, status: Status) -> list[TaskState]:
        return self._select(
            lambda d: d["workflow_exec_id"] == workflow_exec_id and d["status"] == status
        )

    def _by_column(self, column: str, workflow_exec_id: str, value: str) -> list[TaskState]:
        return self._select(lambda d: d["workflow_exec_id"] == workflow_exec_id and d[column] == value)

    def _children(self, parent: str) -> list[TaskState]:
        return self._select(lambda d: d["parent_state_id"] == parent)

    def _children_outputs(self, parent: str) -> dict[str, Any]:
        return {s.task_id: s.output for s in self._children(parent)}

    def _child(self, parent: str, task_id: str) -> TaskState | None:
        found = self._select(lambda d: d["parent_state_id"] == parent and d["task_id"] == task_id)
        return found[0] if found else None

    def _tree(self, root: str, max_depth: int) -> list[TaskState]:
        with self.t.lock:
            ts = self.t.ts
            if root not in ts:
                return []
            children: dict[str, list[dict[str, Any]]] = {}
            for d in self.t.states():
                p = d["parent_state_id"]
                if p is not None:
                    children.setdefault(p, []).append(d)
            out = [_state(ts[root][0], 0)]
            level = [root]
            depth = 0
            while level and depth < max_depth:
                depth += 1
                nxt = sorted(
                    (c for p in level for c in children.get(p, ())), key=lambda d: d["task_exec_id"]
                )
                out.extend(_state(d, depth) for d in nxt)
                level = [d["task_exec_id"] for d in nxt]
        return out

    def _progress(self, parent: str) -> ProgressInfo:
        counts: dict[str, int] = {}
        with self.t.lock:
            for d in self.t.states():
                if d["parent_state_id"] == parent:
                    counts[d["status"]] = counts.get(d["status"], 0) + 1
        return ProgressInfo.from_counts(counts.items())

    def _create_children(self, parent: str, rows: list[tuple[TaskState, JSONFields]]) -> None:
        t = self.t
        with t.lock:
            p = t.ts.get(parent)
            if p is None:
                raise NotFoundError(f"parent state {parent!r} does not exist; no child was written")
            wf = p[0]["workflow_exec_id"]
            for st, _ in rows:
                _same_workflow(st, wf)
                if st.task_exec_id in t.ts:
                    raise DuplicateError(
                        f"task state {st.task_exec_id!r} exists already; no child was written"
                    )
            for st, js in rows:
                t.backend.put(_TS, st.task_exec_id, (_doc(st, js, None), b""))


def _same_workflow(st: TaskState, wf: str) -> None:
    if st.workflow_exec_id != wf:
        raise ValidationError(
            f"child {st.task_exec_id!r} belongs to workflow execution {st.workflow_exec_id!r}, "
            f"its parent to {wf!r}; no child was written"
        )
