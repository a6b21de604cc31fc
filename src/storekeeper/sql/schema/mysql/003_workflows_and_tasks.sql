-- Workflow executions and task states (seed 002) on MySQL 8 / MariaDB >= 10.6.
--
-- Ids are VARCHAR(255) in utf8mb4_bin (byte order, as on every backend);
-- input, output and error are JSON text (LONGTEXT checked with JSON_VALID);
-- timestamps are DATETIME(6) in UTC. Deleting an execution deletes its task
-- states, and deleting a state deletes its descendants (InnoDB cascades at
-- most 15 levels deep). The database refuses a status outside the lifecycle.
-- Indexes serve each list: by workflow, by workflow and status, by parent
-- (children, tree walk, progress), by agent, by tool.

CREATE TABLE IF NOT EXISTS workflow_states (
    exec_id VARCHAR(255) NOT NULL PRIMARY KEY,
    workflow_id VARCHAR(255) NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'paused', 'success', 'failed', 'canceled', 'timed_out')),
    input LONGTEXT NULL CHECK (input IS NULL OR JSON_VALID(input)),
    output LONGTEXT NULL CHECK (output IS NULL OR JSON_VALID(output)),
    error LONGTEXT NULL CHECK (error IS NULL OR JSON_VALID(error)),
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_workflow_states_workflow (workflow_id, created_at, exec_id),
    INDEX idx_workflow_states_status (status, created_at, exec_id),
    INDEX idx_workflow_states_created (created_at, exec_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS task_states (
    task_exec_id VARCHAR(255) NOT NULL PRIMARY KEY,
    task_id VARCHAR(255) NOT NULL,
    workflow_exec_id VARCHAR(255) NOT NULL,
    workflow_id VARCHAR(255) NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'paused', 'success', 'failed', 'canceled', 'timed_out')),
    execution_type VARCHAR(255) NOT NULL,
    parent_state_id VARCHAR(255) NULL,
    agent_id VARCHAR(255) NULL,
    tool_id VARCHAR(255) NULL,
    action_id VARCHAR(255) NULL,
    input LONGTEXT NULL CHECK (input IS NULL OR JSON_VALID(input)),
    output LONGTEXT NULL CHECK (output IS NULL OR JSON_VALID(output)),
    error LONGTEXT NULL CHECK (error IS NULL OR JSON_VALID(error)),
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_task_states_workflow (workflow_exec_id, task_exec_id),
    INDEX idx_task_states_workflow_status (workflow_exec_id, status),
    INDEX idx_task_states_parent (parent_state_id, task_id),
    INDEX idx_task_states_agent (agent_id, workflow_exec_id),
    INDEX idx_task_states_tool (tool_id, workflow_exec_id),
    CONSTRAINT fk_task_states_workflow FOREIGN KEY (workflow_exec_id)
        REFERENCES workflow_states (exec_id) ON DELETE CASCADE,
    CONSTRAINT fk_task_states_parent FOREIGN KEY (parent_state_id)
        REFERENCES task_states (task_exec_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
