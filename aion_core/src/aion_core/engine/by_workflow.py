"""A mapping keyed by tuples that start with a workflow id, also found by workflow.

An engine with thousands of open workflows closes runs all the time; finding
what belongs to one workflow must not scan everything the engine holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["ByWorkflow"]

_V = TypeVar("_V")
_Key = tuple[str, str, int]  # (workflow id, run id, ordinal)


class ByWorkflow(Generic[_V]):
    """Values by ``(workflow_id, run_id, n)`` key, with the keys of each workflow indexed."""

    def __init__(self) -> None:
        self._values: dict[_Key, _V] = {}
        self._keys_of: dict[str, set[_Key]] = {}

    def __contains__(self, key: _Key) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: _Key) -> _V | None:
        """The value at `key`, if any."""
        return self._values.get(key)

    def __setitem__(self, key: _Key, value: _V) -> None:
        self._values[key] = value
        self._keys_of.setdefault(key[0], set()).add(key)

    def pop(self, key: _Key) -> _V | None:
        """Remove and return the value at `key` (None: there was none)."""
        value = self._values.pop(key, None)
        keys = self._keys_of.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys_of[key[0]]
        return value

    def keys_of(self, workflow_id: str, run_id: str | None = None) -> list[_Key]:
        """The keys of `workflow_id` (of its run `run_id` only, if given)."""
        keys = self._keys_of.get(workflow_id, ())
        return [key for key in keys if run_id is None or key[1] == run_id]

    def workflow_ids(self) -> list[str]:
        """The workflows that have values."""
        return list(self._keys_of)

    def values(self) -> Iterator[_V]:
        """Every value."""
        return iter(list(self._values.values()))

    def clear(self) -> None:
        """Remove everything."""
        self._values.clear()
        self._keys_of.clear()
