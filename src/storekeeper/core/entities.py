"""Entities <-> JSON documents, ids and the JSON codec.

Entities may be pydantic v2 models, dataclasses or plain dicts. The store keeps
each one as a JSON document holding every field, including ``id``,
``created_at``, ``updated_at`` and ``version``, which it maintains.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, cast

import orjson
import pydantic
from pydantic_core import PydanticSerializationError

from ..errors import SerializationError, ValidationError

__all__ = ["Entity", "EntityCodec", "dumps", "loads", "new_id", "utcnow_iso"]

T = TypeVar("T")

META_FIELDS = ("id", "created_at", "updated_at", "version")
MAX_ID_LENGTH = 255


class Entity(pydantic.BaseModel):
    """A convenient base for pydantic entities: the four fields the store maintains."""

    id: str | None = None
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    version: int = 0


# --- JSON ---------------------------------------------------------------------

def _default(obj: Any) -> Any:
    if isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, set | frozenset):
        raise TypeError("sets are not JSON; use a list")
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(value: Any, what: str = "value") -> bytes:
    """Encode *value* as JSON bytes, or raise :class:`SerializationError`."""
    try:
        out = orjson.dumps(value, default=_default)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise SerializationError(f"{what} is not JSON serializable: {exc}") from None
    if b"null" in out and _has_non_finite(value):
        # orjson writes NaN and infinities as null: refuse instead of losing them
        raise SerializationError(f"{what} holds NaN or infinity, which JSON cannot represent")
    if b"\\u0000" in out:
        raise SerializationError(f"{what} contains a NUL character, which databases cannot store")
    return out


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    if isinstance(value, pydantic.BaseModel):
        return _has_non_finite(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _has_non_finite(dataclasses.asdict(value))
    return False


#: JSON text or bytes to a value (orjson itself: it sits in every row-reading loop)
loads: Callable[[str | bytes], Any] = orjson.loads


# --- ids and clocks -------------------------------------------------------------

_id_lock = threading.Lock()
_getrandbits = random.getrandbits
_last_ms = 0
_seq = 0


def new_id() -> str:
    """A time-ordered UUID (version 7): ids sort by creation time within a process.

    48 bits of milliseconds, a 12-bit counter that keeps ids made in the same
    millisecond in order, and 62 random bits (from :mod:`random`, which Python
    reseeds in every forked child, so processes never share a sequence).
    """
    global _last_ms, _seq
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:
                ms += 1
                _seq = 0
        else:
            _seq = _getrandbits(11)
        _last_ms = ms
        seq = _seq
    h = "%032x" % ((ms << 80) | (0x7000 | seq) << 64 | (0x8000000000000000 | _getrandbits(62)))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow_iso() -> str:
    """Now, as the ISO-8601 UTC string stored in ``created_at`` / ``updated_at``."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def check_id(entity_id: object) -> str:
    if not isinstance(entity_id, str) or not entity_id:
        raise ValidationError(f"id must be a non-empty string, got {entity_id!r}")
    if len(entity_id) > MAX_ID_LENGTH or "\x00" in entity_id:
        raise ValidationError(f"id must be at most {MAX_ID_LENGTH} characters, without NUL")
    return entity_id


# --- codec ----------------------------------------------------------------------


class EntityCodec(Generic[T]):
    """Turns entities of one class into documents and back.

    :param entity_class: a pydantic model, a dataclass, ``dict`` or ``None``
        (plain dicts).
    """

    __slots__ = (
        "entity_class", "kind", "fields", "_from_json", "_from_doc",
        "has_version", "has_created", "has_updated",
    )

    def __init__(self, entity_class: type[T] | None) -> None:
        self.entity_class: Any = entity_class
        self.fields: frozenset[str] | None
        if entity_class is None or entity_class is dict:
            self.kind = "dict"
            self.fields = None
            self._from_json: Callable[[str | bytes], Any] = orjson.loads
            self._from_doc: Callable[[dict[str, Any]], Any] = lambda d: d
        elif isinstance(entity_class, type) and issubclass(entity_class, pydantic.BaseModel):
            self.kind = "pydantic"
            self.fields = frozenset(entity_class.model_fields)
            self._from_json = entity_class.model_validate_json
            self._from_doc = entity_class.model_validate
        elif isinstance(entity_class, type) and dataclasses.is_dataclass(entity_class):
            self.kind = "dataclass"
            self.fields = frozenset(f.name for f in dataclasses.fields(entity_class))
            cls = cast(Callable[..., Any], entity_class)
            names = self.fields

            def from_doc(d: dict[str, Any]) -> Any:
                return cls(**{k: v for k, v in d.items() if k in names})

            self._from_doc = from_doc
            self._from_json = lambda raw: from_doc(orjson.loads(raw))
        else:
            raise ValidationError(
                f"entity class {entity_class!r} must be a pydantic model, a dataclass or dict"
            )
        self.has_version = self.fields is None or "version" in self.fields
        self.has_created = self.fields is None or "created_at" in self.fields
        self.has_updated = self.fields is None or "updated_at" in self.fields
        if self.fields is not None and "id" not in self.fields:
            raise ValidationError(f"entity class {entity_class.__name__} needs an 'id' field")  # type: ignore[union-attr]

    @property
    def versioned(self) -> bool:
        """Whether entities carry ``version`` (optimistic concurrency applies)."""
        return self.fields is None or "version" in self.fields

    def to_document(self, entity: Any) -> dict[str, Any]:
        """The JSON-ready mapping of *entity* (a fresh dict the caller may change)."""
        if self.kind == "dict":
            if type(entity) is dict:
                return entity.copy()
            if not isinstance(entity, Mapping):
                raise ValidationError(f"expected a dict entity, got {type(entity).__name__}")
            doc = dict(entity)
        elif self.kind == "pydantic":
            if not isinstance(entity, self.entity_class):
                raise ValidationError(
                    f"expected a {self.entity_class.__name__}, got {type(entity).__name__}"  # type: ignore[union-attr]
                )
            try:
                doc = entity.model_dump(mode="json")
            except PydanticSerializationError as exc:
                raise SerializationError(f"entity is not JSON serializable: {exc}") from None
        else:
            if not isinstance(entity, self.entity_class):
                raise ValidationError(
                    f"expected a {self.entity_class.__name__}, got {type(entity).__name__}"  # type: ignore[union-attr]
                )
            doc = {f.name: getattr(entity, f.name) for f in dataclasses.fields(entity)}
        return doc  # keys that are not strings are refused by dumps()

    def from_json(self, raw: str | bytes) -> T:
        return cast(T, self._from_json(raw))

    def from_rows(self, rows: list[tuple[Any, ...]], col: int = 0) -> list[T]:
        """Decode the JSON text in column *col* of every row."""
        load = self._from_json
        return [load(r[col]) for r in rows]

    def from_document(self, doc: dict[str, Any]) -> T:
        return cast(T, self._from_doc(doc))

    def entity_id(self, entity: Any) -> Any:
        if self.kind == "dict":
            return entity.get("id") if isinstance(entity, Mapping) else None
        return getattr(entity, "id", None)


# --- preparing writes (shared by every backend) -------------------------------


def prepare_create(
    codec: EntityCodec[Any], entity: Any, now: str | None = None
) -> tuple[str, dict[str, Any], bytes]:
    """``(id, document, json)`` for a new entity: id assigned, version 1, timestamps set.

    :param now: the timestamp to stamp (one per bulk call); default the current time.
    """
    if type(entity) is dict and codec.kind == "dict":
        doc = entity.copy()  # plain dicts, the common case of bulk loads: no codec checks
    else:
        doc = codec.to_document(entity)
    eid = doc.get("id")
    if eid is None or eid == "":
        eid = new_id()
    elif type(eid) is not str or len(eid) > MAX_ID_LENGTH or "\x00" in eid:
        check_id(eid)
    if now is None:
        now = utcnow_iso()
    doc["id"] = eid
    if codec.has_version:
        doc["version"] = 1
    if codec.has_created and not doc.get("created_at"):
        doc["created_at"] = now
    if codec.has_updated:
        doc["updated_at"] = now
    return eid, doc, dumps(doc, "entity")


def prepare_update(
    codec: EntityCodec[Any], entity: Any
) -> tuple[str, int | None, dict[str, Any], bytes]:
    """``(id, expected_version or None, document, json)`` for an update.

    The document already carries the next version and a fresh ``updated_at``.
    Entities without a ``version`` field are written unconditionally (None).
    """
    doc = codec.to_document(entity)
    eid = check_id(doc.get("id"))
    expected: int | None = None
    if codec.versioned:
        v = doc.get("version")
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValidationError(f"entity {eid!r} has no integer version; read it before updating")
        expected = v
        doc["version"] = v + 1
    if codec.has_updated:
        doc["updated_at"] = utcnow_iso()
    return eid, expected, doc, dumps(doc, "entity")


def decoded(codec: EntityCodec[T], doc: dict[str, Any], data: bytes) -> T:
    """The entity the caller gets back for a document the store just wrote.

    For dict entities that is the document itself: a copy of the caller's dict
    with the store's fields set (values the JSON encoder converted, such as
    datetimes, stay as given; ``get`` returns their JSON form).
    """
    if codec.kind == "dict":
        return cast(T, doc)
    return codec.from_document(doc)
