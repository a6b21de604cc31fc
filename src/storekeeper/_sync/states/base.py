# Generated from src/storekeeper/_async/states/base.py by tools/gen_sync.py: do not edit.

"""What every component-state backend shares: the public API and its checks (SPEC §4).

Each save is a new version of the component's state: 1, 2, 3 … per
component name, with no gap and no duplicate, also when several processes
save the same component at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ...core.components import (
    ComponentState,
    check_component_type,
    check_limit,
    check_name,
    check_version,
    encode_json,
)

__all__ = ["States"]


class States(ABC):
    """Versioned state of dataflow components: ``ds.states``.

    ::

        v = ds.states.save("reader", "Source", {"offset": 42})
        (ds.states.load("reader")).state     # -> {"offset": 42}
    """

    name = "states"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def save(self, component_name: str, component_type: str, state: Any) -> int:
        """Store *state* as the next version of *component_name*; return that version.

        :param component_type: one of ``Source``, ``Sink``, ``Transformer``,
            ``Splitter``, ``Merger`` (seed 004).
        :param state: a JSON value; anything else raises :class:`SerializationError`.
        """
        name = check_name(component_name)
        kind = check_component_type(component_type)
        return self._save(name, kind, encode_json(state, "state"))

    def load(self, component_name: str, version: int | None = None) -> ComponentState | None:
        """The newest state of *component_name* (or that *version*), or None."""
        name = check_name(component_name)
        v = None if version is None else check_version(version)
        return self._load(name, v)

    def history(self, component_name: str, limit: int = 10) -> list[ComponentState]:
        """The newest *limit* versions of *component_name*, newest first."""
        return self._history(check_name(component_name), check_limit(limit))

    def delete(self, component_name: str) -> int:
        """Forget every version of *component_name*; return how many were removed."""
        return self._delete(check_name(component_name))

    def close(self) -> None:
        """Nothing of its own to release: the store closes the backend."""

    # -- the primitives a backend implements --
    @abstractmethod
    def _save(self, name: str, kind: str, data: str) -> int: ...

    @abstractmethod
    def _load(self, name: str, version: int | None) -> ComponentState | None: ...

    @abstractmethod
    def _history(self, name: str, limit: int) -> list[ComponentState]: ...

    @abstractmethod
    def _delete(self, name: str) -> int: ...
