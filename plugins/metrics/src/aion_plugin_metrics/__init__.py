"""Prometheus metrics for aion: workflows, activity attempts and durable appends.

Installing the distribution registers the ``metrics`` plugin (the ``aion``
entry point). ``aion serve --metrics-port 9464`` then exposes the metrics; an
application embedding engines calls `serve_metrics`::

    from aion_plugin_metrics import serve_metrics

    serve_metrics(9464)  # http://127.0.0.1:9464/metrics
"""

from aion_plugin_metrics.attempts import ActivityAttemptTimer
from aion_plugin_metrics.exposition import DEFAULT_METRICS_HOST, MetricsServer
from aion_plugin_metrics.metrics import UNKNOWN, AionMetrics
from aion_plugin_metrics.plugin import MetricsPlugin, metrics_plugin, serve_metrics
from aion_plugin_metrics.recorded import DEFAULT_MAX_OPEN_WORKFLOWS, RecordedEventMetrics

__all__ = [
    "DEFAULT_MAX_OPEN_WORKFLOWS",
    "DEFAULT_METRICS_HOST",
    "UNKNOWN",
    "ActivityAttemptTimer",
    "AionMetrics",
    "MetricsPlugin",
    "MetricsServer",
    "RecordedEventMetrics",
    "metrics_plugin",
    "serve_metrics",
]
