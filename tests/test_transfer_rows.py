"""Portable rows, read and bound for an import: the batch (column by column) paths and the
row-by-row ones agree."""

from __future__ import annotations

import datetime as _dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from storekeeper.core.transfer import ColumnCodec, PortableRows, convert_columns
from storekeeper.sql.queue_transfer import NAMES, queue_transfer_sql
from storekeeper.sql.transfer import collection_transfer, portable_ts, table_transfer


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


def test_portable_rows_look_like_dicts_and_hand_over_their_tuples() -> None:
    rows = PortableRows(("id", "version", "data"), [("x", 2, "{}"), ("y", 1, None)])
    assert list(rows) == [{"id": "x", "version": 2, "data": "{}"}, {"id": "y", "version": 1, "data": None}]
    assert len(rows) == 2 and rows[-1] == {"id": "y", "version": 1, "data": None}
    assert list(rows[1:]) == [{"id": "y", "version": 1, "data": None}]
    assert rows.tuples(("id", "version", "data")) is rows.values
    assert rows.tuples(("data", "id")) == [("{}", "x"), (None, "y")]
    assert rows.tuples(("id",)) == [("x",), ("y",)]
    assert rows.tuples(("id", "other")) is None
    assert rows.columns(("data", "id")) == [("{}", None), ("x", "y")]
    assert rows.columns(("other",)) is None and rows[:0].columns(("id",)) == [()]


def test_columns_are_converted_only_where_a_value_needs_it() -> None:
    text: ColumnCodec = (frozenset({str, type(None)}), str)
    rows = [("a", 1), ("b", None)]
    assert convert_columns(rows, [text, None]) is rows  # nothing to convert: the same list
    assert convert_columns([("a", 1), (2, None)], [text, None]) == [("a", 1), ("2", None)]
    assert convert_columns([], [text]) == []


# a row of each kind with every column type: (kind, driver row, portable row)
_DRIVER_ROWS = [
    ("checkpoints",
     ("c1", "offsets", "reader", '{"v": 1}', b'{"m": 1}', 3, 1,
      _dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=_dt.UTC), "2024-05-02T00:00:00.000001+00:00"),
     {"id": "c1", "checkpoint_name": "offsets", "component_name": "reader",
      "checkpoint_data": '{"v": 1}', "checkpoint_metadata": '{"m": 1}', "version": 3,
      "is_latest": True, "created_at": "2024-05-01T12:00:00.123456+00:00",
      "expires_at": "2024-05-02T00:00:00.000001+00:00"}),
    ("metrics",
     ("m1", "reader", "rows", 4, None, None, "2024-05-01 12:00:00"),
     {"id": "m1", "component_name": "reader", "metric_name": "rows", "metric_value": 4.0,
      "metric_unit": None, "metric_metadata": None, "timestamp": "2024-05-01T12:00:00.000000+00:00"}),
]


@pytest.mark.parametrize(("kind", "driver", "portable"), _DRIVER_ROWS, ids=[k for k, _, _ in _DRIVER_ROWS])
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_a_batch_read_and_written_column_by_column_is_what_rows_one_by_one_give(
    dialect: str, kind: str, driver: tuple[Any, ...], portable: dict[str, Any]
) -> None:
    t = table_transfer(dialect, kind)
    batch = t.portable([driver, driver])
    assert list(batch) == [portable, portable]
    # the tuples of the batch bind as the same rows as dicts do
    as_dicts = [dict(r) for r in batch]
    assert t.params(batch) == t.params(as_dicts)
    assert t.copy_rows(batch) == t.copy_rows(as_dicts)


def test_portable_timestamps_pass_as_they_are_and_others_are_made_portable() -> None:
    assert portable_ts("2024-05-01T12:00:00.123456+00:00") == "2024-05-01T12:00:00.123456+00:00"
    assert portable_ts("2024-05-01T14:00:00.5+02:00") == "2024-05-01T12:00:00.500000+00:00"
    assert portable_ts(_dt.datetime(2024, 5, 1, 12, tzinfo=_dt.UTC)) == "2024-05-01T12:00:00.000000+00:00"
    assert portable_ts(None) is None


def _message(**over: Any) -> dict[str, Any]:
    row = {
        "seq": 7, "id": "0190f1c2-0000-7000-8000-000000000001", "port_name": "jobs",
        "source_component": "a", "target_component": None, "message_data": '{"job": 1}',
        "message_metadata": None, "status": "pending", "retry_count": 0, "max_retries": 3,
        "created_at": "2024-05-01T12:00:00.000000+00:00", "error_message": None,
        "error_details": None, "delay": 0.0,
    }
    return {**row, **over}


def test_queue_rows_read_from_any_driver_are_portable() -> None:
    t = queue_transfer_sql("sqlite")
    lite = (7, "0190f1c2-0000-7000-8000-000000000001", "jobs", "a", None, '{"job": 1}', None,
            "pending", 0, 3, "2024-05-01T12:00:00.000000+00:00", None, None, -0.25)
    pg = (7, uuid.UUID("0190f1c2-0000-7000-8000-000000000001"), "jobs", "a", None,
          '{"job": 1}', None, "pending", None, 3,
          _dt.datetime(2024, 5, 1, 14, tzinfo=_dt.timezone(_dt.timedelta(hours=2))), None, None,
          Decimal("0"))
    assert list(t.portable([lite])) == list(t.portable([pg])) == [_message()]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_queue_rows_are_written_alike_from_a_batch_or_from_dicts(dialect: str) -> None:
    t = queue_transfer_sql(dialect)
    rows = [_message(), _message(id="m2", status="processing", delay=9.5, retry_count=None),
            _message(id="m3", status="failed", delay=2, source_component=None)]
    batch = PortableRows(NAMES, [tuple(r[n] for n in NAMES) for r in rows])
    now = _dt.datetime(2024, 6, 1, tzinfo=_dt.UTC)
    for w in (t.written(batch), t.written(rows)):
        # a message that was processing comes back pending, visible at once
        assert list(w.st) == ["pending", "pending", "failed"]
        assert list(w.delay) == [0.0, 0.0, 2.0] and list(w.rc) == [0, 0, 0]
        assert list(w.src) == ["a", "a", ""] and list(w.tgt) == ["", "", ""]
        direct = t.copy_rows(w, now)
        assert [r[-1] for r in direct] == [now, now, now + _dt.timedelta(seconds=2)]
        assert [r[0] for r in t.stage_rows(w)] == [0, 1, 2]
        sql, names = t.insert(3)
        params = t.params(w, names, 100.0)
        assert len(params) == len(names)
        assert params[:2] == ["0190f1c2-0000-7000-8000-000000000001", "jobs"]
    assert t.copy_rows(t.written(batch), now) == t.copy_rows(t.written(rows), now)
