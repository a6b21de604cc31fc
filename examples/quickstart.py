"""A tour of the repository API on the embedded SQLite default.

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


async def async_tour() -> None:
    async with AsyncDataStore() as ds:
        docs = ds.repository(Document, "quickstart_documents")
        total = await docs.count()
        async with ds.transaction():
            d = await docs.create(Document(title="written from asyncio"))
            await docs.delete(d.id)
        print(f"async API sees the same {total} documents")


def main() -> None:
    sync_tour()
    asyncio.run(async_tour())


if __name__ == "__main__":
    main()
