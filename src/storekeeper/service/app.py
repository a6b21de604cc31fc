"""The HTTP service: the task API of seed 000 and every capability of a store, on FastAPI.

``create_app`` builds the application; ``storekeeper serve`` runs it with
uvicorn. Every route but ``/health`` wants the bearer token when one is set;
request bodies are capped; bad input is a 4xx whose body says what was
wrong (``{"status": "error", "message", "error_type"}``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any, Literal, Protocol

import orjson
from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .._async.store import AsyncDataStore
from ..component.store import Store, error_response, error_type_of
from ..core.filters import OPERATORS, QueryFilter, SortOrder, validate_identifier
from ..core.records import Message
from ..errors import (
    StorageError,
    ValidationError,
)
from ..redact import scrub_exc
from .metrics import CONTENT_TYPE_LATEST, ServiceMetrics

logger = logging.getLogger("storekeeper.service")

#: request bodies larger than this are refused with 413 (bytes)
DEFAULT_MAX_BODY = 1_048_576
MAX_PAGE = 1000

# -- responses --------------------------------------------------------------------


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


class JSONOut(JSONResponse):
    """JSON through orjson (datetimes, dataclasses and pydantic models included)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def _fail(exc: BaseException) -> JSONOut:
    body = error_response(scrub_exc(exc), error_type_of(exc))
    return JSONOut(body, status_code=_http_status(body))


# -- OpenAPI models (what the routes answer) --------------------------------------


class ErrorBody(BaseModel):
    status: Literal["error"]
    message: str
    error_type: str


class NotFoundBody(BaseModel):
    status: Literal["not_found"]
    action: str
    id: str


class TaskBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: Literal["success"]
    id: str | None = None
    data: dict[str, Any] | list[dict[str, Any]] | None = None
    next_cursor: str | None = None


class HealthBody(BaseModel):
    status: Literal["ok", "error"]
    health: dict[str, Any]


class ItemsPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class Count(BaseModel):
    count: int


class Deleted(BaseModel):
    deleted: bool


class MessageOut(BaseModel):
    id: str
    queue: str
    data: Any = None
    metadata: dict[str, Any] | None = None
    status: str
    retry_count: int
    max_retries: int
    created_at: str | None = None
    source: str = ""
    target: str = ""
    error: str | None = None
    lease_until: str | None = None
    receipt: str | None = Field(
        None, description="pass it to ack, nack or extend to settle this delivery"
    )


class MessagesOut(BaseModel):
    messages: list[MessageOut]


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: Any = Field(..., description="any JSON value but null")
    metadata: dict[str, Any] | None = None
    delay: float | None = Field(None, ge=0, le=31_536_000)
    max_retries: int = Field(3, ge=0, le=1000)


class PushOut(BaseModel):
    id: str


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_messages: int = Field(1, ge=1, le=1000)
    lease: float = Field(30.0, gt=0, le=86_400)
    timeout: float = Field(0.0, ge=0, le=30)


class SettleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt: str = Field(..., min_length=1, max_length=2000)


class NackIn(SettleIn):
    error: str | None = Field(None, max_length=10_000)
    delay: float | None = Field(None, ge=0, le=31_536_000)


class NackOut(BaseModel):
    status: str


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["dead_letter", "failed", "completed"] = "dead_letter"


class QueueStatsOut(BaseModel):
    queue: str
    pending: int
    processing: int
    completed: int
    failed: int
    dead_letter: int
    total: int
    oldest_pending_age: float | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input"},
    401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
    409: {"model": ErrorBody, "description": "conflict (duplicate id, stale lease)"},
    413: {"model": ErrorBody, "description": "request body too large"},
    503: {"model": ErrorBody, "description": "the database cannot be reached"},
}


def _errs(*extra: int) -> dict[int | str, dict[str, Any]]:
    out = dict(_ERRORS)
    for code in extra:
        if code == 404:
            out[404] = {"model": ErrorBody | NotFoundBody, "description": "not found"}
    return out


# -- the task gateway: straight to a Store, or through a blueprint's stream --------------


class TaskGateway(Protocol):
    name: str

    async def call(self, item: dict[str, Any]) -> dict[str, Any]: ...

    async def health(self) -> dict[str, Any]: ...


class DirectTasks:
    """The task API served by a Store in this process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.name = store.name

    async def call(self, item: dict[str, Any]) -> dict[str, Any]:
        return await self.store.process_item(item)

    async def health(self) -> dict[str, Any]:
        return await self.store.check_health()


def _http_status(out: Mapping[str, Any], created: bool = False) -> int:
    st = out.get("status")
    if st == "not_found":
        return 404
    if st == "error":
        kind = out.get("error_type")
        if kind == "not_found":
            return 404
        if kind in ("duplicate", "conflict"):
            return 409
        if kind == "connection_error":
            return 503
        if kind == "internal_error":
            return 500
        return 400
    return 201 if created else 200


# -- security and limits (pure ASGI: no per-request task or copy) -------------------------


class Guard:
    """Bearer token (every path but /health), body cap and request timing."""

    def __init__(
        self, app: Any, *, token: str | None, max_body: int, metrics: ServiceMetrics
    ) -> None:
        self.app = app
        self.token = f"Bearer {token}".encode() if token else None
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is not None and scope["path"] != "/health":
            got = b""
            for k, v in scope["headers"]:
                if k == b"authorization":
                    got = v
                    break
            if not hmac.compare_digest(got, self.token):
                await _raw(send, 401, error_response("missing or wrong bearer token", "unauthorized"),
                           [(b"www-authenticate", b"Bearer")])
                return
        declared = 0
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
        if declared < 0 or declared > self.max_body:
            await _raw(send, 413 if declared > 0 else 400, error_response(
                f"request body larger than {self.max_body} bytes" if declared > 0
                else "bad Content-Length", "payload_too_large" if declared > 0 else "validation_error"))
            return
        seen = 0
        cap = self.max_body

        async def capped() -> Any:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > cap:
                    raise _TooLarge
            return msg

        t0 = time.perf_counter()
        status = 500
        started = False

        async def sending(msg: Any) -> None:
            nonlocal status, started
            if msg["type"] == "http.response.start":
                status = msg["status"]
                started = True
            await send(msg)

        try:
            await self.app(scope, capped, sending)
        except _TooLarge:
            if not started:
                await _raw(send, 413, error_response(
                    f"request body larger than {self.max_body} bytes", "payload_too_large"))
            status = 413
        finally:
            ep = scope.get("endpoint")
            name = getattr(ep, "__name__", "unmatched")
            self.metrics.observe("http", name, time.perf_counter() - t0, status < 500)


class _TooLarge(BaseException):
    """Raised from ``receive`` past the cap: a BaseException, so no body parser turns it into a 400."""


async def _raw(send: Any, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = orjson.dumps(body)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": data})


# -- helpers -------------------------------------------------------------------------------


def parse_filters(raw: list[str]) -> list[QueryFilter]:
    """``field:operator:value`` strings as filters; the value is JSON when it parses as JSON."""
    out = []
    for f in raw:
        parts = f.split(":", 2)
        if len(parts) != 3:
            raise ValidationError(f"a filter is field:operator:value, got {f!r}")
        field, op, text = parts
        if op not in OPERATORS:
            raise ValidationError(f"unknown filter operator {op!r}; use one of {', '.join(OPERATORS)}")
        try:
            value: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = text
        out.append(QueryFilter(field, op, value))
    return out


def collection_name(name: str) -> str:
    """A collection name, checked before any statement is built (letters, digits, ``_``)."""
    return validate_identifier(name, "collection name").lower()


def _receipt(msg: Message) -> str:
    raw = orjson.dumps([msg.id, msg.queue, msg.receipt, msg.retry_count, msg.max_retries])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _from_receipt(token: str) -> Message:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mid, queue, receipt, retries, max_retries = orjson.loads(raw)
        ok = all(isinstance(x, str) for x in (mid, queue, receipt)) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in (retries, max_retries)
        )
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        ok = False
    if not ok:
        raise ValidationError("receipt is not one a receive returned")
    return Message(id=mid, queue=queue, data=None, status="processing", retry_count=retries,
                   max_retries=max_retries, receipt=receipt)


def _message(msg: Message) -> dict[str, Any]:
    d = asdict(msg)
    for k in ("created_at", "lease_until"):
        if d[k] is not None:
            d[k] = d[k].isoformat()
    d["receipt"] = _receipt(msg) if msg.receipt else None
    return d


def _plain(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if is_dataclass(obj) and not isinstance(obj, type):
        return orjson.loads(orjson.dumps(obj, default=_default))
    return obj


# -- the application --------------------------------------------------------------------------


def create_app(
    *,
    ds: AsyncDataStore | None = None,
    tasks: TaskGateway | None = None,
    streams: Mapping[str, TaskGateway] | None = None,
    stores: list[Store] | None = None,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    metrics: ServiceMetrics | None = None,
    title: str = "storekeeper",
    lifespan: Callable[[FastAPI], Any] | None = None,
) -> Any:
    """The ASGI application (a FastAPI app wrapped in the token / body-cap guard).

    :param ds: the store behind the capability routes (collections, workflows,
        states, checkpoints, queues, cache); None: only the task API.
    :param tasks: what serves ``/tasks`` (a Store in process, or a stream).
    :param streams: more gateways by stream name, served at ``/streams/{name}``.
    :param stores: the Store components whose item counts ``/metrics`` exports.
    :param token: the bearer token every route but ``/health`` wants.
    :param max_body: the largest request body accepted, in bytes.
    """
    m = metrics or ServiceMetrics()
    comp = list(stores or [])
    app = FastAPI(
        title=title,
        version="0.1.0",
        description="The storekeeper HTTP API: seed 000's task API and the store's capabilities.",
        default_response_class=JSONOut,
        lifespan=lifespan,
    )
    app.state.metrics = m

    @app.exception_handler(StorageError)
    async def storage_error(request: Request, exc: StorageError) -> Response:
        return _fail(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        body = error_response(f"{where}: {first.get('msg', 'invalid')}", "validation_error")
        body["detail"] = orjson.loads(orjson.dumps(errs, default=str))
        return JSONOut(body, status_code=422)

    async def run(gw: TaskGateway, item: dict[str, Any], created: bool = False) -> Response:
        t0 = time.perf_counter()
        out = await gw.call(item)
        m.observe(gw.name, str(item.get("action")), time.perf_counter() - t0, out.get("status") != "error")
        out.pop("request_id", None)
        return JSONOut(out, status_code=_http_status(out, created))

    # -- health and metrics --
    @app.get("/health", response_model=HealthBody, tags=["operations"],
             responses={503: {"model": HealthBody, "description": "unhealthy"}})
    async def health() -> Response:
        """Seed 000's health: ``{"status": "ok", "health": {"status", "store_connected", "task_count", …}}``."""
        if tasks is not None:
            h = await tasks.health()
        else:
            ok = False
            if ds is not None:
                try:
                    ok = await ds.ping()
                except StorageError:
                    ok = False
            h = {"status": "healthy" if ok else "unhealthy", "store_connected": ok}
        good = h.get("store_connected", False)
        h["status"] = "healthy" if good else "unhealthy"
        return JSONOut({"status": "ok" if good else "error", "health": h}, status_code=200 if good else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    async def metrics_route() -> Response:
        """Prometheus text format (latency histograms, queue depths, cache hits, pool use)."""
        try:
            await m.refresh(ds, comp)
        except StorageError as exc:
            logger.warning("metrics: %s", scrub_exc(exc))
        return Response(m.render(), media_type=CONTENT_TYPE_LATEST)

    # -- the seed's task API --
    def task_routes(prefix: str, gw: TaskGateway, tag: str) -> None:
        async def create_task(data: dict[str, Any] = Body(..., examples=[{"title": "New Task", "completed": False}])) -> Response:
            return await run(gw, {"action": "create", "data": data}, created=True)

        async def list_tasks(
            filter: list[str] = Query([], description="field:operator:value, repeated"),
            sort_by: str | None = Query(None, max_length=200),
            sort_order: Literal["asc", "desc"] = "asc",
            limit: int | None = Query(None, ge=1, le=MAX_PAGE),
            cursor: str | None = Query(None, max_length=2000),
        ) -> Response:
            try:
                flt = [{"field": f.field, "operator": f.operator, "value": f.value}
                       for f in parse_filters(filter)]
            except ValidationError as exc:
                return _fail(exc)
            item: dict[str, Any] = {"action": "list", "filters": flt, "sort_order": sort_order}
            if sort_by is not None:
                item["sort_by"] = sort_by
            if limit is not None:
                item["limit"] = limit
            if cursor is not None:
                item["cursor"] = cursor
            return await run(gw, item)

        async def get_task(task_id: str = Path(..., max_length=255)) -> Response:
            return await run(gw, {"action": "get", "id": task_id})

        async def update_task(task_id: str = Path(..., max_length=255), data: dict[str, Any] = Body(...)) -> Response:
            return await run(gw, {"action": "update", "id": task_id, "data": data})

        async def delete_task(task_id: str = Path(..., max_length=255)) -> Response:
            return await run(gw, {"action": "delete", "id": task_id})

        kw: dict[str, Any] = {"tags": [tag], "response_model": TaskBody}
        app.post(prefix, status_code=201, responses=_errs(), **kw)(create_task)
        app.get(prefix, responses=_errs(), **kw)(list_tasks)
        app.get(prefix + "/{task_id}", responses=_errs(404), **kw)(get_task)
        app.put(prefix + "/{task_id}", responses=_errs(404), **kw)(update_task)
        app.patch(prefix + "/{task_id}", responses=_errs(404), **kw)(update_task)
        app.delete(prefix + "/{task_id}", responses=_errs(404), **kw)(delete_task)

    if tasks is not None:
        task_routes("/tasks", tasks, "tasks")
    for sname, gw in (streams or {}).items():
        validate_identifier(sname, "stream name")
        task_routes(f"/streams/{sname}/tasks", gw, f"stream {sname}")

    if ds is not None:
        _capability_routes(app, ds, m)
    return Guard(app, token=token, max_body=max_body, metrics=m)


def _capability_routes(app: FastAPI, ds: AsyncDataStore, m: ServiceMetrics) -> None:
    # a Path() object per parameter: FastAPI ties one to the first parameter using it
    def name_path() -> Any:
        return Path(..., max_length=63, description="a collection name (letters, digits, _)")

    def id_path() -> Any:
        return Path(..., min_length=1, max_length=255)

    # -- collections --
    @app.get("/collections/{name}/items", response_model=ItemsPage, tags=["collections"], responses=_errs())
    async def list_items(
        name: str = name_path(),
        filter: list[str] = Query([], description="field:operator:value (value JSON when it parses), repeated"),
        sort_by: str | None = Query(None, max_length=200),
        sort_order: Literal["asc", "desc"] = "asc",
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        cursor: str | None = Query(None, max_length=2000),
    ) -> Response:
        """One keyset page of a collection; pass ``next_cursor`` as ``cursor`` for the next."""
        repo = ds.repository(dict, collection_name(name))
        page = await repo.list(parse_filters(filter) or None, sort_by, SortOrder(sort_order),
                               limit=limit, after=cursor)
        return JSONOut({"items": page.items, "next_cursor": page.next_cursor})

    @app.get("/collections/{name}/count", response_model=Count, tags=["collections"], responses=_errs())
    async def count_items(
        name: str = name_path(),
        filter: list[str] = Query([], description="field:operator:value, repeated"),
    ) -> Response:
        repo = ds.repository(dict, collection_name(name))
        return JSONOut({"count": await repo.count(parse_filters(filter) or None)})

    @app.post("/collections/{name}/items", status_code=201, tags=["collections"], responses=_errs())
    async def create_item(name: str = name_path(), item: dict[str, Any] = Body(...)) -> Response:
        """Store a new item (an ``id`` string is kept, else one is given)."""
        repo = ds.repository(dict, collection_name(name))
        return JSONOut(await repo.create(item), status_code=201)

    @app.get("/collections/{name}/items/{item_id}", tags=["collections"], responses=_errs(404))
    async def get_item(name: str = name_path(), item_id: str = id_path()) -> Response:
        repo = ds.repository(dict, collection_name(name))
        found = await repo.get(item_id)
        if found is None:
            return JSONOut({"status": "not_found", "action": "get", "id": item_id}, status_code=404)
        return JSONOut(found)

    @app.put("/collections/{name}/items/{item_id}", tags=["collections"], responses=_errs(404))
    async def replace_item(name: str = name_path(), item_id: str = id_path(), item: dict[str, Any] = Body(...)) -> Response:
        """Replace an item; a ``version`` in the body must be the stored one (else 409).

        Without a ``version`` the stored item is replaced whatever its version.
        """
        repo = ds.repository(dict, collection_name(name))
        body = {**item, "id": item_id}
        if "version" not in body:
            stored = await repo.get(item_id)
            if stored is None:
                return JSONOut({"status": "not_found", "action": "update", "id": item_id}, status_code=404)
            body["version"] = stored.get("version")
        return JSONOut(await repo.update(body))

    @app.delete("/collections/{name}/items/{item_id}", response_model=Deleted, tags=["collections"], responses=_errs(404))
    async def delete_item(name: str = name_path(), item_id: str = id_path()) -> Response:
        repo = ds.repository(dict, collection_name(name))
        if not await repo.delete(item_id):
            return JSONOut({"status": "not_found", "action": "delete", "id": item_id}, status_code=404)
        return JSONOut({"deleted": True})

    # -- workflows and task states --
    @app.get("/workflows/executions", tags=["workflows"], responses=_errs())
    async def list_executions(
        workflow_id: str | None = Query(None, max_length=255),
        status: str | None = Query(None, max_length=20),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        cursor: str | None = Query(None, max_length=2000),
    ) -> Response:
        """Executions, newest first, one keyset page."""
        flt = {k: v for k, v in (("workflow_id", workflow_id), ("status", status)) if v is not None}
        page = await ds.workflows.list_executions(flt or None, limit=limit, after=cursor)
        return JSONOut({"items": [_plain(e) for e in page.items], "next_cursor": page.next_cursor})

    @app.put("/workflows/executions", tags=["workflows"], responses=_errs())
    async def upsert_execution(execution: dict[str, Any] = Body(...)) -> Response:
        """Insert or replace an execution (seed 002 ``WorkflowExecution``)."""
        ex = await ds.workflows.upsert_execution(execution)
        return JSONOut(_plain(ex))

    @app.get("/workflows/executions/{exec_id}", tags=["workflows"], responses=_errs(404))
    async def get_execution(exec_id: str = id_path(), include_tasks: bool = False) -> Response:
        ex = await ds.workflows.get_execution(exec_id, include_tasks=include_tasks)
        if ex is None:
            return JSONOut({"status": "not_found", "action": "get", "id": exec_id}, status_code=404)
        return JSONOut(_plain(ex))

    @app.put("/workflows/task-states", tags=["workflows"], responses=_errs(404))
    async def upsert_state(state: dict[str, Any] = Body(...)) -> Response:
        """Insert or replace a task state (its execution and parent must exist)."""
        return JSONOut(_plain(await ds.tasks.upsert_state(state)))

    @app.get("/workflows/task-states/{task_exec_id}", tags=["workflows"], responses=_errs(404))
    async def get_state(task_exec_id: str = id_path()) -> Response:
        st = await ds.tasks.get_state(task_exec_id)
        if st is None:
            return JSONOut({"status": "not_found", "action": "get", "id": task_exec_id}, status_code=404)
        return JSONOut(_plain(st))

    @app.get("/workflows/task-states/{task_exec_id}/tree", tags=["workflows"], responses=_errs(404))
    async def task_tree(task_exec_id: str = id_path()) -> Response:
        """The state and its descendants, root first, with their depth."""
        tree = await ds.tasks.get_task_tree(task_exec_id)
        return JSONOut({"items": [_plain(t) for t in tree]})

    @app.get("/workflows/task-states/{task_exec_id}/progress", tags=["workflows"], responses=_errs(404))
    async def task_progress(task_exec_id: str = id_path()) -> Response:
        """Counts per status of the state's children, rates and overall status."""
        return JSONOut(_plain(await ds.tasks.get_progress_info(task_exec_id)))

    # -- component state and checkpoints (read) --
    @app.get("/states/{component}", tags=["states"], responses=_errs(404))
    async def load_state(component: str = id_path(), version: int | None = Query(None, ge=1, le=2**62)) -> Response:
        st = await ds.states.load(component, version)
        if st is None:
            return JSONOut({"status": "not_found", "action": "get", "id": component}, status_code=404)
        return JSONOut(_plain(st))

    @app.get("/states/{component}/history", tags=["states"], responses=_errs())
    async def state_history(component: str = id_path(), limit: int = Query(10, ge=1, le=MAX_PAGE)) -> Response:
        return JSONOut({"items": [_plain(s) for s in await ds.states.history(component, limit)]})

    @app.get("/checkpoints/{checkpoint_name}", tags=["checkpoints"], responses=_errs(404))
    async def latest_checkpoint(checkpoint_name: str = id_path(), version: int | None = Query(None, ge=1, le=2**62)) -> Response:
        cp = (await ds.checkpoints.latest(checkpoint_name) if version is None
              else await ds.checkpoints.get(checkpoint_name, version))
        if cp is None:
            return JSONOut({"status": "not_found", "action": "get", "id": checkpoint_name}, status_code=404)
        return JSONOut(_plain(cp))

    @app.get("/checkpoints/{checkpoint_name}/versions", tags=["checkpoints"], responses=_errs())
    async def list_checkpoints(checkpoint_name: str = id_path(), limit: int = Query(10, ge=1, le=MAX_PAGE)) -> Response:
        return JSONOut({"items": [_plain(c) for c in await ds.checkpoints.list(checkpoint_name, limit=limit)]})

    # -- queues --
    def q_path() -> Any:
        return Path(..., max_length=63, description="a queue name (letters, digits, _)")

    def seen(q: str) -> str:
        validate_identifier(q, "queue name")
        m.queues.add(q)
        return q

    @app.post("/queues/{queue}/messages", status_code=201, response_model=PushOut, tags=["queues"], responses=_errs())
    async def push(body: PushIn, queue: str = q_path()) -> Response:
        mid = await ds.queue.push(seen(queue), body.data, metadata=body.metadata, delay=body.delay,
                                  max_retries=body.max_retries)
        return JSONOut({"id": mid}, status_code=201)

    @app.post("/queues/{queue}/receive", response_model=MessagesOut, tags=["queues"], responses=_errs())
    async def receive(body: ReceiveIn, queue: str = q_path()) -> Response:
        """Lease up to ``max_messages``; each answer's ``receipt`` settles it."""
        msgs = await ds.queue.receive_batch(seen(queue), body.max_messages, timeout=body.timeout or None,
                                            lease=body.lease)
        return JSONOut({"messages": [_message(x) for x in msgs]})

    def held(queue: str, token: str) -> Message:
        msg = _from_receipt(token)
        if msg.queue != queue:
            raise ValidationError(f"that receipt belongs to queue {msg.queue!r}, not {queue!r}")
        return msg

    @app.post("/queues/{queue}/ack", response_model=NackOut, tags=["queues"], responses=_errs())
    async def ack(body: SettleIn, queue: str = q_path()) -> Response:
        await ds.queue.ack(held(seen(queue), body.receipt))
        return JSONOut({"status": "completed"})

    @app.post("/queues/{queue}/nack", response_model=NackOut, tags=["queues"], responses=_errs())
    async def nack(body: NackIn, queue: str = q_path()) -> Response:
        """Give a message back as failed: retried later, or dead-lettered."""
        st = await ds.queue.nack(held(seen(queue), body.receipt), body.error, delay=body.delay)
        return JSONOut({"status": st})

    @app.get("/queues/{queue}/stats", response_model=QueueStatsOut, tags=["queues"], responses=_errs())
    async def queue_stats(queue: str = q_path()) -> Response:
        return JSONOut((await ds.queue.stats(seen(queue))).as_dict())

    @app.get("/queues/{queue}/dead-letters", response_model=MessagesOut, tags=["queues"], responses=_errs())
    async def dead_letters(queue: str = q_path(), limit: int = Query(100, ge=1, le=MAX_PAGE),
                           after: str | None = Query(None, max_length=255)) -> Response:
        """Dead-lettered messages, oldest first; ``after`` is the last id of the previous page."""
        msgs = await ds.queue.dead_letters(seen(queue), limit, after=after)
        return JSONOut({"messages": [_message(x) for x in msgs]})

    @app.post("/queues/{queue}/replay", response_model=Count, tags=["queues"], responses=_errs())
    async def replay(queue: str = q_path(), body: ReplayIn | None = None) -> Response:
        """Send the queue's dead (or failed, completed) messages back to pending."""
        n = await ds.queue.replay(seen(queue), status=(body or ReplayIn()).status)
        return JSONOut({"count": n})

    @app.post("/queues/{queue}/purge", response_model=Count, tags=["queues"], responses=_errs())
    async def purge(queue: str = q_path(),
                    status: Literal["pending", "processing", "completed", "failed", "dead_letter"] | None = None) -> Response:
        """Delete the queue's messages (only those in ``status`` if given)."""
        return JSONOut({"count": await ds.queue.purge(seen(queue), status)})

    # -- cache --
    def key_path() -> Any:
        return Path(..., min_length=1, max_length=512)

    @app.get("/cache/{key}", tags=["cache"], responses=_errs(404))
    async def cache_get(key: str = key_path()) -> Response:
        value = await ds.cache.get(key)
        if value is None:
            m.cache.labels("miss").inc()
            return JSONOut({"status": "not_found", "action": "get", "id": key}, status_code=404)
        m.cache.labels("hit").inc()
        return JSONOut({"key": key, "value": value})

    @app.put("/cache/{key}", tags=["cache"], responses=_errs())
    async def cache_set(key: str = key_path(), value: Any = Body(..., embed=True),
                        ttl: float | None = Body(None, embed=True, gt=0, le=31_536_000)) -> Response:
        await ds.cache.set(key, value, ttl=ttl)
        return JSONOut({"key": key, "value": value})

    @app.delete("/cache/{key}", response_model=Deleted, tags=["cache"], responses=_errs())
    async def cache_delete(key: str = key_path()) -> Response:
        return JSONOut({"deleted": await ds.cache.delete(key)})


