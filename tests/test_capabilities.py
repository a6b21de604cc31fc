"""The capability registry as a user meets it: what a store offers, and refusals at open."""

from __future__ import annotations

import pytest

from storekeeper import (
    AsyncDataStore,
    Capability,
    ConfigError,
    DatabaseConnectionError,
    DataStore,
    StorageError,
    UnsupportedOperation,
    offers,
)


def test_offers_lists_capabilities_by_backend() -> None:
    assert offers("redis") == (Capability.QUEUE, Capability.CACHE)
    assert [c.value for c in offers("sqlite")] == [
        "repositories", "transactions", "queue", "cache", "workflows", "tasks",
        "states", "checkpoints", "metrics", "health", "sinks", "migrations",
    ]
    assert Capability.MIGRATIONS not in offers("memory")
    assert offers("mongodb") == ()


def test_a_store_says_which_backend_serves_each_capability() -> None:
    # nothing connects to build the store or to answer
    ds = DataStore("memory://", queue_url="redis://127.0.0.1:1/0")
    assert ds.capabilities() == {
        "repositories": "memory",
        "transactions": "memory",
        "queue": "redis",
        "cache": "memory",
        "workflows": "memory",
        "tasks": "memory",
        "states": "memory",
        "checkpoints": "memory",
        "metrics": "memory",
        "health": "memory",
        "sinks": "memory",
    }
    ds.close()
    ds = DataStore("redis://127.0.0.1:1/0")
    assert ds.capabilities() == {"queue": "redis", "cache": "redis"}
    ds.close()


@pytest.mark.parametrize("api", [DataStore, AsyncDataStore])
def test_a_required_capability_is_refused_when_the_store_opens(api: type) -> None:
    with pytest.raises(UnsupportedOperation) as info:
        api("redis://127.0.0.1:1/0", require=["queue", "repositories"])
    err = info.value
    assert err.backend == "redis" and err.capability == "repositories"
    assert "redis does not offer repositories" in str(err)
    assert "sqlite" in str(err)  # says what does


def test_a_routed_capability_is_checked_when_the_store_opens() -> None:
    with pytest.raises(UnsupportedOperation) as info:
        DataStore("memory://", cache_url="mongodb://127.0.0.1/db")
    assert (info.value.backend, info.value.capability) == ("mongodb", "cache")


def test_an_unknown_capability_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="teleport"):
        DataStore("memory://", require=["teleport"])


def test_refusals_carry_backend_and_capability_attributes() -> None:
    ds = DataStore("redis://127.0.0.1:1/0")
    with pytest.raises(UnsupportedOperation) as info:
        ds.repository(dict, "docs")
    assert (info.value.backend, info.value.capability) == ("redis", "repositories")
    with pytest.raises(UnsupportedOperation) as info:
        with ds.transaction():
            pass  # pragma: no cover
    assert (info.value.backend, info.value.capability) == ("redis", "transactions")
    ds.close()


def test_connection_errors_are_transient_and_name_their_backend() -> None:
    ds = DataStore("postgresql://nobody@127.0.0.1:1/x?max_retries=0&connection_timeout=1")
    with pytest.raises(DatabaseConnectionError) as info:
        ds.ping()
    assert info.value.transient is True
    assert info.value.backend == "postgresql"
    ds.close()
    assert StorageError("x").transient is False and StorageError("x").backend is None
