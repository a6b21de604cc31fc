"""A small fan-out recorded in ds.workflows and ds.tasks: a parent with parallel children, one failing.

Run it with ``python examples/workflow.py``: it uses a SQLite file in a
temporary directory (``python examples/workflow.py memory://`` or any store
URL as the first argument to run it elsewhere). It prints the progress of the
parent under each fan-out strategy, and the task tree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from storekeeper import DataStore, Status, Strategy, TaskState, WorkflowExecution


def run(url: str) -> None:
    with DataStore(url) as ds:
        ex = ds.workflows.upsert_execution(
            WorkflowExecution(workflow_id="etl-pipeline", status=Status.RUNNING, input={"date": "2026-12-01"})
        )

        def task(task_id: str, **kw: Any) -> TaskState:
            return TaskState(task_id=task_id, workflow_exec_id=ex.exec_id, workflow_id=ex.workflow_id, **kw)

        extract = ds.tasks.upsert_state(task("extract", status=Status.RUNNING, execution_type="parallel"))
        # the parent fans out: every child at once, all or nothing
        children = ds.tasks.create_child_states(
            extract.task_exec_id,
            [task(f"extract-{region}", agent_id="extractor", input={"region": region})
             for region in ("eu", "us", "asia")],
        )
        # the workers report back, each under a row lock so no update is lost
        outcomes = {"extract-eu": (Status.SUCCESS, {"rows": 1200}), "extract-us": (Status.SUCCESS, {"rows": 800}),
                    "extract-asia": (Status.FAILED, None)}
        for child in children:
            with ds.transaction():
                st = ds.tasks.get_state_for_update(child.task_exec_id)
                st.status, st.output = outcomes[st.task_id]
                if st.status is Status.FAILED:
                    st.error = {"message": "source timed out", "code": "TIMEOUT"}
                ds.tasks.upsert_state(st)

        progress = ds.tasks.get_progress_info(extract.task_exec_id)  # one aggregate query
        print(f"children: {progress.total_children}, succeeded: {progress.success_count}, "
              f"failed: {progress.failed_count}")
        print(f"completion {progress.completion_rate:.0%}, success {progress.success_rate:.0%}, "
              f"failure {progress.failure_rate:.0%}, all complete: {progress.is_all_complete()}")
        for strategy in Strategy:
            print(f"  parent under {strategy.value:<11} -> {progress.overall_status(strategy).value}")
        print("outputs:", ds.tasks.list_children_outputs(extract.task_exec_id))

        extract.status = progress.overall_status(Strategy.BEST_EFFORT)
        ds.tasks.upsert_state(extract)
        print("task tree (one recursive query):")
        for st in ds.tasks.get_task_tree(extract.task_exec_id):
            print(f"  {'  ' * (st.depth or 0)}{st.task_id} [{st.status.value}]")

        run_ = ds.workflows.get_execution(ex.exec_id, include_tasks=True)
        assert run_ is not None and run_.tasks is not None
        print(f"execution {run_.exec_id} has tasks {sorted(run_.tasks)}")
        ds.workflows.delete_execution(ex.exec_id)  # its task states go with it


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{Path(tmp) / 'workflow.db'}")
