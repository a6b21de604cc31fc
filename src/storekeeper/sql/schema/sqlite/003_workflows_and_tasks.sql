-- Workflow executions and task states (seed 002).
--
-- Ids are text (UUIDv7 when the caller gives none); input, output and error are
-- JSON text; timestamps are ISO-8601 UTC text written by the client, which
-- sorts in time order. Deleting an execution deletes its task states, and
-- deleting a state deletes its descendants (foreign keys are on for every
-- storekeeper connection). The database refuses a status outside the lifecycle.
-- Indexes serve each list: by workflow (task_id order), by workflow and
-- status, by parent (children, tree walk, progress), by agent, by tool.

CREATE TABLE IF NOT EXISTS workflow_states (
    exec_id TEXT NOT NULL PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'paused', 'success', 'failed', 'canceled', 'timed_out')),
    input TEXT,
    output TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_workflow_states_workflow ON workflow_states (workflow_id, created_at, exec_id);
CREATE INDEX IF NOT EXISTS idx_workflow_states_status ON workflow_states (status, created_at, exec_id);
CREATE INDEX IF NOT EXISTS idx_workflow_states_created ON workflow_states (created_at, exec_id);

CREATE TABLE IF NOT EXISTS task_states (
    task_exec_id TEXT NOT NULL PRIMARY KEY,
    task_id TEXT NOT NULL,
    workflow_exec_id TEXT NOT NULL REFERENCES workflow_states (exec_id) ON DELETE CASCADE,
    workflow_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'paused', 'success', 'failed', 'canceled', 'timed_out')),
    execution_type TEXT NOT NULL,
    parent_state_id TEXT REFERENCES task_states (task_exec_id) ON DELETE CASCADE,
    agent_id TEXT,
    tool_id TEXT,
    action_id TEXT,
    input TEXT,
    output TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_task_states_workflow ON task_states (workflow_exec_id, task_exec_id);
CREATE INDEX IF NOT EXISTS idx_task_states_workflow_status ON task_states (workflow_exec_id, status);
CREATE INDEX IF NOT EXISTS idx_task_states_parent ON task_states (parent_state_id, task_id);
CREATE INDEX IF NOT EXISTS idx_task_states_agent ON task_states (agent_id, workflow_exec_id);
CREATE INDEX IF NOT EXISTS idx_task_states_tool ON task_states (tool_id, workflow_exec_id);
