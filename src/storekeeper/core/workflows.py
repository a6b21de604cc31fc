"""Workflow executions and task states (SPEC §3, seed 002): records, checks, progress.

Sans-IO: the records users pass and get back, the validation every backend
runs before it writes anything, and :class:`ProgressInfo`, the aggregate a
parent task reads to decide its own status under a fan-out strategy.

Identifiers (execution ids, task ids, workflow ids, agent/tool/action ids) are
strings of letters, digits and ``_ . : @ / + -`` (at most 255 characters,
starting with a letter, digit or ``_``): what workflow engines use (UUIDs,
KSUIDs, ``etl-pipeline``, ``child-1``). Anything else (quotes, blanks,
semicolons, NUL) is a :class:`~storekeeper.errors.ValidationError` before
anything is written. A missing execution id gets a UUIDv7.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import deque
from collections.abc import Iterable, Mapping
from enum import StrEnum
from itertools import repeat
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from ..errors import ValidationError
from .entities import dumps, new_id

__all__ = [
    "MAX_TREE_DEPTH",
    "TERMINAL",
    "ExecutionFilter",
    "ProgressInfo",
    "StateFilter",
    "Status",
    "Strategy",
    "TaskState",
    "WorkflowExecution",
    "check_limit",
    "check_ident",
    "check_status",
    "check_strategy",
    "trusted_execution",
    "SET_DICT",
    "SET_EXTRA",
    "SET_FIELDS_SET",
    "SET_PRIVATE",
    "STATE_FIELDS",
    "STATUS_OF",
    "encode_json",
    "seal_states",
    "new_state",
    "new_execution",
]

#: the deepest level get_task_tree follows (a cycle made by re-parenting cannot loop forever)
MAX_TREE_DEPTH = 500
#: the largest page list_executions returns
MAX_LIMIT = 10_000

_IDENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/+\-]{0,254}$")


class Status(StrEnum):
    """The lifecycle of a workflow execution or a task (seed 002)."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        # Compozy writes its statuses upper-case (SUCCESS, TIMED_OUT)
        if isinstance(value, str):
            low = value.lower()
            for member in cls:
                if member.value == low:
                    return member
        return None

    @property
    def is_terminal(self) -> bool:
        """Success, failed, canceled or timed out: the task will not change any more."""
        return self in TERMINAL


#: the statuses a task ends in
TERMINAL = frozenset({Status.SUCCESS, Status.FAILED, Status.CANCELED, Status.TIMED_OUT})
#: the terminal statuses that are not a success
_FAILURES = (Status.FAILED, Status.CANCELED, Status.TIMED_OUT)


class Strategy(StrEnum):
    """How a parent task's status follows from its children's (fan-out strategies)."""

    #: done when every child is; failed if any child failed
    WAIT_ALL = "wait_all"
    #: failed as soon as one child fails; success when all succeeded
    FAIL_FAST = "fail_fast"
    #: done when every child is; success if at least one child succeeded
    BEST_EFFORT = "best_effort"
    #: success as soon as one child succeeds; failed when all ended without one
    RACE = "race"


def check_status(value: object, what: str = "status") -> Status:
    """*value* as a :class:`Status`, or :class:`ValidationError` naming the valid ones."""
    if isinstance(value, Status):
        return value
    try:
        return Status(value)  # type: ignore[arg-type]
    except ValueError:
        valid = ", ".join(s.value for s in Status)
        raise ValidationError(f"{what} must be one of {valid}; got {value!r}") from None


def check_strategy(value: object) -> Strategy:
    if isinstance(value, Strategy):
        return value
    try:
        return Strategy(value.lower()) if isinstance(value, str) else Strategy(value)  # type: ignore[arg-type]
    except ValueError:
        valid = ", ".join(s.value for s in Strategy)
        raise ValidationError(f"strategy must be one of {valid}; got {value!r}") from None


def check_ident(value: object, what: str) -> str:
    """*value* as an identifier (see the module docstring), else :class:`ValidationError`."""
    if not isinstance(value, str) or not _IDENT_RE.match(value):
        raise ValidationError(
            f"{what} must be 1 to 255 letters, digits or _ . : @ / + - (starting with a "
            f"letter, digit or _); got {value!r}"
        )
    return value


def _opt_ident(value: object, what: str) -> str | None:
    return None if value is None else check_ident(value, what)


def check_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def encode_json(value: Any, what: str) -> str | None:
    """A JSON field as text (None stays SQL NULL); :class:`SerializationError` if not JSON."""
    if value is None:
        return None
    return dumps(value, what).decode()


def _utc(value: _dt.datetime | None) -> _dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC)


# --- records ------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    @field_validator("created_at", "updated_at", check_fields=False)
    @classmethod
    def _aware(cls, v: _dt.datetime | None) -> _dt.datetime | None:
        return _utc(v)


class TaskState(_Record):
    """The state of one task execution (seed 002 ``task.State``).

    ``input``, ``output`` and ``error`` hold any JSON value. ``created_at`` and
    ``updated_at`` are set by the store. ``depth`` is only set on the states
    :meth:`get_task_tree` returns (0 for the root).
    """

    task_exec_id: str = Field(default_factory=new_id)
    task_id: str
    workflow_exec_id: str
    workflow_id: str
    status: Status = Status.PENDING
    execution_type: str = "basic"
    parent_state_id: str | None = None
    agent_id: str | None = None
    tool_id: str | None = None
    action_id: str | None = None
    input: Any = None
    output: Any = None
    error: Any = None
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    depth: int | None = None

    @field_validator("task_exec_id", mode="before")
    @classmethod
    def _id(cls, v: object) -> str:
        return new_id() if v is None else check_ident(v, "task_exec_id")

    @field_validator("task_id", "workflow_exec_id", "workflow_id", "execution_type")
    @classmethod
    def _ident(cls, v: str, info: pydantic.ValidationInfo) -> str:
        return check_ident(v, str(info.field_name))

    @field_validator("parent_state_id", "agent_id", "tool_id", "action_id")
    @classmethod
    def _opt(cls, v: str | None, info: pydantic.ValidationInfo) -> str | None:
        return _opt_ident(v, str(info.field_name))

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: object) -> Status:
        return check_status(v)

    @model_validator(mode="after")
    def _not_own_parent(self) -> TaskState:
        if self.parent_state_id is not None and self.parent_state_id == self.task_exec_id:
            raise ValidationError(f"task state {self.task_exec_id!r} cannot be its own parent")
        return self


def _share_state_keys() -> None:
    """Put TaskState's field names, in field order, into the key table its instances' dicts share.

    CPython keeps one key table per class for the dicts of its instances, and
    lets it take new keys only while the class has few instances. Records read
    back by a SQL store are filled into their own dicts (then ``seal_states``), which hold
    only their values (less than half the memory, faster to fill) once the
    table has their keys: they are put there while the class is new, however
    many records a program builds before it reads one back.
    """
    d = object.__new__(TaskState).__dict__
    for name in TaskState.model_fields:
        d[name] = None


_share_state_keys()


class WorkflowExecution(_Record):
    """One run of a workflow (seed 002 ``workflow.Execution``).

    ``tasks`` (task_id -> :class:`TaskState`) is only filled by
    ``get_execution(exec_id, include_tasks=True)``; it is never written.
    """

    exec_id: str = Field(default_factory=new_id)
    workflow_id: str
    status: Status = Status.PENDING
    input: Any = None
    output: Any = None
    error: Any = None
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    tasks: dict[str, TaskState] | None = None

    @field_validator("exec_id", mode="before")
    @classmethod
    def _id(cls, v: object) -> str:
        return new_id() if v is None else check_ident(v, "exec_id")

    @field_validator("workflow_id")
    @classmethod
    def _ident(cls, v: str) -> str:
        return check_ident(v, "workflow_id")

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: object) -> Status:
        return check_status(v)


#: every field is set on a record read back; one set shared by all of them (pydantic
#: only ever adds an assigned field's name, which is in it already)
STATE_FIELDS = set(TaskState.model_fields)
_EXECUTION_FIELDS = set(WorkflowExecution.model_fields)

# A pydantic model keeps its values and bookkeeping in four slots of BaseModel. A
# record read back from a store is built by filling them directly, through the
# slots' own descriptors (half the cost of ``object.__setattr__``): what the store
# wrote was validated on the way in, and a tree of a thousand states would spend
# most of its time re-checking it.
_slots = BaseModel.__dict__
SET_DICT = _slots["__dict__"].__set__
SET_FIELDS_SET = _slots["__pydantic_fields_set__"].__set__
SET_EXTRA = _slots["__pydantic_extra__"].__set__
SET_PRIVATE = _slots["__pydantic_private__"].__set__
#: below this many records seal_states sets their slots one record at a time
_SEAL_ONE_BY_ONE = 8


def seal_states(states: list[TaskState]) -> None:
    """Finish records made with ``object.__new__`` whose fields were stored into their ``__dict__``.

    Sets the three bookkeeping slots of each (every field set, no extra, no
    private attributes); for many records one slot of all of them at a time
    (no interpreted loop), for a few one record at a time (no set-up).
    """
    if len(states) < _SEAL_ONE_BY_ONE:
        for st in states:
            SET_FIELDS_SET(st, STATE_FIELDS)
            SET_EXTRA(st, None)
            SET_PRIVATE(st, None)
        return
    deque(map(SET_FIELDS_SET, states, repeat(STATE_FIELDS)), 0)
    deque(map(SET_EXTRA, states, repeat(None)), 0)
    deque(map(SET_PRIVATE, states, repeat(None)), 0)


def trusted_execution(values: dict[str, Any]) -> WorkflowExecution:
    """A :class:`WorkflowExecution` of *values* read back from a store (every field, already valid)."""
    ex: WorkflowExecution = object.__new__(WorkflowExecution)
    SET_DICT(ex, values)
    SET_FIELDS_SET(ex, _EXECUTION_FIELDS)
    SET_EXTRA(ex, None)
    SET_PRIVATE(ex, None)
    return ex


#: a stored status text -> its member (faster than calling the enum)
STATUS_OF: dict[str, Status] = {s.value: s for s in Status}


def _coerce(model: type[BaseModel], value: object, what: str) -> Any:
    """*value* (a record or a mapping) validated as *model*, or :class:`ValidationError`."""
    try:
        if isinstance(value, model):
            # its fields as they are (a model_construct'ed record may hold anything)
            return model.model_validate({k: getattr(value, k, None) for k in type(value).model_fields})
        if isinstance(value, Mapping):
            return model.model_validate(dict(value))
    except pydantic.ValidationError as exc:
        raise ValidationError(f"invalid {what}: {_first_error(exc)}") from None
    raise ValidationError(f"{what} must be a {model.__name__} or a mapping, got {type(value).__name__}")


def _first_error(exc: pydantic.ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", exc))
    return f"{where}: {msg}" if where else msg


def new_execution(value: object) -> tuple[WorkflowExecution, tuple[str | None, ...]]:
    """The execution to write and its JSON fields ``(input, output, error)`` encoded."""
    if type(value) is WorkflowExecution and type(value.status) is Status:
        # validated when built and on every assignment: check what model_construct skips
        ex = value
        check_ident(ex.exec_id, "exec_id")
        check_ident(ex.workflow_id, "workflow_id")
    else:
        ex = _coerce(WorkflowExecution, value, "workflow execution")
    return ex, (
        encode_json(ex.input, "input"),
        encode_json(ex.output, "output"),
        encode_json(ex.error, "error"),
    )


def new_state(value: object) -> tuple[TaskState, tuple[str | None, ...]]:
    """The task state to write and its JSON fields ``(input, output, error)`` encoded."""
    if type(value) is TaskState and type(value.status) is Status:
        # validated when built and on every assignment: check what model_construct skips
        st = value
        for name in ("task_exec_id", "task_id", "workflow_exec_id", "workflow_id", "execution_type"):
            check_ident(getattr(st, name), name)
        for name in ("parent_state_id", "agent_id", "tool_id", "action_id"):
            _opt_ident(getattr(st, name), name)
        if st.parent_state_id is not None and st.parent_state_id == st.task_exec_id:
            raise ValidationError(f"task state {st.task_exec_id!r} cannot be its own parent")
    else:
        st = _coerce(TaskState, value, "task state")
    return st, (
        encode_json(st.input, "input"),
        encode_json(st.output, "output"),
        encode_json(st.error, "error"),
    )


# --- filters ------------------------------------------------------------------------


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    created_after: _dt.datetime | None = None
    created_before: _dt.datetime | None = None
    updated_after: _dt.datetime | None = None
    updated_before: _dt.datetime | None = None

    @field_validator("created_after", "created_before", "updated_after", "updated_before")
    @classmethod
    def _aware(cls, v: _dt.datetime | None) -> _dt.datetime | None:
        return _utc(v)

    @field_validator("status", mode="before", check_fields=False)
    @classmethod
    def _status(cls, v: object) -> Status | None:
        return None if v is None else check_status(v)

    def conditions(self) -> list[tuple[str, str, Any]]:
        """``(column, op, value)`` of every set field; op is ``=``, ``>=`` or ``<``.

        Time ranges are half-open: ``created_after`` is inclusive, ``created_before``
        exclusive.
        """
        out: list[tuple[str, str, Any]] = []
        for name, value in self:
            if value is None:
                continue
            if name.endswith("_after"):
                out.append((name.split("_")[0] + "_at", ">=", value))
            elif name.endswith("_before"):
                out.append((name.split("_")[0] + "_at", "<", value))
            else:
                out.append((name, "=", value))
        return out


class ExecutionFilter(_Filter):
    """Which executions ``list_executions`` returns (every field set must match)."""

    workflow_id: str | None = None
    status: Status | None = None

    @field_validator("workflow_id")
    @classmethod
    def _ident(cls, v: str | None) -> str | None:
        return _opt_ident(v, "workflow_id")


class StateFilter(_Filter):
    """Which task states ``list_states`` returns (every field set must match)."""

    task_id: str | None = None
    workflow_exec_id: str | None = None
    workflow_id: str | None = None
    status: Status | None = None
    execution_type: str | None = None
    parent_state_id: str | None = None
    agent_id: str | None = None
    tool_id: str | None = None
    action_id: str | None = None

    @field_validator(
        "task_id", "workflow_exec_id", "workflow_id", "execution_type", "parent_state_id",
        "agent_id", "tool_id", "action_id",
    )
    @classmethod
    def _ident(cls, v: str | None, info: pydantic.ValidationInfo) -> str | None:
        return _opt_ident(v, str(info.field_name))


def check_filter(model: type[_Filter], value: object) -> Any:
    """*value* (None, a filter or a mapping of its fields) as a *model* filter."""
    if value is None:
        return model()
    if isinstance(value, model):
        # validated again: a filter built with model_construct skipped the checks
        value = {k: v for k, v in value if v is not None}
    if isinstance(value, Mapping):
        try:
            return model.model_validate(dict(value))
        except pydantic.ValidationError as exc:
            raise ValidationError(f"invalid {model.__name__}: {_first_error(exc)}") from None
    raise ValidationError(f"filter must be a {model.__name__} or a mapping, got {type(value).__name__}")


# --- progress -----------------------------------------------------------------------


class ProgressInfo(BaseModel):
    """How far the children of one parent task are (seed 002 ``task.ProgressInfo``).

    Rates are fractions of ``total_children`` (0.0 for a parent with no
    children, which counts as complete: there is nothing to wait for).
    """

    model_config = ConfigDict(frozen=True)

    total_children: int = 0
    status_counts: dict[Status, int] = Field(default_factory=dict)

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[Any, Any]]) -> ProgressInfo:
        """From ``(status, count)`` pairs (one aggregate query's rows)."""
        per: dict[Status, int] = dict.fromkeys(Status, 0)
        for status, n in counts:
            per[check_status(status)] += int(n)
        return cls(total_children=sum(per.values()), status_counts=per)

    def count(self, status: Status | str) -> int:
        return self.status_counts.get(check_status(status), 0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pending_count(self) -> int:
        return self.count(Status.PENDING)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def running_count(self) -> int:
        return self.count(Status.RUNNING)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def waiting_count(self) -> int:
        return self.count(Status.WAITING)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def paused_count(self) -> int:
        return self.count(Status.PAUSED)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success_count(self) -> int:
        return self.count(Status.SUCCESS)

    #: seed 002 calls the succeeded children "completed"
    completed_count = success_count

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed_count(self) -> int:
        """Children that ended without success: failed, canceled or timed out."""
        return sum(self.count(s) for s in _FAILURES)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def canceled_count(self) -> int:
        return self.count(Status.CANCELED)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def timed_out_count(self) -> int:
        return self.count(Status.TIMED_OUT)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def terminal_count(self) -> int:
        return sum(self.count(s) for s in TERMINAL)

    def _rate(self, n: int) -> float:
        return n / self.total_children if self.total_children else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completion_rate(self) -> float:
        """Terminal children / all children."""
        return self._rate(self.terminal_count)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failure_rate(self) -> float:
        """Children failed, canceled or timed out / all children."""
        return self._rate(self.failed_count)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success_rate(self) -> float:
        return self._rate(self.success_count)

    def is_all_complete(self) -> bool:
        """Every child is terminal (true for a parent without children)."""
        return self.terminal_count >= self.total_children

    def has_failures(self) -> bool:
        return self.failed_count > 0

    def overall_status(self, strategy: Strategy | str = Strategy.WAIT_ALL) -> Status:
        """The parent's status under *strategy* (see :class:`Strategy`).

        While undecided: ``running`` once any child has left ``pending``,
        else ``pending``. A parent without children is ``success``.
        """
        s = check_strategy(strategy)
        if self.total_children == 0:
            return Status.SUCCESS
        done = self.is_all_complete()
        if s is Strategy.WAIT_ALL:
            if done:
                return Status.FAILED if self.has_failures() else Status.SUCCESS
        elif s is Strategy.FAIL_FAST:
            if self.has_failures():
                return Status.FAILED
            if done:
                return Status.SUCCESS
        elif s is Strategy.BEST_EFFORT:
            if done:
                return Status.SUCCESS if self.success_count > 0 else Status.FAILED
        else:  # race
            if self.success_count > 0:
                return Status.SUCCESS
            if done:
                return Status.FAILED
        return Status.RUNNING if self.pending_count < self.total_children else Status.PENDING
