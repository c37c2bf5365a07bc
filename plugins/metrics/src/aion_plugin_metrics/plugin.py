"""The metrics plugin's hooks, and `metrics_plugin`, the object the ``aion`` entry point names."""

from __future__ import annotations

from collections.abc import Sequence

from aion_core import Event, hookimpl
from aion_core.hookspecs import CommandGroup
from aion_core.interceptors import ActivityInterceptor
from aion_core.observers import EngineObserver
from prometheus_client import CollectorRegistry

from aion_plugin_metrics.attempts import ActivityAttemptTimer
from aion_plugin_metrics.engine import RunningEngines
from aion_plugin_metrics.exposition import DEFAULT_METRICS_HOST, MetricsServer, start_metrics_server
from aion_plugin_metrics.metrics import AionMetrics
from aion_plugin_metrics.recorded import DEFAULT_MAX_OPEN_WORKFLOWS, RecordedEventMetrics

__all__ = ["MetricsPlugin", "metrics_plugin", "serve_metrics"]


class MetricsPlugin:
    """Prometheus metrics of every engine, worker and ``aion`` command it is registered with.

    Args:
        max_open_workflows: How many open workflows to remember the type and
            start of (for the close metrics) before forgetting the oldest.
    """

    def __init__(self, max_open_workflows: int = DEFAULT_MAX_OPEN_WORKFLOWS) -> None:
        self.metrics = AionMetrics()
        self._recorded = RecordedEventMetrics(self.metrics, max_open_workflows)
        self._attempt_timer = ActivityAttemptTimer(self.metrics)
        self._engines = RunningEngines(self.metrics)

    @property
    def registry(self) -> CollectorRegistry:
        """The plugin's own registry, holding every metric (never the global default one)."""
        return self.metrics.registry

    def serve(self, port: int, host: str = DEFAULT_METRICS_HOST) -> MetricsServer:
        """Serve this plugin's metrics at ``http://HOST:PORT/metrics`` (see `serve_metrics`)."""
        return start_metrics_server(self.registry, port, host)

    @hookimpl
    def aion_events_recorded(self, workflow_id: str, events: Sequence[Event]) -> None:
        """Count the append and its events; runs on the engine's loop, so it only counts."""
        self._recorded.record_append(workflow_id, events)

    @hookimpl
    def aion_activity_interceptors(self) -> Sequence[ActivityInterceptor]:
        """The attempt timer, for the activities this engine or worker runs."""
        return [self._attempt_timer]

    @hookimpl
    def aion_engine_observers(self) -> Sequence[EngineObserver]:
        """A new observer for each engine: replay time, its cache, its store commits."""
        return [self._engines.observer()]

    @hookimpl
    def aion_cli_commands(self, cli: CommandGroup) -> None:
        """Add ``--metrics-port``/``--metrics-host`` to ``aion serve`` and ``aion worker``."""
        import click  # only the CLI calls this hook: click is no dependency of the plugin

        from aion_plugin_metrics.cli import add_metrics_options

        if isinstance(cli, click.Group):
            add_metrics_options(cli, self.registry)


metrics_plugin = MetricsPlugin()
"""The instance the ``aion`` entry point names; its registry is what `serve_metrics` exposes."""


def serve_metrics(port: int, host: str = DEFAULT_METRICS_HOST) -> MetricsServer:
    """Serve the installed plugin's metrics at ``http://HOST:PORT/metrics``, for embedders.

    Engines and workers created without ``plugins=`` load `metrics_plugin`
    from its entry point; this exposes its registry from a daemon thread. A
    plugin object registered by hand serves its own with `MetricsPlugin.serve`.

    Args:
        port: The TCP port (0 picks a free one: read ``server.server_port``).
        host: The address to listen on; loopback by default.

    Returns:
        The server and its thread; ``server.shutdown()`` stops it.
    """
    return metrics_plugin.serve(port, host)
