"""Seed 000 blueprints: components wired by named streams, served by ``storekeeper serve FILE``.

::

    system:
      name: "memory_storage_system"
      components:
        - name: "task_api"
          type: "FastAPIEndpoint"
          config: {port: 8000}
        - name: "task_store"
          type: "Store"
          config: {storage_type: "memory"}
      bindings:
        - from_component: "task_api"
          to_component: "task_store"
          stream_name: "input"

Component types: ``Store`` and ``V5EnhancedStore`` (the component's config
keys), ``FastAPIEndpoint`` (``port``, ``host``: serves the task API of the
Store it is bound to, through the named stream; a second binding of the same
endpoint is served at ``/streams/{stream_name}/tasks``), ``MetricsEndpoint``
(``port``, ``host``: Prometheus text at ``/metrics``). ``${VAR}`` and
``${VAR:-default}`` are replaced from the environment. A bad blueprint
(unknown type, a binding to a missing component, a port in use …) is refused
before anything starts, with the line at fault.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import yaml
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from fastapi import FastAPI
from fastapi.responses import Response

from ..component.store import Store, V5EnhancedStore, error_response
from ..config.environment import load_yaml
from ..core.filters import IDENTIFIER_RE
from ..errors import ConfigError, StorageError
from ..redact import scrub_exc
from .app import DEFAULT_MAX_BODY, create_app
from .metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from .server import bind, serve_sockets

logger = logging.getLogger("storekeeper.blueprint")

STORE_TYPES: dict[str, type[Store]] = {"Store": Store, "V5EnhancedStore": V5EnhancedStore}
ENDPOINT_TYPES = ("FastAPIEndpoint", "MetricsEndpoint")
COMPONENT_TYPES = (*STORE_TYPES, *ENDPOINT_TYPES)
#: items a stream holds before its sender waits
STREAM_BUFFER = 1024


class BlueprintError(ConfigError):
    """A blueprint that cannot run; the message names the file and the line at fault."""


@dataclass
class Component:
    name: str
    type: str
    config: dict[str, Any]
    line: int
    instance: Store | None = None
    sock: socket.socket | None = None


@dataclass
class Binding:
    from_component: str
    to_component: str
    stream_name: str
    line: int


@dataclass
class Blueprint:
    """A checked blueprint: its components (stores built, not set up) and bindings."""

    path: str
    name: str
    components: dict[str, Component]
    bindings: list[Binding] = field(default_factory=list)

    @property
    def stores(self) -> list[Store]:
        return [c.instance for c in self.components.values() if c.instance is not None]


def _lines(text: str) -> dict[tuple[Any, ...], int]:
    """1-based line of each node of the YAML document, by path (keys and list indexes)."""
    out: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        out[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                out[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
                out[(*path, key)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    if root is not None:
        walk(root, ())
    return out


def load_blueprint(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *, host: str = "127.0.0.1"
) -> Blueprint:
    """Read and check a blueprint, build its stores and bind its ports.

    Nothing is started; every problem is a :class:`BlueprintError` naming
    ``file:line``. Ports are bound here (so one in use is refused before any
    component starts); :func:`run_blueprint` serves on those sockets.
    """
    file_name = os.fspath(path)
    try:
        with open(file_name, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise BlueprintError(f"cannot read blueprint {file_name}: {exc.strerror}") from None
    lines = _lines(text)
    doc = load_yaml(file_name, env, what="blueprint")

    def at(*p: Any) -> str:
        for n in range(len(p), -1, -1):
            if p[:n] in lines:
                return f"{file_name}:{lines[p[:n]]}"
        return file_name

    def bad(msg: str, *p: Any) -> BlueprintError:
        return BlueprintError(f"{at(*p)}: {msg}")

    system = doc.get("system") if isinstance(doc, Mapping) else None
    if not isinstance(system, Mapping):
        raise bad("a blueprint is a mapping with a 'system' mapping")
    name = system.get("name")
    if not isinstance(name, str) or not name:
        raise bad("system.name must be a non-empty string", "system", "name")
    raw_components = system.get("components")
    if not isinstance(raw_components, list) or not raw_components:
        raise bad("system.components must be a non-empty list", "system", "components")
    components: dict[str, Component] = {}
    for i, c in enumerate(raw_components):
        where = ("system", "components", i)
        if not isinstance(c, Mapping):
            raise bad("a component is a mapping with name, type and config", *where)
        cname, ctype, cfg = c.get("name"), c.get("type"), c.get("config", {})
        if not isinstance(cname, str) or not cname:
            raise bad("component name must be a non-empty string", *where, "name")
        if cname in components:
            raise bad(f"component name {cname!r} is used twice", *where, "name")
        if ctype not in COMPONENT_TYPES:
            raise bad(
                f"unknown component type {ctype!r} for {cname!r}; use one of {', '.join(COMPONENT_TYPES)}",
                *where, "type",
            )
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, Mapping):
            raise bad(f"config of {cname!r} must be a mapping", *where, "config")
        components[cname] = Component(cname, str(ctype), dict(cfg), lines.get(where, 0))
    bindings: list[Binding] = []
    raw_bindings = system.get("bindings") or []
    if not isinstance(raw_bindings, list):
        raise bad("system.bindings must be a list", "system", "bindings")
    for j, b in enumerate(raw_bindings):
        where = ("system", "bindings", j)
        if not isinstance(b, Mapping):
            raise bad("a binding is a mapping with from_component, to_component, stream_name", *where)
        frm, to, stream = b.get("from_component"), b.get("to_component"), b.get("stream_name", "input")
        for key, val in (("from_component", frm), ("to_component", to)):
            if val not in components:
                raise bad(f"{key} {val!r} is not a component of this blueprint", *where, key)
        if components[str(frm)].type != "FastAPIEndpoint":
            raise bad(f"from_component {frm!r} must be a FastAPIEndpoint", *where, "from_component")
        if components[str(to)].type not in STORE_TYPES:
            raise bad(f"to_component {to!r} must be a Store or V5EnhancedStore", *where, "to_component")
        if not isinstance(stream, str) or not IDENTIFIER_RE.match(stream):
            raise bad(f"stream_name must be letters, digits or _, got {stream!r}", *where, "stream_name")
        if any(x.from_component == frm and x.stream_name == stream for x in bindings):
            raise bad(f"{frm!r} has two bindings named {stream!r}", *where, "stream_name")
        bindings.append(Binding(str(frm), str(to), stream, lines.get(where, 0)))
    # build the stores (config errors), then bind every port: nothing starts before all pass
    index = {c["name"]: i for i, c in enumerate(raw_components)}
    for comp in components.values():
        where_cfg: tuple[Any, ...] = ("system", "components", index[comp.name], "config")
        if comp.type in STORE_TYPES:
            try:
                comp.instance = STORE_TYPES[comp.type](comp.name, comp.config)
            except ConfigError as exc:
                raise bad(str(exc), *where_cfg) from None
    bound: list[socket.socket] = []
    try:
        for comp in components.values():
            if comp.type not in ENDPOINT_TYPES:
                continue
            where_cfg = ("system", "components", index[comp.name], "config")
            port = comp.config.get("port", 8000)
            if isinstance(port, str) and port.isdigit():
                port = int(port)
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                raise bad(f"port of {comp.name!r} must be a number from 0 to 65535, got {port!r}", *where_cfg, "port")
            h = comp.config.get("host", host)
            try:
                comp.sock = bind(str(h), port)
            except ConfigError as exc:
                raise bad(f"{comp.name}: {exc}", *where_cfg, "port") from None
            bound.append(comp.sock)
    except BaseException:
        for s in bound:
            s.close()
        raise
    return Blueprint(file_name, name, components, bindings)


class StreamTasks:
    """The task API of an endpoint, answered by a Store over a pair of memory streams."""

    def __init__(self, name: str, store: Store, send: ObjectSendStream[Any], replies: ObjectReceiveStream[Any]) -> None:
        self.name = name
        self.store = store
        self._send = send
        self._replies = replies
        self._waiting: dict[int, Any] = {}
        self._ids = itertools.count(1)

    async def call(self, item: dict[str, Any]) -> dict[str, Any]:
        rid = next(self._ids)
        ev = anyio.Event()
        self._waiting[rid] = [ev, None]
        try:
            await self._send.send({**item, "request_id": rid})
            await ev.wait()
            out: dict[str, Any] = self._waiting[rid][1]
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return error_response(f"store {self.store.name!r} is not running", "unavailable")
        finally:
            self._waiting.pop(rid, None)
        return out

    async def dispatch(self) -> None:
        """Hand each answer to the request waiting for it."""
        async with self._replies:
            async for out in self._replies:
                rid = out.get("request_id") if isinstance(out, Mapping) else None
                slot = self._waiting.get(rid) if isinstance(rid, int) else None
                if slot is not None:
                    slot[1] = out
                    slot[0].set()
        for slot in list(self._waiting.values()):  # the store stopped: nobody will answer
            slot[1] = error_response(f"store {self.store.name!r} stopped", "unavailable")
            slot[0].set()

    async def health(self) -> dict[str, Any]:
        return await self.store.check_health()


def _metrics_app(metrics: ServiceMetrics, stores: list[Store]) -> FastAPI:
    app = FastAPI(title="storekeeper metrics", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/metrics")
    async def metrics_route() -> Response:
        try:
            await metrics.refresh(None, stores)
        except StorageError as exc:
            logger.warning("metrics: %s", scrub_exc(exc))
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


@contextlib.asynccontextmanager
async def running(
    bp: Blueprint, *, token: str | None = None, max_body: int = DEFAULT_MAX_BODY
) -> AsyncIterator[list[tuple[Any, socket.socket]]]:
    """Set up every store, wire the streams and yield the apps to serve on their sockets."""
    metrics = ServiceMetrics()
    set_up: list[Store] = []
    gateways: dict[str, dict[str, StreamTasks]] = {}
    finished: list[anyio.Event] = []
    try:
        for comp in bp.components.values():
            if comp.instance is not None:
                try:
                    await comp.instance.setup()
                except StorageError as exc:
                    raise BlueprintError(
                        f"{bp.path}:{comp.line}: {comp.name} cannot start: {scrub_exc(exc)}"
                    ) from None
                set_up.append(comp.instance)
    except BaseException:
        for comp in bp.components.values():
            if comp.sock is not None:
                comp.sock.close()
        for store in set_up:
            with anyio.CancelScope(shield=True):
                await store.teardown()
        raise
    async with anyio.create_task_group() as tg:
        try:
            for b in bp.bindings:
                target = bp.components[b.to_component].instance
                assert target is not None
                key = b.stream_name if b.stream_name not in target.receive_streams else f"{b.from_component}_{b.stream_name}"
                send, recv = anyio.create_memory_object_stream[Any](STREAM_BUFFER)
                reply_send, reply_recv = anyio.create_memory_object_stream[Any](STREAM_BUFFER)
                target.receive_streams[key] = recv
                target.send_streams[key] = reply_send
                gw = StreamTasks(target.name, target, send, reply_recv)
                gateways.setdefault(b.from_component, {})[b.stream_name] = gw
                tg.start_soon(gw.dispatch)
            for store in set_up:
                if store.receive_streams:
                    done = anyio.Event()
                    finished.append(done)
                    tg.start_soon(_run_store, store, done)
            apps: list[tuple[Any, socket.socket]] = []
            for comp in bp.components.values():
                if comp.sock is None:
                    continue
                if comp.type == "MetricsEndpoint":
                    apps.append((_metrics_app(metrics, set_up), comp.sock))
                    continue
                gws = gateways.get(comp.name, {})
                main = gws.get("input") or next(iter(gws.values()), None)
                bound = [gw.store for gw in gws.values()]
                app = create_app(
                    tasks=main, streams=gws, stores=bound, token=comp.config.get("token", token),
                    max_body=max_body, metrics=metrics, title=f"{bp.name}: {comp.name}",
                )
                apps.append((app, comp.sock))
            yield apps
        finally:
            for comp in bp.components.values():
                if comp.sock is not None:
                    comp.sock.close()
            # senders first: each store answers what it holds, then its loop ends
            for gws in gateways.values():
                for gw in gws.values():
                    await gw._send.aclose()
            with anyio.move_on_after(10, shield=True):
                for done in finished:
                    await done.wait()
            for store in set_up:
                with anyio.CancelScope(shield=True):
                    await store.teardown()
            tg.cancel_scope.cancel()


async def _run_store(store: Store, done: anyio.Event) -> None:
    try:
        await store.run()
    finally:
        done.set()


def run_blueprint(
    path: str,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    log_level: str = "info",
    announce: Callable[[str], None] = print,
) -> None:
    """``storekeeper serve BLUEPRINT``: check it, start every component, serve until stopped."""
    bp = load_blueprint(path, host=host)

    async def main() -> None:
        async with running(bp, token=token, max_body=max_body) as apps:
            for comp in bp.components.values():
                if comp.sock is not None:
                    h, p = comp.sock.getsockname()[:2]
                    shown = f"[{h}]" if ":" in h else h
                    what = "metrics at /metrics" if comp.type == "MetricsEndpoint" else "task API, docs at /docs"
                    announce(f"{bp.name}: {comp.name} on http://{shown}:{p} ({what})")
            for store in bp.stores:
                announce(f"{bp.name}: {store.name} ({store.component_type}) on {_where(store)}")
            await serve_sockets(apps, lifespan=False, log_level=log_level)

    anyio.run(main)


def _where(store: Store) -> str:
    return f"{store.url} table {store.table_name}"
