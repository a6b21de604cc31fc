"""Property-based: every SQL backend returns exactly what memory returns, order included."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import SQL_BACKENDS, url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storekeeper import DataStore, QueryFilter

# Typed fields, as entities have, with values missing or null at times.
TEXT = st.text(alphabet="abcAB xyz_-é", max_size=6)
INTS = st.integers(min_value=-(2**31), max_value=2**31)
NUMS = st.one_of(INTS, st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda f: round(f, 3)))
MAYBE = lambda s: st.one_of(st.none(), s)  # noqa: E731

FIELDS: dict[str, Any] = {
    "name": TEXT,
    "rank": INTS,
    "score": NUMS,
    "flag": st.booleans(),
    "tags": st.lists(st.one_of(TEXT, st.integers(0, 5)), max_size=3),
    "meta.level": st.integers(0, 5),
}


@st.composite
def documents(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 12))
    docs = []
    for i in range(n):
        doc: dict[str, Any] = {"id": f"d{i:02d}"}
        for field, strat in FIELDS.items():
            choice = draw(st.integers(0, 5))
            if choice == 0:
                continue  # missing
            value = None if choice == 1 else draw(strat)
            if field == "meta.level":
                doc["meta"] = {"level": value}
            else:
                doc[field] = value
        docs.append(doc)
    return docs


SCALAR_OPS = ["eq", "ne", "gt", "gte", "lt", "lte"]


@st.composite
def a_filter(draw: Any) -> QueryFilter:
    field = draw(st.sampled_from(list(FIELDS)))
    op = draw(st.sampled_from([*SCALAR_OPS, "in", "not_in", "contains", "icontains", "startswith", "is_null"]))
    if op == "is_null":
        return QueryFilter(field, op, draw(st.booleans()))
    if op in ("icontains", "startswith"):
        return QueryFilter(field, op, draw(TEXT))
    value_strat = st.one_of(TEXT, INTS, NUMS, st.booleans()) if op in ("eq", "ne", "contains") else st.one_of(TEXT, NUMS)
    if op in ("in", "not_in"):
        return QueryFilter(field, op, draw(st.lists(st.one_of(st.none(), TEXT, INTS, st.booleans()), max_size=3)))
    return QueryFilter(field, op, draw(value_strat))


QUERIES = st.tuples(
    st.lists(a_filter(), max_size=3),
    st.one_of(st.none(), st.sampled_from(list(FIELDS))),
    st.sampled_from(["asc", "desc"]),
)


@pytest.fixture(params=SQL_BACKENDS, scope="module")
def stores(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Any:
    kind = str(request.param)
    url = url_for(kind, tmp_path_factory.mktemp("diff"))
    memory = DataStore("memory://")
    sql = DataStore(url)
    name = f"diff_{kind}"
    pair = (
        memory.repository(dict, name, indexes=["rank", "name"]),
        sql.repository(dict, name, indexes=["rank", "name"]),
    )
    pair[1].bulk_delete([d["id"] for d in pair[1].list()])
    yield pair
    pair[1].bulk_delete([d["id"] for d in pair[1].list()])
    sql.close()
    memory.close()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(docs=documents(), queries=st.lists(QUERIES, min_size=1, max_size=4))
def test_sql_backends_agree_with_memory(stores: Any, docs: list[dict[str, Any]], queries: Any) -> None:
    mem, sql = stores
    for repo in (mem, sql):
        repo.bulk_delete([d["id"] for d in repo.list()])
        repo.bulk_create([dict(d) for d in docs])
    for filters, sort_by, order in queries:
        expected = [d["id"] for d in mem.list(filters=filters, sort_by=sort_by, sort_order=order)]
        got = [d["id"] for d in sql.list(filters=filters, sort_by=sort_by, sort_order=order)]
        assert got == expected, (filters, sort_by, order)
        assert sql.count(filters) == len(expected)
        # keyset pages of 3 walk the same order
        walked: list[str] = []
        page = sql.list(filters=filters, sort_by=sort_by, sort_order=order, limit=3)
        while True:
            walked += [d["id"] for d in page.items]
            if page.next_cursor is None:
                break
            page = sql.list(filters=filters, sort_by=sort_by, sort_order=order, limit=3, after=page.next_cursor)
        assert walked == expected
