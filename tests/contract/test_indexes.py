"""Declared indexes are real: the database answers filtered, sorted pages from them."""

from __future__ import annotations

import random
from typing import Any

from storekeeper import QueryFilter
from storekeeper.core.filters import SortOrder, compile_filters

W4 = [QueryFilter("status", "eq", "active"), QueryFilter("priority", "gte", 5)]


def _plan(sk: Any, sql: str, params: list[Any]) -> str:
    b = sk.raw.backend
    if sk.kind == "sqlite":
        rows = b.fetchall("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(r[3]) for r in rows)
    if sk.kind == "postgresql":
        with sk.raw.transaction():
            b.execute("SET LOCAL enable_seqscan = off")  # small table: ask whether the index *can* serve
            rows = b.fetchall("EXPLAIN " + sql, params)
        return "\n".join(str(r[0]) for r in rows)
    rows = b.fetchall("EXPLAIN " + sql, params)
    return "\n".join(" ".join(str(c) for c in r) for r in rows)


def test_filtered_sorted_page_uses_the_declared_index(sql_sync: Any) -> None:
    sk = sql_sync
    rng = random.Random(7)
    repo = sk.repo(dict, indexes=["status", "priority"])
    repo.bulk_create(
        [{"status": rng.choice(["active", "done", "draft"]), "priority": rng.randint(0, 9)} for _ in range(3000)]
    )
    sk.raw.backend.execute("ANALYZE" if sk.kind != "mysql" else f"ANALYZE TABLE `{repo.table}`")
    sql, params = repo.sql.select(compile_filters(W4), ("priority",), SortOrder.DESC, limit=50)
    plan = _plan(sk, sql, params)
    index_names = {repo.backend.dialect.index_name(repo.table, f) for f in ("status", "priority")}
    assert any(name in plan for name in index_names), plan
    if sk.kind == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
    page = repo.list(filters=W4, sort_by="priority", sort_order="desc", limit=50)
    priorities = [d["priority"] for d in page.items]
    assert len(priorities) == 50 and priorities == sorted(priorities, reverse=True)
    assert all(d["status"] == "active" and d["priority"] >= 5 for d in page.items)
