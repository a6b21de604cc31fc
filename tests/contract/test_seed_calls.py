"""The seeds' own calls, written the way the seeds write them.

Seed 001 (the repository layer): ``StorageFactory.create_repository(...)``,
``repo.bulk_create(docs) -> List[T]``, ``repo.search("important keyword")`` on
a repository that declared no search fields, ``search(query=…, fields=[…],
pagination=Pagination(page=1, per_page=20))``, and closing the repository.

Seed 003 (Redis queue and cache): ``DataStore(host=…, port=…, db=…,
password=None, pool_size=10)`` opened lazily, ``cache.set(k, v, ttl=…)`` with
and without a ttl, ``queue.push`` / ``pop(timeout)`` / ``length``.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import SERVER_URLS, need, raw_redis

from storekeeper import (
    AsyncDataStore,
    AsyncStorageFactory,
    ConfigError,
    DataStore,
    Entity,
    Pagination,
    QueryFilter,
    SortOrder,
    StorageFactory,
    ValidationError,
)


class Document(Entity):
    title: str
    content: str = ""
    status: str = "draft"


# --- seed 001 -------------------------------------------------------------------------


def test_seed001_factory_repository_bulk_search_and_close(tmp_path: Any) -> None:
    repo = StorageFactory.create_repository(
        backend="sqlite",
        entity_class=Document,
        collection_name="documents",
        database_path=str(tmp_path / "myapp.db"),
    )
    with repo:
        docs = [
            Document(title="My Document", content="document processing made easy"),
            Document(title="Notes", content="an important keyword", status="active"),
            Document(title="Other", content="nothing"),
        ]
        created = repo.bulk_create(docs)
        assert [d.title for d in created] == ["My Document", "Notes", "Other"]
        assert all(d.id and d.version == 1 and d.created_at and d.updated_at for d in created)
        assert repo.get(created[1].id) == created[1]

        created[1].status = "published"
        updated = repo.bulk_update([created[1]])
        assert updated[0].version == 2 and updated[0].status == "published"

        results = repo.search("important keyword")
        assert [d.title for d in results] == ["Notes"]

        search_results = repo.search(
            query="document processing",
            fields=["title", "content"],
            pagination=Pagination(page=1, per_page=20),
        )
        assert search_results.total == 1 and search_results.items[0].title == "My Document"

        active_docs = repo.list(
            filters=[QueryFilter("status", "eq", "published")],
            sort_by="updated_at",
            sort_order=SortOrder.DESC,
        )
        assert [d.title for d in active_docs] == ["Notes"]
    repo.close()  # closing twice is harmless


def test_seed001_create_from_config_closes(tmp_path: Any) -> None:
    config = {"backend": "sqlite", "database": str(tmp_path / "cfg.db"), "pool_size": 5}
    repo = StorageFactory.create_from_config(
        config_dict=config, entity_class=Document, collection_name="documents"
    )
    repo.create(Document(title="x"))
    repo.close()
    with StorageFactory.create_from_config(
        config_dict=config, entity_class=Document, collection_name="documents"
    ) as again:
        assert again.count() == 1


def test_seed001_async_repository_is_an_async_context_manager(tmp_path: Any) -> None:
    async def main() -> None:
        repo = AsyncStorageFactory.create_repository(
            backend="sqlite", entity_class=Document, collection_name="documents",
            database_path=str(tmp_path / "async.db"),
        )
        async with repo:
            made = await repo.bulk_create([Document(title="a"), Document(title="b")])
            assert [m.version for m in made] == [1, 1]
            assert [d.title for d in await repo.search("b")] == ["b"]

    asyncio.run(main())


def test_a_repository_of_a_store_does_not_close_the_store(tmp_path: Any) -> None:
    with DataStore(f"sqlite:///{tmp_path}/s.db") as ds:
        repo = ds.repository(dict, "things")
        with repo:
            repo.create({"a": 1})
        assert repo.count() == 1  # the store is still open


# --- seed 003 -------------------------------------------------------------------------


def _seed003_kwargs() -> dict[str, Any]:
    need("redis")
    u = urlsplit(SERVER_URLS["redis"])
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 6379,
        "db": int((u.path or "/0").strip("/") or 0),
        "password": None,
        "pool_size": 10,
    }


def test_seed003_datastore_from_keywords_is_a_lazy_redis_queue_and_cache() -> None:
    kw = _seed003_kwargs()
    data_store = DataStore(**kw)
    key = f"sk_seed003_{uuid.uuid4().hex[:10]}"
    queue = f"queue_node_{uuid.uuid4().hex[:8]}_node_8"
    client = raw_redis()
    try:
        assert data_store.config.database_type.value == "redis"
        assert data_store.config.max_connections == 10
        assert data_store.capabilities() == {"queue": "redis", "cache": "redis"}
        data_store.queue.push(queue, {"key": "value"})
        assert data_store.queue.length(queue) == 1
        assert data_store.queue.pop(queue, timeout=5) == {"key": "value"}
        assert data_store.queue.pop(queue, timeout=0.2) is None

        data_store.cache.set(key, {"data": 123}, ttl=3600)
        assert data_store.cache.get(key) == {"data": 123}
        left = data_store.cache.ttl(key)
        assert left is not None and 3500 < left <= 3600
        data_store.cache.set(key, {"data": 456}, ttl=None)  # no expiry
        assert data_store.cache.ttl(key) == math.inf
        data_store.cache.set(key, {"data": 789}, ttl=0)  # falsy: no expiry, as `if ttl:`
        assert data_store.cache.ttl(key) == math.inf
        assert client.ttl(f"cache:{key}") == -1  # the server holds it without expiry
        assert data_store.cache.exists(key) is True
        assert data_store.cache.delete(key) is True
        assert data_store.cache.get(key) is None
    finally:
        data_store.queue.purge(queue)
        data_store.cache.delete(key)
        data_store.close()
        client.close()


def test_seed003_async_datastore_as_the_seed_writes_it() -> None:
    kw = _seed003_kwargs()
    queue = f"my_queue_{uuid.uuid4().hex[:8]}"
    key = f"my_key_{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        data_store = AsyncDataStore(**kw)
        try:
            await data_store.queue.push(queue, {"data": "value"})
            data = await data_store.queue.pop(queue, timeout=5)
            length = await data_store.queue.length(queue)
            assert data == {"data": "value"} and length == 0
            await data_store.cache.set(key, {"data": 123}, ttl=3600)
            value = await data_store.cache.get(key)
            await data_store.cache.delete(key)
            exists = await data_store.cache.exists(key)
            assert value == {"data": 123} and exists is False
        finally:
            await data_store.queue.purge(queue)
            await data_store.close()

    asyncio.run(main())


def test_seed003_keywords_are_checked() -> None:
    with pytest.raises(ConfigError, match="number"):
        DataStore(host="127.0.0.1", db="zero")
    with pytest.raises(ConfigError, match="URL"):
        DataStore(host="127.0.0.1", type="postgresql")


def test_push_none_is_refused_and_says_why() -> None:
    with DataStore("memory://") as ds:
        with pytest.raises(ValidationError, match="pop"):
            ds.queue.push("q", None)
        assert ds.queue.length("q") == 0
