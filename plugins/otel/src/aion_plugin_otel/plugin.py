"""The tracing plugin's hooks, and `otel_plugin`, the object the ``aion`` entry point names."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

from aion_core import hookimpl
from aion_core.interceptors import ActivityInterceptor, ClientInterceptor, WorkflowInterceptor
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from aion_plugin_otel.interceptors import (
    TracingActivityInterceptor,
    TracingClientInterceptor,
    TracingWorkflowInterceptor,
)

__all__ = ["TRACER_NAME", "OtelPlugin", "otel_plugin"]

TRACER_NAME = "aion"
"""The instrumentation scope of every span the plugin records."""


def _version() -> str:
    try:
        return metadata.version("aion-plugin-otel")
    except metadata.PackageNotFoundError:  # imported from a source tree
        return "0"


class OtelPlugin:
    """Spans for every client, engine and worker it is registered with.

    Args:
        tracer_provider: Where spans go; the global provider when omitted
            (looked up at each span, so it may be set after the plugin loads).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        tracer = trace.get_tracer(TRACER_NAME, _version(), tracer_provider)
        self.client = TracingClientInterceptor(tracer)
        self.workflows = TracingWorkflowInterceptor(tracer)
        self.activities = TracingActivityInterceptor(tracer)

    @hookimpl
    def aion_client_interceptors(self) -> Sequence[ClientInterceptor]:
        """Client spans around starts, signals, queries and updates."""
        return [self.client]

    @hookimpl
    def aion_workflow_interceptors(self) -> Sequence[WorkflowInterceptor]:
        """Run and handler spans, and the trace context on the workflow's commands."""
        return [self.workflows]

    @hookimpl
    def aion_activity_interceptors(self) -> Sequence[ActivityInterceptor]:
        """A span per activity attempt, in the engine or worker running it."""
        return [self.activities]


otel_plugin = OtelPlugin()
"""The instance the ``aion`` entry point names; it traces to the global tracer provider."""
