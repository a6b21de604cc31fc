"""Batches: ``receive(max_messages=n)``, ``ack_many``, ``nack_many`` on every backend, sync and async."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from storekeeper import LeaseError, Message, ValidationError


def test_receive_many_takes_ready_messages_in_push_order_under_one_lease(qk: Any) -> None:
    Q, q = qk.queue, qk.qname()
    ids = Q.push_many(q, [{"n": i} for i in range(7)])
    first = Q.receive(q, max_messages=5, lease=5)
    assert [m.id for m in first] == ids[:5]
    assert [m.data for m in first] == [{"n": i} for i in range(5)]
    assert all(m.status == "processing" and m.lease_until is not None for m in first)
    rest = Q.receive(q, max_messages=5)
    assert [m.id for m in rest] == ids[5:]
    assert Q.receive(q, max_messages=5) == []
    assert Q.length(q, "processing") == 7
    Q.ack_many(first + rest)
    assert all(m.status == "completed" and m.lease_until is None for m in first + rest)
    s = Q.stats(q)
    assert (s.pending, s.processing, s.completed) == (0, 0, 7)
    assert Q.receive(q, max_messages=10, lease=0.2) == []
    time.sleep(0.3)
    assert Q.receive(q, max_messages=10) == []  # acked: never delivered again


def test_ack_many_settles_what_it_holds_and_names_what_it_no_longer_holds(qk: Any) -> None:
    Q, q = qk.queue, qk.qname()
    ids = Q.push_many(q, ["a", "b", "c"])
    short = Q.receive(q, lease=0.3)
    held = Q.receive(q, max_messages=2, lease=30)
    assert [m.id for m in held] == ids[1:]
    time.sleep(0.45)
    again = Q.receive(q, lease=30, timeout=2)  # the short lease ran out: delivered again
    assert again is not None and again.id == ids[0] and again.retry_count == 1
    with pytest.raises(LeaseError) as err:
        Q.ack_many([*held, short])
    assert ids[0] in str(err.value)
    assert [m.status for m in held] == ["completed", "completed"]
    s = Q.stats(q)
    assert (s.processing, s.completed) == (1, 2)  # the redelivery is left alone
    with pytest.raises(LeaseError):
        Q.ack_many(held)  # already acked
    Q.ack_many([again, dataclasses.replace(again)])  # listed twice: acked once
    assert Q.stats(q).completed == 3


def test_nack_many_retries_or_dead_letters_each_message_keeping_the_error(qk: Any) -> None:
    Q, q = qk.queue, qk.qname()
    retry_id = Q.push(q, "retry", max_retries=2)
    dead_id = Q.push(q, "dead", max_retries=0)
    msgs = Q.receive(q, max_messages=2, lease=30)
    assert [m.id for m in msgs] == [retry_id, dead_id]
    assert Q.nack_many(msgs, "boom", delay=0.2) == ["failed", "dead_letter"]
    assert [m.status for m in msgs] == ["failed", "dead_letter"]
    assert [d.id for d in Q.dead_letters(q)] == [dead_id]
    assert Q.dead_letters(q)[0].error == "boom"
    assert Q.receive(q) is None  # the retry waits for its delay
    again = Q.receive(q, max_messages=2, lease=30, timeout=3)
    assert [m.id for m in again] == [retry_id]
    assert again[0].retry_count == 1
    with pytest.raises(LeaseError):
        Q.nack_many(msgs, "late")  # no longer held: nothing changes
    assert Q.length(q, "processing") == 1
    assert Q.nack_many(again, ValueError("bad row")) == ["failed"]
    s = Q.stats(q)
    assert (s.failed, s.dead_letter, s.processing) == (1, 1, 0)


def test_batch_settles_refuse_bad_input_and_change_nothing(qk: Any) -> None:
    Q, q = qk.queue, qk.qname()
    Q.push_many(q, [1, 2])
    msgs = Q.receive(q, max_messages=2)
    assert Q.ack_many([]) is None
    assert Q.nack_many([]) == []
    with pytest.raises(ValidationError):
        Q.ack_many(msgs[0])  # one message, not a list
    with pytest.raises(ValidationError):
        Q.ack_many([msgs[0], "not a message"])
    unreceived = Message(id=msgs[1].id, queue=q, data=2)
    with pytest.raises(ValidationError):
        Q.nack_many([msgs[0], unreceived])
    with pytest.raises(ValidationError):
        Q.nack_many(msgs, delay=-1)
    assert Q.length(q, "processing") == 2  # nothing was settled
    assert [m.status for m in msgs] == ["processing", "processing"]
    Q.ack_many(msgs)
    assert Q.stats(q).completed == 2
