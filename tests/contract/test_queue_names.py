"""``ds.queue.names()``: the queues holding messages, on every queue backend."""

from __future__ import annotations

from typing import Any


def test_names_lists_the_queues_holding_messages(qk: Any) -> None:
    a, b, c = qk.qname("a"), qk.qname("b"), qk.qname("c")
    mine = {a, b, c}
    assert not mine & set(qk.queue.names())
    qk.queue.push(b, {"n": 1})
    qk.queue.push(a, {"n": 2})
    qk.queue.push(c, 3)
    names = qk.queue.names()
    assert names == sorted(names)
    assert mine <= set(names)
    m = qk.queue.receive(c)
    qk.queue.nack(m, error="x", delay=0)  # failed or dead: still held
    assert c in qk.queue.names()
    qk.queue.purge(a)
    names = qk.queue.names()
    assert a not in names and {b, c} <= set(names)
