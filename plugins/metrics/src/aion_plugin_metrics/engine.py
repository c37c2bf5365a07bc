"""Engine internals: replay time, the workflow cache and group-commit sizes.

The `aion_engine_observers` hook is called once per engine, so each engine gets
an `EngineMetrics` of its own; it remembers that engine's cache size, and the
gauge adds up the engines that are still running.
"""

from __future__ import annotations

import weakref

from aion_core.observers import EngineObserver

from aion_plugin_metrics.metrics import AionMetrics

__all__ = ["EngineMetrics", "RunningEngines"]


class RunningEngines:
    """The observers of the engines still running, for the cache gauge to add up.

    Args:
        metrics: Whose ``aion_workflow_cache_size`` reads the sum at each scrape.
    """

    def __init__(self, metrics: AionMetrics) -> None:
        self._metrics = metrics
        # Weak: an engine dropped without being closed does not stay counted forever.
        self._running: weakref.WeakSet[EngineMetrics] = weakref.WeakSet()
        metrics.cached_workflows.set_function(self.cached_workflows)

    def observer(self) -> EngineMetrics:
        """A new observer for one engine."""
        observer = EngineMetrics(self._metrics, self)
        self._running.add(observer)
        return observer

    def closed(self, observer: EngineMetrics) -> None:
        """`observer`'s engine stopped: its cache no longer counts."""
        self._running.discard(observer)

    def cached_workflows(self) -> float:
        """Workflows cached by all running engines."""
        return float(sum(observer.cached for observer in list(self._running)))


class EngineMetrics(EngineObserver):
    """Turns one engine's observations into metrics."""

    def __init__(self, metrics: AionMetrics, engines: RunningEngines) -> None:
        self._metrics = metrics
        self._engines = engines
        self.cached = 0
        """The engine's cached workflows, as it last said."""

    def workflow_replayed(self, workflow_type: str, events: int, seconds: float) -> None:
        """Observe ``aion_workflow_replay_seconds``."""
        self._metrics.replay_duration.labels(workflow_type).observe(seconds)

    def cache_changed(self, cached: int, evicted: int) -> None:
        """Remember the cache size; count evictions."""
        self.cached = cached
        if evicted:
            self._metrics.cache_evictions.inc(evicted)

    def store_committed(self, appends: int, events: int, seconds: float) -> None:
        """Observe the commit's size and duration."""
        self._metrics.commit_appends.observe(appends)
        self._metrics.commit_duration.observe(seconds)

    def engine_closed(self) -> None:
        """The engine's cache no longer counts."""
        self.cached = 0
        self._engines.closed(self)
