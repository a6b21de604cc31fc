"""Portable rows bound for an import: the fast pick and the column-by-column path agree."""

from __future__ import annotations

from typing import Any

import pytest

from storekeeper.sql.transfer import collection_transfer


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_rows_are_bound_in_column_order_whether_or_not_a_column_is_missing(dialect: str) -> None:
    t = collection_transfer(dialect, "c_docs")
    full: list[dict[str, Any]] = [{"data": '{"a": 1}', "version": 2, "id": "x"}, {"id": "y", "version": 1, "data": None}]
    assert t.params(full) == ["x", 2, '{"a": 1}', "y", 1, None]
    assert t.copy_rows(full) == [("x", 2, '{"a": 1}'), ("y", 1, None)]
    # a row without a column (an older export, say) binds NULL there, as every row did before
    partial: list[dict[str, Any]] = [*full, {"id": "z", "data": "[]"}]
    assert t.params(partial) == ["x", 2, '{"a": 1}', "y", 1, None, "z", None, "[]"]
    assert t.copy_rows(partial) == [("x", 2, '{"a": 1}'), ("y", 1, None), ("z", None, "[]")]
