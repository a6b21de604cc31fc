"""A tour of repositories, queues and the cache on the embedded SQLite default.

Run it with ``python examples/quickstart.py``; it writes ./data/storekeeper.db
(set STOREKEEPER_URL to point it at another backend, e.g. postgresql://…).
"""

from __future__ import annotations

import asyncio

from storekeeper import (
    AsyncDataStore,
    ConflictError,
    DataStore,
    Entity,
    Pagination,
    QueryFilter,
    SortOrder,
)


class Document(Entity):
    title: str
    content: str = ""
    status: str = "draft"
    priority: int = 0
    tags: list[str] = []


def sync_tour() -> None:
    with DataStore() as ds:  # sqlite:///./data/storekeeper.db unless STOREKEEPER_URL is set
        print(f"store: {ds!r}")
        docs = ds.repository(
            Document, "quickstart_documents",
            indexes=["status", "priority"], search_fields=["title", "content"],
        )
        docs.bulk_delete([d.id for d in docs.iterate() if d.id])  # start from a clean slate

        doc = docs.create(Document(title="My Document", content="document processing at scale"))
        print(f"created {doc.id} version {doc.version}")
        docs.bulk_create(
            Document(title=f"report {i}", status="active" if i % 2 else "done", priority=i % 10,
                     tags=["weekly"] if i % 3 == 0 else [])
            for i in range(200)
        )

        doc.status = "active"
        doc = docs.update(doc)
        stale = doc.model_copy(update={"version": 1})
        try:
            docs.update(stale)
        except ConflictError as exc:
            print(f"stale update refused: {exc}")

        active = [QueryFilter("status", "eq", "active"), QueryFilter("priority", "gte", 5)]
        page = docs.list(filters=active, sort_by="priority", sort_order=SortOrder.DESC,
                         pagination=Pagination(page=1, per_page=5))
        print(f"active, priority >= 5: {page.total} in {page.pages} pages; first page:")
        for d in page.items:
            print(f"  {d.priority}  {d.title}")

        first = docs.list(filters=active, sort_by="priority", sort_order="desc", limit=3)
        second = docs.list(filters=active, sort_by="priority", sort_order="desc", limit=3,
                           after=first.next_cursor)
        print(f"keyset pages: {[d.title for d in first]} then {[d.title for d in second]}")

        print("search 'document processing':", [d.title for d in docs.search("document processing")])
        print("tagged weekly:", docs.count([QueryFilter("tags", "contains", "weekly")]))

        try:
            with ds.transaction():
                docs.create(Document(title="never stored"))
                raise RuntimeError("something went wrong")
        except RuntimeError:
            pass
        print("rolled back:", docs.count([QueryFilter("title", "eq", "never stored")]) == 0)


def queue_and_cache_tour() -> None:
    with DataStore() as ds:
        queue = ds.queue.port_name("reader", "writer")  # "queue_reader_writer"
        ds.queue.purge(queue)
        ds.queue.backoff = 0.05  # retry quickly for the demo (default: 1 s, doubling)
        ds.queue.push_many(queue, [{"row": i} for i in range(3)], source="reader", target="writer")
        print(f"{queue}: {ds.queue.length(queue)} pending")
        print("popped:", ds.queue.pop(queue, timeout=1))

        msg = ds.queue.receive(queue, timeout=1, lease=30)
        assert msg is not None
        ds.queue.ack(msg)
        print(f"received and acked {msg.data}")

        ds.queue.push("quickstart_poison", {"bad": True}, max_retries=1)
        bad = ds.queue.receive("quickstart_poison", timeout=1)
        assert bad is not None
        print("first failure ->", ds.queue.nack(bad, error=ValueError("cannot parse")))
        bad = ds.queue.receive("quickstart_poison", timeout=2)
        assert bad is not None
        print(f"retry {bad.retry_count} fails too ->", ds.queue.nack(bad, error="still broken"))
        print("dead letters:", [(m.data, m.error) for m in ds.queue.dead_letters("quickstart_poison")])
        print("stats:", ds.queue.stats(queue).counts)
        ds.queue.pop(queue)
        ds.queue.purge("quickstart_poison")

        try:
            with ds.transaction():
                ds.queue.push(queue, {"row": "never sent"})
                raise RuntimeError("rolled back with the transaction")
        except RuntimeError:
            pass
        print("rolled-back push seen:", ds.queue.pop(queue) is not None)

        ds.cache.set("node_1_output", {"rows": 3}, ttl=3600)
        print("cache:", ds.cache.get("node_1_output"), f"ttl {ds.cache.ttl('node_1_output'):.0f}s")
        ds.cache.delete("quickstart_runs")
        print("runs:", ds.cache.incr("quickstart_runs"), ds.cache.incr("quickstart_runs", 10))


async def async_tour() -> None:
    async with AsyncDataStore() as ds:
        docs = ds.repository(Document, "quickstart_documents")
        total = await docs.count()
        async with ds.transaction():
            d = await docs.create(Document(title="written from asyncio"))
            await docs.delete(d.id)
        print(f"async API sees the same {total} documents")
        await ds.queue.push("quickstart_async", {"hello": "asyncio"})
        print("async pop:", await ds.queue.pop("quickstart_async", timeout=1))


def main() -> None:
    sync_tour()
    queue_and_cache_tour()
    asyncio.run(async_tour())


if __name__ == "__main__":
    main()
