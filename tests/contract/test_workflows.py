"""The workflow and task contract (SPEC §3, seed 002) on memory, SQLite, PostgreSQL and MySQL,
sync and async.

Every test works under workflow ids and executions of its own (uuid), and
deletes its executions at teardown (their task states go with them).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import pickle
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import JSON_SAMPLES, StoreHandle, sql_backend

from storekeeper import (
    DataStore,
    DuplicateError,
    ExecutionFilter,
    NotFoundError,
    ProgressInfo,
    SerializationError,
    StateFilter,
    Status,
    StorageError,
    Strategy,
    TaskState,
    TransactionError,
    UnsupportedOperation,
    ValidationError,
    WorkflowExecution,
)

INJECTIONS = [
    "x'; DROP TABLE task_states; --",
    "a OR 1=1",
    'x" OR "1"="1',
    "id\x00",
    "",
    " leading",
    "x" * 256,
    "a;b",
    "%",
    "_%",
]


class WF:
    """The store under test plus the executions a test made (deleted at teardown)."""

    def __init__(self, sk: StoreHandle) -> None:
        self.sk = sk
        self.ds = sk.store
        self.W = sk.store.workflows
        self.T = sk.store.tasks
        self.workflow_id = f"wf-{uuid.uuid4().hex[:12]}"
        self.execs: list[str] = []

    def execution(self, **kw: Any) -> WorkflowExecution:
        kw.setdefault("workflow_id", self.workflow_id)
        ex: WorkflowExecution = self.W.upsert_execution(WorkflowExecution(**kw))
        self.execs.append(ex.exec_id)
        return ex

    def state(self, ex: WorkflowExecution, task_id: str, **kw: Any) -> TaskState:
        st: TaskState = self.T.upsert_state(self.new_state(ex, task_id, **kw))
        return st

    @staticmethod
    def new_state(ex: WorkflowExecution, task_id: str, **kw: Any) -> TaskState:
        return TaskState(task_id=task_id, workflow_exec_id=ex.exec_id, workflow_id=ex.workflow_id, **kw)

    def close(self) -> None:
        for e in self.execs:
            self.W.delete_execution(e)


@pytest.fixture
def wf(sk: StoreHandle) -> Iterator[WF]:
    w = WF(sk)
    yield w
    w.close()


@pytest.fixture
def sql_wf(sql_sk: StoreHandle) -> Iterator[WF]:
    w = WF(sql_sk)
    yield w
    w.close()


def _ids(states: Any) -> list[str]:
    return [s.task_exec_id for s in states]


# --- executions -------------------------------------------------------------------------


def test_upsert_and_get_execution(wf: WF) -> None:
    W = wf.W
    assert W.get_execution(f"missing-{uuid.uuid4().hex}") is None
    ex = wf.execution(status="running", input={"environment": "production"})
    assert len(ex.exec_id) == 36 and ex.exec_id[14] == "7"  # a UUIDv7 was assigned
    got = W.get_execution(ex.exec_id)
    assert got is not None
    assert (got.exec_id, got.workflow_id, got.status) == (ex.exec_id, wf.workflow_id, Status.RUNNING)
    assert got.input == {"environment": "production"} and got.output is None and got.error is None
    assert got.created_at is not None and got.updated_at is not None
    assert got.created_at.tzinfo is not None and got.tasks is None
    time.sleep(0.002)
    got.status = Status.SUCCESS
    got.output = {"total_processed": 5000}
    W.upsert_execution(got)
    again = W.get_execution(ex.exec_id)
    assert again is not None
    assert again.status is Status.SUCCESS and again.output == {"total_processed": 5000}
    assert again.created_at == got.created_at
    assert again.updated_at is not None and again.updated_at > got.updated_at  # type: ignore[operator]
    # a mapping works too, with its own id
    ex2 = W.upsert_execution({"exec_id": f"run-{uuid.uuid4().hex}", "workflow_id": wf.workflow_id})
    wf.execs.append(ex2.exec_id)
    assert W.get_execution(ex2.exec_id).status is Status.PENDING


def test_json_fields_round_trip(wf: WF) -> None:
    for i, v in enumerate([s for s in JSON_SAMPLES if s is not None]):
        ex = wf.execution(input=v, output={"v": v}, error=[v])
        got = wf.W.get_execution(ex.exec_id)
        assert (got.input, got.output, got.error) == (v, {"v": v}, [v]), (i, v)
        st = wf.state(ex, "t", input=v, output=v, error={"message": "boom", "details": v})
        back = wf.T.get_state(st.task_exec_id)
        assert (back.input, back.output, back.error) == (v, v, {"message": "boom", "details": v})


def test_get_execution_with_its_tasks(wf: WF) -> None:
    ex = wf.execution(status="running")
    other = wf.execution()
    a = wf.state(ex, "extract", status="success")
    b = wf.state(ex, "transform", status="running", parent_state_id=a.task_exec_id)
    wf.state(other, "elsewhere")
    got = wf.W.get_execution(ex.exec_id, include_tasks=True)
    assert got is not None and got.tasks is not None
    assert sorted(got.tasks) == ["extract", "transform"]
    assert got.tasks["transform"].task_exec_id == b.task_exec_id
    assert got.tasks["transform"].parent_state_id == a.task_exec_id
    assert got.tasks["extract"].status is Status.SUCCESS
    empty = wf.W.get_execution(other.exec_id, include_tasks=True)
    assert list(empty.tasks) == ["elsewhere"]
    assert wf.W.get_execution("nope-" + uuid.uuid4().hex, include_tasks=True) is None


def test_list_executions_filters_and_keyset_pages(wf: WF) -> None:
    W = wf.W
    made = []
    for i in range(7):
        made.append(wf.execution(status="failed" if i % 3 == 0 else "success", input={"i": i}))
    stored = [W.get_execution(e.exec_id) for e in made]
    newest_first = [e.exec_id for e in reversed(made)]
    # pages of 3, newest first, then oldest first
    seen: list[str] = []
    after = None
    while True:
        page = W.list_executions(ExecutionFilter(workflow_id=wf.workflow_id), limit=3, after=after)
        seen += [e.exec_id for e in page.items]
        after = page.next_cursor
        if after is None:
            break
    assert seen == newest_first
    page = W.list_executions({"workflow_id": wf.workflow_id}, limit=100, order="asc")
    assert [e.exec_id for e in page.items] == list(reversed(newest_first)) and page.next_cursor is None
    # by status
    failed = W.list_executions(ExecutionFilter(workflow_id=wf.workflow_id, status=Status.FAILED))
    assert [e.exec_id for e in failed] == [made[6].exec_id, made[3].exec_id, made[0].exec_id]
    # time ranges: created_after inclusive, created_before exclusive
    pivot = stored[3].created_at
    later = W.list_executions(ExecutionFilter(workflow_id=wf.workflow_id, created_after=pivot))
    assert [e.exec_id for e in later] == newest_first[:4]
    earlier = W.list_executions(ExecutionFilter(workflow_id=wf.workflow_id, created_before=pivot))
    assert [e.exec_id for e in earlier] == newest_first[4:]
    assert W.list_executions(
        ExecutionFilter(workflow_id=wf.workflow_id, updated_after=_dt.datetime.now(_dt.UTC) + _dt.timedelta(hours=1))
    ).items == []
    # a cursor is tied to its order
    first = W.list_executions(ExecutionFilter(workflow_id=wf.workflow_id), limit=2)
    with pytest.raises(ValidationError):
        W.list_executions(ExecutionFilter(workflow_id=wf.workflow_id), after=first.next_cursor, order="asc")
    with pytest.raises(ValidationError):
        W.list_executions(after="not a cursor")
    with pytest.raises(ValidationError):
        W.list_executions(limit=0)


def test_delete_execution_takes_its_tasks_along(wf: WF) -> None:
    ex = wf.execution()
    keep = wf.execution()
    root = wf.state(ex, "root", execution_type="parallel")
    kids = wf.T.create_child_states(root.task_exec_id, [wf.new_state(ex, f"c{i}") for i in range(3)])
    grand = wf.T.create_child_states(kids[0].task_exec_id, [wf.new_state(ex, "g")])
    kept = wf.state(keep, "k")
    assert wf.W.delete_execution(ex.exec_id) is True
    assert wf.W.delete_execution(ex.exec_id) is False
    assert wf.W.get_execution(ex.exec_id) is None
    for s in [root, *kids, *grand]:
        assert wf.T.get_state(s.task_exec_id) is None
    assert wf.T.list_tasks_in_workflow(ex.exec_id) == {}
    assert wf.T.get_state(kept.task_exec_id) is not None


def test_delete_execution_with_a_deep_chain(wf: WF) -> None:
    """40 levels: deeper than InnoDB's 15 levels of cascades."""
    ex = wf.execution()
    parent: TaskState | None = None
    chain = []
    for i in range(40):
        parent = wf.state(ex, f"level-{i}", parent_state_id=parent.task_exec_id if parent else None)
        chain.append(parent.task_exec_id)
    assert [s.depth for s in wf.T.get_task_tree(chain[0])] == list(range(40))
    assert wf.W.delete_execution(ex.exec_id) is True
    assert all(wf.T.get_state(t) is None for t in chain)


# --- task states --------------------------------------------------------------------------


def test_seed_etl_task_example(wf: WF) -> None:
    """seed 002 'Basic Task Operations'."""
    ex = wf.execution(workflow_id=f"etl-pipeline-{uuid.uuid4().hex[:6]}", status="running")
    state = TaskState(
        task_id="data-processor",
        workflow_exec_id=ex.exec_id,
        workflow_id=ex.workflow_id,
        status=Status.RUNNING,
        execution_type="basic",
        input={"source": "database"},
    )
    wf.T.upsert_state(state)
    state.status = Status.SUCCESS
    state.output = {"processed_rows": 1000, "duration_ms": 2500}
    wf.T.upsert_state(state)
    completed = wf.T.list_tasks_by_status(ex.exec_id, Status.SUCCESS)
    assert len(completed) == 1
    got = completed[0]
    assert got.task_exec_id == state.task_exec_id and got.task_id == "data-processor"
    assert got.output == {"processed_rows": 1000, "duration_ms": 2500}
    assert got.input == {"source": "database"}
    assert wf.T.list_tasks_by_status(ex.exec_id, "running") == []
    assert got.created_at is not None and got.updated_at is not None
    assert got.updated_at >= got.created_at


def test_state_round_trip_and_list_methods(wf: WF) -> None:
    T = wf.T
    ex = wf.execution()
    other = wf.execution()
    a = wf.state(ex, "a", status="running", agent_id="agent-1", action_id="summarize",
                 execution_type="basic", input={"q": 1})
    b = wf.state(ex, "b", status="success", tool_id="tool.http", output={"ok": True})
    c = wf.state(ex, "c", status="running", agent_id="agent-1", tool_id="tool.http")
    wf.state(other, "a", status="running", agent_id="agent-1", tool_id="tool.http")
    got = T.get_state(a.task_exec_id)
    assert got.model_dump(exclude={"created_at", "updated_at"}) == a.model_dump(
        exclude={"created_at", "updated_at"}
    )
    assert T.get_state("missing-" + uuid.uuid4().hex) is None
    in_wf = T.list_tasks_in_workflow(ex.exec_id)
    assert sorted(in_wf) == ["a", "b", "c"] and in_wf["b"].output == {"ok": True}
    assert _ids(T.list_tasks_by_status(ex.exec_id, "running")) == [a.task_exec_id, c.task_exec_id]
    assert _ids(T.list_tasks_by_agent(ex.exec_id, "agent-1")) == [a.task_exec_id, c.task_exec_id]
    assert _ids(T.list_tasks_by_tool(ex.exec_id, "tool.http")) == [b.task_exec_id, c.task_exec_id]
    assert T.list_tasks_by_agent(ex.exec_id, "agent-2") == []
    # list_states: every field a user filters by
    f = StateFilter(workflow_id=wf.workflow_id, agent_id="agent-1")
    assert len(T.list_states(f)) == 3
    assert _ids(T.list_states(StateFilter(workflow_exec_id=ex.exec_id, status=Status.RUNNING, tool_id="tool.http"))) == [
        c.task_exec_id
    ]
    assert _ids(T.list_states({"workflow_exec_id": ex.exec_id, "action_id": "summarize"})) == [a.task_exec_id]
    assert _ids(T.list_states(StateFilter(workflow_exec_id=ex.exec_id, task_id="b"))) == [b.task_exec_id]
    assert len(T.list_states(StateFilter(workflow_exec_id=ex.exec_id, execution_type="basic"))) == 3
    assert len(T.list_states(StateFilter(workflow_exec_id=ex.exec_id), limit=2)) == 2
    pivot = T.get_state(b.task_exec_id).created_at
    assert _ids(T.list_states(StateFilter(workflow_exec_id=ex.exec_id, created_after=pivot))) == [
        b.task_exec_id, c.task_exec_id
    ]
    assert _ids(T.list_states(StateFilter(workflow_exec_id=ex.exec_id, created_before=pivot))) == [a.task_exec_id]
    future = _dt.datetime.now(_dt.UTC) + _dt.timedelta(hours=1)
    assert T.list_states(StateFilter(workflow_exec_id=ex.exec_id, updated_after=future)) == []
    assert len(T.list_states(StateFilter(workflow_exec_id=ex.exec_id, updated_before=future))) == 3


def test_records_read_back_are_ordinary_records(wf: WF) -> None:
    """What a read returns is a TaskState like one a user builds, on every read path.

    Equal to a validated copy of itself, every field present and in field order,
    UTC timestamps, assignments validated, copyable and picklable, and no two
    records (of one call or of two) share a mutable value.
    """
    T = wf.T
    ex = wf.execution()
    root = wf.state(ex, "root", execution_type="parallel", input={"n": [1, 2]})
    T.create_child_states(
        root.task_exec_id, [wf.new_state(ex, f"c{i}", output={"i": i}) for i in range(20)]
    )
    one = T.get_state(root.task_exec_id)
    tree = T.get_task_tree(root.task_exec_id)
    listed = T.list_tasks_in_workflow(ex.exec_id)
    kids = T.list_children(root.task_exec_id)
    assert len(tree) == len(listed) == 21 and len(kids) == 20
    for st in (one, tree[0], tree[1], tree[-1], listed["root"], listed["c7"], kids[0], kids[-1]):
        assert type(st) is TaskState
        assert list(dict(st)) == list(TaskState.model_fields)
        assert set(TaskState.model_fields) - {"depth"} <= st.model_fields_set
        assert st == TaskState.model_validate(st.model_dump())
        assert st == pickle.loads(pickle.dumps(st)) == copy.deepcopy(st) == st.model_copy()
        assert st.created_at is not None and st.updated_at is not None
        assert st.created_at.utcoffset() == st.updated_at.utcoffset() == _dt.timedelta(0)
        assert st.updated_at >= st.created_at
        with pytest.raises(ValueError):
            st.status = "done"  # type: ignore[assignment]
        st.status = "running"  # type: ignore[assignment]
        assert st.status is Status.RUNNING
    assert tree[0].depth == 0 and {s.depth for s in tree[1:]} == {1} and listed["c7"].depth is None
    # each record holds its own values
    tree[1].output["i"] = -1
    assert tree[2].output != {"i": -1} and T.get_task_tree(root.task_exec_id)[1].output != {"i": -1}
    listed["root"].input["n"].append(3)
    assert T.get_state(root.task_exec_id).input == {"n": [1, 2]} and one.input == {"n": [1, 2]}


def test_children_outputs_and_child_by_task_id(wf: WF) -> None:
    T = wf.T
    ex = wf.execution()
    parent = wf.state(ex, "fan-out", execution_type="parallel")
    kids = T.create_child_states(
        parent.task_exec_id,
        [wf.new_state(ex, f"child-{i}", output={"n": i} if i else None) for i in range(3)],
    )
    assert all(k.parent_state_id == parent.task_exec_id for k in kids)
    assert _ids(T.list_children(parent.task_exec_id)) == _ids(kids)
    assert T.list_children_outputs(parent.task_exec_id) == {"child-0": None, "child-1": {"n": 1}, "child-2": {"n": 2}}
    got = T.get_child_by_task_id(parent.task_exec_id, "child-2")
    assert got is not None and got.task_exec_id == kids[2].task_exec_id
    assert T.get_child_by_task_id(parent.task_exec_id, "child-9") is None
    assert T.list_children(kids[0].task_exec_id) == []
    assert T.list_children_outputs(kids[0].task_exec_id) == {}


def test_seed_child_states_and_progress(wf: WF) -> None:
    """seed 002 'Transaction Usage': children created atomically, then progress."""
    T = wf.T
    ex = wf.execution(workflow_id=f"parent-workflow-{uuid.uuid4().hex[:6]}")
    parent = wf.state(ex, "parent", execution_type="parallel")
    children = [
        TaskState(task_id=f"child-{i}", workflow_exec_id=ex.exec_id, workflow_id=ex.workflow_id,
                  status=Status.PENDING, execution_type="basic")
        for i in (1, 2)
    ]
    T.create_child_states_in_transaction(parent.task_exec_id, children)
    progress = T.get_progress_info(parent.task_exec_id)
    assert (progress.total_children, progress.pending_count) == (2, 2)
    assert progress.completion_rate == 0.0 and not progress.is_all_complete()
    assert progress.overall_status("wait_all") is Status.PENDING


def test_create_child_states_is_all_or_nothing(wf: WF) -> None:
    T = wf.T
    ex = wf.execution()
    other = wf.execution()
    parent = wf.state(ex, "p")
    existing = T.create_child_states(parent.task_exec_id, [wf.new_state(ex, "first")])[0]

    def batch(*extra: TaskState) -> list[TaskState]:
        return [wf.new_state(ex, "ok-1"), wf.new_state(ex, "ok-2"), *extra]

    dup = wf.new_state(ex, "dup", task_exec_id=existing.task_exec_id)
    with pytest.raises(DuplicateError):
        T.create_child_states(parent.task_exec_id, batch(dup))
    same = wf.new_state(ex, "twice")
    with pytest.raises(ValidationError):
        T.create_child_states(parent.task_exec_id, batch(same, same))
    with pytest.raises(SerializationError):
        T.create_child_states(parent.task_exec_id, batch(wf.new_state(ex, "bad", output={"x": object()})))
    with pytest.raises(ValidationError):  # another execution's child
        T.create_child_states(parent.task_exec_id, batch(wf.new_state(other, "stray")))
    with pytest.raises(ValidationError):
        T.create_child_states(parent.task_exec_id, [*batch(), {"task_id": "no workflow"}])
    with pytest.raises(NotFoundError):
        T.create_child_states("missing-" + uuid.uuid4().hex, batch())
    with pytest.raises(ValidationError):
        T.create_child_states(parent.task_exec_id, wf.new_state(ex, "not-a-list"))  # type: ignore[arg-type]
    assert _ids(T.list_children(parent.task_exec_id)) == [existing.task_exec_id]
    assert sorted(T.list_tasks_in_workflow(ex.exec_id)) == ["first", "p"]
    assert T.create_child_states(parent.task_exec_id, []) == []


def test_create_child_states_rolls_back_with_the_callers_transaction(wf: WF) -> None:
    ex = wf.execution()
    parent = wf.state(ex, "p")
    with pytest.raises(RuntimeError):
        with wf.ds.transaction():
            wf.T.create_child_states(parent.task_exec_id, [wf.new_state(ex, "c")])
            assert len(wf.T.list_children(parent.task_exec_id)) == 1
            raise RuntimeError
    assert wf.T.list_children(parent.task_exec_id) == []


def _build_tree(wf: WF, ex: WorkflowExecution, sizes: list[int]) -> tuple[TaskState, dict[str, TaskState]]:
    """A tree with sizes[d] nodes at depth d, children spread over the level above."""
    T = wf.T
    root = wf.state(ex, "root", execution_type="composite")
    nodes = {root.task_exec_id: root}
    level = [root]
    for depth, size in enumerate(sizes[1:], 1):
        per: dict[str, list[TaskState]] = {}
        for i in range(size):
            parent = level[i % len(level)]
            per.setdefault(parent.task_exec_id, []).append(wf.new_state(ex, f"d{depth}-{i}"))
        nxt: list[TaskState] = []
        for pid, kids in per.items():
            nxt += T.create_child_states(pid, kids)
        nodes.update((k.task_exec_id, k) for k in nxt)
        level = nxt
    return root, nodes


TREE_SIZES = [1, 3, 9, 27, 81, 243, 636]  # depth 6, 1,000 nodes


def test_task_tree_of_depth_6_with_1000_nodes(wf: WF) -> None:
    ex = wf.execution()
    root, nodes = _build_tree(wf, ex, TREE_SIZES)
    assert len(nodes) == 1000
    tree = wf.T.get_task_tree(root.task_exec_id)
    assert len(tree) == 1000
    assert sorted(_ids(tree)) == sorted(nodes)
    depths = [s.depth for s in tree]
    assert depths == sorted(depths) and depths[0] == 0 and depths[-1] == 6
    assert [depths.count(d) for d in range(7)] == TREE_SIZES
    at: dict[str, int] = {}
    for s in tree:
        if s.depth == 0:
            assert s.task_exec_id == root.task_exec_id and s.parent_state_id is None
        else:
            assert at[s.parent_state_id] == s.depth - 1  # type: ignore[index]
        at[s.task_exec_id] = s.depth  # type: ignore[assignment]
    # within a depth, by id
    for d in range(7):
        level = [s.task_exec_id for s in tree if s.depth == d]
        assert level == sorted(level)
    # a subtree, and a leaf
    top = tree[1].task_exec_id
    below = {top}
    for s in tree:
        if s.parent_state_id in below:
            below.add(s.task_exec_id)
    sub = wf.T.get_task_tree(top)
    assert sub[0].depth == 0 and sub[0].task_exec_id == top and set(_ids(sub)) == below
    assert [s.depth for s in sub] == sorted(s.depth for s in sub) and 300 < len(sub) < 400
    assert [s.depth for s in wf.T.get_task_tree(tree[-1].task_exec_id)] == [0]
    assert wf.T.get_task_tree("missing-" + uuid.uuid4().hex) == []


# --- progress -----------------------------------------------------------------------------

#: (children's statuses, expected overall status per strategy: wait_all, fail_fast, best_effort, race)
PROGRESS_CASES: list[tuple[list[str], tuple[str, str, str, str]]] = [
    ([], ("success", "success", "success", "success")),
    (["pending", "pending"], ("pending", "pending", "pending", "pending")),
    (["running", "pending"], ("running", "running", "running", "running")),
    (["success", "pending"], ("running", "running", "running", "success")),
    (["failed", "running"], ("running", "failed", "running", "running")),
    (["success", "success"], ("success", "success", "success", "success")),
    (["success", "failed"], ("failed", "failed", "success", "success")),
    (["failed", "timed_out", "canceled"], ("failed", "failed", "failed", "failed")),
    (["waiting", "paused"], ("running", "running", "running", "running")),
]


@pytest.mark.parametrize(("statuses", "expected"), PROGRESS_CASES)
def test_progress_info_strategies(statuses: list[str], expected: tuple[str, ...]) -> None:
    p = ProgressInfo.from_counts((s, 1) for s in statuses)
    for strategy, want in zip(Strategy, expected, strict=True):
        assert p.overall_status(strategy) is Status(want), (statuses, strategy)
        assert p.overall_status(strategy.value.upper()) is Status(want)


def test_progress_rates() -> None:
    empty = ProgressInfo.from_counts([])
    assert (empty.total_children, empty.completion_rate, empty.failure_rate, empty.success_rate) == (0, 0.0, 0.0, 0.0)
    assert empty.is_all_complete() and not empty.has_failures()
    p = ProgressInfo.from_counts([("success", 2), ("failed", 1), ("timed_out", 1), ("running", 4)])
    assert p.total_children == 8 and p.terminal_count == 4 and p.failed_count == 2
    assert (p.completion_rate, p.failure_rate, p.success_rate) == (0.5, 0.25, 0.25)
    assert p.status_counts[Status.RUNNING] == 4 and p.count("timed_out") == 1
    assert p.has_failures() and not p.is_all_complete()
    with pytest.raises(ValidationError):
        p.overall_status("first_wins")
    with pytest.raises(ValidationError):
        ProgressInfo.from_counts([("done", 1)])


def test_progress_through_the_store_under_every_strategy(wf: WF) -> None:
    ex = wf.execution()
    for statuses, expected in PROGRESS_CASES:
        parent = wf.state(ex, "parent")
        if statuses:
            wf.T.create_child_states(
                parent.task_exec_id, [wf.new_state(ex, f"c{i}", status=s) for i, s in enumerate(statuses)]
            )
        p = wf.T.get_progress_info(parent.task_exec_id)
        assert p.total_children == len(statuses)
        for s in Status:
            assert p.count(s) == statuses.count(s.value)
        assert p.completion_rate == (
            sum(Status(s).is_terminal for s in statuses) / len(statuses) if statuses else 0.0
        )
        assert tuple(p.overall_status(s).value for s in Strategy) == expected
    assert wf.T.get_progress_info("missing-" + uuid.uuid4().hex).total_children == 0


# --- locking -----------------------------------------------------------------------------


def test_get_state_for_update_needs_a_transaction(wf: WF) -> None:
    ex = wf.execution()
    st = wf.state(ex, "counter", output={"n": 0})
    with pytest.raises(TransactionError):
        wf.T.get_state_for_update(st.task_exec_id)
    with wf.ds.transaction():
        locked = wf.T.get_state_for_update(st.task_exec_id)
        assert locked.output == {"n": 0}
        assert wf.T.get_state_for_update(st.task_exec_id).task_exec_id == st.task_exec_id  # re-entrant
        locked.output = {"n": 1}
        wf.T.upsert_state(locked)
    assert wf.T.get_state(st.task_exec_id).output == {"n": 1}
    with pytest.raises(RuntimeError):
        with wf.ds.transaction():
            locked = wf.T.get_state_for_update(st.task_exec_id)
            locked.output = {"n": 99}
            wf.T.upsert_state(locked)
            raise RuntimeError
    assert wf.T.get_state(st.task_exec_id).output == {"n": 1}
    with wf.ds.transaction():
        with pytest.raises(NotFoundError):
            wf.T.get_state_for_update("missing-" + uuid.uuid4().hex)
    # the lock was released: another transaction takes it at once
    with wf.ds.transaction():
        wf.T.get_state_for_update(st.task_exec_id)


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_is_refused_and_nothing_is_written(wf: WF) -> None:
    W, T = wf.W, wf.T
    ex = wf.execution()
    parent = wf.state(ex, "p")
    before = T.list_tasks_in_workflow(ex.exec_id)

    # unknown status, on records, queries and filters
    with pytest.raises(ValidationError):
        T.upsert_state({"task_id": "t", "workflow_exec_id": ex.exec_id, "workflow_id": ex.workflow_id,
                        "status": "completed-ish"})
    with pytest.raises(ValidationError):
        W.upsert_execution({"workflow_id": wf.workflow_id, "status": "done"})
    with pytest.raises(ValidationError):
        T.list_tasks_by_status(ex.exec_id, "done")
    with pytest.raises(ValidationError):
        T.list_states({"status": "done"})
    with pytest.raises(ValidationError):
        W.list_executions({"status": "done"})
    with pytest.raises(ValidationError):
        T.list_states({"no_such_field": 1})
    # a task whose execution is missing; a child whose parent is missing; a self-parent
    ghost = "ghost-" + uuid.uuid4().hex
    with pytest.raises(NotFoundError, match="workflow execution"):
        T.upsert_state(TaskState(task_id="t", workflow_exec_id=ghost, workflow_id="w"))
    with pytest.raises(NotFoundError, match="parent state"):
        T.upsert_state(wf.new_state(ex, "orphan", parent_state_id=ghost))
    with pytest.raises(ValidationError, match="own parent"):
        T.upsert_state({"task_exec_id": "self-1", "task_id": "t", "workflow_exec_id": ex.exec_id,
                        "workflow_id": ex.workflow_id, "parent_state_id": "self-1"})
    # not JSON
    for bad in ({"x": object()}, {1, 2}, float("nan"), b"bytes"):
        with pytest.raises(SerializationError):
            T.upsert_state(wf.new_state(ex, "bad-json", input=bad))
        with pytest.raises(SerializationError):
            T.upsert_state(wf.new_state(ex, "bad-json", output=bad))
        with pytest.raises(SerializationError):
            W.upsert_execution(WorkflowExecution(workflow_id=wf.workflow_id, error=bad))
    # injection-like ids and filter values
    for evil in INJECTIONS:
        with pytest.raises(ValidationError):
            T.get_state(evil)
        with pytest.raises(ValidationError):
            W.get_execution(evil)
        with pytest.raises(ValidationError):
            T.upsert_state({"task_id": evil, "workflow_exec_id": ex.exec_id, "workflow_id": ex.workflow_id})
        with pytest.raises(ValidationError):
            W.upsert_execution({"workflow_id": evil})
        with pytest.raises(ValidationError):
            T.list_states(StateFilter.model_construct(agent_id=evil))
        with pytest.raises(ValidationError):
            T.list_states({"agent_id": evil})
        with pytest.raises(ValidationError):
            W.list_executions({"workflow_id": evil})
        with pytest.raises(ValidationError):
            T.list_tasks_by_tool(ex.exec_id, evil)
        with pytest.raises(ValidationError):
            T.get_task_tree(evil)
        with pytest.raises(ValidationError):
            T.get_progress_info(evil)
        with pytest.raises(ValidationError):
            T.create_child_states(parent.task_exec_id, [{"task_id": "c", "workflow_exec_id": ex.exec_id,
                                                         "workflow_id": ex.workflow_id, "agent_id": evil}])
        with pytest.raises(ValidationError):
            W.delete_execution(evil)
    with pytest.raises(ValidationError):
        T.upsert_state("not a state")  # type: ignore[arg-type]
    # records built without validation are checked all the same
    for fields in ({"task_id": INJECTIONS[0]}, {"agent_id": "a b"}, {"status": "done"},
                   {"parent_state_id": "same-id", "task_exec_id": "same-id"}):
        raw: dict[str, Any] = {"task_exec_id": "ok-id", "task_id": "t", "workflow_exec_id": ex.exec_id,
               "workflow_id": ex.workflow_id, "status": Status.PENDING, "execution_type": "basic",
               "parent_state_id": None, "agent_id": None, "tool_id": None, "action_id": None, **fields}
        with pytest.raises(ValidationError):
            T.upsert_state(TaskState.model_construct(**raw))
    with pytest.raises(ValidationError):
        W.upsert_execution(WorkflowExecution.model_construct(exec_id="a'b", workflow_id="w", status=Status.PENDING))
    with pytest.raises(ValidationError):
        W.list_executions(order="sideways")  # type: ignore[arg-type]
    # nothing was written
    assert T.list_tasks_in_workflow(ex.exec_id).keys() == before.keys()
    assert T.get_state(ghost) is None and W.get_execution(ghost) is None
    assert len(W.list_executions({"workflow_id": wf.workflow_id}).items) == 1
    assert T.list_children(parent.task_exec_id) == []


def test_status_enforced_by_the_database(sql_wf: WF) -> None:
    """Even a statement that bypasses the checks cannot store an unknown status."""
    ex = sql_wf.execution()
    ph = "?" if sql_wf.sk.kind == "sqlite" else "%s"
    with pytest.raises(StorageError):
        sql_wf.sk.store.backend.execute(f"UPDATE workflow_states SET status = {ph} WHERE exec_id = {ph}",
                                        ("done", ex.exec_id))
    assert sql_wf.W.get_execution(ex.exec_id).status is Status.PENDING


# --- statement counts -----------------------------------------------------------------------


def test_no_n_plus_one(sql_wf: WF) -> None:
    """The tree, progress and an execution with its tasks cost a fixed number of statements."""
    ex = sql_wf.execution()
    root, _ = _build_tree(sql_wf, ex, [1, 4, 16, 64, 150])
    sent: list[str] = []
    backend = sql_wf.sk.raw.backend
    backend.statement_hook = sent.append
    try:
        tree = sql_wf.T.get_task_tree(root.task_exec_id)
        assert len(tree) == 235 and len(sent) == 1
        sent.clear()
        progress = sql_wf.T.get_progress_info(tree[1].task_exec_id)
        assert progress.total_children == 4 and len(sent) == 1
        sent.clear()
        got = sql_wf.W.get_execution(ex.exec_id, include_tasks=True)
        assert got is not None and len(got.tasks or {}) > 5 and len(sent) == 2
        sent.clear()
        sql_wf.W.get_execution(ex.exec_id)
        sql_wf.T.list_children(root.task_exec_id)
        sql_wf.T.list_tasks_in_workflow(ex.exec_id)
        assert len(sent) == 3
    finally:
        backend.statement_hook = None


def test_postgresql_reads_only_the_trees_rows(make_store: Callable[[str], StoreHandle]) -> None:
    """The tree statement finds each level through the parent index and reads
    nothing else: no scan of task_states, however many rows it holds (joining
    the tree's ids back to the table let PostgreSQL hash-join a scan of all of it)."""
    from storekeeper.sql.workflows import workflow_sql

    w = WF(make_store("postgresql"))
    try:
        root, _ = _build_tree(w, w.execution(), TREE_SIZES)
        backend = sql_backend(w.ds)
        backend.execute("ANALYZE task_states")
        plan = backend.fetchall(
            "EXPLAIN (FORMAT JSON) " + workflow_sql("postgresql").task_tree,
            {"root": root.task_exec_id, "max_depth": 500},
        )[0][0]
    finally:
        w.close()

    def scans(node: dict[str, Any]) -> list[tuple[str, str]]:
        found = [(node["Node Type"], node.get("Relation Name", ""))]
        for child in node.get("Plans", []):
            found += scans(child)
        return found

    nodes = scans((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    on_table = [kind for kind, rel in nodes if rel == "task_states"]
    assert on_table and "Seq Scan" not in on_table, nodes


def test_a_backend_without_workflows_says_so() -> None:
    ds = DataStore("redis://127.0.0.1:1/0")  # nothing connects
    try:
        with pytest.raises(UnsupportedOperation, match="redis does not offer workflows") as info:
            ds.workflows  # noqa: B018 - the property is the call under test
        assert info.value.capability == "workflows"
        with pytest.raises(UnsupportedOperation, match="tasks"):
            ds.tasks  # noqa: B018
    finally:
        ds.close()
