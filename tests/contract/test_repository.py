"""The repository contract (SPEC §2), run on every backend, sync and async."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pydantic
import pytest

from storekeeper import (
    ConflictError,
    DuplicateError,
    Entity,
    NotFoundError,
    Page,
    PaginatedResult,
    Pagination,
    QueryFilter,
    SerializationError,
    SortOrder,
    ValidationError,
)

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class Document(Entity):
    title: str
    content: str = ""
    status: str = "draft"
    priority: int = 0
    tags: list[str] = []


@dataclasses.dataclass
class Note:
    text: str
    id: str | None = None
    version: int = 0
    created_at: str | None = None
    updated_at: str | None = None


# --- CRUD ------------------------------------------------------------------------


def test_create_assigns_id_version_and_timestamps(sk: Any) -> None:
    repo = sk.repo(dict)
    doc = repo.create({"title": "hello"})
    assert UUID7.match(doc["id"])
    assert doc["version"] == 1
    assert doc["created_at"] == doc["updated_at"]
    created = dt.datetime.fromisoformat(doc["created_at"])
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 60
    assert repo.get(doc["id"]) == doc


def test_pydantic_and_dataclass_entities_round_trip(sk: Any) -> None:
    docs = sk.repo(Document)
    d = docs.create(Document(title="My Document", content="…", tags=["a", "b"]))
    assert isinstance(d, Document) and d.id and d.version == 1
    assert d.created_at is not None and d.created_at.tzinfo is not None
    got = docs.get(d.id)
    assert got == d
    notes = sk.repo(Note)
    n = notes.create(Note(text="x"))
    assert isinstance(n, Note) and n.version == 1 and n.id
    assert notes.get(n.id) == n


def test_ids_given_by_the_caller_are_kept(sk: Any) -> None:
    repo = sk.repo(dict)
    assert repo.create({"id": "doc-1", "v": 1})["id"] == "doc-1"
    with pytest.raises(DuplicateError):
        repo.create({"id": "doc-1", "v": 2})
    assert repo.get("doc-1")["v"] == 1


def test_get_missing_is_none_and_bad_ids_are_rejected(sk: Any) -> None:
    repo = sk.repo(dict)
    assert repo.get("nope") is None
    for bad in (123, None, "", b"x", "x" * 300):
        with pytest.raises(ValidationError):
            repo.get(bad)
    assert repo.exists("nope") is False


def test_update_checks_version(sk: Any) -> None:
    repo = sk.repo(Document)
    d = repo.create(Document(title="a"))
    d.title = "b"
    d2 = repo.update(d)
    assert d2.version == 2 and d2.title == "b"
    assert d2.updated_at is not None and d.created_at == d2.created_at
    d.title = "stale"  # still version 1
    with pytest.raises(ConflictError):
        repo.update(d)
    assert repo.get(d.id).title == "b"
    ghost = Document(id="ghost", title="x", version=1)
    with pytest.raises(NotFoundError):
        repo.update(ghost)


def test_delete(sk: Any) -> None:
    repo = sk.repo(dict)
    d = repo.create({"a": 1})
    assert repo.delete(d["id"]) is True
    assert repo.delete(d["id"]) is False
    assert repo.get(d["id"]) is None


def test_upsert_creates_then_replaces(sk: Any) -> None:
    repo = sk.repo(dict)
    first = repo.upsert({"id": "u1", "n": 1})
    assert first["version"] == 1
    second = repo.upsert({"id": "u1", "n": 2})
    assert second["version"] == 2 and second["n"] == 2
    assert second["created_at"] == first["created_at"]
    assert repo.get("u1")["n"] == 2
    assert repo.count() == 1


# --- filters -----------------------------------------------------------------------

ROWS: list[dict[str, Any]] = [
    {"id": "r1", "status": "active", "priority": 5, "score": 1.5, "tags": ["a", "b"], "flag": True,
     "meta": {"owner": "ann", "level": 2}, "title": "Alpha report"},
    {"id": "r2", "status": "active", "priority": 9, "score": 2.0, "tags": ["b"], "flag": False,
     "meta": {"owner": "bob", "level": 7}, "title": "beta Notes"},
    {"id": "r3", "status": "done", "priority": 1, "score": -3, "tags": [], "flag": True,
     "meta": {"owner": "ann"}, "title": "gamma"},
    {"id": "r4", "status": "draft", "priority": "5", "tags": ["c", 5], "meta": None,
     "title": "Delta ALPHA"},
    {"id": "r5", "status": None, "priority": 5.0, "score": 7, "title": "epsilon"},
    {"id": "r6", "priority": True, "tags": "abc", "title": "alphabet soup"},
]


def _ids(items: Any) -> list[str]:
    return [x["id"] for x in items]


@pytest.fixture
def rows(sk: Any) -> Any:
    repo = sk.repo(dict, indexes=["status", "priority", "meta.owner"])
    repo.bulk_create([dict(r) for r in ROWS])
    return repo


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (("status", "eq", "active"), ["r1", "r2"]),
        (("status", "ne", "active"), ["r3", "r4", "r5", "r6"]),
        (("priority", "eq", 5), ["r1", "r5"]),  # 5 == 5.0; never "5" or true
        (("priority", "eq", "5"), ["r4"]),
        (("priority", "eq", True), ["r6"]),
        (("priority", "gt", 4), ["r1", "r2", "r5"]),
        (("priority", "gte", 9), ["r2"]),
        (("priority", "lt", 5), ["r3"]),
        (("priority", "lte", 5), ["r1", "r3", "r5"]),
        (("score", "lt", 0), ["r3"]),
        (("title", "gt", "b"), ["r2", "r3", "r5"]),  # code-point order: upper case first
        (("status", "in", ["done", "draft"]), ["r3", "r4"]),
        (("priority", "in", [1, "5"]), ["r3", "r4"]),
        (("status", "in", []), []),
        (("status", "not_in", ["active"]), ["r3", "r4", "r5", "r6"]),
        (("status", "in", [None, "done"]), ["r3", "r5", "r6"]),
        (("tags", "contains", "b"), ["r1", "r2", "r6"]),  # list membership and substring
        (("tags", "contains", 5), ["r4"]),
        (("title", "contains", "lpha"), ["r1", "r6"]),
        (("title", "icontains", "ALPHA"), ["r1", "r4", "r6"]),
        (("title", "startswith", "alpha"), ["r6"]),
        (("title", "startswith", "Alpha"), ["r1"]),
        (("status", "is_null", True), ["r5", "r6"]),
        (("status", "is_null", False), ["r1", "r2", "r3", "r4"]),
        (("status", "eq", None), ["r5", "r6"]),
        (("meta.owner", "eq", "ann"), ["r1", "r3"]),
        (("meta.level", "gte", 2), ["r1", "r2"]),
        (("meta.owner", "is_null", True), ["r4", "r5", "r6"]),
        (("flag", "eq", False), ["r2"]),
    ],
)
def test_filter_operators(rows: Any, flt: tuple[str, str, Any], expected: list[str]) -> None:
    got = rows.list(filters=[QueryFilter(*flt)])
    assert sorted(_ids(got)) == expected
    assert rows.count(filters=[QueryFilter(*flt)]) == len(expected)


def test_filters_combine_with_and(rows: Any) -> None:
    got = rows.list(
        filters=[QueryFilter("status", "eq", "active"), QueryFilter("priority", "gte", 6)]
    )
    assert _ids(got) == ["r2"]


def test_sorting_orders_by_type_then_value_then_id(rows: Any) -> None:
    asc = _ids(rows.list(sort_by="priority"))
    # null(none) < string "5" < numbers 1, 5, 5.0, 9 < boolean
    assert asc == ["r4", "r3", "r1", "r5", "r2", "r6"]
    desc = _ids(rows.list(sort_by="priority", sort_order=SortOrder.DESC))
    assert desc == list(reversed(asc))
    assert _ids(rows.list(sort_by="status", sort_order="asc")) == ["r5", "r6", "r1", "r2", "r3", "r4"]
    assert _ids(rows.list()) == ["r1", "r2", "r3", "r4", "r5", "r6"]


def test_offset_pages(rows: Any) -> None:
    page = rows.list(sort_by="id", pagination=Pagination(page=2, per_page=4))
    assert isinstance(page, PaginatedResult)
    assert _ids(page.items) == ["r5", "r6"]
    assert (page.total, page.page, page.per_page, page.pages) == (6, 2, 4, 2)
    assert page.has_prev and not page.has_next
    empty = rows.list(pagination=Pagination(page=5, per_page=4))
    assert empty.items == [] and empty.total == 6


def test_keyset_cursors_walk_every_item_once(rows: Any) -> None:
    for sort_by, order in [("priority", "asc"), ("priority", "desc"), (None, "desc"), ("title", "asc")]:
        expected = _ids(rows.list(sort_by=sort_by, sort_order=order))
        seen: list[str] = []
        page = rows.list(sort_by=sort_by, sort_order=order, limit=4)
        while True:
            assert isinstance(page, Page)
            seen += _ids(page.items)
            if page.next_cursor is None:
                break
            page = rows.list(sort_by=sort_by, sort_order=order, limit=4, after=page.next_cursor)
        assert seen == expected


def test_cursor_from_another_sort_is_rejected(rows: Any) -> None:
    page = rows.list(sort_by="priority", limit=2)
    with pytest.raises(ValidationError, match="sort"):
        rows.list(sort_by="status", limit=2, after=page.next_cursor)
    with pytest.raises(ValidationError):
        rows.list(sort_by="priority", limit=2, after="not-a-cursor")


def test_count_and_exists(rows: Any) -> None:
    assert rows.count() == 6
    assert rows.exists("r1") and not rows.exists("zz")


# --- search ------------------------------------------------------------------------


def test_search_ranks_by_relevance(sk: Any) -> None:
    repo = sk.repo(Document, search_fields=["title", "content"])
    repo.bulk_create(
        [
            Document(id="s1", title="Cooking pasta", content="water salt pasta"),
            Document(id="s2", title="document processing", content="processing document batches"),
            Document(id="s3", title="A document", content="about nothing much"),
            Document(id="s4", title="garden", content="tomatoes"),
        ]
    )
    found = repo.search("document processing")
    assert [d.id for d in found][:2] == ["s2", "s3"]
    assert {d.id for d in found} == {"s2", "s3"}
    assert [d.id for d in repo.search("tomatoes")] == ["s4"]
    only_title = repo.search("water", fields=["content"])
    assert [d.id for d in only_title] == ["s1"]
    assert repo.search("water", fields=["title"]) == []
    page = repo.search("document", pagination=Pagination(page=1, per_page=1))
    assert page.total == 2 and len(page.items) == 1 and page.has_next
    assert repo.search("   ") == []
    # a field that is not declared is searched without the index (seed 001 names fields per call)
    assert [d.id for d in repo.search("draft", fields=["status"])] == ["s1", "s2", "s3", "s4"]
    with pytest.raises(ValidationError):
        repo.search("x", fields=["no such!"])


def test_search_follows_updates_and_deletes(sk: Any) -> None:
    repo = sk.repo(dict, search_fields=["title"])
    d = repo.create({"title": "orange juice"})
    d["title"] = "apple pie"
    repo.update(d)
    assert repo.search("orange") == []
    assert _ids(repo.search("apple")) == [d["id"]]
    repo.delete(d["id"])
    assert repo.search("apple") == []


def test_search_without_declared_fields_looks_at_every_string_field(sk: Any) -> None:
    repo = sk.repo(dict)
    repo.bulk_create([
        {"id": "a", "title": "An Important note", "body": {"text": "a KEYWORD inside"}},
        {"id": "b", "title": "important", "n": 7},
        {"id": "c", "title": "other", "tags": ["keywords", "x"]},
        {"id": "d", "title": "nothing here"},
    ])
    found = repo.search("important keyword")
    assert [d["id"] for d in found] == ["a", "b", "c"]  # two terms first, then by id
    page = repo.search("keyword", fields=["title", "body.text"], pagination=Pagination(page=1, per_page=1))
    assert page.total == 1 and [d["id"] for d in page.items] == ["a"]
    assert repo.search("   ") == []
    with pytest.raises(ValidationError):
        repo.search("x", fields=["bad field"])


# --- bulk and iterate ------------------------------------------------------------


def test_bulk_create_update_delete(sk: Any) -> None:
    repo = sk.repo(dict, indexes=["n"])
    made = repo.bulk_create({"n": i} for i in range(1234))
    assert [m["n"] for m in made] == list(range(1234))  # the entities, in order
    assert all(m["id"] and m["version"] == 1 and m["created_at"] for m in made)
    assert repo.count() == 1234
    created = repo.list(sort_by="n")
    assert [c["id"] for c in created] == [m["id"] for m in made]
    assert all(c["version"] == 1 for c in created)
    assert created[0]["created_at"] == created[-1]["created_at"]  # one timestamp per call
    for c in created[:600]:
        c["n"] = -c["n"]
    updated = repo.bulk_update(created[:600])
    assert len(updated) == 600 and all(u["version"] == 2 for u in updated)
    assert [u["id"] for u in updated] == [c["id"] for c in created[:600]]
    assert repo.bulk_create([{"n": 5000}, {"n": 5001}], returning=False) == 2
    assert repo.bulk_update(repo.list(filters=[QueryFilter("n", "gte", 5000)]), returning=False) == 2
    assert repo.bulk_delete([m["id"] for m in repo.list(filters=[QueryFilter("n", "gte", 5000)])]) == 2
    assert repo.count(filters=[QueryFilter("version", "eq", 2)]) == 600
    assert repo.count(filters=[QueryFilter("n", "lt", 0)]) == 599  # -0 == 0
    assert repo.bulk_delete([c["id"] for c in created[:100]] + ["missing"]) == 100
    assert repo.count() == 1134


def test_bulk_create_is_all_or_nothing(sk: Any) -> None:
    repo = sk.repo(dict)
    repo.create({"id": "taken"})
    with pytest.raises(DuplicateError):
        repo.bulk_create([{"id": f"n{i}"} for i in range(10)] + [{"id": "taken"}])
    assert repo.count() == 1


def test_bulk_update_is_all_or_nothing(sk: Any) -> None:
    repo = sk.repo(dict)
    repo.bulk_create([{"v": 1}, {"v": 2}])
    a, b = repo.list(sort_by="v")
    b_fresh = repo.update(dict(b, v=3))
    a["v"] = 10
    b["v"] = 20  # stale
    with pytest.raises(ConflictError):
        repo.bulk_update([a, b])
    assert repo.get(a["id"])["v"] == 1
    assert repo.get(b["id"])["v"] == 3 == b_fresh["v"]
    with pytest.raises(NotFoundError):
        repo.bulk_update([dict(a, id="ghost")])


def test_iterate_streams_everything_in_id_order(sk: Any) -> None:
    repo = sk.repo(dict)
    repo.bulk_create([{"id": f"i{i:03d}", "i": i} for i in reversed(range(250))])
    got = list(repo.iterate(batch_size=64))
    assert _ids(got) == [f"i{i:03d}" for i in range(250)]
    assert len(list(repo.iterate(batch_size=1000, filters=[QueryFilter("i", "lt", 10)]))) == 10
    with pytest.raises(ValidationError):
        list(repo.iterate(batch_size=0))


# --- transactions ----------------------------------------------------------------


def test_transaction_commits_and_rolls_back_across_repositories(sk: Any) -> None:
    a, b = sk.repo(dict), sk.repo(dict)
    with sk.store.transaction():
        a.create({"id": "x"})
        b.create({"id": "y"})
    assert a.exists("x") and b.exists("y")
    with pytest.raises(RuntimeError):
        with sk.store.transaction():
            a.create({"id": "x2"})
            b.delete("y")
            raise RuntimeError("boom")
    assert not a.exists("x2") and b.exists("y")


def test_nested_transactions_are_savepoints(sk: Any) -> None:
    repo = sk.repo(dict)
    with sk.store.transaction():
        repo.create({"id": "outer"})
        with pytest.raises(ValueError):
            with sk.store.transaction():
                repo.create({"id": "inner"})
                raise ValueError
        with sk.store.transaction():
            repo.create({"id": "inner2"})
    assert sorted(_ids(repo.list())) == ["inner2", "outer"]


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["docs; DROP TABLE x", "a'b", "", "x" * 300, "1abc", "a-b", None])
def test_bad_collection_names(sk: Any, name: Any) -> None:
    with pytest.raises(ValidationError):
        sk.store.repository(dict, name)


@pytest.mark.parametrize(
    "flt",
    [
        QueryFilter("title') OR 1=1 --", "eq", "x"),
        QueryFilter("a..b", "eq", 1),
        QueryFilter("", "eq", 1),
        QueryFilter("title", "like", "x"),
        QueryFilter("title", "eq", {"a": 1}),
        QueryFilter("title", "in", "abc"),
        QueryFilter("title", "gt", None),
        QueryFilter("title", "icontains", 5),
        QueryFilter("n", "eq", float("nan")),
        QueryFilter("title", "is_null", "yes"),
    ],
)
def test_bad_filters_are_rejected(rows: Any, flt: QueryFilter) -> None:
    with pytest.raises(ValidationError):
        rows.list(filters=[flt])
    assert rows.count() == 6


def test_bad_sort_and_paging_are_rejected(rows: Any) -> None:
    with pytest.raises(ValidationError):
        rows.list(sort_by="x; drop")
    with pytest.raises(ValidationError):
        rows.list(sort_by="priority", sort_order="sideways")
    with pytest.raises(ValidationError):
        Pagination(page=0)
    with pytest.raises(ValidationError):
        rows.list(limit=0)
    with pytest.raises(ValidationError):
        rows.list(pagination=Pagination(), limit=5)


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", "nul\x00char", float("inf")])
def test_values_that_are_not_json_are_rejected_and_nothing_written(sk: Any, value: Any) -> None:
    repo = sk.repo(dict)
    with pytest.raises(SerializationError):
        repo.create({"id": "bad", "v": value})
    with pytest.raises(SerializationError):
        repo.bulk_create([{"id": "ok"}, {"id": "bad2", "v": value}])
    assert repo.count() == 0


def test_wrong_entity_types_are_rejected(sk: Any) -> None:
    repo = sk.repo(Document)
    with pytest.raises(ValidationError):
        repo.create({"title": "a dict"})
    with pytest.raises(ValidationError):
        sk.store.repository(int, "numbers")

    class NoId(pydantic.BaseModel):
        x: int

    with pytest.raises(ValidationError):
        sk.store.repository(NoId, "noid")


def test_first_use_inside_a_rolled_back_transaction(sk: Any) -> None:
    repo = sk.repo(dict, indexes=["n"], search_fields=["t"])
    with pytest.raises(RuntimeError):
        with sk.store.transaction():
            repo.create({"n": 1, "t": "gone"})
            raise RuntimeError
    assert repo.count() == 0
    repo.create({"n": 2, "t": "kept"})
    assert _ids(repo.search("kept")) == _ids(repo.list())


def test_search_fields_can_be_redeclared(sk: Any) -> None:
    name = sk.repo(dict).collection
    first = sk.store.repository(dict, name, search_fields=["title"])
    first.create({"id": "a", "title": "red apple", "body": "green pear"})
    second = sk.store.repository(dict, name, search_fields=["title", "body"])
    assert _ids(second.search("pear")) == ["a"]
    assert _ids(second.search("apple")) == ["a"]
    second.create({"id": "b", "title": "plum", "body": "pear"})
    assert sorted(_ids(second.search("pear"))) == ["a", "b"]


def test_repository_transaction_is_the_stores(sk: Any) -> None:
    a, b = sk.repo(dict), sk.repo(dict)
    with pytest.raises(KeyError):
        with a.transaction():
            a.create({"id": "1"})
            b.create({"id": "2"})
            raise KeyError
    assert a.count() == 0 and b.count() == 0
    with a.transaction():
        a.create({"id": "1"})
    assert a.exists("1")


def test_repeated_queries_keep_true_and_one_apart(rows: Any) -> None:
    # True == 1 in Python: cached query plans must still tell them apart
    for _ in range(2):
        assert _ids(rows.list(filters=[QueryFilter("priority", "eq", True)])) == ["r6"]
        assert _ids(rows.list(filters=[QueryFilter("priority", "eq", 1)])) == ["r3"]
        assert _ids(rows.list(filters=[QueryFilter("priority", "in", (True,))])) == ["r6"]
        assert _ids(rows.list(filters=[QueryFilter("priority", "in", (1,))])) == ["r3"]
