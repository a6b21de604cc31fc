"""storekeeper: every kind of persistence a workflow or dataflow engine needs, behind one facade.

Sync and async APIs with identical names and semantics::

    from storekeeper import DataStore, QueryFilter

    with DataStore("sqlite:///data/app.db") as ds:
        docs = ds.repository(dict, "documents", indexes=["status"])
        docs.create({"title": "hello", "status": "active"})
        docs.list(filters=[QueryFilter("status", "eq", "active")])
"""

from ._async.factory import AsyncStorageFactory
from ._async.repository.base import AsyncRepository
from ._async.store import DEFAULT_URL, AsyncDataStore
from ._async.transfer import async_copy
from ._sync.factory import StorageFactory
from ._sync.repository.base import Repository
from ._sync.store import DataStore
from ._sync.transfer import copy
from .config import BackendType, DatabaseConfig, load_environment_config, redact
from .core.capabilities import Capability, offers
from .core.components import (
    Checkpoint,
    ComponentState,
    HealthStatus,
    HealthSummary,
    MetricBucket,
    MetricPoint,
    PortMetrics,
    SinkRecord,
)
from .core.entities import Entity, new_id
from .core.filters import OPERATORS, QueryFilter, SortOrder
from .core.migrations import MigrationRecord, MigrationReport, MigrationStatus, SchemaReport
from .core.paging import Page, PaginatedResult, Pagination
from .core.records import Message, QueueStats
from .core.transfer import CopyStats, KindStats
from .core.workflows import (
    ExecutionFilter,
    ProgressInfo,
    StateFilter,
    Status,
    Strategy,
    TaskState,
    WorkflowExecution,
)
from .errors import (
    ConfigError,
    ConflictError,
    DatabaseConnectionError,
    DataValidationError,
    DuplicateError,
    LeaseError,
    MigrationError,
    NotFoundError,
    SchemaValidationError,
    SerializationError,
    StorageError,
    TransactionError,
    UnsupportedOperation,
    ValidationError,
)

#: seed 001 name for the backend selector
StorageBackend = BackendType

__version__ = "0.1.0"

__all__ = [
    "async_copy",
    "copy",
    "DEFAULT_URL",
    "OPERATORS",
    "AsyncDataStore",
    "AsyncRepository",
    "AsyncStorageFactory",
    "BackendType",
    "Capability",
    "Checkpoint",
    "ComponentState",
    "ConfigError",
    "ConflictError",
    "DataStore",
    "DataValidationError",
    "DatabaseConfig",
    "DatabaseConnectionError",
    "DuplicateError",
    "Entity",
    "ExecutionFilter",
    "HealthStatus",
    "HealthSummary",
    "LeaseError",
    "CopyStats",
    "KindStats",
    "Message",
    "MigrationError",
    "MigrationRecord",
    "MigrationReport",
    "MigrationStatus",
    "MetricBucket",
    "MetricPoint",
    "NotFoundError",
    "Page",
    "PaginatedResult",
    "Pagination",
    "ProgressInfo",
    "PortMetrics",
    "QueueStats",
    "QueryFilter",
    "Repository",
    "SchemaReport",
    "SchemaValidationError",
    "SerializationError",
    "SinkRecord",
    "SortOrder",
    "StateFilter",
    "Status",
    "StorageBackend",
    "StorageError",
    "StorageFactory",
    "Strategy",
    "TaskState",
    "TransactionError",
    "UnsupportedOperation",
    "ValidationError",
    "WorkflowExecution",
    "load_environment_config",
    "new_id",
    "offers",
    "redact",
]
