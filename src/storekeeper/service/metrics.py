"""Prometheus metrics of the service: one registry per service, text format on ``/metrics``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..core.records import STATUSES

if TYPE_CHECKING:
    from .._async.store import AsyncDataStore
    from ..component.store import Store

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics"]

#: latency buckets (seconds): from 100 µs (a memory get) to 10 s
#: queues whose depth one scrape reads, beyond those the service served itself
MAX_QUEUES = 200
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The metrics one service exports (its own registry, so several can live in one process).

    - ``storekeeper_operation_duration_seconds{component,action,outcome}``:
      a histogram of every ``process_item`` and route call;
    - ``storekeeper_queue_messages{queue,status}``: messages per status of
      every queue holding messages (the first :data:`MAX_QUEUES` by name) and
      of those the service served, counted when scraped;
    - ``storekeeper_cache_requests_total{result}``: cache ``hit`` / ``miss``;
    - ``storekeeper_pool_connections{backend,state}``: connections ``in_use``,
      ``idle`` and the pool's ``max`` (SQL backends);
    - ``storekeeper_store_items{component}``: items of each Store component.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "storekeeper_operation_duration_seconds",
            "Duration of store operations (process_item actions and service routes)",
            ["component", "action", "outcome"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "storekeeper_queue_messages",
            "Messages of a queue per status",
            ["queue", "status"],
            registry=self.registry,
        )
        self.cache = Counter(
            "storekeeper_cache_requests",
            "Cache reads by result (hit or miss)",
            ["result"],
            registry=self.registry,
        )
        self.pool = Gauge(
            "storekeeper_pool_connections",
            "Connections of the store's pool: in_use, idle (opened, waiting) and max",
            ["backend", "state"],
            registry=self.registry,
        )
        self.items = Gauge(
            "storekeeper_store_items",
            "Items held by a Store component (as last counted)",
            ["component"],
            registry=self.registry,
        )
        #: queues seen by the service, whose depth is exported
        self.queues: set[str] = set()
        self._children: dict[tuple[str, str, bool], Any] = {}
        self.cache.labels("hit")
        self.cache.labels("miss")

    def observe(self, component: str, action: str, seconds: float, ok: bool) -> None:
        key = (component, action, ok)
        child = self._children.get(key)
        if child is None:  # labels() takes a lock and builds a tuple: once per label set
            child = self._children[key] = self.latency.labels(component, action, "success" if ok else "error")
        child.observe(seconds)

    async def refresh(self, ds: AsyncDataStore | None, stores: list[Store]) -> None:
        """Read the gauges that are counted when scraped (queue depths, pool use, items)."""
        if ds is not None:
            known = await ds.queue.names()
            for q in sorted(self.queues.union(known[:MAX_QUEUES])):
                stats = await ds.queue.stats(q)
                for status in STATUSES:
                    self.queue_depth.labels(q, status).set(getattr(stats, status))
            self._pool(ds)
        for store in stores:
            self.items.labels(store.name).set(store.get_health_status()["items_count"])
            if store.ds is not None and store.ds is not ds:
                self._pool(store.ds)

    def _pool(self, ds: AsyncDataStore) -> None:
        stats: dict[str, Any] | None = ds.pool_stats()
        if stats is None:
            return
        for state in ("in_use", "idle", "max"):
            self.pool.labels(ds.backend_name, state).set(stats[state])

    def render(self) -> bytes:
        return generate_latest(self.registry)
