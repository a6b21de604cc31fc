"""The stream-based Store component of seed 000, and its enhanced variant.

::

    store = Store("task_store", {"storage_type": "memory"})
    await store.setup()
    await store.process_item({"action": "create", "data": {"title": "New Task"}})
    # {"status": "success", "id": "1", "data": {"title": "New Task", "id": "1"}}

Both variants keep their items in one collection of an :class:`AsyncDataStore`
(``table_name``), so everything the repositories promise (JSON-typed filters,
sorts, keyset cursors, the database's own integrity) holds here too.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from .._async.repository.base import AsyncRepository
from .._async.store import AsyncDataStore
from ..config import DatabaseConfig
from ..core.filters import IDENTIFIER_RE, OPERATORS, QueryFilter, SortOrder, validate_identifier
from ..core.migrations import MigrationReport, SchemaReport
from ..errors import (
    ConfigError,
    ConflictError,
    DatabaseConnectionError,
    DataValidationError,
    DuplicateError,
    NotFoundError,
    SchemaValidationError,
    SerializationError,
    StorageError,
    UnsupportedOperation,
    ValidationError,
)
from ..redact import redact, scrub_exc
from .monitor import PerformanceMonitor

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream, ObjectSendStream

logger = logging.getLogger("storekeeper.component")
_clock = time.perf_counter

#: the actions of the task API
ACTIONS = ("create", "get", "update", "delete", "list")
#: the largest page ``list`` returns at once
MAX_LIMIT = 1000
#: what ``testing_mode: true`` runs on, whatever the URL says
TESTING_URL = "sqlite:///:memory:"

#: seed 000 ``DatabaseSchemaValidationError``: the store's schema error under the seed's name
DatabaseSchemaValidationError = SchemaValidationError

_ERROR_TYPES: tuple[tuple[type[BaseException], str], ...] = (
    (DataValidationError, "data_validation_error"),
    (SerializationError, "validation_error"),
    (ValidationError, "validation_error"),
    (DuplicateError, "duplicate"),
    (ConflictError, "conflict"),
    (NotFoundError, "not_found"),
    (DatabaseConnectionError, "connection_error"),
    (UnsupportedOperation, "unsupported"),
    (SchemaValidationError, "schema_error"),
    (StorageError, "storage_error"),
)


def error_response(message: str, error_type: str) -> dict[str, Any]:
    """The seed's error shape: ``{"status": "error", "message", "error_type"}``."""
    return {"status": "error", "message": message, "error_type": error_type}


def error_type_of(exc: BaseException) -> str:
    """The ``error_type`` of an exception in an error response."""
    for cls, name in _ERROR_TYPES:
        if isinstance(exc, cls):
            return name
    return "internal_error"


def _item_id(item: Mapping[str, Any]) -> str:
    raw = item.get("id")
    if type(raw) is str and raw and len(raw) <= 255 and "\x00" not in raw:
        return raw
    if isinstance(raw, bool) or raw is None:
        raise ValidationError(f"{item.get('action')} needs an 'id' (a string), got {raw!r}")
    if isinstance(raw, int):
        raw = str(raw)
    if not isinstance(raw, str) or not raw or len(raw) > 255 or "\x00" in raw:
        raise ValidationError(f"'id' must be a non-empty string of at most 255 characters, got {raw!r}")
    return raw


def _item_data(item: Mapping[str, Any]) -> dict[str, Any]:
    data = item.get("data")
    if type(data) is dict:
        return data.copy()
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"{item.get('action')} needs 'data', a mapping, got {type(data).__name__}"
        )
    return dict(data)


def _list_query(item: Mapping[str, Any]) -> tuple[list[QueryFilter], str | None, str, int | None, str | None]:
    """The filters, sort, limit and cursor of a ``list`` item, checked."""
    raw_filters = item.get("filters") or []
    filters: list[QueryFilter] = []
    if isinstance(raw_filters, Mapping):  # {"status": "open"}: equality on each field
        filters = [QueryFilter(str(k), "eq", v) for k, v in raw_filters.items()]
    elif isinstance(raw_filters, list):
        for f in raw_filters:
            if not isinstance(f, Mapping) or "field" not in f:
                raise ValidationError(
                    "each filter is a mapping {'field', 'operator', 'value'}, got " + repr(f)[:100]
                )
            op = f.get("operator", f.get("op", "eq"))
            if op not in OPERATORS:
                raise ValidationError(f"unknown filter operator {op!r}; use one of {', '.join(OPERATORS)}")
            filters.append(QueryFilter(f["field"], op, f.get("value")))
    else:
        raise ValidationError("'filters' must be a list of filters or a mapping field -> value")
    sort_by = item.get("sort_by")
    if sort_by is not None and not isinstance(sort_by, str):
        raise ValidationError(f"'sort_by' must be a field name, got {sort_by!r}")
    order = item.get("sort_order", "asc")
    if order not in ("asc", "desc"):
        raise ValidationError(f"'sort_order' must be 'asc' or 'desc', got {order!r}")
    limit = item.get("limit")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT
    ):
        raise ValidationError(f"'limit' must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    cursor = item.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ValidationError(f"'cursor' must be the next_cursor of a previous page, got {cursor!r}")
    return filters, sort_by, order, limit, cursor


class Store:
    """Seed 000's ``Store``: CRUD on one collection, called directly or over streams.

    Config keys (the seed's): ``storage_type`` (``memory`` or ``database``),
    ``database_type`` (``postgresql``, ``mysql``, ``sqlite``; checked against
    the URL), ``database_url``, ``table_name`` (the collection; default the
    component's name). Also ``data_schema``: a JSON Schema that
    :meth:`store_data_with_validation` (and, when set, every create and
    update) checks items against.

    In memory the ids are ``"1"``, ``"2"`` … as in the seed; in a database
    they are time-ordered UUIDs (unique across processes). A ``create`` whose
    data carries a string ``id`` keeps it.

    Stream mode: put anyio memory object streams in ``receive_streams`` and
    ``send_streams`` (a blueprint binding does) and run :meth:`run`; each item
    is answered on the send stream of the same name (else the only one, else
    ``output``), with its ``request_id`` echoed.
    """

    component_type = "Store"

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        data_store: AsyncDataStore | None = None,
    ) -> None:
        """:param data_store: an open store to keep the items in instead of one built
            from the config (the caller closes it; ``teardown`` leaves it open)."""
        self.name = name
        self.config: dict[str, Any] = dict(config or {})
        self.receive_streams: dict[str, ObjectReceiveStream[Any]] = {}
        self.send_streams: dict[str, ObjectSendStream[Any]] = {}
        self.performance_monitor = PerformanceMonitor()
        self.ds: AsyncDataStore | None = None
        self._repo: AsyncRepository[Any] | None = None
        self._items_count = 0
        #: when the items were last counted (time.monotonic())
        self._counted_at = 0.0
        self._next_id = 1
        self._connected = False
        self._validator: Any = None
        #: action -> its coroutine method (one dict lookup per item)
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]] = {
            "create": self._create, "get": self._get, "update": self._update,
            "delete": self._delete, "list": self._list,
        }
        self._shared = data_store
        self._parse()
        if data_store is not None:
            kind = data_store.backend_name
            self.storage_type = "memory" if kind == "memory" else "database"
            self._url, self.database_type = data_store.config.to_url(include_password=True), kind
        else:
            self.storage_type, self._url, self.database_type = self._storage()
        try:
            self.table_name = validate_identifier(
                self.config.get("table_name") or self._default_table(), "table_name"
            ).lower()
        except ValidationError as exc:
            raise ConfigError(f"{self.name}: {exc}") from None
        schema = self.config.get("data_schema")
        if schema is not None:
            self._validator = _json_validator(schema)

    # -- configuration -------------------------------------------------------------
    def _parse(self) -> None:
        """Read the variant's own config keys (before the storage is chosen)."""

    def _default_table(self) -> str:
        name = self.name
        return name if isinstance(name, str) and IDENTIFIER_RE.match(name) else "data_store"

    def _storage(self) -> tuple[str, str, str]:
        """(storage_type, URL, database type) from the seed's basic keys."""
        st = self.config.get("storage_type", "memory")
        if st == "memory":
            return "memory", "memory://", "memory"
        if st != "database":
            raise ConfigError(f"{self.name}: storage_type must be 'memory' or 'database', got {st!r}")
        url = self.config.get("database_url")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{self.name}: storage_type 'database' needs database_url")
        return "database", url, self._check_type(self.config.get("database_type"), url)

    def _check_type(self, declared: Any, url: str) -> str:
        kind = DatabaseConfig.from_url(url).database_type.value
        if declared is not None and str(declared).lower() not in (kind, "postgres" if kind == "postgresql" else kind):
            raise ConfigError(
                f"{self.name}: database type {declared!r} does not match the URL's ({kind})"
            )
        return kind

    def _open_options(self) -> dict[str, Any]:
        return {}

    # -- life cycle ----------------------------------------------------------------
    async def setup(self) -> None:
        """Connect, create the collection if needed and count what it holds.

        :raises DatabaseConnectionError: the database cannot be reached.
        """
        if self.ds is not None:
            return
        ds = self._shared or AsyncDataStore(self._url, **self._open_options())
        try:
            await ds.open()
            repo = ds.repository(dict, self.table_name)
            self._items_count = await repo.count()
            self._counted_at = time.monotonic()
        except BaseException:
            if self._shared is None:
                await ds.close()
            raise
        self.ds, self._repo = ds, repo
        try:
            await self._after_setup()
        except BaseException:
            self.ds, self._repo = None, None
            if self._shared is None:
                await ds.close()
            raise
        self._connected = True
        if self.storage_type == "memory":
            self._next_id = self._items_count + 1

    async def _after_setup(self) -> None:
        """What the variant does once connected (the enhanced store: migrations, checks)."""

    async def teardown(self) -> None:
        """Close the streams this component reads and writes, and its store."""
        for s in self.send_streams.values():
            await s.aclose()
        for r in self.receive_streams.values():
            await r.aclose()
        ds, self.ds, self._repo = self.ds, None, None
        self._connected = False
        if ds is not None and self._shared is None:
            await ds.close()

    async def __aenter__(self) -> Store:
        await self.setup()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.teardown()

    @property
    def repository(self) -> AsyncRepository[Any]:
        repo = self._repo
        if repo is None:
            raise StorageError(f"{self.name}: call setup() first")
        return repo

    # -- the task API ---------------------------------------------------------------
    async def process_item(self, item: Any) -> dict[str, Any]:
        """Run one action and return the seed's response; never raises.

        ``create`` (``data``) -> ``{"status": "success", "id", "data"}``;
        ``get``/``update`` (``id``, ``data``) -> ``{"status": "success", "data"}``;
        ``delete`` (``id``) -> ``{"status": "success"}``; a missing id ->
        ``{"status": "not_found", "action", "id"}``. ``list`` ->
        ``{"status": "success", "data": [...]}``; with ``filters``,
        ``sort_by``, ``sort_order``, ``limit`` and ``cursor`` it is one keyset
        page and adds ``next_cursor``. Anything wrong ->
        ``{"status": "error", "message", "error_type"}``.
        """
        t0 = _clock()
        # dicts first: an isinstance check against the Mapping ABC costs more than the lookup
        is_map = type(item) is dict or isinstance(item, Mapping)
        action = item.get("action") if is_map else None
        key: str = action if type(action) is str else ""
        handler = self._handlers.get(key)
        try:
            if handler is not None:
                out = await handler(item)
            elif not is_map:
                out = error_response(
                    f"an item is a mapping with an 'action', got {type(item).__name__}",
                    "validation_error",
                )
            else:
                out = error_response(
                    f"unknown action {action!r}; use one of {', '.join(ACTIONS)}", "unknown_action"
                )
        except Exception as exc:  # every failure is answered, never raised
            kind = error_type_of(exc)
            if kind == "internal_error":
                # a bug: the traceback, with any password in it hidden
                logger.error("%s: %s failed\n%s", self.name, action,
                             redact("".join(traceback.format_exception(exc))))
            out = error_response(scrub_exc(exc), kind)
        self.performance_monitor.record(
            key if handler is not None else "invalid", _clock() - t0, out["status"] != "error"
        )
        return out

    def _validate(self, data: Mapping[str, Any]) -> None:
        if self._validator is not None:
            problems = sorted(self._validator.iter_errors(data), key=lambda e: list(e.path))
            if problems:
                first = problems[0]
                where = "/".join(str(p) for p in first.path) or "(root)"
                raise DataValidationError(f"data invalid at {where}: {first.message}")

    async def _create(self, item: Mapping[str, Any]) -> dict[str, Any]:
        data = _item_data(item)
        self._validate(data)
        repo = self.repository
        if "id" in data:
            data["id"] = _item_id(data | {"action": "create"})
            made = await repo.create(data)
        elif self.storage_type == "memory":
            while True:  # skip ids a create with an explicit id took
                data["id"] = str(self._next_id)
                self._next_id += 1
                try:
                    made = await repo.create(data)
                    break
                except DuplicateError:
                    continue
        else:
            made = await repo.create(data)
        self._items_count += 1
        return {"status": "success", "id": made["id"], "data": made}

    async def _get(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = _item_id(item)
        found = await self.repository.get(key)
        if found is None:
            return {"status": "not_found", "action": "get", "id": key}
        return {"status": "success", "data": found}

    async def _update(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = _item_id(item)
        changes = _item_data(item)
        changes.pop("id", None)
        repo = self.repository
        found = await repo.get(key)
        if found is None:
            return {"status": "not_found", "action": "update", "id": key}
        merged = {**found, **changes}
        self._validate(merged)
        try:
            stored = await repo.update(merged)
        except NotFoundError:  # deleted meanwhile
            return {"status": "not_found", "action": "update", "id": key}
        return {"status": "success", "data": stored}

    async def _delete(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = _item_id(item)
        if not await self.repository.delete(key):
            return {"status": "not_found", "action": "delete", "id": key}
        self._items_count = max(0, self._items_count - 1)
        return {"status": "success"}

    async def _list(self, item: Mapping[str, Any]) -> dict[str, Any]:
        filters, sort_by, order, limit, cursor = _list_query(item)
        repo = self.repository
        so = SortOrder(order)
        if limit is None and cursor is None:
            rows = await repo.list(filters or None, sort_by, so)
            return {"status": "success", "data": rows}
        page = await repo.list(filters or None, sort_by, so, limit=limit or 100, after=cursor)
        return {"status": "success", "data": page.items, "next_cursor": page.next_cursor}

    async def store_data_with_validation(self, data: Any) -> dict[str, Any]:
        """Check *data* against the config's ``data_schema``, then create it.

        :raises DataValidationError: *data* is not a mapping or breaks the schema
            (nothing is written).
        :returns: the ``create`` response.
        """
        if not isinstance(data, Mapping):
            raise DataValidationError(f"data must be a mapping, got {type(data).__name__}")
        out = await self.process_item({"action": "create", "data": dict(data)})
        if out["status"] == "error":
            if out["error_type"] in ("validation_error", "data_validation_error"):
                raise DataValidationError(out["message"])
            raise StorageError(out["message"])
        return out

    # -- health ------------------------------------------------------------------------
    def get_health_status(self) -> dict[str, Any]:
        """The seed's health shape, from what this component knows without a round trip.

        ``items_count`` and ``task_count`` (the same: every item is a task of
        the task API) are counted at :meth:`setup` and kept by this
        component's creates and deletes; :meth:`check_health` counts again.
        ``next_id`` is the next id a memory store gives (None in a database,
        whose ids are UUIDs).
        """
        return {
            "status": "healthy" if self._connected else "unhealthy",
            "items_count": self._items_count,
            "storage_type": self.storage_type,
            "task_count": self._items_count,
            "next_id": self._next_id if self.storage_type == "memory" else None,
        }

    async def check_health(self, *, recount_after: float = 5.0) -> dict[str, Any]:
        """:meth:`get_health_status` after pinging the database, with ``store_connected``.

        The items are counted again when the last count is older than
        *recount_after* seconds (a count scans the table: a load balancer
        polling ``/health`` every second must not do that every time).
        """
        ds = self.ds
        connected = False
        if ds is not None:
            try:
                connected = await ds.ping()
                now = time.monotonic()
                if now - self._counted_at >= recount_after:
                    self._items_count = await self.repository.count()
                    self._counted_at = now
            except StorageError as exc:
                logger.warning("%s: health check failed: %s", self.name, scrub_exc(exc))
                connected = False
        self._connected = connected
        out = self.get_health_status()
        out["store_connected"] = connected
        return out

    # -- stream mode --------------------------------------------------------------------
    def _reply_stream(self, name: str) -> ObjectSendStream[Any] | None:
        s = self.send_streams.get(name)
        if s is not None:
            return s
        if len(self.send_streams) == 1:
            return next(iter(self.send_streams.values()))
        return self.send_streams.get("output")

    async def _serve_stream(self, name: str, stream: ObjectReceiveStream[Any]) -> None:
        reply = self._reply_stream(name)
        async with stream:
            while True:
                try:
                    item = await stream.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return
                out = await self.process_item(item)
                if isinstance(item, Mapping) and "request_id" in item:
                    out["request_id"] = item["request_id"]
                if reply is not None:
                    try:
                        await reply.send(out)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        logger.warning("%s: nobody reads the answers of stream %r", self.name, name)
                        reply = None

    async def run(self) -> None:
        """Answer every item of every receive stream until all of them are closed."""
        async with anyio.create_task_group() as tg:
            for name, stream in self.receive_streams.items():
                tg.start_soon(self._serve_stream, name, stream)

    # -- schema (the enhanced variant uses them; a basic store has no user schema) ------
    @property
    def url(self) -> str:
        """The store's URL, its password masked (the component keeps the real one to itself)."""
        return DatabaseConfig.from_url(self._url).redacted_url

    def __repr__(self) -> str:
        where = self.url
        return f"<{type(self).__name__} {self.name!r} {where} table={self.table_name}>"


def _json_validator(schema: Any) -> Any:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is a dependency
        raise ConfigError("data_schema needs the jsonschema package") from None
    if not isinstance(schema, Mapping):
        raise ConfigError(f"data_schema must be a JSON Schema (a mapping), got {type(schema).__name__}")
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(f"data_schema is not a valid JSON Schema: {exc.message}") from None
    return cls(schema)


class V5EnhancedStore(Store):
    """Seed 000's ``V5EnhancedStore``: the Store with a pool, user schema and testing mode.

    Config keys (the seed's): ``database.type``, ``database.connection_string``,
    ``database.connection_pool.min_size`` / ``max_size`` / ``timeout`` (seconds),
    ``database.schema.tables`` (the tables :meth:`validate_schema_integrity`
    expects), ``database.schema.migrations`` (``{version, description, sql}``,
    applied by :meth:`apply_schema_migrations`), ``testing_mode`` (run on an
    in-memory SQLite database whatever the URL says). Items live in the
    collection ``table_name`` (default the component's name), apart from the
    user's own tables.
    """

    component_type = "V5EnhancedStore"

    def _parse(self) -> None:
        db = self.config.get("database")
        if db is None:
            db = {}
        if not isinstance(db, Mapping):
            raise ConfigError(f"{self.name}: 'database' must be a mapping")
        self._db = db
        pool = db.get("connection_pool") or {}
        schema = db.get("schema") or {}
        if not isinstance(pool, Mapping) or not isinstance(schema, Mapping):
            raise ConfigError(f"{self.name}: database.connection_pool and database.schema are mappings")
        self._pool = pool
        tables = schema.get("tables") or []
        if not isinstance(tables, list) or not all(isinstance(t, str) for t in tables):
            raise ConfigError(f"{self.name}: database.schema.tables is a list of table names")
        try:
            self.schema_tables: list[str] = [validate_identifier(t, "table") for t in tables]
        except ValidationError as exc:
            raise ConfigError(f"{self.name}: database.schema.tables: {exc}") from None
        migrations = schema.get("migrations") or []
        if not isinstance(migrations, list):
            raise ConfigError(f"{self.name}: database.schema.migrations is a list")
        self.schema_migrations: list[Any] = migrations
        self.testing_mode = bool(self.config.get("testing_mode", False))

    def _storage(self) -> tuple[str, str, str]:
        db = self._db
        url = db.get("connection_string")
        if self.testing_mode:
            return "database", str(self.config.get("testing_url") or TESTING_URL), "sqlite"
        if url is None:
            return "memory", "memory://", "memory"
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{self.name}: database.connection_string must be a URL")
        return "database", url, self._check_type(db.get("type"), url)

    async def _after_setup(self) -> None:
        # seed 000: migrations are applied, then the schema validated, during setup
        if self.schema_migrations:
            await self.apply_schema_migrations()
        if self.schema_tables and self.config.get("validate_schema", True):
            await self.validate_schema_integrity()

    def _data_store(self) -> AsyncDataStore:
        ds = self.ds
        if ds is None:
            raise StorageError(f"{self.name}: call setup() first")
        return ds

    async def apply_schema_migrations(self) -> MigrationReport:
        """Apply the pending ``database.schema.migrations`` (each once, recorded with a checksum).

        Runs during :meth:`setup`; applied versions are kept in
        ``migration_history``. A migration whose text changed since it ran is a
        :class:`MigrationError`, before anything runs.
        """
        return await self._data_store().migrations.apply(self.schema_migrations)

    async def validate_schema_integrity(self) -> SchemaReport:
        """Check the database holds ``database.schema.tables`` and the store's own tables.

        :raises DatabaseSchemaValidationError: listing what is missing (the
            store's :class:`SchemaValidationError`).
        :returns: the :class:`SchemaReport` (``ok``, what was checked).
        """
        return await self._data_store().migrations.validate(self.schema_tables, strict=True)

    def _open_options(self) -> dict[str, Any]:
        pool = self._pool
        out: dict[str, Any] = {}
        if pool.get("min_size") is not None:
            out["min_connections"] = pool["min_size"]
        if pool.get("max_size") is not None:
            out["max_connections"] = pool["max_size"]
        if pool.get("timeout") is not None:
            out["connection_timeout"] = pool["timeout"]
        return out
