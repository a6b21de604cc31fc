"""Running the service: the default API over one store, or a blueprint's endpoints."""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import uvicorn

from .._async.store import AsyncDataStore
from ..component.store import Store
from ..errors import ConfigError
from .app import DEFAULT_MAX_BODY, DirectTasks, create_app
from .metrics import ServiceMetrics

logger = logging.getLogger("storekeeper.service")

#: the collection the default service's ``/tasks`` keeps its tasks in
TASKS_COLLECTION = "tasks"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on *host*:*port*, or :class:`ConfigError` saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it every answer waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        raise ConfigError(f"port {port} on {host} {why}") from None
    sock.setblocking(False)
    return sock


def default_app(
    url: str | None = None, *, token: str | None = None, max_body: int = DEFAULT_MAX_BODY
) -> tuple[Any, AsyncDataStore]:
    """The default service over the store at *url*: its lifespan opens and closes the store."""
    ds = AsyncDataStore(url)
    store = Store(TASKS_COLLECTION, {"table_name": TASKS_COLLECTION}, data_store=ds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await store.setup()
        try:
            yield
        finally:
            await store.teardown()
            await ds.close()

    app = create_app(
        ds=ds, tasks=DirectTasks(store), stores=[store], token=token, max_body=max_body,
        lifespan=lifespan,
    )
    return app, ds


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`serve_sockets` (several run at once)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_sockets(
    apps: list[tuple[Any, socket.socket]],
    *,
    lifespan: bool = True,
    log_level: str = "info",
    started: Callable[[], None] | None = None,
) -> None:
    """Run each app on its bound socket until interrupted (one event loop, all together)."""
    servers: list[uvicorn.Server] = []
    for app, _sock in apps:
        cfg = uvicorn.Config(
            app, log_level=log_level, lifespan="on" if lifespan else "off",
            access_log=False, server_header=False,
        )
        servers.append(_Server(cfg))

    def stop(sig: int, frame: Any) -> None:
        for server in servers:
            if server.should_exit and sig == signal.SIGINT:
                server.force_exit = True
            server.should_exit = True

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)
    async with anyio.create_task_group() as tg:
        for server, (_app, sock) in zip(servers, apps, strict=True):
            tg.start_soon(_serve_one, server, sock)
        if started is not None:
            started()


async def _serve_one(server: uvicorn.Server, sock: socket.socket) -> None:
    await server.serve(sockets=[sock])


def run_default(
    url: str | None,
    host: str,
    port: int,
    *,
    token: str | None,
    max_body: int,
    log_level: str = "info",
    announce: Callable[[str], None] = print,
) -> None:
    """``storekeeper serve`` without a blueprint."""
    app, ds = default_app(url, token=token, max_body=max_body)
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{real_port}"
    announce(
        f"storekeeper serving {ds.config.redacted_url} on {base}\n"
        f"  API docs: {base}/docs   OpenAPI: {base}/openapi.json   health: {base}/health   "
        f"metrics: {base}/metrics"
    )
    anyio.run(lambda: serve_sockets([(app, sock)], log_level=log_level))


__all__ = ["ServiceMetrics", "bind", "default_app", "run_default", "serve_sockets"]
