#!/usr/bin/env python
"""W8 workflows and tasks: storekeeper against the raw driver and the naive tree walk.

::

    python bench/workflows.py [--backends sqlite,postgresql,mysql] [--quick] [--repeats N]

Operations (sync API, ``DataStore``), each timed against the raw sync driver
(sqlite3, psycopg 3, PyMySQL, autocommit) sending the very statements
storekeeper sends (taken from ``storekeeper.sql.workflows.workflow_sql``; the
run records both sides once per backend and compares them, "Same-SQL check"):

- ``upsert_state`` inserting a new state, and updating one (new output);
- ``get_state`` by id;
- ``list_tasks_in_workflow`` of an execution with 100 tasks;
- ``get_task_tree`` of a 1,000-node tree of depth 6 (one recursive statement);
- ``get_progress_info`` of a parent with 1,000 children (one aggregate);
- the same tree walked the naive way, one ``list_children`` per node, level
  by level (what a UI or a parent task does without a tree query): through
  ``ds.tasks.list_children``, and with the raw driver; and, for reference,
  with the raw driver and one statement per level.

The raw reads parse the JSON columns with ``orjson.loads``, as a user of the
raw driver must; storekeeper builds :class:`TaskState` records. Prints a
Markdown report and writes it to ``bench/results/workflows.md``.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from harness import (
    RESULTS,
    RecordingCursor,
    Target,
    add_common_options,
    capture_storekeeper,
    compare,
    fmt_rate,
    parse_selection,
    perf_counter,
    progress,
    ratio_text,
    raw_connect,
    report_header,
    server_version,
    write_report,
)

from storekeeper import DataStore, Status, TaskState, WorkflowExecution, new_id
from storekeeper.core.entities import utcnow_iso
from storekeeper.sql.workflows import workflow_sql

DEFAULT_OUTPUT = RESULTS / "workflows.md"
WORKLOADS = ("W8",)
BACKENDS = ("sqlite", "postgresql", "mysql")
RAW_TARGET = Target(0.7)
TREE_TARGET = Target(10.0)
#: the tree must beat the naive walk 10x on the servers (a round trip per node)
TREE_TARGET_ON = ("postgresql", "mysql")
TREE_SIZES = [1, 3, 9, 27, 81, 243, 636]  # depth 6, 1,000 nodes

#: operation -> (full count, quick count) of one timed loop
COUNTS = {
    "upsert_state (insert)": (2000, 300),
    "upsert_state (update)": (2000, 300),
    "get_state": (5000, 500),
    "list_tasks_in_workflow (100)": (500, 60),
    "get_task_tree (1,000 nodes)": (60, 10),
    "get_progress_info (1,000 children)": (500, 60),
    "naive walk, per node": (6, 2),
    "naive walk, per node, ds.tasks": (6, 2),
    "naive walk, per level": (60, 10),
}
OPS = list(COUNTS)
#: each run of an operation is this many short loops, storekeeper's and the raw
#: driver's taking turns, so both meet the machine's load at the same moments
ROUNDS = 5


@dataclass
class Result:
    loops: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (op, variant) -> ops/s
    notes: list[str] = field(default_factory=list)

    def add(self, op: str, variant: str, ops: int, secs: float) -> None:
        self.loops.setdefault((op, variant), []).append(ops / secs if secs > 0 else float("inf"))

    @property
    def rate(self) -> dict[tuple[str, str], float]:
        """The median loop of each (operation, variant): a loop that met a burst of the
        machine's other load, or a moment of none, moves it no more than any other."""
        return {key: statistics.median(rates) for key, rates in self.loops.items()}


def _state(ex: WorkflowExecution, task_id: str, **kw: Any) -> TaskState:
    return TaskState(task_id=task_id, workflow_exec_id=ex.exec_id, workflow_id=ex.workflow_id, **kw)


def _params(st: TaskState, clock: bool) -> dict[str, Any]:
    """What the raw loop binds for an upsert: the fields, JSON as text, the clock on SQLite."""
    dumps = orjson.dumps
    p = {
        "task_exec_id": st.task_exec_id, "task_id": st.task_id,
        "workflow_exec_id": st.workflow_exec_id, "workflow_id": st.workflow_id,
        "status": st.status.value, "execution_type": st.execution_type,
        "parent_state_id": st.parent_state_id, "agent_id": st.agent_id, "tool_id": st.tool_id,
        "action_id": st.action_id,
        "input": dumps(st.input).decode() if st.input is not None else None,
        "output": dumps(st.output).decode() if st.output is not None else None,
        "error": None,
    }
    if clock:
        p["ts"] = utcnow_iso()
    return p


def _parse_rows(rows: list[Any]) -> list[Any]:
    loads = orjson.loads
    return [
        (
            r[:10],
            loads(r[10]) if r[10] is not None else None,
            loads(r[11]) if r[11] is not None else None,
            loads(r[12]) if r[12] is not None else None,
        )
        for r in rows
    ]


class BackendBench:
    def __init__(self, kind: str, url: str, target: str, quick: bool, repeats: int) -> None:
        self.kind = kind
        self.ds = DataStore(url)
        self.ds.open()
        self.T = self.ds.tasks
        self.W = self.ds.workflows
        backend: Any = self.ds.backend
        self.backend = backend
        self.sql = workflow_sql(backend.dialect.name)
        self.clock = backend.dialect.client_clock
        self.conn, self.cur = raw_connect(kind, target)
        self.quick = quick
        self.repeats = repeats
        self.res = Result()
        self.execs: list[str] = []

    def n(self, op: str) -> int:
        """The calls of one timed loop: a run's count of *op* split over :data:`ROUNDS` loops."""
        full, quick = COUNTS[op]
        return max(1, (quick if self.quick else full) // ROUNDS)

    # -- data -----------------------------------------------------------------------------
    def setup(self) -> None:
        W, T = self.W, self.T
        self.ex = W.upsert_execution(WorkflowExecution(workflow_id=f"bench-{new_id()[-12:]}"))
        self.execs.append(self.ex.exec_id)
        # 100 tasks in one execution
        self.ex100 = W.upsert_execution(WorkflowExecution(workflow_id="bench-100"))
        self.execs.append(self.ex100.exec_id)
        root100 = T.upsert_state(_state(self.ex100, "root"))
        T.create_child_states(
            root100.task_exec_id,
            [_state(self.ex100, f"t{i}", input={"i": i}, output={"ok": True}) for i in range(99)],
        )
        # the 1,000-node tree
        self.root = T.upsert_state(_state(self.ex, "root", execution_type="composite"))
        level = [self.root]
        for depth, size in enumerate(TREE_SIZES[1:], 1):
            per: dict[str, list[TaskState]] = {}
            for i in range(size):
                parent = level[i % len(level)]
                per.setdefault(parent.task_exec_id, []).append(
                    _state(self.ex, f"d{depth}-{i}", input={"i": i}, output={"depth": depth})
                )
            nxt: list[TaskState] = []
            for pid, kids in per.items():
                nxt += T.create_child_states(pid, kids)
            level = nxt
        # a parent with 1,000 children in mixed statuses
        self.fan = T.upsert_state(_state(self.ex, "fan-out", execution_type="parallel"))
        statuses = list(Status)
        T.create_child_states(
            self.fan.task_exec_id,
            [_state(self.ex, f"c{i}", status=statuses[i % len(statuses)]) for i in range(1000)],
        )
        self.target_state = T.upsert_state(_state(self.ex, "hot", output={"n": 0}))
        self.analyze()
        assert len(T.get_task_tree(self.root.task_exec_id)) == 1000

    def analyze(self) -> None:
        """Statistics up to date, as autovacuum / InnoDB's automatic statistics keep them.

        Without it a planner that last saw the tables empty (a test run's
        leftovers, autovacuum off on a shared test server) walks the tree with
        a scan per level, for storekeeper and the raw driver alike.
        """
        for table in ("workflow_states", "task_states"):
            if self.kind == "postgresql":
                self.cur.execute(f"ANALYZE {table}")
            elif self.kind == "mysql":
                self.cur.execute(f"ANALYZE TABLE {table}")
                self.cur.fetchall()
            else:
                self.cur.execute(f"ANALYZE {table}")

    def cleanup(self) -> None:
        for e in self.execs:
            self.W.delete_execution(e)

    # -- the loops -----------------------------------------------------------------------
    def _sk(self, op: str) -> tuple[int, float]:
        T, n = self.T, self.n(op)
        if op == "upsert_state (insert)":
            states = [_state(self.ex, "ins", input={"k": i}) for i in range(n)]
            gc.collect()
            t0 = perf_counter()
            for st in states:
                T.upsert_state(st)
            return n, perf_counter() - t0
        if op == "upsert_state (update)":
            st = self.target_state
            gc.collect()
            t0 = perf_counter()
            for i in range(n):
                st.output = {"n": i}
                T.upsert_state(st)
            return n, perf_counter() - t0
        if op == "get_state":
            tid = self.target_state.task_exec_id
            t0 = perf_counter()
            for _ in range(n):
                T.get_state(tid)
            return n, perf_counter() - t0
        if op == "list_tasks_in_workflow (100)":
            wid = self.ex100.exec_id
            t0 = perf_counter()
            for _ in range(n):
                T.list_tasks_in_workflow(wid)
            return n, perf_counter() - t0
        if op == "get_task_tree (1,000 nodes)":
            rid = self.root.task_exec_id
            t0 = perf_counter()
            for _ in range(n):
                T.get_task_tree(rid)
            return n, perf_counter() - t0
        if op == "get_progress_info (1,000 children)":
            fid = self.fan.task_exec_id
            t0 = perf_counter()
            for _ in range(n):
                T.get_progress_info(fid)
            return n, perf_counter() - t0
        if op == "naive walk, per node, ds.tasks":
            t0 = perf_counter()
            for _ in range(n):
                out: list[TaskState] = []
                level = [self.root.task_exec_id]
                while level:
                    nxt: list[str] = []
                    for pid in level:
                        kids = T.list_children(pid)
                        out += kids
                        nxt += [k.task_exec_id for k in kids]
                    level = nxt
                assert len(out) == 999
            return n, perf_counter() - t0
        raise KeyError(op)

    def _raw(self, op: str, cur: Any = None) -> tuple[int, float]:
        cur = cur or self.cur
        ex, sql, n, clock = cur.execute, self.sql, self.n(op), self.clock
        if op == "upsert_state (insert)":
            states = [_state(self.ex, "ins", input={"k": i}) for i in range(n)]
            gc.collect()
            t0 = perf_counter()
            for st in states:
                ex(sql.upsert_state, _params(st, clock))
            return n, perf_counter() - t0
        if op == "upsert_state (update)":
            st = self.target_state
            gc.collect()
            t0 = perf_counter()
            for i in range(n):
                st.output = {"n": i}
                ex(sql.upsert_state, _params(st, clock))
            return n, perf_counter() - t0
        if op == "get_state":
            q, p = sql.get_state, {"id": self.target_state.task_exec_id}
            t0 = perf_counter()
            for _ in range(n):
                ex(q, p)
                _parse_rows([cur.fetchone()])
            return n, perf_counter() - t0
        if op == "list_tasks_in_workflow (100)":
            q, p = sql.list_tasks_in_workflow, {"wf": self.ex100.exec_id}
            t0 = perf_counter()
            for _ in range(n):
                ex(q, p)
                {r[0][1]: r for r in _parse_rows(cur.fetchall())}
            return n, perf_counter() - t0
        if op == "get_task_tree (1,000 nodes)":
            q, p = sql.task_tree, {"root": self.root.task_exec_id, "max_depth": 500}
            t0 = perf_counter()
            for _ in range(n):
                ex(q, p)
                _parse_rows(cur.fetchall())
            return n, perf_counter() - t0
        if op == "get_progress_info (1,000 children)":
            q, p = sql.progress, {"parent": self.fan.task_exec_id}
            t0 = perf_counter()
            for _ in range(n):
                ex(q, p)
                dict(cur.fetchall())
            return n, perf_counter() - t0
        if op == "naive walk, per node":
            q = sql.list_children
            t0 = perf_counter()
            for _ in range(n):
                out = []
                level = [self.root.task_exec_id]
                while level:
                    nxt = []
                    for pid in level:
                        ex(q, {"parent": pid})
                        rows = _parse_rows(cur.fetchall())
                        out += rows
                        nxt += [r[0][0] for r in rows]
                    level = nxt
                assert len(out) == 999
            return n, perf_counter() - t0
        if op == "naive walk, per level":
            t0 = perf_counter()
            for _ in range(n):
                out = []
                level = [self.root.task_exec_id]
                while level:
                    ex(sql.children_of_many(len(level)), {f"i{i}": v for i, v in enumerate(level)})
                    rows = _parse_rows(cur.fetchall())
                    out += rows
                    level = [r[0][0] for r in rows]
                assert len(out) == 999
            return n, perf_counter() - t0
        raise KeyError(op)

    def run(self) -> None:
        for rep in range(self.repeats):
            for op in OPS:
                variants: list[tuple[str, Callable[[str], tuple[int, float]]]] = []
                if not op.endswith("ds.tasks"):
                    variants.append(("raw", self._raw))
                if not op.startswith("naive") or op.endswith("ds.tasks"):
                    variants.append(("storekeeper", self._sk))
                for rnd in range(ROUNDS):
                    for name, fn in variants if (rep * ROUNDS + rnd) % 2 else variants[::-1]:
                        ops, secs = fn(op)
                        self.res.add(op, name, ops, secs)
            progress(f"{self.kind}: repeat {rep + 1}/{self.repeats} done")

    def same_sql(self) -> list[str]:
        """Record what storekeeper sends and what the raw loop sends, for one call each."""
        lines = []
        saved = dict(COUNTS)
        for op in COUNTS:
            COUNTS[op] = (1, 1)
        try:
            for op in OPS:
                if op.startswith("naive"):
                    continue
                with capture_storekeeper(self.backend) as seen:
                    self._sk(op)
                rec = RecordingCursor(self.conn, self.cur)
                self._raw(op, rec)
                lines.append(compare(op, list(seen), rec.seen))
        finally:
            COUNTS.update(saved)
        return lines

    def close(self) -> None:
        try:
            self.cleanup()
        finally:
            self.ds.close()
            self.conn.close()


def report(results: dict[str, tuple[str, Result, list[str]]], quick: bool, total_s: float) -> str:
    lines = report_header("W8 workflows and tasks", ["storekeeper", "psycopg", "pymysql"], quick, total_s)
    lines += [
        "Operations per second (median of the timed loops); ratios are storekeeper / raw driver sending the same",
        "SQL, and the tree query / the naive walk of the same tree with the raw driver.",
        "",
    ]
    for kind, (version, res, same) in results.items():
        lines += [f"## {kind}", "", version, ""]
        lines += ["| operation | storekeeper | raw driver | ratio |", "|---|---:|---:|---|"]
        for op in OPS:
            if op.startswith("naive"):
                continue
            sk = res.rate.get((op, "storekeeper"))
            raw = res.rate.get((op, "raw"))
            if sk is None or raw is None:
                lines.append(f"| {op} | – | – | – |")
                continue
            text, _ = ratio_text(sk / raw, RAW_TARGET)
            lines.append(f"| {op} | {fmt_rate(sk)} | {fmt_rate(raw)} | {text} |")
        tree = res.rate.get(("get_task_tree (1,000 nodes)", "storekeeper"))
        lines += ["", "| the 1,000-node tree | walks/s | get_task_tree vs it |", "|---|---:|---|"]
        if tree is not None:
            lines.append(f"| storekeeper get_task_tree (1 statement) | {fmt_rate(tree)} | |")
            tree_target = TREE_TARGET if kind in TREE_TARGET_ON else None
            for op, variant, label, target in (
                ("naive walk, per node, ds.tasks", "storekeeper",
                 "naive walk through ds.tasks.list_children, per node (1,000 statements)", tree_target),
                ("naive walk, per node", "raw", "raw driver naive walk, per node (1,000 statements)", tree_target),
                ("naive walk, per level", "raw", "raw driver walk, per level (7 statements)", None),
            ):
                naive = res.rate.get((op, variant))
                if naive is not None:
                    text, _ = ratio_text(tree / naive, target)
                    lines.append(f"| {label} | {fmt_rate(naive)} | {text} |")
        lines += ["", "Same-SQL check:", ""] + [f"- {s}" for s in same] + [""]
        lines += res.notes
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser, BACKENDS, WORKLOADS, ("postgresql", "mysql"), DEFAULT_OUTPUT)
    parser.add_argument("--quick", action="store_true", help="a tenth of the operations")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per operation (best is kept)")
    args = parser.parse_args(argv)
    backends, _ = parse_selection(parser, args, BACKENDS, WORKLOADS)
    started = perf_counter()
    results: dict[str, tuple[str, Result, list[str]]] = {}
    tmp = tempfile.mkdtemp(prefix="skb_w8_")
    try:
        for kind in backends:
            if kind == "sqlite":
                path = f"{tmp}/w8.db"
                url, target = f"sqlite:///{path}", path
            else:
                url = target = getattr(args, f"{kind}_url")
            progress(f"{kind}: setting up")
            try:
                b = BackendBench(kind, url, target, args.quick, max(1, args.repeats))
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                progress(f"{kind}: backend unavailable: {exc}")
                continue
            try:
                b.setup()
                same = b.same_sql()
                b.run()
                results[kind] = (server_version(kind, b.cur, url), b.res, same)
            except Exception:  # noqa: BLE001 - reported, the run goes on
                progress(f"{kind}: failed\n{traceback.format_exc()}")
            finally:
                b.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_report(report(results, args.quick, perf_counter() - started), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
