"""What every cache backend shares: the public API and its argument checks (SPEC §6).

Values are JSON values; anything else raises :class:`SerializationError`
before anything is written. An expired key is never returned: backends
check the expiry on every read, delete expired entries they come across, and
:meth:`purge_expired` reclaims the rest in bounded batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from ...core.caching import (
    check_amount,
    check_key,
    check_keys,
    check_prefix,
    check_ttl,
    encode_value,
)
from ...errors import ValidationError

__all__ = ["AsyncCache"]

#: entries one purge_expired call deletes at most, by default
PURGE_BATCH = 1000


class AsyncCache(ABC):
    """A TTL cache of JSON values: ``ds.cache``.

    ::

        await ds.cache.set("node_1_output", {"rows": 3}, ttl=3600)
        await ds.cache.get("node_1_output")      # -> {"rows": 3}, or None once expired
    """

    name = "cache"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store *value* under *key*, expiring after *ttl* seconds (None or 0: never)."""
        k = check_key(key)
        t = check_ttl(ttl)
        await self._set_many([(k, encode_value(value))], t)

    async def get(self, key: str) -> Any:
        """The value of *key*, or None when it is missing or expired."""
        return await self._get(check_key(key))

    async def delete(self, key: str) -> bool:
        """Remove *key*; True if it existed (and had not expired)."""
        return await self._delete(check_key(key))

    async def exists(self, key: str) -> bool:
        """True when *key* holds an unexpired value."""
        return await self._exists(check_key(key))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of those *keys* that exist, by key."""
        ks = check_keys(keys)
        if not ks:
            return {}
        return await self._get_many(list(dict.fromkeys(ks)))

    async def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store every item of *mapping*, all with the same *ttl*; all or nothing."""
        if not isinstance(mapping, Mapping):
            raise ValidationError(f"set_many takes a mapping of key to value, got {type(mapping).__name__}")
        t = check_ttl(ttl)
        items = [(check_key(k), encode_value(v)) for k, v in mapping.items()]
        if items:
            await self._set_many(items, t)

    async def incr(self, key: str, amount: int = 1) -> int:
        """Add *amount* to the integer under *key* (a missing key counts as 0); return the sum.

        The key keeps its TTL. :class:`ValidationError` if it holds anything
        but an integer.
        """
        return await self._incr(check_key(key), check_amount(amount))

    async def ttl(self, key: str) -> float | None:
        """Seconds *key* has left; ``math.inf`` when it never expires, None when it is missing."""
        return await self._ttl(check_key(key))

    async def clear(self, prefix: str | None = None) -> int:
        """Delete every key (or those starting with *prefix*); return how many."""
        return await self._clear(check_prefix(prefix))

    async def purge_expired(self, limit: int = PURGE_BATCH) -> int:
        """Delete up to *limit* expired entries now; return how many (bounded work)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"limit must be a positive integer, got {limit!r}")
        return await self._purge_expired(limit)

    async def close(self) -> None:
        """Nothing of its own to release: the store closes the backend."""

    # -- the primitives a backend implements ---------------------------------------
    @abstractmethod
    async def _get(self, key: str) -> Any: ...

    @abstractmethod
    async def _get_many(self, keys: list[str]) -> dict[str, Any]: ...

    @abstractmethod
    async def _set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        """Store ``(key, JSON text)`` pairs atomically with one TTL."""

    @abstractmethod
    async def _delete(self, key: str) -> bool: ...

    @abstractmethod
    async def _exists(self, key: str) -> bool: ...

    @abstractmethod
    async def _incr(self, key: str, amount: int) -> int: ...

    @abstractmethod
    async def _ttl(self, key: str) -> float | None: ...

    @abstractmethod
    async def _clear(self, prefix: str | None) -> int: ...

    @abstractmethod
    async def _purge_expired(self, limit: int) -> int: ...

    @abstractmethod
    async def _count_expired(self) -> int:
        """Expired entries still stored (what :meth:`purge_expired` would reclaim)."""

