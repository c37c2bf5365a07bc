"""Engine observers: what an engine does inside, told to plugins (metrics).

An `EngineObserver` comes from the `aion_engine_observers` hook, called once
for each `Engine` created, so a plugin can return a fresh observer per engine
and keep per-engine state in it. Every method does nothing by default: new
observations can be added without breaking existing plugins.

The engine calls observers synchronously on its event loop, some on hot paths
(after every workflow step, every store commit): be quick, never block. An
exception from an observer is logged and ignored; the engine goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

__all__ = ["EngineObserver", "EngineObservers"]

log = logging.getLogger("aion.plugins")


class EngineObserver:
    """Told what one engine does inside; override the methods you need."""

    def workflow_replayed(self, workflow_type: str, events: int, seconds: float) -> None:
        """A workflow run was rebuilt from its history (recovery, after leaving the cache).

        Args:
            workflow_type: Its type.
            events: The run's recorded events replayed.
            seconds: Reading and replaying them, wall-clock.
        """

    def cache_changed(self, cached: int, evicted: int) -> None:
        """A workflow finished a step; `evicted` idle ones were just dropped from the cache.

        Args:
            cached: Workflows in the engine's cache now (after the evictions).
            evicted: Least recently used idle workflows dropped right now (often 0).
        """

    def store_committed(self, appends: int, events: int, seconds: float) -> None:
        """The group committer made one store commit.

        Args:
            appends: Workflow appends (batches) the commit carried together.
            events: Events in them.
            seconds: The store's commit call, wall-clock.
        """

    def engine_closed(self) -> None:
        """The engine stopped; nothing more will be observed."""


class EngineObservers(EngineObserver):
    """Several observers as one; each call reaches every observer, failures are logged."""

    def __init__(self, observers: Sequence[EngineObserver] = ()) -> None:
        self._observers = tuple(observers)

    def __bool__(self) -> bool:
        return bool(self._observers)

    def workflow_replayed(self, workflow_type: str, events: int, seconds: float) -> None:
        """Tell every observer (see `EngineObserver.workflow_replayed`)."""
        self._tell("workflow_replayed", workflow_type, events, seconds)

    def cache_changed(self, cached: int, evicted: int) -> None:
        """Tell every observer (see `EngineObserver.cache_changed`)."""
        self._tell("cache_changed", cached, evicted)

    def store_committed(self, appends: int, events: int, seconds: float) -> None:
        """Tell every observer (see `EngineObserver.store_committed`)."""
        self._tell("store_committed", appends, events, seconds)

    def engine_closed(self) -> None:
        """Tell every observer (see `EngineObserver.engine_closed`)."""
        self._tell("engine_closed")

    def _tell(self, method: str, *args: object) -> None:
        for observer in self._observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                log.exception("engine observer %r failed in %s", observer, method)
