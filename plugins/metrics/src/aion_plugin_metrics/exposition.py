"""Serving a registry over HTTP for Prometheus to scrape."""

from __future__ import annotations

from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["DEFAULT_METRICS_HOST", "MetricsServer", "start_metrics_server"]

DEFAULT_METRICS_HOST = "127.0.0.1"
"""Loopback by default: metrics name workflow and activity types, not for every network."""

MetricsServer = tuple[WSGIServer, Thread]
"""The running endpoint: call ``server.shutdown()`` then ``server.server_close()`` to stop it."""


def start_metrics_server(
    registry: CollectorRegistry, port: int, host: str = DEFAULT_METRICS_HOST
) -> MetricsServer:
    """Serve `registry` at ``http://HOST:PORT/metrics`` from a daemon thread.

    Args:
        registry: What to expose.
        port: The TCP port to listen on (0 picks a free one: read ``server.server_port``).
        host: The address to listen on.

    Returns:
        The server and its thread; the thread dies with the process.
    """
    return start_http_server(port, addr=host, registry=registry)
